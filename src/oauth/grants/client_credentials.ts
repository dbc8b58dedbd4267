// RFC 6749 §4.4 Client Credentials Grant, with RFC 8707 resource indicators
// and the Auth0-style `audience` parameter.
import type { ApiServer } from "../../domain/api_servers.js";
import { AUDIENCE } from "../../domain/constants.js";
import { mintTokens } from "../access_token.js";
import { underTrace } from "../../tracing.js";
import { InvalidTarget } from "../errors.js";
import { grantScopes, parseScope } from "../scope.js";
import type { TokenRequest } from "../token_request.js";
import type { GrantContext, GrantType, TokenResponseBody } from "./types.js";

export const clientCredentials: GrantType = {
  grantType: "client_credentials",
  async handle({ request, client, deps, confirm, trace }: GrantContext): Promise<TokenResponseBody> {
    const apiServer = await underTrace(trace, () => resolveTarget(request, deps.apiServers.findByAudience));
    const access = await underTrace(trace, () => deps.resolveAccess(client, apiServer));
    if (!access) throw new InvalidTarget("client has no grant for this API server");
    const requested = parseScope(request.scope);
    const scopes = grantScopes(requested, access.scopes, apiServer.enforcePolicies);
    return mintTokens(deps, client, apiServer, scopes, { cnf: confirm(apiServer), trace, scopeRequested: requested.length > 0 });
  },
};

/**
 * The API server a request targets: `audience`, or `resource` (RFC 8707 §2:
 * an absolute URI without a fragment). Both given and different ->
 * invalid_target; neither -> invalid_target (a token must have an audience).
 * A value no API server could have is refused before any lookup.
 */
export async function resolveTarget(request: Pick<TokenRequest, "audience" | "resource">, findByAudience: (aud: string) => Promise<ApiServer | undefined>): Promise<ApiServer> {
  const { audience, resource } = request;
  if (resource !== undefined && !isAbsoluteUriWithoutFragment(resource)) throw new InvalidTarget("resource is not an absolute URI without fragment");
  if (audience !== undefined && resource !== undefined && audience !== resource) throw new InvalidTarget("audience and resource differ");
  const target = audience ?? resource;
  if (target === undefined) throw new InvalidTarget("no audience or resource", "an audience or resource parameter is required");
  const apiServer = AUDIENCE.test(target) ? await findByAudience(target) : undefined;
  if (!apiServer) throw new InvalidTarget("unknown audience");
  return apiServer;
}

function isAbsoluteUriWithoutFragment(value: string): boolean {
  if (value.includes("#") || value.length > 600) return false;
  try {
    return new URL(value).protocol.length > 1;
  } catch {
    return false;
  }
}
