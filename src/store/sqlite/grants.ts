import type { Grant } from "../../domain/grants.js";
import type { ListQuery } from "../../domain/listing.js";
import type { GrantRepository } from "../repositories.js";
import type { Db } from "./db.js";

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

export function sqliteGrants(db: Db): GrantRepository {
  const insert = db.prepare(`INSERT INTO grants (id, client_id, api_server_id, scopes, allow_all_scopes, create_time, update_time, version)
    VALUES (@id, @client_id, @api_server_id, @scopes, @allow_all_scopes, @create_time, @update_time, @version)`);
  const update = db.prepare(`UPDATE grants SET scopes=@scopes, allow_all_scopes=@allow_all_scopes, update_time=@update_time, version=@version
    WHERE id=@id AND version=@version - 1`);
  const byId = db.prepare("SELECT * FROM grants WHERE id = ?");
  const byPair = db.prepare("SELECT * FROM grants WHERE client_id = ? AND api_server_id = ?");
  const byServer = db.prepare("SELECT * FROM grants WHERE api_server_id = ?");
  const del = db.prepare("DELETE FROM grants WHERE id = ?");
  const setScopes = db.prepare("UPDATE grants SET scopes = ?, update_time = ?, version = version + 1 WHERE id = ?");
  return {
    insert(grant) {
      const info = insert.run(toRow(grant));
      return { ...grant, seq: Number(info.lastInsertRowid) };
    },
    get: (id) => fromRow(byId.get(id) as Row | undefined),
    findByPair: (clientId, apiServerId) => fromRow(byPair.get(clientId, apiServerId) as Row | undefined),
    list(query: ListQuery, filter: { clientId: string; apiServerId: string }) {
      const parts = ["seq > ?"];
      const params: unknown[] = [query.afterSeq];
      if (filter.clientId) (parts.push("client_id = ?"), params.push(filter.clientId));
      if (filter.apiServerId) (parts.push("api_server_id = ?"), params.push(filter.apiServerId));
      return (db.prepare(`SELECT * FROM grants WHERE ${parts.join(" AND ")} ORDER BY seq LIMIT ?`).all(...params, query.limit) as Row[]).map((r) => fromRow(r)!);
    },
    update: (grant) => update.run(toRow(grant)).changes === 1,
    delete: (id) => del.run(id).changes === 1,
    removeScopes(apiServerId, removed, at) {
      const gone = new Set(removed);
      for (const row of byServer.all(apiServerId) as Row[]) {
        const scopes = JSON.parse(row.scopes) as string[];
        const kept = scopes.filter((s) => !gone.has(s));
        if (kept.length !== scopes.length) setScopes.run(JSON.stringify(kept), at, row.id);
      }
    },
  };
}

function toRow(g: Grant): Omit<Row, "seq"> {
  return {
    id: g.id,
    client_id: g.clientId,
    api_server_id: g.apiServerId,
    scopes: JSON.stringify(g.scopes),
    allow_all_scopes: Number(g.allowAllScopes),
    create_time: g.createTime,
    update_time: g.updateTime,
    version: g.version,
  };
}

function fromRow(r: Row | undefined): Grant | undefined {
  if (!r) return undefined;
  return {
    seq: r.seq,
    id: r.id,
    clientId: r.client_id,
    apiServerId: r.api_server_id,
    scopes: JSON.parse(r.scopes) as string[],
    allowAllScopes: r.allow_all_scopes === 1,
    createTime: r.create_time,
    updateTime: r.update_time,
    version: r.version,
  };
}
