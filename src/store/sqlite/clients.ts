import type { Client, ClientSecret } from "../../domain/clients.js";
import type { ListQuery } from "../../domain/listing.js";
import type { ClientRepository } from "../repositories.js";
import type { Db } from "./db.js";
import { whereClause } from "./filters.js";

interface Row {
  seq: number;
  client_id: string;
  name: string;
  description: string;
  type: string;
  token_endpoint_auth_method: string;
  grant_types: string;
  disabled: number;
  dynamic: number;
  metadata: string;
  jwks: string | null;
  secrets: string;
  tokens_issued: number;
  last_issue_time: number | null;
  tokens_valid_after: number;
  create_time: number;
  update_time: number;
  version: number;
}

const COLUMNS = { name: "name", disabled: "disabled", dynamic: "dynamic" };

export function sqliteClients(db: Db): ClientRepository {
  const insert = db.prepare(`INSERT INTO clients (client_id, name, description, type, token_endpoint_auth_method, grant_types, disabled, dynamic,
      metadata, jwks, secrets, tokens_issued, last_issue_time, tokens_valid_after, create_time, update_time, version)
    VALUES (@client_id, @name, @description, @type, @token_endpoint_auth_method, @grant_types, @disabled, @dynamic, @metadata, @jwks,
      @secrets, @tokens_issued, @last_issue_time, @tokens_valid_after, @create_time, @update_time, @version)`);
  const update = db.prepare(`UPDATE clients SET name=@name, description=@description, type=@type,
      token_endpoint_auth_method=@token_endpoint_auth_method, grant_types=@grant_types, disabled=@disabled, metadata=@metadata,
      jwks=@jwks, secrets=@secrets, tokens_valid_after=@tokens_valid_after, update_time=@update_time, version=@version
    WHERE client_id=@client_id AND version=@version - 1`);
  const byId = db.prepare("SELECT * FROM clients WHERE client_id = ?");
  const del = db.prepare("DELETE FROM clients WHERE client_id = ?");
  const issued = db.prepare("UPDATE clients SET tokens_issued = tokens_issued + ?, last_issue_time = max(coalesce(last_issue_time, 0), ?) WHERE client_id = ?");
  return {
    insert(client) {
      const info = insert.run(toRow(client));
      return { ...client, seq: Number(info.lastInsertRowid) };
    },
    get: (clientId) => fromRow(byId.get(clientId) as Row | undefined),
    list(query: ListQuery) {
      const { sql, params } = whereClause(query, COLUMNS);
      return (db.prepare(`SELECT * FROM clients WHERE ${sql} ORDER BY seq LIMIT ?`).all(...params, query.limit) as Row[]).map((r) => fromRow(r)!);
    },
    update: (client) => update.run(toRow(client)).changes === 1,
    delete: (clientId) => del.run(clientId).changes === 1,
    recordIssuance: (clientId, count, last) => void issued.run(count, last, clientId),
  };
}

function toRow(c: Client): Omit<Row, "seq"> {
  return {
    client_id: c.clientId,
    name: c.name,
    description: c.description,
    type: c.type,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    grant_types: JSON.stringify(c.grantTypes),
    disabled: Number(c.disabled),
    dynamic: Number(c.dynamic),
    metadata: JSON.stringify(c.metadata),
    jwks: c.jwks ? JSON.stringify(c.jwks) : null,
    secrets: JSON.stringify(c.secrets.map((s) => ({ ...s, hash: s.hash.toString("base64") }))),
    tokens_issued: c.tokensIssued,
    last_issue_time: c.lastIssueTime,
    tokens_valid_after: c.tokensValidAfter,
    create_time: c.createTime,
    update_time: c.updateTime,
    version: c.version,
  };
}

function fromRow(r: Row | undefined): Client | undefined {
  if (!r) return undefined;
  return {
    seq: r.seq,
    clientId: r.client_id,
    name: r.name,
    description: r.description,
    type: "m2m",
    tokenEndpointAuthMethod: r.token_endpoint_auth_method as Client["tokenEndpointAuthMethod"],
    grantTypes: JSON.parse(r.grant_types) as string[],
    disabled: r.disabled === 1,
    dynamic: r.dynamic === 1,
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    jwks: r.jwks ? (JSON.parse(r.jwks) as Client["jwks"]) : undefined,
    secrets: (JSON.parse(r.secrets) as Array<Omit<ClientSecret, "hash"> & { hash: string }>).map((s) => ({ ...s, hash: Buffer.from(s.hash, "base64") })),
    tokensIssued: r.tokens_issued,
    lastIssueTime: r.last_issue_time,
    tokensValidAfter: r.tokens_valid_after,
    createTime: r.create_time,
    updateTime: r.update_time,
    version: r.version,
  };
}
