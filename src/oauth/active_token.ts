import { toSeconds } from "../clock.js";
import type { ApiServer } from "../domain/api_servers.js";
import { issuedAtMs } from "./access_token.js";
import type { AuthenticatedClient } from "./client_auth.js";
import type { OAuthDeps } from "./ports.js";

/** An access token that is live right now, with what it is bound to. */
export interface ActiveAccessToken {
  claims: AccessTokenClaims;
  client: AuthenticatedClient;
  apiServer: ApiServer;
}

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  iat: number;
  exp: number;
  jti: string;
  scope?: string;
  permissions?: string[];
  [claim: string]: unknown;
}

/**
 * The one definition of "this access token is active" (RFC 7662 §2.2),
 * shared by introspection and the management API's bearer check. Active means:
 * signature and kid check out with the key's pinned algorithm, issuer ours, not
 * expired, not revoked, its client still exists and is enabled and did not
 * revoke its tokens since, its API server still exists and the client still
 * has access to it. Anything else is `undefined`, without saying why.
 */
export async function activeAccessToken(token: string, deps: OAuthDeps): Promise<ActiveAccessToken | undefined> {
  let claims: AccessTokenClaims;
  try {
    claims = (await deps.tokens.verify(token)) as AccessTokenClaims;
  } catch {
    return undefined;
  }
  const now = toSeconds(deps.now());
  if (claims.iss !== deps.issuer || typeof claims.exp !== "number" || claims.exp <= now) return undefined;
  if (typeof claims.jti !== "string" || typeof claims.client_id !== "string" || typeof claims.aud !== "string") return undefined;
  if (deps.tokenState.isAccessTokenRevoked(claims.jti)) return undefined;
  const client = deps.clients.findActive(claims.client_id);
  if (!client || issuedAtMs(claims) < client.tokensValidAfter) return undefined;
  const apiServer = deps.apiServers.findByAudience(claims.aud);
  if (!apiServer || !deps.resolveAccess(client, apiServer)) return undefined;
  return { claims, client, apiServer };
}
