// RFC 7662 OAuth 2.0 Token Introspection.
import { sha256 } from "../domain/ids.js";
import { toSeconds } from "../clock.js";
import type { ApiServer } from "../domain/api_servers.js";
import { REFRESH_TOKEN_PREFIX } from "./access_token.js";
import { activeAccessToken } from "./active_token.js";
import { authenticateClient, type AuthenticatedClient } from "./client_auth.js";
import { InvalidClient, InvalidRequest } from "./errors.js";
import { required, type Params } from "./params.js";
import type { OAuthDeps } from "./ports.js";
import { assertionContext } from "./token_endpoint.js";

export const MANAGEMENT_AUDIENCE = "urn:authz:management";
export const INTROSPECT_PERMISSION = "tokens:introspect";

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
}

export interface IntrospectionRequest {
  params: Params;
  authorization?: string;
  typed?: boolean;
}

const INACTIVE: IntrospectionBody = Object.freeze({ active: false });

export async function handleIntrospection(request: IntrospectionRequest, deps: OAuthDeps): Promise<IntrospectionBody> {
  const caller = await authenticateCaller(request, deps);
  const token = required(request.params, "token");
  const hint = request.params.get("token_type_hint");
  // §2.1: the hint is only a hint; refresh tokens are recognisable by prefix.
  if (token.startsWith(REFRESH_TOKEN_PREFIX) || hint === "refresh_token") {
    const body = inspectRefreshToken(token, caller, deps);
    if (body.active || token.startsWith(REFRESH_TOKEN_PREFIX)) return body;
  }
  const active = await activeAccessToken(token, deps);
  if (!active || !mayView(caller, active.apiServer, deps)) return INACTIVE;
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
  if (claims.scope) body.scope = claims.scope;
  if (typeof claims.nbf === "number") body.nbf = claims.nbf;
  if (Array.isArray(claims.permissions)) body.permissions = claims.permissions;
  return body;
}

function inspectRefreshToken(token: string, caller: AuthenticatedClient, deps: OAuthDeps): IntrospectionBody {
  const record = deps.tokenState.findRefreshToken(sha256(token));
  const now = toSeconds(deps.now());
  if (!record || record.usedAt !== null || record.expiresAt <= now) return INACTIVE;
  const client = deps.clients.findActive(record.clientId);
  const apiServer = deps.apiServers.get(record.apiServerId);
  if (!client || !apiServer || record.issuedAtMs < client.tokensValidAfter || !deps.resolveAccess(client, apiServer)) return INACTIVE;
  if (caller.clientId !== record.clientId && !mayView(caller, apiServer, deps)) return INACTIVE;
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
  if (record.scope) body.scope = record.scope;
  return body;
}

/**
 * §2.1: the endpoint requires authorization. The caller is a client granted
 * `tokens:introspect` on the management API server, authenticated either by
 * client credentials or by a bearer management token carrying that scope.
 */
export async function authenticateCaller(request: IntrospectionRequest, deps: OAuthDeps): Promise<AuthenticatedClient> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.authorization ?? "");
  if (bearer) {
    const active = await activeAccessToken(bearer[1]!, deps);
    const scopes = active?.claims.scope?.split(" ") ?? [];
    if (!active || active.apiServer.identifier !== MANAGEMENT_AUDIENCE || !scopes.includes(INTROSPECT_PERMISSION)) {
      throw new InvalidClient("bearer token is not an active management token with tokens:introspect", true);
    }
    if (request.params.has("client_secret") || request.params.has("client_assertion")) {
      throw new InvalidRequest("bearer and client credentials together", "use exactly one client authentication method");
    }
    return active.client;
  }
  const client = await authenticateClient(request, deps.clients, assertionContext(deps));
  const management = deps.apiServers.findByAudience(MANAGEMENT_AUDIENCE);
  const scopes = management ? deps.resolveAccess(client, management)?.scopes : undefined;
  if (!scopes?.includes(INTROSPECT_PERMISSION)) throw new InvalidClient("caller lacks tokens:introspect", request.authorization !== undefined);
  return client;
}

/**
 * A caller sees tokens for API servers it has access to itself (a resource
 * server registers a client granted to its own API server), so one tenant's
 * resource server cannot probe another's tokens.
 */
function mayView(caller: AuthenticatedClient, apiServer: ApiServer, deps: OAuthDeps): boolean {
  return deps.resolveAccess(caller, apiServer) !== undefined;
}
