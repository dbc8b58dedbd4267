import { getOption, hasOption, type FileRegistry } from "@bufbuild/protobuf";
import { PermissionDenied } from "../domain/errors.js";
import { AuthzError } from "../errors.js";
import type { CallContext, ClientCertificate, Principal } from "./context.js";
import { TRANSCODED_HEADER, TRANSCODED_METHOD_HEADER } from "./observer.js";

/** What a method requires: nothing (public), or a management permission. */
export type MethodRule = { public: true } | { public: false; permission: string };

/**
 * How a call presents its access token, for the binding checks of a
 * sender-constrained one (src/oauth/resource_access.ts).
 */
export interface TokenPresentation {
  /** `Bearer` (RFC 6750 §2.1) or `DPoP` (RFC 9449 §7.1, with a proof in the `dpop` header). */
  scheme: "bearer" | "dpop";
  proof: string | undefined;
  /** The request a DPoP proof names: transcoded, the HTTP request's method and path; gRPC, POST and the method's path. */
  htm: string;
  path: string;
  certificate: ClientCertificate | undefined;
}

/**
 * Verifies a management access token as presented: the principal, or
 * undefined when it is not an active management token; throws
 * Unauthenticated when a bound token is presented without its binding.
 */
export type VerifyManagementToken = (token: string, presented: TokenPresentation) => Promise<Principal | undefined>;

/** RFC 6750 §3: a protected RPC without a valid bearer token. */
export class Unauthenticated extends AuthzError {
  override name = "Unauthenticated";
  constructor(message: string, challenge: string) {
    super("unauthenticated", message, { headers: { "www-authenticate": challenge } });
  }
}

/** RFC 6750 §2.1 b64token, in either scheme. */
const AUTHORIZATION = /^(Bearer|DPoP)[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i;
/** Longest bearer token looked at: ours are < 2 KiB; anything longer is refused before it is parsed. */
const MAX_TOKEN_LENGTH = 8192;

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
 * The access step of every call, before any handler runs: public methods
 * pass; others need `authorization: Bearer <management token>` that is active
 * and carries the method's permission. Missing or invalid -> UNAUTHENTICATED
 * with `www-authenticate: Bearer` (RFC 6750 §3); valid without the permission
 * -> PERMISSION_DENIED naming it. Sets `ctx.principal`.
 */
export async function authorize(rule: MethodRule, ctx: CallContext, verify: VerifyManagementToken): Promise<void> {
  if (rule.public) return;
  const header = ctx.requestHeaders.get("authorization");
  const presented = header && header.length <= MAX_TOKEN_LENGTH + 16 ? AUTHORIZATION.exec(header) : null;
  if (!presented) throw new Unauthenticated("a management bearer token is required", 'Bearer realm="authz"');
  const principal = await verify(presented[2]!, presentationOf(presented[1]!.toLowerCase() === "dpop" ? "dpop" : "bearer", ctx));
  if (!principal) throw new Unauthenticated("the bearer token is invalid or expired", 'Bearer realm="authz", error="invalid_token"');
  if (!principal.scopes.includes(rule.permission)) {
    const denied = new PermissionDenied(`the token lacks permission ${rule.permission}`, rule.permission);
    denied.headers["www-authenticate"] = `Bearer realm="authz", error="insufficient_scope", scope="${rule.permission}"`;
    throw denied;
  }
  ctx.principal = principal;
}

function presentationOf(scheme: "bearer" | "dpop", ctx: CallContext): TokenPresentation {
  const httpPath = ctx.requestHeaders.get(TRANSCODED_HEADER);
  const query = httpPath?.indexOf("?") ?? -1;
  return {
    scheme,
    proof: ctx.requestHeaders.get("dpop"),
    htm: httpPath === undefined ? "POST" : (ctx.requestHeaders.get(TRANSCODED_METHOD_HEADER) ?? "POST"),
    path: httpPath === undefined ? ctx.method : query < 0 ? httpPath : httpPath.slice(0, query),
    certificate: ctx.clientCertificate,
  };
}
