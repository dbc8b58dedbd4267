import { createFileRegistry, fromBinary, toBinary, type FileRegistry } from "@bufbuild/protobuf";
import type { PackageDefinition } from "@grpc/proto-loader";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
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

/**
 * The descriptor set's files for @grpc/reflection, each encoded on its own with
 * its real name and imports, in the package-definition shape that library reads
 * (it only looks at `fileDescriptorProtos`). proto-loader's package definition
 * would merge each package into one file named after one of them and without
 * imports, which reflection clients such as grpcurl cannot link.
 */
export function reflectionFiles(): PackageDefinition {
  const files = fromBinary(FileDescriptorSetSchema, descriptorBytes()).file.map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f)));
  return { "authz.descriptor_set": { format: "Protocol Buffer 3 DescriptorProto", type: {}, fileDescriptorProtos: files } } as unknown as PackageDefinition;
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
  "authz.v1.RevocationService",
] as const;
