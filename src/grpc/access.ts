import * as grpc from "@grpc/grpc-js";
import { getOption, hasOption, type FileRegistry } from "@bufbuild/protobuf";
import type { Logger } from "../log.js";
import { RpcError } from "./status.js";

/** What a method requires: nothing (public), or a management permission. */
export type MethodRule = { public: true } | { public: false; permission: string };

/** The caller of a management RPC, as proven by its bearer token. */
export interface Principal {
  clientId: string;
  scopes: string[];
}

/** Metadata key the access interceptor sets for handlers (any incoming value is dropped first). */
export const ACTOR_METADATA = "x-authz-actor";

/**
 * Builds the access table from the `(authz.v1.access)` option of every method
 * of the given services. A method without the option fails start-up: nothing
 * is ever served unprotected by omission.
 */
export function accessTable(registry: FileRegistry, serviceNames: readonly string[]): Map<string, MethodRule> {
  const ext = registry.getExtension("authz.v1.access");
  if (!ext) throw new Error("descriptor lacks the authz.v1.access extension");
  const table = new Map<string, MethodRule>();
  for (const name of serviceNames) {
    const service = registry.getService(name);
    if (!service) throw new Error(`service ${name} is not in the descriptor`);
    for (const method of service.methods) {
      const path = `/${service.typeName}/${method.name}`;
      if (!hasOption(method, ext)) throw new Error(`${path} has no (authz.v1.access) option`);
      const access = getOption(method, ext) as { permission: string; public: boolean };
      if (access.public === (access.permission !== "")) throw new Error(`${path} must be either public or name one permission`);
      table.set(path, access.public ? { public: true } : { public: false, permission: access.permission });
    }
  }
  return table;
}

/**
 * Enforces the table on every call, once, before any handler runs: public
 * methods pass; others need `authorization: Bearer <management token>` that is
 * active and carries the method's permission. Missing or invalid ->
 * UNAUTHENTICATED with `www-authenticate: Bearer` (RFC 6750 §3); valid without
 * the permission -> PERMISSION_DENIED. Methods outside the table (health,
 * reflection) are public infrastructure.
 */
export function accessInterceptor(
  table: ReadonlyMap<string, MethodRule>,
  verify: (token: string) => Promise<Principal | undefined>,
  logger: Logger,
): grpc.ServerInterceptor {
  return (methodDescriptor, call) => {
    const rule = table.get(methodDescriptor.path);
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            metadata.remove(ACTOR_METADATA);
            if (!rule || rule.public) return mdNext(metadata);
            authorize(rule.permission, metadata).then(
              (principal) => {
                metadata.set(ACTOR_METADATA, principal.clientId);
                mdNext(metadata);
              },
              (err: RpcError) => {
                call.sendStatus({ code: err.code, details: err.details, metadata: err.metadata });
              },
            );
          },
        });
      },
    });
  };

  async function authorize(permission: string, metadata: grpc.Metadata): Promise<Principal> {
    const header = metadata.get("authorization")[0];
    const token = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (!token) throw unauthenticated("a management bearer token is required", 'Bearer realm="authz"');
    let principal: Principal | undefined;
    try {
      principal = await verify(token);
    } catch (err) {
      logger.error("token verification fault", { error: (err as Error).name });
      throw new RpcError(grpc.status.INTERNAL, "internal error");
    }
    if (!principal) throw unauthenticated("the bearer token is invalid or expired", 'Bearer realm="authz", error="invalid_token"');
    if (!principal.scopes.includes(permission)) {
      throw new RpcError(grpc.status.PERMISSION_DENIED, `the token lacks permission ${permission}`, [], {
        "www-authenticate": `Bearer realm="authz", error="insufficient_scope", scope="${permission}"`,
      });
    }
    return principal;
  }
}

function unauthenticated(message: string, challenge: string): RpcError {
  return new RpcError(grpc.status.UNAUTHENTICATED, message, [], { "www-authenticate": challenge });
}

/** The authenticated caller's client_id, set by the access interceptor. */
export function actorOf(call: { metadata: grpc.Metadata }): string {
  const value = call.metadata.get(ACTOR_METADATA)[0];
  return typeof value === "string" ? value : "";
}
