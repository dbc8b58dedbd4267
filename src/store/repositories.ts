import type { ApiServer } from "../domain/api_servers.js";
import type { AuditEvent, AuditQuery } from "../domain/audit.js";
import type { Client } from "../domain/clients.js";
import type { Grant } from "../domain/grants.js";
import type { KeyRepository } from "../tokens/keys.js";
import type { ListQuery } from "../domain/listing.js";
import type { TokenState } from "../oauth/ports.js";

/**
 * Storage ports. The domain sees only these interfaces; SQL lives in
 * src/store/sqlite/. Methods are synchronous: the embedded store is SQLite
 * in-process, where a synchronous call is both faster and lets a domain
 * operation span several repositories in one `transaction`.
 */
export interface Store {
  apiServers: ApiServerRepository;
  clients: ClientRepository;
  grants: GrantRepository;
  keys: KeyRepository;
  meta: MetaRepository;
  audit: AuditRepository;
  tokenState: TokenState;
  /** Runs `fn` atomically: every write inside commits together or not at all. */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export interface ApiServerRepository {
  /** Inserts a new API server with its audiences. Throws `AudienceTaken` when one is in use. */
  insert(server: ApiServer): ApiServer;
  get(id: string): ApiServer | undefined;
  /** The API server whose identifier or extra audience equals `audience`. */
  findByAudience(audience: string): ApiServer | undefined;
  /** Rows in `seq` order after `query.afterSeq` matching every filter term. */
  list(query: ListQuery): ApiServer[];
  /** Replaces the row if its version is still `server.version - 1`; false otherwise. Throws `AudienceTaken`. */
  update(server: ApiServer): boolean;
  /** Deletes the row (its audiences cascade); false when absent. */
  delete(id: string): boolean;
}

export interface ClientRepository {
  insert(client: Client): Client;
  get(clientId: string): Client | undefined;
  list(query: ListQuery): Client[];
  /** Replaces the row if its version is still `client.version - 1`; false otherwise. */
  update(client: Client): boolean;
  /** Deletes the client; its grants cascade. */
  delete(clientId: string): boolean;
  /** Adds `count` to the issued-token counter (not part of the version/etag). */
  recordIssuance(clientId: string, count: number, lastMs: number): void;
}

export interface GrantRepository {
  /** Inserts; the (client, API server) pair must be free (checked by the caller in the same transaction). */
  insert(grant: Grant): Grant;
  get(id: string): Grant | undefined;
  findByPair(clientId: string, apiServerId: string): Grant | undefined;
  /** `seq` order after `query.afterSeq`, optionally of one client and/or one API server. */
  list(query: ListQuery, filter: { clientId: string; apiServerId: string }): Grant[];
  update(grant: Grant): boolean;
  delete(id: string): boolean;
  /** Removes permission values from every grant of an API server (they no longer exist). */
  removeScopes(apiServerId: string, removed: string[], atMs: number): void;
}

/** Small key/value settings of the service itself. */
export interface MetaRepository {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

/** A value that selects an API server is already used by another one. */
export class AudienceTaken extends Error {
  override name = "AudienceTaken";
  constructor(readonly audience: string) {
    super(`audience ${JSON.stringify(audience)} is already used by another API server`);
  }
}

/** Append-only audit log. */
export interface AuditRepository {
  append(event: AuditEvent): void;
  /** Newest first: events with seq below `beforeSeq` matching every given filter. */
  list(query: AuditQuery): AuditEvent[];
}
