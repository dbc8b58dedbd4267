import { Aborted, Violations } from "./errors.js";

/**
 * Checks an update mask (AIP-134) against what a resource allows: it must name
 * at least one field, and only updatable ones. Adds violations to `v`.
 */
export function checkUpdateMask(
  mask: string[],
  v: Violations,
  fields: { updatable: Iterable<string>; immutable?: Iterable<string>; outputOnly?: Iterable<string> },
): void {
  const updatable = new Set(fields.updatable);
  const immutable = new Set(fields.immutable ?? []);
  const outputOnly = new Set(fields.outputOnly ?? []);
  if (mask.length === 0) v.add("update_mask", "must name at least one field");
  for (const path of new Set(mask)) {
    if (immutable.has(path)) v.add("update_mask", `${path} is immutable after create`);
    else if (outputOnly.has(path)) v.add("update_mask", `${path} is output only`);
    else if (!updatable.has(path)) v.add("update_mask", `unknown field ${JSON.stringify(path)}`);
  }
}

/** An etag sent with an update or delete must match the current one (empty skips the check). */
export function checkEtag(given: string, current: string, resource: string): void {
  if (given && given !== current) throw new Aborted(`etag does not match the current ${resource}; read it again`);
}
