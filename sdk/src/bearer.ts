/**
 * Reading a bearer token from an `Authorization` header (RFC 6750 §2.1).
 *
 * @module
 */
import { TokenVerificationError, type AuthScheme } from "./errors.js";

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * An `Authorization` header value split into its scheme (as sent) and
 * credentials. Several headers -> `ERR_TOKEN_MALFORMED`; none, or an empty
 * one -> `ERR_TOKEN_MISSING` with `missing` as its message.
 */
function schemeAndToken(header: string | readonly string[] | undefined | null, missing: string): { scheme: string; token: string } {
  if (Array.isArray(header)) {
    if (header.length > 1) throw new TokenVerificationError("ERR_TOKEN_MALFORMED", "more than one Authorization header");
    header = header[0];
  }
  if (typeof header !== "string" || header.trim() === "") throw new TokenVerificationError("ERR_TOKEN_MISSING", missing);
  const [, scheme = "", token = ""] = /^\s*(\S+)(?:\s+(.*?))?\s*$/.exec(header) ?? [];
  return { scheme, token };
}

/**
 * The bearer token of an `Authorization` header value. No header, or another
 * scheme (e.g. Basic) -> `ERR_TOKEN_MISSING` (RFC 6750 §3.1: no error code);
 * `Bearer` with a missing or malformed token, or several headers ->
 * `ERR_TOKEN_MALFORMED`.
 */
export function bearerToken(header: string | readonly string[] | undefined | null): string {
  const { scheme, token } = schemeAndToken(header, "no bearer token");
  if (scheme.toLowerCase() !== "bearer") throw new TokenVerificationError("ERR_TOKEN_MISSING", "no bearer token");
  if (!B64TOKEN.test(token)) throw new TokenVerificationError("ERR_TOKEN_MALFORMED", "the bearer token is malformed");
  return token;
}

/** An access token and the scheme it was presented with. */
export interface PresentedToken {
  scheme: AuthScheme;
  token: string;
}

/**
 * The access token of an `Authorization` header value, `Bearer` (RFC 6750
 * §2.1) or `DPoP` (RFC 9449 §7.1; schemes are case-insensitive). No header or
 * another scheme -> `ERR_TOKEN_MISSING`; a missing or malformed token, or
 * several headers -> `ERR_TOKEN_MALFORMED`.
 */
export function authorizationToken(header: string | readonly string[] | undefined | null): PresentedToken {
  const { scheme: rawScheme, token } = schemeAndToken(header, "no access token");
  const lower = rawScheme.toLowerCase();
  const scheme: AuthScheme | undefined = lower === "bearer" ? "Bearer" : lower === "dpop" ? "DPoP" : undefined;
  if (!scheme) throw new TokenVerificationError("ERR_TOKEN_MISSING", "no access token");
  if (!B64TOKEN.test(token)) throw new TokenVerificationError("ERR_TOKEN_MALFORMED", `the ${scheme} token is malformed`, { scheme });
  return { scheme, token };
}
