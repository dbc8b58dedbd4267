import { createHash, randomBytes } from "node:crypto";
import { CLIENT_ID, RESOURCE_ID } from "./constants.js";
import { InvalidArgument } from "./errors.js";

/** A random URL-safe id with a type prefix: 16 bytes (128 bits) -> 22 base64url characters. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString("base64url")}`;
}

/** A high-entropy secret: 32 bytes (256 bits) as 43 base64url characters. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function sha256(value: string | Buffer): Buffer {
  return createHash("sha256").update(value).digest();
}

/** An opaque etag derived from the resource id and its version. */
export function etagOf(id: string, version: number): string {
  return sha256(`${id}:${version}`).subarray(0, 9).toString("base64url");
}

/**
 * Refuses an id that no resource can have before it reaches a lookup: empty
 * (AIP-131: INVALID_ARGUMENT, not NOT_FOUND), too long, or of the wrong shape.
 */
export function checkResourceId(id: string, field: string): void {
  if (!id) throw new InvalidArgument([{ field, description: "is required" }]);
  if (!RESOURCE_ID.test(id)) throw new InvalidArgument([{ field, description: `is not a valid id${echo(id)}` }]);
}

/** The same for client ids (server-generated `cl_...`, or an operator-chosen one of the unreserved set). */
export function checkClientId(id: string, field: string): void {
  if (!id) throw new InvalidArgument([{ field, description: "is required" }]);
  if (!CLIENT_ID.test(id)) throw new InvalidArgument([{ field, description: `is not a valid client id${echo(id)}` }]);
}

/** A short value is named in the error (JSON-quoted); a long one is not echoed at all. */
function echo(value: string): string {
  return value.length <= 64 ? `: ${JSON.stringify(value)}` : "";
}
