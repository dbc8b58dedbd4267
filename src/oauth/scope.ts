import { SCOPE_TOKEN } from "../domain/constants.js";
import { InvalidScope } from "./errors.js";

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

/** A token's scopes that its client may still hold: its claims intersected with what the grant allows now. */
export function effectiveScopes(claimed: string | undefined, allowed: readonly string[]): string[] {
  if (!claimed) return [];
  const allowedSet = new Set(allowed);
  return claimed.split(" ").filter((s) => s !== "" && allowedSet.has(s));
}
