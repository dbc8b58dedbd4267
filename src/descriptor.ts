import { createFileRegistry, fromBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
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

let registry: FileRegistry | undefined;
/** The descriptor set as a protobuf-es registry (reflection over services, options, messages). */
export function descriptorRegistry(): FileRegistry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorBytes()));
  return registry;
}

/** The fully qualified names of the services this server implements. */
export const SERVICE_NAMES = [
  "authz.v1.ApiServerService",
  "authz.v1.ClientService",
  "authz.v1.GrantService",
  "authz.v1.KeyService",
  "authz.v1.AuditService",
  "authz.v1.TokenService",
  "authz.v1.OAuthService",
] as const;
