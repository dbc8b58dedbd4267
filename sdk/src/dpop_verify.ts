/**
 * RFC 9449 DPoP proofs at a resource server (§4.3, §7.1): the proof checks
 * and a bounded in-memory replay cache for their `jti`s. Every failure is a
 * {@link TokenVerificationError} with a `ERR_DPOP_PROOF_*` code and fixed text
 * naming the check; the proof and the token are never echoed.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { calculateJwkThumbprint, decodeProtectedHeader, errors, importJWK, jwtVerify, type JWK, type JWTPayload, type ProtectedHeaderParameters } from "jose";
import { ASYMMETRIC_ALGORITHMS } from "./access_token.js";
import { InvalidOptionsError, TokenVerificationError, type VerificationErrorCode } from "./errors.js";

/** Longest proof read at all; a proof is a few hundred bytes (an RSA `jwk` makes it ~1 KiB). */
export const DPOP_MAX_PROOF_LENGTH = 8 * 1024;

/** Longest `jti` accepted: bounds the replay cache's keys (RFC 9449 §4.2 only asks for enough entropy). */
const MAX_JTI_LENGTH = 128;

/** JWK members that carry private or symmetric key material (RFC 7517 §4, RFC 7518 §6). */
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** A compact JWS (the signature may be empty so that `alg: none` is refused by name). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Single use of proofs (RFC 9449 §11.1). The default is
 * {@link MemoryDpopReplayCache} (one process); resource servers with several
 * replicas can implement this over a shared store.
 */
export interface DpopReplayStore {
  /** True if `key` (`<jkt>.<jti>`) was not seen before; remember it until `expiresAtMs`. */
  consume(key: string, expiresAtMs: number, nowMs: number): boolean | Promise<boolean>;
}

/** Bounds of {@link MemoryDpopReplayCache}. */
export interface MemoryDpopReplayCacheOptions {
  /** Most entries kept (default 100 000). */
  maxEntries?: number;
  /** Most bytes kept, estimated (default 16 MiB). */
  maxBytes?: number;
}

/** Estimated bytes per entry besides its key (Map slot, number, string header). */
const ENTRY_OVERHEAD_BYTES = 64;

/**
 * An in-memory replay cache of proof `jti`s, bounded in entries and bytes.
 * Entries are dropped when they expire (the proof would no longer be
 * accepted anyway); when full, the oldest entries are evicted first, so under a
 * flood beyond the bounds a proof evicted early could be replayed once more
 * within its window (size the bounds for your request rate × window).
 */
export class MemoryDpopReplayCache implements DpopReplayStore {
  private readonly entries = new Map<string, number>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(options: MemoryDpopReplayCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    if (!(this.maxEntries >= 1) || !(this.maxBytes >= 1)) throw new InvalidOptionsError("the DPoP replay cache needs maxEntries and maxBytes of at least 1");
  }

  /** Entries and estimated bytes held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  consume(key: string, expiresAtMs: number, nowMs: number): boolean {
    const seenUntil = this.entries.get(key);
    if (seenUntil !== undefined && seenUntil > nowMs) return false;
    if (seenUntil !== undefined) this.remove(key);
    // Expired entries at the head go first (insertion order is roughly expiry order).
    for (const [k, until] of this.entries) {
      if (until > nowMs) break;
      this.remove(k);
    }
    const cost = key.length * 2 + ENTRY_OVERHEAD_BYTES;
    while (this.entries.size > 0 && (this.entries.size + 1 > this.maxEntries || this.bytes + cost > this.maxBytes)) {
      this.remove(this.entries.keys().next().value as string);
    }
    this.entries.set(key, expiresAtMs);
    this.bytes += cost;
    return true;
  }

  private remove(key: string): void {
    if (this.entries.delete(key)) this.bytes -= key.length * 2 + ENTRY_OVERHEAD_BYTES;
  }
}

/** What a proof at a resource server must match. */
export interface DpopProofCheck {
  /** The request's method. */
  htm: string;
  /** The request's URL as the client addressed it (query and fragment are ignored). */
  htu: string;
  /** The access token presented with the proof (`ath`). */
  accessToken: string;
  /** The token's `cnf.jkt`: the proof's key must have this RFC 7638 thumbprint. */
  jkt: string;
  /** Now, epoch ms. */
  nowMs: number;
  /** `iat` is accepted within ±this many seconds of now. */
  windowSeconds: number;
  /** Accepted proof algorithms (asymmetric only). */
  algorithms: ReadonlySet<string>;
  replay: DpopReplayStore;
}

/** A proof that passed every check. */
export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key (equal to the token's `cnf.jkt`). */
  jkt: string;
  jti: string;
  /** Seconds. */
  iat: number;
}

const fail = (code: VerificationErrorCode, message: string) => new TokenVerificationError(code, message);
const invalid = (message: string) => fail("ERR_DPOP_PROOF_INVALID", message);

/**
 * Checks a DPoP proof presented with a DPoP-bound access token (RFC 9449
 * §4.3, §7.1) and consumes its `jti`: exactly one compact JWS; `typ`
 * `dpop+jwt`; an accepted asymmetric `alg`; a public `jwk` that verifies the
 * signature; `jti`, `htm`, `htu`, `iat` present; `htm` / `htu` those of the
 * request; `iat` within the window; `ath` the token's hash; the key's
 * thumbprint the token's `cnf.jkt`; the `jti` not seen before.
 */
export async function verifyDpopProof(proof: string | undefined, check: DpopProofCheck): Promise<VerifiedDpopProof> {
  if (proof === undefined || proof === "") throw fail("ERR_DPOP_PROOF_MISSING", "the DPoP-bound token came without a DPoP proof");
  if (proof.length > DPOP_MAX_PROOF_LENGTH) throw invalid("the DPoP proof is too large");
  // Node joins repeated headers with ", "; a compact JWS holds neither commas nor whitespace.
  if (/[,\s]/.test(proof)) throw invalid("the DPoP header must carry exactly one proof");
  if (!COMPACT_JWS.test(proof)) throw invalid("the DPoP proof is not a compact JWT");

  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalid("the DPoP proof header is malformed");
  }
  const typ = typeof header.typ === "string" ? header.typ.toLowerCase().replace(/^application\//, "") : undefined;
  if (typ !== "dpop+jwt") throw invalid("the DPoP proof typ is not dpop+jwt");
  const alg = header.alg;
  if (typeof alg !== "string" || !ASYMMETRIC_ALGORITHMS.has(alg) || !check.algorithms.has(alg)) throw invalid("the DPoP proof alg is not accepted");
  const jwk = publicJwk(header.jwk);

  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK(jwk, alg);
  } catch {
    throw invalid("the DPoP proof jwk is not a usable key for its alg");
  }
  if (key instanceof Uint8Array || key.type !== "public") throw invalid("the DPoP proof jwk is not a public key");
  let payload: JWTPayload;
  try {
    payload = (await jwtVerify(proof, key, { algorithms: [alg], currentDate: new Date(check.nowMs) })).payload;
  } catch (err) {
    if (err instanceof errors.JWSSignatureVerificationFailed) throw invalid("the DPoP proof signature does not verify");
    throw invalid("the DPoP proof is not a valid JWT");
  }

  const { jti, htm, htu, iat, ath } = payload as JWTPayload & { htm?: unknown; htu?: unknown; ath?: unknown };
  if (typeof jti !== "string" || jti.length < 1 || jti.length > MAX_JTI_LENGTH) throw invalid("the DPoP proof jti is missing or malformed");
  if (typeof htm !== "string") throw invalid("the DPoP proof htm is missing");
  if (typeof htu !== "string") throw invalid("the DPoP proof htu is missing");
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw invalid("the DPoP proof iat is missing");

  if (htm !== check.htm) throw fail("ERR_DPOP_PROOF_MISMATCH", "the DPoP proof htm is not the request's method");
  const expected = normalizeHtu(check.htu);
  if (expected === undefined || normalizeHtu(htu) !== expected) throw fail("ERR_DPOP_PROOF_MISMATCH", "the DPoP proof htu is not the request's URL");
  if (Math.abs(iat * 1000 - check.nowMs) > check.windowSeconds * 1000) throw fail("ERR_DPOP_PROOF_IAT", "the DPoP proof iat is outside the accepted window");
  if (typeof ath !== "string") throw fail("ERR_DPOP_PROOF_ATH", "the DPoP proof has no ath");
  if (!sameString(ath, accessTokenHash(check.accessToken))) throw fail("ERR_DPOP_PROOF_ATH", "the DPoP proof ath is not the access token's hash");

  const jkt = await calculateJwkThumbprint(jwk, "sha256");
  if (!sameString(jkt, check.jkt)) throw fail("ERR_DPOP_PROOF_KEY", "the DPoP proof is not signed by the key the token is bound to");
  // Remembered as long as the proof could be accepted: iat + window (RFC 9449 §11.1).
  if (!(await check.replay.consume(`${jkt}.${jti}`, (iat + check.windowSeconds) * 1000, check.nowMs))) {
    throw fail("ERR_DPOP_PROOF_REPLAYED", "the DPoP proof was already used");
  }
  return { jkt, jti, iat };
}

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the access token's ASCII value. */
export function accessTokenHash(accessToken: string): string {
  return createHash("sha256").update(accessToken, "ascii").digest("base64url");
}

/** RFC 9449 §4.3 step 7: `jwk` is there and public (checked before any import). */
function publicJwk(value: unknown): JWK {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid("the DPoP proof has no jwk");
  const jwk = value as JWK;
  if (typeof jwk.kty !== "string") throw invalid("the DPoP proof jwk is malformed");
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw invalid("the DPoP proof jwk is not a public key");
  return jwk;
}

/**
 * RFC 9449 §4.3 step 9: the URI without query and fragment, after syntax- and
 * scheme-based normalization (the WHATWG parser lowercases scheme and host,
 * drops a default port, removes dot segments; percent-encoding on top).
 */
export function normalizeHtu(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  url.search = "";
  url.hash = "";
  url.pathname = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  return url.href;
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
