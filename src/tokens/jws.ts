// Compact JWS verification with node:crypto, synchronously (RFC 7515 §5.2):
// an order of magnitude cheaper per token than WebCrypto's, which JWT
// libraries use. Shared by the access-token verifier (src/tokens/keys.ts) and
// the DPoP proof check (src/oauth/dpop.ts); each decides which key and which
// algorithm first.
import { constants, verify, type KeyObject } from "node:crypto";
import type { JWTPayload } from "jose";

/**
 * node:crypto parameters per JWS `alg` (RFC 7518 §3), for signing and
 * verifying alike: the digest (EdDSA takes none, RFC 8037 §3.1), ECDSA's
 * R || S encoding instead of DER (§3.4), PSS with a salt of the digest's
 * length (§3.5). RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (§3.3).
 */
export const JWS_ALG_PARAMS: Record<string, { hash: string | null; dsaEncoding?: "ieee-p1363"; padding?: number; saltLength?: number }> = {
  ES256: { hash: "sha256", dsaEncoding: "ieee-p1363" },
  EdDSA: { hash: null },
  RS256: { hash: "sha256" },
  PS256: { hash: "sha256", padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
};

/** A JWS `typ`, a media type, is `expected`: compared case-insensitively, `application/` optional (RFC 7515 §4.1.9). */
export function isJwsType(typ: unknown, expected: string): boolean {
  return typeof typ === "string" && typ.toLowerCase().replace(/^application\//, "") === expected;
}

/** Why a JWS was refused (for logs and error texts; never the token itself). */
export type JwsProblem = "malformed" | "signature" | "crit" | "payload" | "expired" | "not yet valid";

export class JwsError extends Error {
  override name = "JwsError";
  constructor(readonly problem: JwsProblem) {
    super(`JWS ${problem}`);
  }
}

/**
 * Checks `compact`'s signature by `key` under `alg` (which the caller pinned)
 * and returns its payload, a JSON object. Refused, as JWT libraries do: a
 * `crit` header (no extension is understood here, RFC 7515 §4.1.11), a
 * payload that is not an object, and `exp`/`nbf` that are not numbers or
 * are out of date at `nowSeconds` (RFC 7519 §4.1.4–5, no leeway).
 */
export function verifyJws(compact: string, header: { crit?: unknown }, key: KeyObject, alg: string, nowSeconds: number): JWTPayload {
  const params = JWS_ALG_PARAMS[alg];
  const first = compact.indexOf(".");
  const last = compact.lastIndexOf(".");
  if (!params || first < 0 || last === first) throw new JwsError("malformed");
  if (header.crit !== undefined) throw new JwsError("crit");
  let ok: boolean;
  try {
    ok = verify(params.hash, Buffer.from(compact.slice(0, last)), { key, dsaEncoding: params.dsaEncoding, padding: params.padding, saltLength: params.saltLength }, Buffer.from(compact.slice(last + 1), "base64url"));
  } catch {
    ok = false; // a signature of the wrong length, a key of the wrong type
  }
  if (!ok) throw new JwsError("signature");
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(compact.slice(first + 1, last), "base64url").toString("utf8"));
  } catch {
    throw new JwsError("payload");
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) throw new JwsError("payload");
  const { exp, nbf } = payload as JWTPayload;
  if (exp !== undefined && (typeof exp !== "number" || exp <= nowSeconds)) throw new JwsError("expired");
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > nowSeconds)) throw new JwsError("not yet valid");
  return payload as JWTPayload;
}
