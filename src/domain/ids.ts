import { createHash, randomBytes } from "node:crypto";

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
