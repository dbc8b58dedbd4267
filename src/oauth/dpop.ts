/**
 * RFC 9449 (DPoP) proof checking, independent of any transport: the caller
 * passes the `DPoP` header value and what the server knows about the request
 * (method, URL, time, the access token at a resource server), and gets back
 * the proof key's RFC 7638 thumbprint (`jkt`) to bind or compare with `cnf`.
 *
 * Every failure is a {@link DpopError} with fixed, short text naming the check
 * that failed; the proof and the access token are never echoed.
 *
 * @module
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { decodeProtectedHeader, type JWK, type JWTPayload, type ProtectedHeaderParameters } from "jose";
import { MIN_RSA_BITS } from "../domain/constants.js";
import { isJwsType, JwsError, verifyJws } from "../tokens/jws.js";

/**
 * Proof algorithms accepted (RFC 9449 §4.3 step 5: "an asymmetric digital
 * signature algorithm"; never `none`, never a MAC such as `HS256`).
 */
export const DPOP_ALGS: readonly string[] = ["ES256", "EdDSA", "RS256", "PS256"];

/** Longest proof read at all; a proof is a few hundred bytes (an RSA `jwk` makes it ~1 KiB). */
export const DPOP_MAX_PROOF_LENGTH = 8 * 1024;

/** Longest `jti` accepted; RFC 9449 §4.2 only asks for enough entropy, this bounds the replay store's keys. */
const MAX_JTI_LENGTH = 128;

/** JWK members that carry private or symmetric key material (RFC 7517 §4, RFC 7518 §6). */
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** A compact JWS: three base64url parts (the signature may be empty here so that `alg: none` is refused by name). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Single use of a proof's `jti` (RFC 9449 §11.1). The caller implements it
 * over the shared store so that a proof replayed to another replica is caught.
 */
export interface DpopReplay {
  /** True if `(jkt, jti)` was not seen before; remember it until `expiresAt` (epoch ms). */
  consume(jkt: string, jti: string, expiresAt: number): Promise<boolean>;
}

/** What the server knows about the request a proof must match. */
export interface DpopCheck {
  /** The request's HTTP method. */
  htm: string;
  /** The endpoint URL as the server sees it (a query or fragment is ignored). */
  htu: string;
  /** Now, epoch ms. */
  nowMs: number;
  /** `iat` is accepted within ±this many seconds of now. */
  iatWindowSeconds: number;
  replay: DpopReplay;
  /** When set, the server requires a nonce it issued (RFC 9449 §8, §9). */
  nonce?: {
    /** Nonces acceptable now. */
    current(): string[];
    /** A fresh nonce to send back with `use_dpop_nonce`. */
    issue(): string;
  };
  /** At a resource server: the access token the proof accompanies (its hash is checked against `ath`). */
  accessToken?: string;
}

/** The proof key, once the proof passed every check. */
export interface DpopResult {
  /** RFC 7638 SHA-256 thumbprint of `jwk`, base64url. */
  jkt: string;
  /** The public key from the proof's header. */
  jwk: JWK;
}

/**
 * A refused proof. `invalid_dpop_proof` for a bad proof; `use_dpop_nonce`
 * (RFC 9449 §8, §9) when a server nonce is missing or stale, with the fresh
 * nonce to send in the `DPoP-Nonce` header.
 */
export class DpopError extends Error {
  override name = "DpopError";
  constructor(
    readonly code: "invalid_dpop_proof" | "use_dpop_nonce",
    message: string,
    /** The fresh nonce, with `use_dpop_nonce`. */
    readonly nonce?: string,
  ) {
    super(message);
  }
}

const invalid = (message: string) => new DpopError("invalid_dpop_proof", message);

/** RFC 7638 §3.2: the members a key's thumbprint covers, by `kty`, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = { EC: ["crv", "kty", "x", "y"], OKP: ["crv", "kty", "x"], RSA: ["e", "kty", "n"] };

/** RFC 7638 JWK SHA-256 thumbprint, base64url: the `jkt` of RFC 9449 §6. */
export function dpopThumbprint(jwk: JWK): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ""];
  if (!members) throw invalid("DPoP proof jwk has no thumbprint (kty)");
  const canonical: Record<string, string> = {};
  for (const m of members) {
    const value = (jwk as Record<string, unknown>)[m];
    if (typeof value !== "string" || value === "") throw invalid(`DPoP proof jwk lacks ${m}`);
    canonical[m] = value;
  }
  // Object keys in insertion order: the lexicographic order RFC 7638 §3.3 asks for, no whitespace.
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url");
}

/**
 * Checks a DPoP proof (RFC 9449 §4.3) for the request described by `check`
 * and consumes its `jti`. Resolves to the proof key and its thumbprint;
 * rejects with a {@link DpopError}. A failing {@link DpopReplay} rejects with
 * its own error (a store fault, not the client's).
 */
export async function verifyDpopProof(proof: string | undefined, check: DpopCheck): Promise<DpopResult> {
  const compact = checkShape(proof);
  const header = checkHeader(compact);
  const jwk = checkJwk(header.jwk);
  const payload = checkSignature(compact, header, jwk, check.nowMs);
  const claims = checkRequiredClaims(payload);
  if (claims.htm !== check.htm) throw invalid("DPoP proof htm does not match");
  if (!sameHtu(claims.htu, check.htu)) throw invalid("DPoP proof htu does not match");
  checkIat(claims.iat, check);
  if (check.accessToken !== undefined) checkAth(payload.ath, check.accessToken);
  if (check.nonce) checkNonce(payload.nonce, check.nonce);
  const jkt = dpopThumbprint(jwk);
  // RFC 9449 §11.1: a jti is remembered for as long as the proof would be accepted (iat + window).
  const expiresAt = (claims.iat + check.iatWindowSeconds) * 1000;
  if (!(await check.replay.consume(jkt, claims.jti, expiresAt))) throw invalid("DPoP proof jti was already used");
  return { jkt, jwk };
}

/**
 * RFC 9449 §4.3 steps 1–2: exactly one proof, and a JWT at all. Node joins
 * repeated headers with ", ", and a compact JWS never holds a comma or
 * whitespace, so either means more than one value. Size is bounded before
 * anything is decoded.
 */
function checkShape(proof: string | undefined): string {
  if (proof === undefined || proof === "") throw invalid("DPoP proof is missing");
  if (proof.length > DPOP_MAX_PROOF_LENGTH) throw invalid("DPoP proof is too large");
  if (/[,\s]/.test(proof)) throw invalid("DPoP header must carry exactly one proof");
  if (!COMPACT_JWS.test(proof)) throw invalid("DPoP proof is not a compact JWT");
  return proof;
}

/** RFC 9449 §4.3 steps 4–5: `typ` is `dpop+jwt`; `alg` is one of {@link DPOP_ALGS}. */
function checkHeader(compact: string): ProtectedHeaderParameters {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(compact);
  } catch {
    throw invalid("DPoP proof header is malformed");
  }
  if (!isJwsType(header.typ, "dpop+jwt")) throw invalid("DPoP proof typ is not dpop+jwt");
  if (typeof header.alg !== "string" || !DPOP_ALGS.includes(header.alg)) throw invalid("DPoP proof alg is not accepted");
  return header;
}

/**
 * RFC 9449 §4.2 and §4.3 step 7: the header carries the public key in `jwk`,
 * and it must not be a private (or symmetric) key. Checked before use so a
 * private key sent by mistake is never imported.
 */
function checkJwk(jwk: unknown): JWK {
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) throw invalid("DPoP proof jwk is missing");
  const key = jwk as JWK;
  if (typeof key.kty !== "string") throw invalid("DPoP proof jwk is malformed");
  if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) throw invalid("DPoP proof jwk is not a public key");
  return key;
}

/** The key type (and curves) each proof algorithm needs (RFC 7518 §3, RFC 8037 §3.1). */
const KEY_TYPES: Record<string, { kty: string; crv?: readonly string[] }> = {
  ES256: { kty: "EC", crv: ["P-256"] },
  EdDSA: { kty: "OKP", crv: ["Ed25519", "Ed448"] },
  RS256: { kty: "RSA" },
  PS256: { kty: "RSA" },
};

/**
 * Proof keys already imported, by their public members (RFC 7638's, so two
 * spellings of one key share an entry): a client proves with the same key
 * request after request, and an import costs about as much as the signature
 * check. At most PROOF_KEY_CACHE_ENTRIES (the oldest go first); an entry is a
 * public key, so one a caller chose only costs a slot.
 */
const PROOF_KEY_CACHE_ENTRIES = 1024;
const proofKeys = new Map<string, KeyObject>();

function importedKey(jwk: JWK): KeyObject {
  const id = JSON.stringify((THUMBPRINT_MEMBERS[jwk.kty ?? ""] ?? []).map((m) => (jwk as Record<string, unknown>)[m]));
  const cached = proofKeys.get(id);
  if (cached) return cached;
  const key = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
  if (proofKeys.size >= PROOF_KEY_CACHE_ENTRIES) proofKeys.delete(proofKeys.keys().next().value!);
  proofKeys.set(id, key);
  return key;
}

/**
 * RFC 9449 §4.3 step 6: the signature verifies with the header's own key
 * (node:crypto, src/tokens/jws.ts: also refusing a `crit` header, a payload
 * that is not an object, and an `exp`/`nbf`, optional here, out of date).
 */
function checkSignature(compact: string, header: ProtectedHeaderParameters, jwk: JWK, nowMs: number): JWTPayload {
  const alg = header.alg as string;
  const type = KEY_TYPES[alg]!;
  if (jwk.kty !== type.kty || (type.crv && !type.crv.includes(jwk.crv ?? ""))) throw invalid("DPoP proof jwk is not a usable key for its alg");
  let key: KeyObject;
  try {
    key = importedKey(jwk);
  } catch {
    throw invalid("DPoP proof jwk is not a usable key for its alg");
  }
  if (key.type !== "public") throw invalid("DPoP proof jwk is not a public key");
  if (type.kty === "RSA" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) throw invalid("DPoP proof jwk is not a usable key for its alg");
  try {
    return verifyJws(compact, header, key, alg, Math.floor(nowMs / 1000));
  } catch (err) {
    if (!(err instanceof JwsError)) throw err;
    if (err.problem === "signature") throw invalid("DPoP proof signature does not verify");
    if (err.problem === "crit") throw invalid("DPoP proof has crit header parameters");
    throw invalid("DPoP proof is not a valid JWT");
  }
}

interface RequiredClaims {
  jti: string;
  htm: string;
  htu: string;
  iat: number;
}

/** RFC 9449 §4.2 and §4.3 step 3: `jti`, `htm`, `htu` and `iat` are present and well typed. */
function checkRequiredClaims(payload: JWTPayload): RequiredClaims {
  const { jti, htm, htu, iat } = payload;
  if (typeof jti !== "string" || jti.length < 1 || jti.length > MAX_JTI_LENGTH) throw invalid("DPoP proof jti is missing or malformed");
  if (typeof htm !== "string") throw invalid("DPoP proof htm is missing");
  if (typeof htu !== "string") throw invalid("DPoP proof htu is missing");
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw invalid("DPoP proof iat is missing");
  return { jti, htm, htu, iat };
}

/**
 * RFC 9449 §4.3 step 9: `htu` matches the request URI "without query and
 * fragment parts", after syntax- and scheme-based normalization (RFC 3986
 * §6.2.2, §6.2.3). The WHATWG URL parser lowercases scheme and host, drops a
 * default port, makes an empty path "/" and removes dot segments;
 * percent-encoding is normalized on top of that.
 */
function sameHtu(claimed: string, expected: string): boolean {
  const want = normalizeHtu(expected);
  if (want === undefined) throw new TypeError("DpopCheck.htu is not an http(s) URL");
  return normalizeHtu(claimed) === want;
}

function normalizeHtu(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  url.search = "";
  url.hash = "";
  url.pathname = normalizePercentEncoding(url.pathname);
  return url.href;
}

/** RFC 3986 §6.2.2.1–2: hex digits uppercase; unreserved characters decoded. */
function normalizePercentEncoding(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/**
 * RFC 9449 §4.3 step 11 and §11.1: the proof was made "within an acceptable
 * window" around now, in either direction (clients' clocks drift).
 */
function checkIat(iat: number, check: DpopCheck): void {
  const skewMs = Math.abs(iat * 1000 - check.nowMs);
  if (skewMs > check.iatWindowSeconds * 1000) throw invalid("DPoP proof iat is outside the accepted window");
}

/**
 * RFC 9449 §4.3 step 12 and §7: with an access token, `ath` is the base64url
 * SHA-256 of its ASCII value, binding the proof to that token.
 */
function checkAth(ath: unknown, accessToken: string): void {
  const expected = createHash("sha256").update(accessToken, "ascii").digest("base64url");
  if (typeof ath !== "string") throw invalid("DPoP proof ath is missing");
  if (ath !== expected) throw invalid("DPoP proof ath does not match the access token");
}

/**
 * RFC 9449 §4.3 step 10, §8 and §9: when the server requires a nonce, a
 * proof without one, or with one no longer current, is answered with
 * `use_dpop_nonce` and a fresh nonce so the client can retry at once.
 */
function checkNonce(nonce: unknown, source: NonNullable<DpopCheck["nonce"]>): void {
  if (typeof nonce !== "string" || nonce === "") throw new DpopError("use_dpop_nonce", "DPoP proof nonce is missing", source.issue());
  if (!source.current().includes(nonce)) throw new DpopError("use_dpop_nonce", "DPoP proof nonce is stale", source.issue());
}
