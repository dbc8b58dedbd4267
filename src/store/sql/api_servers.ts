import type { ApiServer } from "../../domain/api_servers.js";
import { AlreadyExists } from "../../domain/errors.js";
import type { ApiServerRepository } from "../../domain/ports.js";
import { UniqueViolation, type SqlExecutor } from "./executor.js";
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
  sender_constraint: string;
  system: number;
  create_time: number;
  update_time: number;
  version: number;
}

const COLUMNS = { name: "name", identifier: "identifier" } as const;
const FIELDS = `name, identifier, description, audiences, permissions, signing_alg, token_lifetime_seconds, token_dialect, enforce_policies,
  allow_offline_access, refresh_token_lifetime_seconds, skip_consent, dynamic_client_access, dynamic_client_scopes, sender_constraint, system, create_time, update_time, version`;

export function apiServerRepository(q: SqlExecutor): ApiServerRepository {
  /** Claims every audience value of the server; a value owned elsewhere is a conflict naming it. */
  async function claimAudiences(server: ApiServer): Promise<void> {
    for (const audience of [server.identifier, ...server.audiences]) {
      await taken(audience, () => q.run("INSERT INTO api_server_audiences (audience, api_server_id) VALUES (?, ?)", [audience, server.id]));
    }
  }

  return {
    async insert(server) {
      const r = toRow(server);
      const row = await taken(server.identifier, () =>
        q.get<{ seq: number }>(`INSERT INTO api_servers (id, ${FIELDS}) VALUES (?, ${FIELDS.split(",").map(() => "?").join(", ")}) RETURNING seq`, [server.id, ...values(r)]),
      );
      await claimAudiences(server);
      return { ...server, seq: row!.seq };
    },
    get: async (id) => fromRow(await q.get<Row>("SELECT * FROM api_servers WHERE id = ?", [id])),
    findByAudience: async (audience) =>
      fromRow(await q.get<Row>("SELECT s.* FROM api_server_audiences a JOIN api_servers s ON s.id = a.api_server_id WHERE a.audience = ?", [audience])),
    async list(query) {
      const { sql, params } = whereClause(query, COLUMNS);
      return (await q.all<Row>(`SELECT * FROM api_servers WHERE ${sql} ORDER BY seq LIMIT ?`, [...params, query.limit])).map((r) => fromRow(r)!);
    },
    async update(server) {
      const r = toRow(server);
      const assignments = FIELDS.split(",").map((f) => `${f.trim()} = ?`).join(", ");
      const { changes } = await q.run(`UPDATE api_servers SET ${assignments} WHERE id = ? AND version = ?`, [...values(r), server.id, server.version - 1]);
      if (changes !== 1) return false;
      await q.run("DELETE FROM api_server_audiences WHERE api_server_id = ?", [server.id]);
      await claimAudiences(server);
      return true;
    },
    delete: async (id, version) => (await q.run("DELETE FROM api_servers WHERE id = ? AND version = ?", [id, version])).changes === 1,
  };
}

/** A unique violation while writing `audience` is the domain conflict that names it. */
async function taken<T>(audience: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof UniqueViolation) throw new AlreadyExists(`audience ${JSON.stringify(audience)} is already used by another API server`);
    throw err;
  }
}

function values(r: Omit<Row, "seq" | "id">): unknown[] {
  return FIELDS.split(",").map((f) => r[f.trim() as keyof typeof r]);
}

function toRow(s: ApiServer): Omit<Row, "seq" | "id"> {
  return {
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
    sender_constraint: s.senderConstraint,
    system: Number(s.system),
    create_time: s.createTime,
    update_time: s.updateTime,
    version: s.version,
  };
}

function fromRow(r: Row | undefined): ApiServer | undefined {
  if (!r) return undefined;
  return {
    seq: Number(r.seq),
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
    senderConstraint: r.sender_constraint as ApiServer["senderConstraint"],
    system: r.system === 1,
    createTime: Number(r.create_time),
    updateTime: Number(r.update_time),
    version: r.version,
  };
}
