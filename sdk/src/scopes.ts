/**
 * Scope checks on a verified token.
 *
 * @module
 */
import { TokenVerificationError, type AuthScheme } from "./errors.js";

/** Whether the token carries every one of `scopes`. */
export function hasScopes(token: { scopes: readonly string[] }, scopes: readonly string[]): boolean {
  return scopes.every((s) => token.scopes.includes(s));
}

/**
 * Throws `ERR_INSUFFICIENT_SCOPE` (403, RFC 6750 `insufficient_scope`, with
 * `scope` naming what is needed) unless the token carries every one of `scopes`.
 * The challenge uses the scheme the token was presented with (`scheme`, default Bearer).
 */
export function requireScopes(token: { scopes: readonly string[]; scheme?: AuthScheme }, scopes: readonly string[]): void {
  if (!hasScopes(token, scopes)) {
    throw new TokenVerificationError("ERR_INSUFFICIENT_SCOPE", "the access token lacks a required scope", { scope: scopes.join(" "), scheme: token.scheme });
  }
}
