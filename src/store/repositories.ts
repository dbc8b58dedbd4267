import type { ApiServer } from "../domain/api_servers.js";
import type { ListQuery } from "../domain/listing.js";

/**
 * Storage ports. The domain sees only these interfaces; SQL lives in
 * src/store/sqlite/. Methods are synchronous: the embedded store is SQLite
 * in-process, where a synchronous call is both faster and lets a domain
 * operation span several repositories in one `transaction`.
 */
export interface Store {
  apiServers: ApiServerRepository;
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

/** A value that selects an API server is already used by another one. */
export class AudienceTaken extends Error {
  override name = "AudienceTaken";
  constructor(readonly audience: string) {
    super(`audience ${JSON.stringify(audience)} is already used by another API server`);
  }
}
