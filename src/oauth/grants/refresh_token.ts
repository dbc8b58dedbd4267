// RFC 6749 §6 Refreshing an Access Token, with rotation and reuse detection
// (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): every use returns a new refresh
// token; presenting a used one revokes its whole family.
import { sha256 } from "../../domain/ids.js";
import { toSeconds } from "../../clock.js";
import { mintTokens, revokeOnReuse } from "../access_token.js";
import { underTrace } from "../../tracing.js";
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget } from "../errors.js";
import { resolveTarget } from "./client_credentials.js";
import { parseScope } from "../scope.js";
import type { GrantContext, GrantType, TokenResponseBody } from "./types.js";

/** Refresh tokens are `rt_` + 43 base64url characters; anything else is not looked up. */
const REFRESH_TOKEN = /^rt_[A-Za-z0-9_-]{43}$/;

export const refreshToken: GrantType = {
  grantType: "refresh_token",
  async handle({ request, client, deps, confirm, presents, trace }: GrantContext): Promise<TokenResponseBody> {
    if (request.refreshToken === undefined) throw new InvalidRequest("missing refresh_token", "missing required parameter refresh_token");
    if (!REFRESH_TOKEN.test(request.refreshToken)) throw new InvalidGrant("malformed refresh token");
    const hash = sha256(request.refreshToken);
    const now = toSeconds(deps.now());
    const record = await underTrace(trace, () => deps.refreshTokens.find(hash));
    if (!record || record.clientId !== client.clientId) throw new InvalidGrant("unknown refresh token or other client");
    if (record.expiresAt <= now) throw new InvalidGrant("refresh token expired");
    if (record.issuedAtMs < client.tokensValidAfter) throw new InvalidGrant("refresh token predates a client revocation");
    // RFC 9449 §5, RFC 8705 §4: a bound refresh token needs its DPoP key and certificate; checked before it is spent, so a thief cannot burn it.
    if (record.cnf && !presents(record.cnf)) throw new InvalidGrant("refresh token bound to another DPoP key or certificate");
    if (record.usedAt !== null) throw await revokeOnReuse(deps, record.familyId);
    const apiServer = await deps.apiServers.get(record.apiServerId);
    if (!apiServer || !apiServer.allowOfflineAccess) throw new InvalidGrant("API server gone or offline access off");
    // RFC 8707 §2.2: a target named here must be the one the refresh token is for (no other is reachable
    // through it); refused before the token is spent.
    if (request.audience !== undefined || request.resource !== undefined) {
      const target = await resolveTarget(request, (audience) => deps.apiServers.findByAudience(audience));
      if (target.id !== apiServer.id) throw new InvalidTarget("not the refresh token's API server", "audience or resource must name the API server this refresh token is for");
    }
    const access = await deps.resolveAccess(client, apiServer);
    if (!access || record.issuedAtMs < access.since) throw new InvalidGrant("grant removed or re-created since");

    // §6: the new scope must not exceed the original; it also never exceeds what
    // the grant allows today.
    const original = record.scope ? record.scope.split(" ") : [];
    const requested = parseScope(request.scope);
    const outside = requested.filter((s) => !original.includes(s));
    if (outside.length > 0) throw new InvalidScope("scope exceeds the original grant");
    const allowed = new Set(access.scopes);
    const scopes = (requested.length > 0 ? requested : original).filter((s) => allowed.has(s));
    // The new access token is bound as a fresh one would be (this request's certificate or DPoP key).
    // The parent is spent when its successor is stored, in one step (`rotate`): a replica spending it first makes this a reuse.
    const family = { familyId: record.familyId, expiresAt: record.expiresAt, parent: hash };
    return mintTokens(deps, client, apiServer, scopes, { family, cnf: confirm(apiServer), trace, scopeRequested: requested.length > 0 || original.length > 0 });
  },
};
