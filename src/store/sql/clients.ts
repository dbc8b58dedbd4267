import type { Client } from "../../domain/clients.js";
import { AlreadyExists } from "../../domain/errors.js";
import type { ClientRepository } from "../../domain/ports.js";
import { UniqueViolation, type SqlExecutor } from "./executor.js";
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
  /** JSON: RFC 8705 tls_client_auth value and the token-binding flags ({} for none). */
  binding: string;
  secrets: string;
  tokens_issued: number;
  last_issue_time: number | null;
  tokens_valid_after: number;
  create_time: number;
  update_time: number;
  version: number;
}

const COLUMNS = { name: "name", disabled: "disabled", dynamic: "dynamic" };
/** Written on insert; an update writes the same but the counters (their own atomic statement) and `dynamic` (fixed at create). */
const INSERTED = ["client_id", "name", "description", "type", "token_endpoint_auth_method", "grant_types", "disabled", "dynamic", "metadata", "jwks", "binding", "secrets", "tokens_issued", "last_issue_time", "tokens_valid_after", "create_time", "update_time", "version"] as const;
const UPDATED = ["name", "description", "type", "token_endpoint_auth_method", "grant_types", "disabled", "metadata", "jwks", "binding", "secrets", "tokens_valid_after", "update_time", "version"] as const;

export function clientRepository(q: SqlExecutor): ClientRepository {
  return {
    async insert(client) {
      const r = toRow(client);
      try {
        const row = await q.get<{ seq: number }>(`INSERT INTO clients (${INSERTED.join(", ")}) VALUES (${INSERTED.map(() => "?").join(", ")}) RETURNING seq`, INSERTED.map((c) => r[c]));
        return { ...client, seq: Number(row!.seq) };
      } catch (err) {
        if (err instanceof UniqueViolation) throw new AlreadyExists(`client ${JSON.stringify(client.clientId)} already exists`);
        throw err;
      }
    },
    get: async (clientId) => fromRow(await q.get<Row>("SELECT * FROM clients WHERE client_id = ?", [clientId])),
    async list(query) {
      const { sql, params } = whereClause(query, COLUMNS);
      return (await q.all<Row>(`SELECT * FROM clients WHERE ${sql} ORDER BY seq LIMIT ?`, [...params, query.limit])).map((r) => fromRow(r)!);
    },
    async update(client) {
      const r = toRow(client);
      const { changes } = await q.run(`UPDATE clients SET ${UPDATED.map((c) => `${c} = ?`).join(", ")} WHERE client_id = ? AND version = ?`, [...UPDATED.map((c) => r[c]), client.clientId, client.version - 1]);
      return changes === 1;
    },
    delete: async (clientId, version) => (await q.run("DELETE FROM clients WHERE client_id = ? AND version = ?", [clientId, version])).changes === 1,
    async recordIssuance(clientId, count, lastMs) {
      await q.run(
        "UPDATE clients SET tokens_issued = tokens_issued + ?, last_issue_time = CASE WHEN last_issue_time IS NULL OR last_issue_time < ? THEN ? ELSE last_issue_time END WHERE client_id = ?",
        [count, lastMs, lastMs, clientId],
      );
    },
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
    binding: JSON.stringify({
      ...(c.tlsClientAuth ? { tlsClientAuth: c.tlsClientAuth } : {}),
      ...(c.certificateBoundTokens ? { certificateBoundTokens: true } : {}),
      ...(c.dpopBoundTokens ? { dpopBoundTokens: true } : {}),
    }),
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
    seq: Number(r.seq),
    clientId: r.client_id,
    name: r.name,
    description: r.description,
    type: r.type as Client["type"],
    tokenEndpointAuthMethod: r.token_endpoint_auth_method as Client["tokenEndpointAuthMethod"],
    grantTypes: JSON.parse(r.grant_types) as string[],
    disabled: r.disabled === 1,
    dynamic: r.dynamic === 1,
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    jwks: r.jwks ? (JSON.parse(r.jwks) as Client["jwks"]) : undefined,
    ...binding(r.binding),
    secrets: (JSON.parse(r.secrets) as Array<Omit<Client["secrets"][number], "hash"> & { hash: string }>).map((s) => ({ ...s, hash: Buffer.from(s.hash, "base64") })),
    tokensIssued: Number(r.tokens_issued),
    lastIssueTime: r.last_issue_time === null ? null : Number(r.last_issue_time),
    tokensValidAfter: Number(r.tokens_valid_after),
    createTime: Number(r.create_time),
    updateTime: Number(r.update_time),
    version: r.version,
  };
}

function binding(json: string): Pick<Client, "tlsClientAuth" | "certificateBoundTokens" | "dpopBoundTokens"> {
  const b = JSON.parse(json) as { tlsClientAuth?: Client["tlsClientAuth"]; certificateBoundTokens?: boolean; dpopBoundTokens?: boolean };
  return { tlsClientAuth: b.tlsClientAuth, certificateBoundTokens: b.certificateBoundTokens === true, dpopBoundTokens: b.dpopBoundTokens === true };
}
