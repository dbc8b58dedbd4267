import type { ApiServer } from "../../domain/api_servers.js";
import type { ListQuery } from "../../domain/listing.js";
import { AudienceTaken, type ApiServerRepository } from "../repositories.js";
import { isUniqueViolation, type Db } from "./db.js";
import { whereClause } from "./filters.js";

interface Row {
  seq: number;
  id: string;
  name: string;
  identifier: string;
  description: string;
  audiences: string;
  permissions: string;
  signing_alg: string;
  token_lifetime_seconds: number;
  token_dialect: string;
  enforce_policies: number;
  allow_offline_access: number;
  refresh_token_lifetime_seconds: number;
  skip_consent: number;
  dynamic_client_access: number;
  dynamic_client_scopes: string;
  system: number;
  create_time: number;
  update_time: number;
  version: number;
}

const COLUMNS = {
  name: "name",
  identifier: "identifier",
} as const;

export function sqliteApiServers(db: Db): ApiServerRepository {
  const insertRow = db.prepare(`INSERT INTO api_servers (id, name, identifier, description, audiences, permissions, signing_alg,
      token_lifetime_seconds, token_dialect, enforce_policies, allow_offline_access, refresh_token_lifetime_seconds, skip_consent,
      dynamic_client_access, dynamic_client_scopes, system, create_time, update_time, version)
    VALUES (@id, @name, @identifier, @description, @audiences, @permissions, @signing_alg, @token_lifetime_seconds, @token_dialect,
      @enforce_policies, @allow_offline_access, @refresh_token_lifetime_seconds, @skip_consent, @dynamic_client_access,
      @dynamic_client_scopes, @system, @create_time, @update_time, @version)`);
  const updateRow = db.prepare(`UPDATE api_servers SET name=@name, description=@description, audiences=@audiences,
      permissions=@permissions, signing_alg=@signing_alg, token_lifetime_seconds=@token_lifetime_seconds,
      token_dialect=@token_dialect, enforce_policies=@enforce_policies, allow_offline_access=@allow_offline_access,
      refresh_token_lifetime_seconds=@refresh_token_lifetime_seconds, skip_consent=@skip_consent,
      dynamic_client_access=@dynamic_client_access, dynamic_client_scopes=@dynamic_client_scopes,
      update_time=@update_time, version=@version
    WHERE id=@id AND version=@version - 1`);
  const byId = db.prepare("SELECT * FROM api_servers WHERE id = ?");
  const byAudience = db.prepare(
    "SELECT s.* FROM api_server_audiences a JOIN api_servers s ON s.id = a.api_server_id WHERE a.audience = ?",
  );
  const insertAudience = db.prepare("INSERT INTO api_server_audiences (audience, api_server_id) VALUES (?, ?)");
  const deleteAudiences = db.prepare("DELETE FROM api_server_audiences WHERE api_server_id = ?");
  const deleteRow = db.prepare("DELETE FROM api_servers WHERE id = ?");

  /** Claims every audience value of the server; a value owned elsewhere aborts the surrounding transaction. */
  function claimAudiences(server: ApiServer): void {
    for (const audience of [server.identifier, ...server.audiences]) {
      try {
        insertAudience.run(audience, server.id);
      } catch (err) {
        if (isUniqueViolation(err)) throw new AudienceTaken(audience);
        throw err;
      }
    }
  }

  return {
    insert: db.transaction((server: ApiServer): ApiServer => {
      let info;
      try {
        info = insertRow.run(toRow(server));
      } catch (err) {
        if (isUniqueViolation(err)) throw new AudienceTaken(server.identifier);
        throw err;
      }
      claimAudiences(server);
      return { ...server, seq: Number(info.lastInsertRowid) };
    }),
    get: (id) => fromRow(byId.get(id) as Row | undefined),
    findByAudience: (audience) => fromRow(byAudience.get(audience) as Row | undefined),
    list(query: ListQuery) {
      const { sql, params } = whereClause(query, COLUMNS);
      const rows = db.prepare(`SELECT * FROM api_servers WHERE ${sql} ORDER BY seq LIMIT ?`).all(...params, query.limit) as Row[];
      return rows.map((r) => fromRow(r)!);
    },
    update: db.transaction((server: ApiServer): boolean => {
      if (updateRow.run(toRow(server)).changes !== 1) return false;
      deleteAudiences.run(server.id);
      claimAudiences(server);
      return true;
    }),
    delete: (id) => deleteRow.run(id).changes === 1,
  };
}

function toRow(s: ApiServer): Omit<Row, "seq"> {
  return {
    id: s.id,
    name: s.name,
    identifier: s.identifier,
    description: s.description,
    audiences: JSON.stringify(s.audiences),
    permissions: JSON.stringify(s.permissions),
    signing_alg: s.signingAlg,
    token_lifetime_seconds: s.tokenLifetimeSeconds,
    token_dialect: s.tokenDialect,
    enforce_policies: Number(s.enforcePolicies),
    allow_offline_access: Number(s.allowOfflineAccess),
    refresh_token_lifetime_seconds: s.refreshTokenLifetimeSeconds,
    skip_consent: Number(s.skipConsent),
    dynamic_client_access: Number(s.dynamicClientAccess),
    dynamic_client_scopes: JSON.stringify(s.dynamicClientScopes),
    system: Number(s.system),
    create_time: s.createTime,
    update_time: s.updateTime,
    version: s.version,
  };
}

function fromRow(r: Row | undefined): ApiServer | undefined {
  if (!r) return undefined;
  return {
    seq: r.seq,
    id: r.id,
    name: r.name,
    identifier: r.identifier,
    description: r.description,
    audiences: JSON.parse(r.audiences) as string[],
    permissions: JSON.parse(r.permissions) as ApiServer["permissions"],
    signingAlg: r.signing_alg as ApiServer["signingAlg"],
    tokenLifetimeSeconds: r.token_lifetime_seconds,
    tokenDialect: r.token_dialect as ApiServer["tokenDialect"],
    enforcePolicies: r.enforce_policies === 1,
    allowOfflineAccess: r.allow_offline_access === 1,
    refreshTokenLifetimeSeconds: r.refresh_token_lifetime_seconds,
    skipConsent: r.skip_consent === 1,
    dynamicClientAccess: r.dynamic_client_access === 1,
    dynamicClientScopes: JSON.parse(r.dynamic_client_scopes) as string[],
    system: r.system === 1,
    createTime: r.create_time,
    updateTime: r.update_time,
    version: r.version,
  };
}
