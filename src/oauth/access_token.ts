import { randomBytes } from "node:crypto";
import type { ApiServer } from "../domain/api_servers.js";
import { newSecret, sha256 } from "../domain/ids.js";
import { toSeconds } from "../clock.js";
import { underTrace, type Context } from "../tracing.js";
import type { AuthenticatedClient } from "./client_auth.js";
import { InvalidGrant, type OAuthError } from "./errors.js";
import type { TokenResponseBody } from "./grants/types.js";
import type { OAuthDeps, RefreshTokenRecord } from "./ports.js";
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
  options: { family?: RefreshFamily; cnf?: Confirmation; trace?: Context; scopeRequested?: boolean } = {},
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
  const refresh = mayRefresh(client, apiServer) ? newRefreshToken(client, apiServer, scope, nowMs, family, cnf) : undefined;
  if (family) {
    // A refresh: its parent is spent even when no successor is issued any more.
    if (!(await underTrace(trace, () => deps.refreshTokens.rotate(family.familyId, family.parent, iat, refresh?.record)))) throw await revokeOnReuse(deps, family.familyId);
  } else if (refresh) {
    await underTrace(trace, () => deps.refreshTokens.insert(refresh.record));
  }
  deps.clients.recordIssuance(client.clientId, nowMs);
  deps.telemetry?.tokenIssued(apiServer.id);

  const body: TokenResponseBody = { access_token: accessToken, token_type: cnf?.jkt ? "DPoP" : "Bearer", expires_in: apiServer.tokenLifetimeSeconds };
  // RFC 6749 §5.1: required when it differs from the request's, so also when nothing asked for was granted.
  if (scope || options.scopeRequested) body.scope = scope;
  if (refresh) body.refresh_token = refresh.token;
  return body;
}

/** The refresh token a refresh spends, and the family its successor joins. */
export interface RefreshFamily {
  familyId: string;
  /** The family's expiry (epoch s): rotation does not extend it. */
  expiresAt: number;
  /** SHA-256 of the refresh token presented. */
  parent: Buffer;
}

/**
 * RFC 9700 §4.14.2: a refresh token presented again means it was stolen
 * (or its holder raced itself); the whole family goes. Returns the error to throw.
 */
export async function revokeOnReuse(deps: OAuthDeps, familyId: string): Promise<OAuthError> {
  await deps.refreshTokens.revokeFamily(familyId);
  return new InvalidGrant("refresh token reuse; family revoked");
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

/** A new refresh token and its record (not stored yet), bound as its access token is (RFC 9449 §5, RFC 8705 §4): `cnf`. */
function newRefreshToken(client: AuthenticatedClient, apiServer: ApiServer, scope: string, nowMs: number, family: RefreshFamily | undefined, cnf: Confirmation | undefined): { token: string; record: RefreshTokenRecord } {
  const token = REFRESH_TOKEN_PREFIX + newSecret();
  const record: RefreshTokenRecord = {
    tokenHash: sha256(token),
    familyId: family?.familyId ?? randomBytes(12).toString("base64url"),
    clientId: client.clientId,
    apiServerId: apiServer.id,
    scope,
    issuedAtMs: nowMs,
    expiresAt: family?.expiresAt ?? toSeconds(nowMs) + apiServer.refreshTokenLifetimeSeconds,
    usedAt: null,
    cnf,
  };
  return { token, record };
}
