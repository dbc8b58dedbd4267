import type { ApiServer, SigningAlg } from "../domain/api_servers.js";
import type { AuthenticatedClient, ClientDirectory } from "./client_auth.js";

/** What the OAuth endpoints need from the rest of the service; wired in server.ts. */
export interface OAuthDeps {
  clients: ClientDirectory & {
    /** The client's current auth-relevant state, or undefined when deleted or disabled. */
    findActive(clientId: string): AuthenticatedClient | undefined;
    /** Counts an issued token (cheap; not an audit row). */
    recordIssuance(clientId: string, atMs: number): void;
  };
  apiServers: {
    /** The API server selected by an audience value (identifier or extra audience), cached. */
    findByAudience(audience: string): ApiServer | undefined;
    get(id: string): ApiServer | undefined;
  };
  /**
   * The client's access to the API server now, or undefined when it has none:
   * the scopes it may get, and since when (epoch ms; tokens issued before are
   * not covered by this access — e.g. a grant deleted and created again).
   */
  resolveAccess(client: AuthenticatedClient, apiServer: ApiServer): Access | undefined;
  tokens: TokenSigner;
  tokenState: TokenState;
  issuer: string;
  /** Leeway for clock skew on client assertions (RFC 7523 §3). */
  assertionClockToleranceSeconds: number;
  /** Milliseconds since the epoch. */
  now(): number;
}

export interface Access {
  scopes: readonly string[];
  /** Epoch ms from which this access exists. */
  since: number;
}

export interface TokenSigner {
  /** Signs RFC 9068 claims with the active key of `alg` (header typ at+jwt, kid). */
  sign(alg: SigningAlg, claims: Record<string, unknown>): Promise<string>;
  /** Verifies signature (alg pinned to the key), returning claims; throws when invalid. */
  verify(token: string): Promise<Record<string, unknown>>;
}

export interface RefreshTokenRecord {
  tokenHash: Buffer;
  familyId: string;
  clientId: string;
  apiServerId: string;
  scope: string;
  /** Milliseconds since the epoch (compared with a client's tokensValidAfter). */
  issuedAtMs: number;
  /** Seconds since the epoch. */
  expiresAt: number;
  usedAt: number | null;
}

/** Token state that is not in the tokens themselves. Times in seconds unless named Ms. */
export interface TokenState {
  revokeAccessToken(jti: string, expiresAt: number): void;
  isAccessTokenRevoked(jti: string): boolean;
  insertRefreshToken(record: RefreshTokenRecord): void;
  findRefreshToken(tokenHash: Buffer): RefreshTokenRecord | undefined;
  /** Marks it used; false when it already was (reuse). */
  markRefreshTokenUsed(tokenHash: Buffer, at: number): boolean;
  revokeRefreshFamily(familyId: string): void;
  consumeAssertionJti(clientId: string, jti: string, expiresAt: number): boolean;
  /** Drops rows whose tokens have expired anyway. */
  purgeExpired(now: number): number;
}
