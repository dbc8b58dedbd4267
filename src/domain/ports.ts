import type { ApiServer } from "./api_servers.js";
import type { AuditEvent, AuditQuery } from "./audit.js";
import type { Client } from "./clients.js";
import type { Grant } from "./grants.js";
import type { ListQuery } from "./listing.js";

/**
 * The storage ports of the management domain, owned here and implemented in
 * src/store/ (SQLite and PostgreSQL). Every method is async. Writes happen in
 * `transaction(async (tx) => ...)`, a unit of work: everything in it commits
 * together or not at all. A unique value taken by another row is a domain
 * `AlreadyExists` (thrown by the implementation), never a driver error; a fault
 * of the store is `Unavailable`.
 */
export interface ApiServerRepository {
  /** Inserts a new API server with its audiences; AlreadyExists naming the audience when one is in use. */
  insert(server: ApiServer): Promise<ApiServer>;
  get(id: string): Promise<ApiServer | undefined>;
  /** The API server whose identifier or extra audience equals `audience`. */
  findByAudience(audience: string): Promise<ApiServer | undefined>;
  /** Rows in `seq` order after `query.afterSeq` matching every filter term. */
  list(query: ListQuery): Promise<ApiServer[]>;
  /** Replaces the row if its version is still `server.version - 1`; false otherwise. AlreadyExists as insert. */
  update(server: ApiServer): Promise<boolean>;
  /** Deletes the row if its version is still `version` (its audiences and grants cascade); false otherwise. */
  delete(id: string, version: number): Promise<boolean>;
}

export interface ClientRepository {
  /** AlreadyExists when the client id is taken. */
  insert(client: Client): Promise<Client>;
  get(clientId: string): Promise<Client | undefined>;
  list(query: ListQuery): Promise<Client[]>;
  /** Replaces the row if its version is still `client.version - 1`; false otherwise. */
  update(client: Client): Promise<boolean>;
  /** Deletes the client if its version is still `version`; its grants cascade. False otherwise. */
  delete(clientId: string, version: number): Promise<boolean>;
  /** Adds `count` to the issued-token counter in one atomic statement (replicas add concurrently; nothing is lost). */
  recordIssuance(clientId: string, count: number, lastMs: number): Promise<void>;
}

export interface GrantRepository {
  /** AlreadyExists when the (client, API server) pair has a grant. */
  insert(grant: Grant): Promise<Grant>;
  get(id: string): Promise<Grant | undefined>;
  findByPair(clientId: string, apiServerId: string): Promise<Grant | undefined>;
  /** `seq` order after `query.afterSeq`, optionally of one client and/or one API server. */
  list(query: ListQuery, filter: { clientId: string; apiServerId: string }): Promise<Grant[]>;
  update(grant: Grant): Promise<boolean>;
  /** Deletes the grant if its version is still `version`; false otherwise. */
  delete(id: string, version: number): Promise<boolean>;
  /** Removes permission values from every grant of an API server (they no longer exist); returns the grants changed. */
  removeScopes(apiServerId: string, removed: string[], atMs: number): Promise<Grant[]>;
}

/** Append-only audit log. */
export interface AuditRepository {
  append(event: AuditEvent): Promise<void>;
  /** Newest first: events with seq below `beforeSeq` matching every given filter. */
  list(query: AuditQuery): Promise<AuditEvent[]>;
}

/** Small key/value settings of the service itself. */
export interface MetaRepository {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/** One change replicas must apply to what they hold in memory (see changes.ts). */
export interface Change {
  seq: number;
  kind: ChangeKind;
  /** The changed resource: API server id, client id, grant id, kid, or revoked jti. */
  id: string;
  /** Kind-specific facts (JSON-shaped): what followers and the revocation watch need without reading the resource. */
  detail: Record<string, unknown>;
  /** Epoch ms. */
  time: number;
}

export type ChangeKind = "api_server" | "client" | "grant" | "key" | "revocation";

/** The change feed's table: appended in the writer's transaction, read by followers by sequence. */
export interface ChangeRepository {
  /** Appends a change (inside the transaction that made it); serialised so sequence order is commit order. */
  append(change: Omit<Change, "seq">): Promise<void>;
  /** Changes with seq > `afterSeq`, in order, at most `limit`. */
  since(afterSeq: number, limit: number): Promise<Change[]>;
  /** The last seq appended (0 for an empty feed). */
  latest(): Promise<number>;
  /** The oldest seq still kept (0 for an empty feed): cursors before it are gone. */
  oldest(): Promise<number>;
  /** Drops changes older than `beforeMs`; keeps the last one whatever its age (so `latest` stays right). */
  purge(beforeMs: number): Promise<number>;
}

/** What a unit of work can do beyond its repositories. */
export interface TransactionControl {
  /** Serialises with every other transaction taking the same lock, across replicas, until this one ends. */
  lock(name: "bootstrap" | "signingKeys" | "administrators"): Promise<void>;
  /**
   * The same for one API server's permissions: its updates, and the grant
   * writes that check scopes against them, take turns (else a grant written
   * on one replica while another removed a permission could keep naming it).
   */
  lockPermissions(apiServerId: string): Promise<void>;
}

/** The management domain's data, in or out of a transaction. */
export interface DomainData {
  apiServers: ApiServerRepository;
  clients: ClientRepository;
  grants: GrantRepository;
  audit: AuditRepository;
  meta: MetaRepository;
  changes: ChangeRepository;
}

export type DomainTx = DomainData & TransactionControl;

export interface DomainStore extends DomainData {
  transaction<T>(fn: (tx: DomainTx) => Promise<T>): Promise<T>;
}
