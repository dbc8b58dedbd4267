import type { Violations } from "./errors.js";

/** Unicode general category Cc: C0 controls, DEL and the C1 controls U+0080..U+009F (e.g. U+009B, the 8-bit CSI of terminal escapes). */
const CONTROL = /\p{Cc}/u;
const MAX_NAME_LENGTH = 200;

/** A display name: required, trimmed, at most 200 characters, no control characters. Returns the trimmed name. */
export function checkName(raw: string, v: Violations, field: string): string {
  const name = raw.trim();
  if (!name) v.add(field, "is required");
  else if (name.length > MAX_NAME_LENGTH || CONTROL.test(name)) v.add(field, `must be at most ${MAX_NAME_LENGTH} characters without control characters`);
  return name;
}
