/**
 * The revoked access tokens (RFC 7009) this replica knows of, by jti, until
 * each would have expired anyway: loaded from the store at start and kept
 * current by the change feed, so introspection checks revocation in memory.
 * It holds only revocations of live tokens (a client can revoke only its own
 * tokens, so it grows no faster than issuance); `purge` drops the expired.
 */
export function createRevocationView() {
  const revoked = new Map<string, number>();
  return {
    isRevoked: (jti: string): boolean => revoked.has(jti),
    /** Idempotent: the same revocation may arrive from the load and from the feed. */
    add(jti: string, expiresAt: number): void {
      revoked.set(jti, expiresAt);
    },
    purge(nowSeconds: number): void {
      for (const [jti, exp] of revoked) if (exp <= nowSeconds) revoked.delete(jti);
    },
    size: () => revoked.size,
  };
}

export type RevocationView = ReturnType<typeof createRevocationView>;
