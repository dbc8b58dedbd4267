import type { RefreshTokenRecord, TokenState } from "../../oauth/ports.js";
import { isUniqueViolation, type Db } from "./db.js";

interface RefreshRow {
  token_hash: Buffer;
  family_id: string;
  client_id: string;
  api_server_id: string;
  scope: string;
  issued_at_ms: number;
  expires_at: number;
  used_at: number | null;
}

export function sqliteTokenState(db: Db): TokenState {
  const revoke = db.prepare("INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)");
  const isRevoked = db.prepare("SELECT 1 FROM revoked_tokens WHERE jti = ?").pluck();
  const insertRefresh = db.prepare(`INSERT INTO refresh_tokens (token_hash, family_id, client_id, api_server_id, scope, issued_at_ms, expires_at, used_at)
    VALUES (@token_hash, @family_id, @client_id, @api_server_id, @scope, @issued_at_ms, @expires_at, @used_at)`);
  const findRefresh = db.prepare("SELECT * FROM refresh_tokens WHERE token_hash = ?");
  const markUsed = db.prepare("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL");
  const revokeFamily = db.prepare("DELETE FROM refresh_tokens WHERE family_id = ?");
  const insertAssertion = db.prepare("INSERT INTO used_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)");
  const purges = [
    db.prepare("DELETE FROM revoked_tokens WHERE expires_at <= ?"),
    db.prepare("DELETE FROM refresh_tokens WHERE expires_at <= ?"),
    db.prepare("DELETE FROM used_assertions WHERE expires_at <= ?"),
  ];

  return {
    revokeAccessToken: (jti, expiresAt) => void revoke.run(jti, expiresAt),
    isAccessTokenRevoked: (jti) => isRevoked.get(jti) !== undefined,
    insertRefreshToken: (r) =>
      void insertRefresh.run({
        token_hash: r.tokenHash,
        family_id: r.familyId,
        client_id: r.clientId,
        api_server_id: r.apiServerId,
        scope: r.scope,
        issued_at_ms: r.issuedAtMs,
        expires_at: r.expiresAt,
        used_at: r.usedAt,
      }),
    findRefreshToken(hash) {
      const row = findRefresh.get(hash) as RefreshRow | undefined;
      if (!row) return undefined;
      return {
        tokenHash: row.token_hash,
        familyId: row.family_id,
        clientId: row.client_id,
        apiServerId: row.api_server_id,
        scope: row.scope,
        issuedAtMs: row.issued_at_ms,
        expiresAt: row.expires_at,
        usedAt: row.used_at,
      } satisfies RefreshTokenRecord;
    },
    markRefreshTokenUsed: (hash, at) => markUsed.run(at, hash).changes === 1,
    revokeRefreshFamily: (familyId) => void revokeFamily.run(familyId),
    consumeAssertionJti(clientId, jti, expiresAt) {
      try {
        insertAssertion.run(clientId, jti, expiresAt);
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },
    purgeExpired: db.transaction((now: number) => purges.reduce((n, stmt) => n + stmt.run(now).changes, 0)),
  };
}
