import { InvalidScope } from "./errors.js";

/** RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Splits a `scope` parameter into unique scope tokens, refusing bad syntax. */
export function parseScope(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  const tokens = scope.split(" ").filter((s) => s !== "");
  for (const t of tokens) if (!SCOPE_TOKEN.test(t)) throw new InvalidScope("scope token with invalid characters");
  return [...new Set(tokens)];
}

/**
 * The scopes a token gets. No scope requested: everything allowed. With
 * `enforce_policies`, asking for a scope outside `allowed` is an error
 * (invalid_scope); without it such scopes are dropped. Either way the result
 * never exceeds `allowed`.
 */
export function grantScopes(requested: string[], allowed: readonly string[], enforcePolicies: boolean): string[] {
  if (requested.length === 0) return [...allowed];
  const allowedSet = new Set(allowed);
  const outside = requested.filter((s) => !allowedSet.has(s));
  if (outside.length > 0 && enforcePolicies) throw new InvalidScope(`not granted: ${outside.join(" ")}`);
  return requested.filter((s) => allowedSet.has(s));
}
