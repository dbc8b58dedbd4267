import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The one descriptor set (`buf build` output) behind gRPC reflection, the
 * embedded gateway's routes and the access table. Envoy loads the same file.
 */
export const DESCRIPTOR_PATH = fileURLToPath(new URL("../gen/descriptor.binpb", import.meta.url));

let cached: Buffer | undefined;
export function descriptorBytes(): Buffer {
  cached ??= readFileSync(DESCRIPTOR_PATH);
  return cached;
}

/** The fully qualified names of the services this server implements. */
export const SERVICE_NAMES = [
  "authz.v1.ApiServerService",
] as const;
