import { AlreadyExists } from "../../domain/errors.js";
import type { Grant } from "../../domain/grants.js";
import type { GrantRepository } from "../../domain/ports.js";
import { UniqueViolation, type SqlExecutor } from "./executor.js";

interface Row {
  seq: number;
  id: string;
  client_id: string;
  api_server_id: string;
  scopes: string;
  allow_all_scopes: number;
  create_time: number;
  update_time: number;
  version: number;
}

export function grantRepository(q: SqlExecutor): GrantRepository {
  return {
    async insert(grant) {
      try {
        const row = await q.get<{ seq: number }>(
          "INSERT INTO grants (id, client_id, api_server_id, scopes, allow_all_scopes, create_time, update_time, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
          [grant.id, grant.clientId, grant.apiServerId, JSON.stringify(grant.scopes), Number(grant.allowAllScopes), grant.createTime, grant.updateTime, grant.version],
        );
        return { ...grant, seq: Number(row!.seq) };
      } catch (err) {
        if (err instanceof UniqueViolation) throw new AlreadyExists(`a grant for client ${JSON.stringify(grant.clientId)} on API server ${JSON.stringify(grant.apiServerId)} already exists`);
        throw err;
      }
    },
    get: async (id) => fromRow(await q.get<Row>("SELECT * FROM grants WHERE id = ?", [id])),
    findByPair: async (clientId, apiServerId) => fromRow(await q.get<Row>("SELECT * FROM grants WHERE client_id = ? AND api_server_id = ?", [clientId, apiServerId])),
    async list(query, filter) {
      const parts = ["seq > ?"];
      const params: unknown[] = [query.afterSeq];
      if (filter.clientId) (parts.push("client_id = ?"), params.push(filter.clientId));
      if (filter.apiServerId) (parts.push("api_server_id = ?"), params.push(filter.apiServerId));
      return (await q.all<Row>(`SELECT * FROM grants WHERE ${parts.join(" AND ")} ORDER BY seq LIMIT ?`, [...params, query.limit])).map((r) => fromRow(r)!);
    },
    async update(grant) {
      const { changes } = await q.run("UPDATE grants SET scopes = ?, allow_all_scopes = ?, update_time = ?, version = ? WHERE id = ? AND version = ?", [
        JSON.stringify(grant.scopes),
        Number(grant.allowAllScopes),
        grant.updateTime,
        grant.version,
        grant.id,
        grant.version - 1,
      ]);
      return changes === 1;
    },
    delete: async (id, version) => (await q.run("DELETE FROM grants WHERE id = ? AND version = ?", [id, version])).changes === 1,
    async removeScopes(apiServerId, removed, at) {
      const gone = new Set(removed);
      const changed: Grant[] = [];
      for (const row of await q.all<Row>("SELECT * FROM grants WHERE api_server_id = ?", [apiServerId])) {
        // Compare-and-set on the version: a grant another transaction updated
        // meanwhile (PostgreSQL, another replica) is read again, never overwritten.
        for (let grant = fromRow(row); grant; grant = fromRow(await q.get<Row>("SELECT * FROM grants WHERE id = ?", [grant.id]))) {
          const kept = grant.scopes.filter((s) => !gone.has(s));
          if (kept.length === grant.scopes.length) break;
          const next = { ...grant, scopes: kept, updateTime: at, version: grant.version + 1 };
          const { changes } = await q.run("UPDATE grants SET scopes = ?, update_time = ?, version = ? WHERE id = ? AND version = ?", [JSON.stringify(kept), at, next.version, grant.id, grant.version]);
          if (changes === 1) {
            changed.push(next);
            break;
          }
        }
      }
      return changed;
    },
  };
}

function fromRow(r: Row | undefined): Grant | undefined {
  if (!r) return undefined;
  return {
    seq: Number(r.seq),
    id: r.id,
    clientId: r.client_id,
    apiServerId: r.api_server_id,
    scopes: JSON.parse(r.scopes) as string[],
    allowAllScopes: r.allow_all_scopes === 1,
    createTime: Number(r.create_time),
    updateTime: Number(r.update_time),
    version: r.version,
  };
}
