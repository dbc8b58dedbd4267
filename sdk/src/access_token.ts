/**
 * The RFC 9068 access token: its claims, and the §4 checks on header and
 * claims (the signature is checked by the verifier in between).
 *
 * @module
 */
import type { JWTPayload, ProtectedHeaderParameters } from "jose";
import { TokenVerificationError } from "./errors.js";

/** Claims of an authz access token (RFC 9068 §2.2). */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  /** Space-separated granted scopes. */
  scope?: string;
  /** The ACCESS_TOKEN_AUTHZ dialect's permission list. */
  permissions?: string[];
  /** RFC 7800 confirmation of a sender-constrained token: `x5t#S256` (RFC 8705), `jkt` (RFC 9449). */
  cnf?: { "x5t#S256"?: string; jkt?: string };
}

/** Algorithms a verifier can ever accept: asymmetric JWS algorithms only (never `none`, never `HS*`). */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  "ES256",
  "ES384",
  "ES512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "EdDSA",
  "Ed25519",
]);

/** RFC 9068 §4 step 1: `typ` must be `at+jwt` (`application/at+jwt` also accepted; case-insensitive). */
export function checkType(header: ProtectedHeaderParameters): void {
  const typ = typeof header.typ === "string" ? header.typ.toLowerCase().replace(/^application\//, "") : undefined;
  if (typ !== "at+jwt") throw new TokenVerificationError("ERR_TOKEN_TYPE", "the token is not an access token (typ is not at+jwt)");
}

/** The algorithm must be asymmetric and one of `allowed` (when a list is pinned). */
export function checkAlgorithm(header: ProtectedHeaderParameters, allowed: ReadonlySet<string> | undefined): string {
  const alg = header.alg;
  if (typeof alg !== "string" || !ASYMMETRIC_ALGORITHMS.has(alg)) throw new TokenVerificationError("ERR_TOKEN_ALG", "the token's algorithm is not accepted");
  if (allowed && !allowed.has(alg)) throw new TokenVerificationError("ERR_TOKEN_ALG", "the token's algorithm is not accepted");
  return alg;
}

/** What the claim checks compare against. */
export interface ClaimExpectations {
  issuer: string;
  audiences: readonly string[];
  /** Current time, ms. */
  now: number;
  /** Allowed clock skew, ms. */
  toleranceMs: number;
}

/**
 * RFC 9068 §4 claim checks, each with its own code: `iss` equals the issuer,
 * `aud` contains an expected audience, `exp` not passed and `nbf` / `iat` not
 * in the future (with tolerance); `exp`, `iat`, `sub`, `client_id`, `jti`
 * present with the right types.
 */
export function checkClaims(payload: unknown, expect: ClaimExpectations): AccessTokenClaims {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload))
    throw new TokenVerificationError("ERR_TOKEN_MALFORMED", "the token's payload is not a JSON object");
  const c = payload as Record<string, unknown>;
  const missing = (claim: string) => new TokenVerificationError("ERR_TOKEN_CLAIM_MISSING", `the token has no valid ${claim} claim`, { claim });
  for (const claim of ["exp", "iat"]) if (typeof c[claim] !== "number" || !Number.isFinite(c[claim])) throw missing(claim);
  if (c.nbf !== undefined && (typeof c.nbf !== "number" || !Number.isFinite(c.nbf))) throw missing("nbf");
  for (const claim of ["iss", "sub", "client_id", "jti"]) if (typeof c[claim] !== "string" || c[claim] === "") throw missing(claim);
  const aud = typeof c.aud === "string" ? [c.aud] : Array.isArray(c.aud) && c.aud.every((a) => typeof a === "string") ? (c.aud as string[]) : undefined;
  if (!aud) throw missing("aud");
  if (c.scope !== undefined && typeof c.scope !== "string") throw missing("scope");

  if (c.iss !== expect.issuer) throw new TokenVerificationError("ERR_TOKEN_ISSUER", "the token is from another issuer");
  if (!aud.some((a) => expect.audiences.includes(a))) throw new TokenVerificationError("ERR_TOKEN_AUDIENCE", "the token is for another audience");
  const { now, toleranceMs } = expect;
  if (now >= (c.exp as number) * 1000 + toleranceMs) throw new TokenVerificationError("ERR_TOKEN_EXPIRED", "the access token expired");
  if (c.nbf !== undefined && now + toleranceMs < (c.nbf as number) * 1000)
    throw new TokenVerificationError("ERR_TOKEN_NOT_YET_VALID", "the access token is not valid yet");
  if (now + toleranceMs < (c.iat as number) * 1000) throw new TokenVerificationError("ERR_TOKEN_NOT_YET_VALID", "the access token was issued in the future");
  return c as AccessTokenClaims;
}

/** The scopes of a token: its `scope` claim split on spaces. */
export function scopesOf(claims: { scope?: string }): string[] {
  return claims.scope ? claims.scope.split(" ").filter(Boolean) : [];
}
