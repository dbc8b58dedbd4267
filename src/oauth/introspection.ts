// RFC 7662 OAuth 2.0 Token Introspection.
import type { Context } from "../tracing.js";
import type { Confirmation } from "./sender_constraint.js";
import { sha256 } from "../domain/ids.js";
import { toSeconds } from "../clock.js";
import type { ApiServer } from "../domain/api_servers.js";
import { MANAGEMENT_AUDIENCE } from "../domain/constants.js";
import { REFRESH_TOKEN_PREFIX } from "./access_token.js";
import { activeAccessToken } from "./active_token.js";
import { authenticateClient, type AuthenticatedClient } from "./client_auth.js";
import type { PresentedCredential } from "./credentials.js";
import { InsufficientScope, InvalidClient, InvalidRequest } from "./errors.js";
import type { OAuthDeps } from "./ports.js";
import { assertionContext } from "./token_endpoint.js";

/** The management permission introspection callers need (RFC 7662 §2.1: the endpoint requires authorization). */
export const INTROSPECT_PERMISSION = "tokens:introspect";
/**
 * Management tokens (audience urn:authz:management) are only shown to callers
 * holding this permission as well: `tokens:introspect` alone, held by every
 * resource server, must not reveal the admin's token and its scopes.
 */
export const INTROSPECT_MANAGEMENT_PERMISSION = "tokens:introspect_management";

/** RFC 7662 §2.2 response; only `active` for inactive tokens. */
export interface IntrospectionBody {
  active: boolean;
  scope?: string;
  client_id?: string;
  token_type?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  sub?: string;
  aud?: string;
  iss?: string;
  jti?: string;
  permissions?: string[];
  /** RFC 8705 §3.2 / RFC 9449 §6.2: the key a bound token is confirmed by. */
  cnf?: Confirmation;
}

/** Who asks: a client by its credentials, or a management bearer token. */
export type IntrospectionCaller = { credential: PresentedCredential } | { bearer: string };

export interface IntrospectionRequest {
  caller: IntrospectionCaller;
  token: string;
  tokenTypeHint: string | undefined;
  /** The caller's address (CallContext.peer), for throttling only. */
  source?: string;
  /** The call's trace context (CallContext.traceContext): the parent of the step spans; none: not traced. */
  trace?: Context;
}

/** A token's `cnf` claim, members of known shape only (we minted it, but the claim set is a JSON object like any other). */
function confirmationOf(value: unknown): Confirmation | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { "x5t#S256": x5t, jkt } = value as Record<string, unknown>;
  const cnf: Confirmation = {};
  if (typeof x5t === "string") cnf["x5t#S256"] = x5t;
  if (typeof jkt === "string") cnf.jkt = jkt;
  return cnf["x5t#S256"] || cnf.jkt ? cnf : undefined;
}

const INACTIVE: IntrospectionBody = Object.freeze({ active: false });

interface Caller {
  client: AuthenticatedClient;
  /** The caller's management permissions. */
  permissions: readonly string[];
}

export async function introspect(request: IntrospectionRequest, deps: OAuthDeps): Promise<IntrospectionBody> {
  const body = await introspectToken(request, deps);
  deps.telemetry?.introspected(body.active);
  return body;
}

async function introspectToken(request: IntrospectionRequest, deps: OAuthDeps): Promise<IntrospectionBody> {
  const caller = await authenticateCaller(request.caller, deps, request.source, request.trace);
  const { token, tokenTypeHint: hint } = request;
  if (!token) throw new InvalidRequest("missing token", "missing required parameter token");
  // §2.1: the hint is only a hint; refresh tokens are recognisable by prefix.
  if (token.startsWith(REFRESH_TOKEN_PREFIX) || hint === "refresh_token") {
    const body = await inspectRefreshToken(token, caller, deps);
    if (body.active || token.startsWith(REFRESH_TOKEN_PREFIX)) return body;
  }
  const active = await activeAccessToken(token, deps);
  if (!active || !(await mayView(caller, active.apiServer, deps))) return INACTIVE;
  const { claims } = active;
  const body: IntrospectionBody = {
    active: true,
    client_id: claims.client_id,
    token_type: "Bearer",
    exp: claims.exp,
    iat: claims.iat,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    jti: claims.jti,
  };
  // The scope as it stands now (claims ∩ current grant), not as it was minted.
  if (active.scopes.length > 0) body.scope = active.scopes.join(" ");
  if (typeof claims.nbf === "number") body.nbf = claims.nbf;
  if (Array.isArray(claims.permissions)) body.permissions = active.scopes;
  const cnf = confirmationOf(claims.cnf);
  if (cnf) {
    body.cnf = cnf;
    if (cnf.jkt) body.token_type = "DPoP"; // RFC 9449 §6.2
  }
  return body;
}

async function inspectRefreshToken(token: string, caller: Caller, deps: OAuthDeps): Promise<IntrospectionBody> {
  if (!/^rt_[A-Za-z0-9_-]{43}$/.test(token)) return INACTIVE;
  const record = await deps.refreshTokens.find(sha256(token));
  const now = toSeconds(deps.now());
  if (!record || record.usedAt !== null || record.expiresAt <= now) return INACTIVE;
  const client = await deps.clients.findActive(record.clientId);
  const apiServer = await deps.apiServers.get(record.apiServerId);
  const access = client && apiServer ? await deps.resolveAccess(client, apiServer) : undefined;
  if (!client || !apiServer || !access || record.issuedAtMs < client.tokensValidAfter || record.issuedAtMs < access.since) return INACTIVE;
  if (caller.client.clientId !== record.clientId && !(await mayView(caller, apiServer, deps))) return INACTIVE;
  const allowed = new Set(access.scopes);
  const scope = record.scope.split(" ").filter((s) => s !== "" && allowed.has(s)).join(" ");
  const body: IntrospectionBody = {
    active: true,
    client_id: record.clientId,
    token_type: "refresh_token",
    exp: record.expiresAt,
    iat: toSeconds(record.issuedAtMs),
    sub: record.clientId,
    aud: apiServer.identifier,
    iss: deps.issuer,
  };
  if (scope) body.scope = scope;
  return body;
}

/**
 * §2.1: the endpoint requires authorization. The caller is a client granted
 * `tokens:introspect` on the management API server, authenticated either by
 * client credentials or by a bearer management token carrying that scope.
 * Good credentials without the permission are told so (403
 * insufficient_scope), never that their credentials are bad.
 */
async function authenticateCaller(caller: IntrospectionCaller, deps: OAuthDeps, source: string | undefined, trace: Context | undefined): Promise<Caller> {
  if ("bearer" in caller) {
    const active = await activeAccessToken(caller.bearer, deps);
    if (!active || active.apiServer.identifier !== MANAGEMENT_AUDIENCE) throw new InvalidClient("bearer token is not an active management token", true, "bearer_invalid");
    // A bearer presentation proves nothing of a key or certificate (RFC 9449 §7.1, RFC 8705 §3): a bound token here would be anyone's who holds it.
    if (active.claims.cnf !== undefined) throw new InvalidClient("a sender-constrained token cannot authenticate an introspection caller as bearer; use client credentials", true, "bearer_invalid");
    if (!active.scopes.includes(INTROSPECT_PERMISSION)) throw new InsufficientScope(INTROSPECT_PERMISSION, true);
    return { client: active.client, permissions: active.scopes };
  }
  const client = await authenticateClient(caller.credential, deps.clients, assertionContext(deps, source, trace));
  const management = await deps.apiServers.findByAudience(MANAGEMENT_AUDIENCE);
  const permissions = management ? ((await deps.resolveAccess(client, management))?.scopes ?? []) : [];
  if (!permissions.includes(INTROSPECT_PERMISSION)) throw new InsufficientScope(INTROSPECT_PERMISSION, false);
  return { client, permissions };
}

/**
 * A caller sees tokens for API servers it has access to itself (a resource
 * server registers a client granted to its own API server), so one tenant's
 * resource server cannot probe another's tokens; management tokens only with
 * the extra permission.
 */
async function mayView(caller: Caller, apiServer: ApiServer, deps: OAuthDeps): Promise<boolean> {
  if (apiServer.identifier === MANAGEMENT_AUDIENCE) return caller.permissions.includes(INTROSPECT_MANAGEMENT_PERMISSION);
  return (await deps.resolveAccess(caller.client, apiServer)) !== undefined;
}

/** A bearer Authorization header (introspection's second way to authenticate), or undefined. */
export function bearerOf(authorization: string | undefined): string | undefined {
  return authorization ? /^Bearer[ \t]+(\S{1,8192})[ \t]*$/i.exec(authorization)?.[1] : undefined;
}

/** Bearer and client credentials in one request are two methods (RFC 6749 §2.3). */
export function introspectionCaller(authorization: string | undefined, credential: () => PresentedCredential, hasCredentialFields: boolean): IntrospectionCaller {
  const bearer = bearerOf(authorization);
  if (!bearer) return { credential: credential() };
  if (hasCredentialFields) throw new InvalidRequest("bearer and client credentials together", "use exactly one client authentication method");
  return { bearer };
}

