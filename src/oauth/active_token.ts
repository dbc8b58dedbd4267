import { toSeconds } from "../clock.js";
import type { ApiServer } from "../domain/api_servers.js";
import { issuedAtMs } from "./access_token.js";
import type { AuthenticatedClient } from "./client_auth.js";
import type { OAuthDeps } from "./ports.js";
import { effectiveScopes } from "./scope.js";

/** An access token that is live right now, with what it is bound to. */
export interface ActiveAccessToken {
  claims: AccessTokenClaims;
  client: AuthenticatedClient;
  apiServer: ApiServer;
  /** Its scopes as they stand now: the claims intersected with the current grant (or dynamic access). */
  scopes: string[];
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

/** Longest token looked at: ours are well under 2 KiB. */
const MAX_TOKEN_LENGTH = 8192;

/**
 * The one definition of "this access token is active" (RFC 7662 §2.2),
 * shared by introspection and the management API's bearer check. Active means:
 * signature and kid check out with the key's pinned algorithm, issuer ours, not
 * expired, not revoked, its client still exists and is enabled and did not
 * revoke its tokens since, its API server still exists and the client still
 * has access to it, granted before the token was issued (a grant deleted and
 * made again does not revive older tokens). Its effective scope is what it
 * claims intersected with what the access allows now. Anything else is
 * `undefined`, without saying why.
 */
export async function activeAccessToken(token: string, deps: OAuthDeps): Promise<ActiveAccessToken | undefined> {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  let claims: AccessTokenClaims;
  try {
    claims = (await deps.tokens.verify(token)) as AccessTokenClaims;
  } catch {
    return undefined;
  }
  const now = toSeconds(deps.now());
  if (claims.iss !== deps.issuer || typeof claims.exp !== "number" || claims.exp <= now) return undefined;
  if (typeof claims.jti !== "string" || typeof claims.client_id !== "string" || typeof claims.aud !== "string") return undefined;
  if (deps.revocations.isRevoked(claims.jti)) return undefined;
  const client = await deps.clients.findActive(claims.client_id);
  const issued = issuedAtMs(claims);
  if (!client || issued < client.tokensValidAfter) return undefined;
  const apiServer = await deps.apiServers.findByAudience(claims.aud);
  const access = apiServer && (await deps.resolveAccess(client, apiServer));
  if (!apiServer || !access || issued < access.since) return undefined;
  return { claims, client, apiServer, scopes: effectiveScopes(typeof claims.scope === "string" ? claims.scope : undefined, access.scopes) };
}
