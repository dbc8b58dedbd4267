// RFC 6749 §4.4 Client Credentials Grant, with RFC 8707 resource indicators
// and the Auth0-style `audience` parameter.
import type { ApiServer } from "../../domain/api_servers.js";
import { mintTokens } from "../access_token.js";
import { InvalidTarget } from "../errors.js";
import type { Params } from "../params.js";
import { grantScopes, parseScope } from "../scope.js";
import type { GrantContext, GrantType, TokenResponseBody } from "./types.js";

export const clientCredentials: GrantType = {
  grantType: "client_credentials",
  async handle({ params, client, deps }: GrantContext): Promise<TokenResponseBody> {
    const apiServer = resolveTarget(params, deps.apiServers.findByAudience);
    const access = deps.resolveAccess(client, apiServer);
    if (!access) throw new InvalidTarget("client has no grant for this API server");
    const scopes = grantScopes(parseScope(params.get("scope")), access.scopes, apiServer.enforcePolicies);
    return mintTokens(deps, client, apiServer, scopes);
  },
};

/**
 * The API server a request targets: `audience`, or `resource` (RFC 8707 §2:
 * an absolute URI without a fragment). Both given and different ->
 * invalid_target; neither -> invalid_target (a token must have an audience).
 */
export function resolveTarget(params: Params, findByAudience: (aud: string) => ApiServer | undefined): ApiServer {
  const audience = params.get("audience");
  const resource = params.get("resource");
  if (resource !== undefined && !isAbsoluteUriWithoutFragment(resource)) throw new InvalidTarget("resource is not an absolute URI without fragment");
  if (audience !== undefined && resource !== undefined && audience !== resource) throw new InvalidTarget("audience and resource differ");
  const target = audience ?? resource;
  if (target === undefined) throw new InvalidTarget("no audience or resource", "an audience or resource parameter is required");
  const apiServer = findByAudience(target);
  if (!apiServer) throw new InvalidTarget("unknown audience");
  return apiServer;
}

function isAbsoluteUriWithoutFragment(value: string): boolean {
  if (value.includes("#")) return false;
  try {
    return new URL(value).protocol.length > 1;
  } catch {
    return false;
  }
}
