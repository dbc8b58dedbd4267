import { randomBytes } from "node:crypto";
import type { ApiServer } from "../domain/api_servers.js";
import { newSecret, sha256 } from "../domain/ids.js";
import { toSeconds } from "../clock.js";
import { underTrace, type Context } from "../tracing.js";
import type { AuthenticatedClient } from "./client_auth.js";
import type { TokenResponseBody } from "./grants/types.js";
import type { OAuthDeps } from "./ports.js";
import type { Confirmation } from "./sender_constraint.js";

/**
 * Mints the RFC 9068 access token (and, where allowed, a refresh token) for a
 * client, API server and scope set. Shared by every grant type. A refresh
 * continues its family: same family id and the family's absolute expiry (a
 * refresh never extends the lifetime granted at the first issuance).
 */
export async function mintTokens(
  deps: OAuthDeps,
  client: AuthenticatedClient,
  apiServer: ApiServer,
  scopes: string[],
  options: { family?: { familyId: string; expiresAt: number }; cnf?: Confirmation; trace?: Context } = {},
): Promise<TokenResponseBody> {
  const { family, cnf, trace } = options;
  const nowMs = deps.now();
  const iat = toSeconds(nowMs);
  const exp = iat + apiServer.tokenLifetimeSeconds;
  const scope = scopes.join(" ");
  // RFC 9068 §2.2 claims.
  const claims: Record<string, unknown> = {
    iss: deps.issuer,
    sub: client.clientId,
    aud: apiServer.identifier,
    client_id: client.clientId,
    iat,
    exp,
    jti: newJti(nowMs),
  };
  if (scope) claims.scope = scope;
  if (apiServer.tokenDialect === "access_token_authz") claims.permissions = scopes;
  if (cnf) claims.cnf = cnf; // RFC 7800 §3.1, RFC 8705 §3.1, RFC 9449 §6.1
  // Signing is CPU only, timed by the grant's span: a span of its own cost recorded issuance about 3%.
  const accessToken = await deps.tokens.sign(apiServer.signingAlg, claims);
  deps.clients.recordIssuance(client.clientId, nowMs);
  deps.telemetry?.tokenIssued(apiServer.id);

  const body: TokenResponseBody = { access_token: accessToken, token_type: cnf?.jkt ? "DPoP" : "Bearer", expires_in: apiServer.tokenLifetimeSeconds };
  if (scope) body.scope = scope;
  if (mayRefresh(client, apiServer)) body.refresh_token = await underTrace(trace, () => issueRefreshToken(deps, client, apiServer, scope, nowMs, family, cnf));
  return body;
}

/** Random bytes for jtis, drawn from a pool refilled 256 jtis at a time (one syscall per refill, not per token). */
const JTI_BYTES = 16;
let pool = Buffer.alloc(0);
let offset = 0;
function jtiRandom(): string {
  if (offset + JTI_BYTES > pool.length) {
    pool = randomBytes(JTI_BYTES * 256);
    offset = 0;
  }
  const out = pool.toString("base64url", offset, offset + JTI_BYTES);
  offset += JTI_BYTES;
  return out;
}

/**
 * `jti` is opaque to everyone else; it starts with the issuance time in
 * milliseconds so a client's bulk revocation (`tokensValidAfter`, in ms) can be
 * compared exactly: `iat` has only whole seconds.
 */
function newJti(nowMs: number): string {
  return `${nowMs.toString(36)}.${jtiRandom()}`;
}

/** Issuance time (ms) of an access token: from its jti when it is ours, else from iat. */
export function issuedAtMs(claims: { jti?: unknown; iat?: unknown }): number {
  const m = typeof claims.jti === "string" ? /^([0-9a-z]{1,11})\./.exec(claims.jti) : null;
  if (m) return parseInt(m[1]!, 36);
  return typeof claims.iat === "number" ? claims.iat * 1000 : 0;
}

/** RFC 6749 §4.4.3: no refresh token for client credentials unless the API server allows offline access and the client the grant type. */
function mayRefresh(client: AuthenticatedClient, apiServer: ApiServer): boolean {
  return apiServer.allowOfflineAccess && client.grantTypes.includes("refresh_token");
}

export const REFRESH_TOKEN_PREFIX = "rt_";

/** The refresh token is bound as its access token is (RFC 9449 §5, RFC 8705 §4): `cnf`. */
async function issueRefreshToken(deps: OAuthDeps, client: AuthenticatedClient, apiServer: ApiServer, scope: string, nowMs: number, family: { familyId: string; expiresAt: number } | undefined, cnf: Confirmation | undefined): Promise<string> {
  const token = REFRESH_TOKEN_PREFIX + newSecret();
  await deps.refreshTokens.insert({
    tokenHash: sha256(token),
    familyId: family?.familyId ?? randomBytes(12).toString("base64url"),
    clientId: client.clientId,
    apiServerId: apiServer.id,
    scope,
    issuedAtMs: nowMs,
    expiresAt: family?.expiresAt ?? toSeconds(nowMs) + apiServer.refreshTokenLifetimeSeconds,
    usedAt: null,
    cnf,
  });
  return token;
}
