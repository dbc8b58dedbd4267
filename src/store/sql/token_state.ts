import type { RefreshTokenRecord, RefreshTokenRepository } from "../../oauth/ports.js";
import type { Confirmation } from "../../oauth/sender_constraint.js";
import { familyLock, type InTransaction, type SqlExecutor } from "./executor.js";

interface RefreshRow {
  token_hash: Buffer;
  family_id: string;
  client_id: string;
  api_server_id: string;
  scope: string;
  issued_at_ms: number;
  expires_at: number;
  used_at: number | null;
  cnf_jkt: string | null;
  cnf_x5t: string | null;
}

async function insertRefreshToken(q: SqlExecutor, r: RefreshTokenRecord): Promise<void> {
  await q.run("INSERT INTO refresh_tokens (token_hash, family_id, client_id, api_server_id, scope, issued_at_ms, expires_at, used_at, cnf_jkt, cnf_x5t) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
    r.tokenHash,
    r.familyId,
    r.clientId,
    r.apiServerId,
    r.scope,
    r.issuedAtMs,
    r.expiresAt,
    r.usedAt,
    r.cnf?.jkt ?? null,
    r.cnf?.["x5t#S256"] ?? null,
  ]);
}

/**
 * `rotate` and `revokeFamily` each run in a transaction that first takes the
 * family's lock. Without it, on PostgreSQL (READ COMMITTED) a revocation's
 * DELETE, waiting on the parent row a rotation had just spent, deleted the
 * parent once the rotation committed but not the new token, which its
 * snapshot predates.
 */
export function refreshTokenRepository(q: SqlExecutor, inTransaction: InTransaction): RefreshTokenRepository {
  return {
    insert: (r) => insertRefreshToken(q, r),
    async find(hash) {
      const row = await q.get<RefreshRow>("SELECT * FROM refresh_tokens WHERE token_hash = ?", [hash]);
      if (!row) return undefined;
      const cnf = confirmation(row);
      return {
        tokenHash: Buffer.from(row.token_hash),
        familyId: row.family_id,
        clientId: row.client_id,
        apiServerId: row.api_server_id,
        scope: row.scope,
        issuedAtMs: Number(row.issued_at_ms),
        expiresAt: Number(row.expires_at),
        usedAt: row.used_at === null ? null : Number(row.used_at),
        ...(cnf ? { cnf } : {}),
      } satisfies RefreshTokenRecord;
    },
    rotate: (familyId, parent, at, child) =>
      inTransaction(async (tx) => {
        await tx.lock(familyLock(familyId));
        const spent = await tx.run("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND family_id = ? AND used_at IS NULL", [at, parent, familyId]);
        if (spent.changes !== 1) return false;
        if (child) await insertRefreshToken(tx, child);
        return true;
      }),
    revokeFamily: (familyId) =>
      inTransaction(async (tx) => {
        await tx.lock(familyLock(familyId));
        await tx.run("DELETE FROM refresh_tokens WHERE family_id = ?", [familyId]);
      }),
  };
}

function confirmation(row: RefreshRow): Confirmation | undefined {
  if (row.cnf_jkt === null && row.cnf_x5t === null) return undefined;
  return { ...(row.cnf_jkt === null ? {} : { jkt: row.cnf_jkt }), ...(row.cnf_x5t === null ? {} : { "x5t#S256": row.cnf_x5t }) };
}

/** Revoked access tokens by jti, until they would have expired anyway. */
export function revokedTokenRepository(q: SqlExecutor) {
  return {
    insert: async (jti: string, expiresAt: number) => void (await q.run("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING", [jti, expiresAt])),
    /** Every revocation still in force at `now` (epoch s): what a replica loads at start. */
    live: async (now: number) => (await q.all<{ jti: string; expires_at: number }>("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?", [now])).map((r) => ({ jti: r.jti, expiresAt: Number(r.expires_at) })),
  };
}

/** Client assertion ids (RFC 7523 §3): one unique insert, so across replicas each jti is accepted once. */
export function assertionJtiRepository(q: SqlExecutor) {
  return {
    consume: async (clientId: string, jti: string, keepUntil: number) =>
      (await q.run("INSERT INTO used_assertions (client_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (client_id, jti) DO NOTHING", [clientId, jti, keepUntil])).changes === 1,
  };
}

/** Drops token state whose tokens have expired anyway; returns how many rows went. */
export async function purgeExpiredTokenState(q: SqlExecutor, now: number): Promise<number> {
  let n = 0;
  for (const table of ["revoked_tokens", "refresh_tokens", "used_assertions"]) n += (await q.run(`DELETE FROM ${table} WHERE expires_at <= ?`, [now])).changes;
  return n;
}
