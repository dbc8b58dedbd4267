import type { X509Certificate } from "node:crypto";
import type { ApiServer, SigningAlg } from "../domain/api_servers.js";
import type { AuthenticatedClient, ClientDirectory } from "./client_auth.js";
import type { DpopCheck } from "./dpop.js";
import type { ClientGuard, OAuthTelemetry } from "./guard.js";
import type { Confirmation } from "./sender_constraint.js";

/** What the OAuth endpoints need from the rest of the service; wired in server.ts. All lookups are served from memory where they can be. */
export interface OAuthDeps {
  clients: ClientDirectory & {
    /** The client's current auth-relevant state, or undefined when deleted or disabled. */
    findActive(clientId: string): Promise<AuthenticatedClient | undefined>;
    /** Counts an issued token (cheap, in memory; not an audit row). */
    recordIssuance(clientId: string, atMs: number): void;
  };
  apiServers: {
    /** The API server selected by an audience value (identifier or extra audience), cached. */
    findByAudience(audience: string): Promise<ApiServer | undefined>;
    get(id: string): Promise<ApiServer | undefined>;
  };
  /**
   * The client's access to the API server now, or undefined when it has none:
   * the scopes it may get, and since when (epoch ms; tokens issued before are
   * not covered by this access — e.g. a grant deleted and created again).
   */
  resolveAccess(client: AuthenticatedClient, apiServer: ApiServer): Promise<Access | undefined>;
  tokens: TokenSigner;
  refreshTokens: RefreshTokenRepository;
  revocations: Revocations;
  issuer: string;
  /** Leeway for clock skew on client assertions (RFC 7523 §3). */
  assertionClockToleranceSeconds: number;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Per-client token-endpoint limits and failed-authentication throttling; none: unlimited. */
  guard?: ClientGuard;
  /** Metrics of token requests and introspections; none: not counted. */
  telemetry?: OAuthTelemetry;
  /** RFC 9449: the proof `iat` window and single-use `jti`s (a store row per key and jti until `keepUntil`, epoch s). */
  dpop: {
    windowSeconds: number;
    consumeJti(jkt: string, jti: string, keepUntil: number): Promise<boolean>;
    /** RFC 9449 §8 server nonces, when required (src/oauth/dpop_nonce.ts). */
    nonce?: DpopCheck["nonce"];
  };
  /** RFC 8705 §2.1: the configured client CA, parsed; empty without one. */
  clientCa: () => readonly X509Certificate[];
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

/** Revoked access tokens (RFC 7009) by jti: checked in memory on every introspection, written through the store and the change feed. */
export interface Revocations {
  isRevoked(jti: string): boolean;
  /** Revokes until `expiresAt` (epoch s); `clientId` and `audience` say whose token it was (for the revocation watch). */
  revoke(jti: string, expiresAt: number, about: { clientId: string; audience: string }): Promise<void>;
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
  /** What the refresh token is bound to (the access token issued with it was): a refresh must present the same; none: unbound. */
  cnf?: Confirmation;
}

/**
 * Refresh tokens, stored hashed. A family's rotations and its revocation take
 * turns under the family's lock, across replicas: of two replicas spending
 * the same token at once exactly one succeeds, and a rotation racing a
 * revocation either lands first (and its new token is revoked with the rest)
 * or finds its parent gone — never a new token left alive in a revoked family.
 */
export interface RefreshTokenRepository {
  /** A family's first token (a fresh grant). */
  insert(record: RefreshTokenRecord): Promise<void>;
  find(tokenHash: Buffer): Promise<RefreshTokenRecord | undefined>;
  /**
   * Spends `parent` of `familyId` at `at` (epoch s) and stores its successor
   * (none when no refresh token is issued any more), in one transaction;
   * false, storing nothing, when the parent was spent already (reuse) or is
   * gone (its family revoked).
   */
  rotate(familyId: string, parent: Buffer, at: number, child: RefreshTokenRecord | undefined): Promise<boolean>;
  revokeFamily(familyId: string): Promise<void>;
}
