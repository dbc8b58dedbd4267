/**
 * Issuance time of an authz access token, in milliseconds.
 *
 * @module
 */

/**
 * When a token was issued, in ms: authz's `jti` starts with the issuance time
 * in milliseconds, base36, followed by a dot (`<ms base36>.<random>`), which is
 * exact where `iat` has whole seconds only. Falls back to `iat * 1000`, or
 * `undefined` when neither is usable.
 */
export function issuedAtMs(claims: { jti?: unknown; iat?: unknown }): number | undefined {
  const fromJti = jtiIssuedAtMs(claims.jti);
  if (fromJti !== undefined) return fromJti;
  return typeof claims.iat === "number" && Number.isFinite(claims.iat) ? claims.iat * 1000 : undefined;
}

/** The issuance time encoded in an authz `jti`, or `undefined` if it is not one of authz's. */
export function jtiIssuedAtMs(jti: unknown): number | undefined {
  if (typeof jti !== "string") return undefined;
  const m = /^([0-9a-z]{1,11})\./.exec(jti);
  if (!m) return undefined;
  const ms = parseInt(m[1]!, 36);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
