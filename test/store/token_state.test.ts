// OAuth and key-ring state (src/oauth/ports.ts, src/tokens/keys.ts, the
// store's revoked tokens, assertion ids and purgeExpired), on both engines.
import { beforeAll, expect, test } from "vitest";
import type { RefreshTokenRecord } from "../../src/oauth/ports.js";
import type { Store } from "../../src/store/index.js";
import { keyRecord, refreshToken, T0, uid } from "./fixtures.js";
import { describeEngines, type TestDatabase } from "./harness.js";

/** Epoch seconds for token state. */
const NOW = T0 / 1000;

describeEngines("store contract: token state and keys", (engine) => {
  let db: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    db = await engine.database();
    store = db.store;
  });

  test("refresh tokens: find returns the record as written; rotate spends the parent and stores its successor once, then reports reuse and stores nothing", async () => {
    const r = refreshToken();
    await store.refreshTokens.insert(r);
    expect(await store.refreshTokens.find(r.tokenHash)).toStrictEqual(r);
    expect(await store.refreshTokens.find(Buffer.from(r.tokenHash).reverse())).toBeUndefined();
    const child = refreshToken({ familyId: r.familyId, clientId: r.clientId, apiServerId: r.apiServerId });
    expect(await store.refreshTokens.rotate(r.familyId, r.tokenHash, NOW + 10, child)).toBe(true);
    expect(await store.refreshTokens.find(r.tokenHash)).toStrictEqual({ ...r, usedAt: NOW + 10 });
    expect(await store.refreshTokens.find(child.tokenHash)).toStrictEqual(child);
    const again = refreshToken({ familyId: r.familyId });
    expect(await store.refreshTokens.rotate(r.familyId, r.tokenHash, NOW + 11, again)).toBe(false);
    expect(await store.refreshTokens.find(again.tokenHash)).toBeUndefined();
    expect(await store.refreshTokens.find(r.tokenHash)).toStrictEqual({ ...r, usedAt: NOW + 10 });
    // Unknown, or named with another family: nothing spent, nothing stored.
    expect(await store.refreshTokens.rotate(r.familyId, refreshToken().tokenHash, NOW, undefined)).toBe(false);
    expect(await store.refreshTokens.rotate(uid("fam"), child.tokenHash, NOW, undefined)).toBe(false);
    expect((await store.refreshTokens.find(child.tokenHash))?.usedAt).toBeNull();
    // No successor (refresh tokens no longer issued): the parent is spent all the same.
    expect(await store.refreshTokens.rotate(r.familyId, child.tokenHash, NOW + 12, undefined)).toBe(true);
    expect((await store.refreshTokens.find(child.tokenHash))?.usedAt).toBe(NOW + 12);
  });

  test("refresh tokens keep their binding (DPoP key and certificate thumbprints), each on its own or both", async () => {
    for (const cnf of [{ jkt: "j".repeat(43) }, { "x5t#S256": "x".repeat(43) }, { jkt: "k".repeat(43), "x5t#S256": "y".repeat(43) }]) {
      const r = refreshToken({ cnf });
      await store.refreshTokens.insert(r);
      expect(await store.refreshTokens.find(r.tokenHash)).toStrictEqual(r);
    }
  });

  test("refresh tokens are single use across replicas: of concurrent spends from two store instances exactly one wins", async () => {
    const peer = await db.peer();
    const tokens = Array.from({ length: 25 }, () => refreshToken());
    for (const t of tokens) await store.refreshTokens.insert(t);
    const children = tokens.map((t) => [0, 1, 2].map(() => refreshToken({ familyId: t.familyId })));
    const results = await Promise.all(
      tokens.map(async (t, i) => {
        const here = (c: RefreshTokenRecord) => store.refreshTokens.rotate(t.familyId, t.tokenHash, NOW + i, c);
        const there = (c: RefreshTokenRecord) => peer.rotate(t.familyId, t.tokenHash.toString("base64"), NOW + i, { ...c, tokenHash: c.tokenHash.toString("base64") });
        const [c0, c1, c2] = children[i]!;
        return Promise.all(i % 2 ? [here(c0!), there(c1!), here(c2!)] : [there(c0!), here(c1!), there(c2!)]);
      }),
    );
    for (const [i, wins] of results.entries()) {
      expect(wins.filter(Boolean)).toHaveLength(1);
      // The winner's successor is stored, the losers' are not.
      const stored = await Promise.all(children[i]!.map(async (c) => (await store.refreshTokens.find(c.tokenHash)) !== undefined));
      expect(stored).toEqual(wins);
    }
    for (const t of tokens) expect((await store.refreshTokens.find(t.tokenHash))?.usedAt).not.toBeNull();
  });

  test("a rotation racing its family's revocation on another replica never leaves a live token in the family", async () => {
    const peer = await db.peer();
    const families = Array.from({ length: 25 }, () => refreshToken());
    const children = families.map((t) => refreshToken({ familyId: t.familyId }));
    for (const t of families) await store.refreshTokens.insert(t);
    const rotated = await Promise.all(
      families.map(async (t, i) => {
        const rotate = () => store.refreshTokens.rotate(t.familyId, t.tokenHash, NOW + i, children[i]);
        const revoke = () => peer.revokeFamily(t.familyId);
        return i % 2 ? (await Promise.all([rotate(), revoke()]))[0] : (await Promise.all([revoke(), rotate()]))[1];
      }),
    );
    for (const [i, t] of families.entries()) {
      expect(await store.refreshTokens.find(t.tokenHash)).toBeUndefined();
      // Rotated first or not at all: either way its successor went with the family.
      expect(await store.refreshTokens.find(children[i]!.tokenHash), `family ${i}, rotated: ${rotated[i]}`).toBeUndefined();
    }
  });

  test("revokeFamily removes every token of that family and no other", async () => {
    const family = uid("fam");
    const mine = [refreshToken({ familyId: family }), refreshToken({ familyId: family, usedAt: NOW })];
    const other = refreshToken();
    for (const r of [...mine, other]) await store.refreshTokens.insert(r);
    await store.refreshTokens.revokeFamily(family);
    for (const r of mine) expect(await store.refreshTokens.find(r.tokenHash)).toBeUndefined();
    expect(await store.refreshTokens.find(other.tokenHash)).toStrictEqual(other);
  });

  test("an assertion jti is consumed exactly once per client, under concurrency from two replicas", async () => {
    const peer = await db.peer();
    const clientId = uid("cl");
    const jtis = Array.from({ length: 10 }, () => uid("jti"));
    const results = await Promise.all(jtis.map((jti) => Promise.all([0, 1, 2, 3].map((i) => (i % 2 ? peer.consume(clientId, jti, NOW + 60) : store.assertionJtis.consume(clientId, jti, NOW + 60))))));
    for (const accepted of results) expect(accepted.filter(Boolean)).toHaveLength(1);
    expect(await store.assertionJtis.consume(uid("other-client"), jtis[0]!, NOW + 60)).toBe(true);
    expect(await store.assertionJtis.consume(clientId, jtis[0]!, NOW + 60)).toBe(false);
  });

  test("revoked tokens: insert is idempotent; live lists those still in force at `now`", async () => {
    const [expired, edge, live] = [uid("jti"), uid("jti"), uid("jti")];
    await store.revokedTokens.insert(expired, NOW - 1);
    await store.revokedTokens.insert(edge, NOW);
    await store.revokedTokens.insert(live, NOW + 3600);
    await store.revokedTokens.insert(live, NOW + 7200); // again: no error, the first expiry stays
    const inForce = (await store.revokedTokens.live(NOW)).filter((r) => [expired, edge, live].includes(r.jti));
    expect(inForce).toStrictEqual([{ jti: live, expiresAt: NOW + 3600 }]);
  });

  test("keys: all() in creation order with the sealed bytes intact; setRetireTime and delete", async () => {
    const fresh = (await engine.database()).store;
    const later = keyRecord({ createTime: T0 + 2, alg: "EdDSA" });
    const first = keyRecord({ createTime: T0 + 1, alg: "RS256" });
    const sameTime = [keyRecord({ kid: `b${uid("k")}`, createTime: T0 + 3 }), keyRecord({ kid: `a${uid("k")}`, createTime: T0 + 3 })];
    for (const k of [later, first, ...sameTime]) await fresh.keys.insert(k);
    const sorted = [first, later, ...[...sameTime].sort((x, y) => (x.kid < y.kid ? -1 : 1))];
    expect(await fresh.keys.all()).toStrictEqual(sorted);
    await fresh.keys.setRetireTime(first.kid, T0 + 86_400_000);
    await fresh.keys.delete(later.kid);
    expect(await fresh.keys.all()).toStrictEqual([{ ...first, retireTime: T0 + 86_400_000 }, ...sorted.slice(2)]);
    await fresh.transaction(async (tx) => {
      await tx.keys.delete(first.kid);
      expect((await fresh.keys.all()).map((k) => k.kid)).toContain(first.kid); // not committed yet
    });
    expect((await fresh.keys.all()).map((k) => k.kid)).toEqual(sorted.slice(2).map((k) => k.kid));
  });

  test("purgeExpired drops revocations, refresh tokens and assertion ids expired at `now`, returns how many, keeps the rest", async () => {
    const fresh = (await engine.database()).store;
    const clientId = uid("cl");
    const expiredTokens = [refreshToken({ expiresAt: NOW - 100 }), refreshToken({ expiresAt: NOW })];
    const liveToken = refreshToken({ expiresAt: NOW + 1 });
    for (const r of [...expiredTokens, liveToken]) await fresh.refreshTokens.insert(r);
    const [goneJti, keptJti] = [uid("jti"), uid("jti")];
    await fresh.revokedTokens.insert(goneJti, NOW);
    await fresh.revokedTokens.insert(keptJti, NOW + 1);
    const [goneAssertion, keptAssertion] = [uid("a"), uid("a")];
    await fresh.assertionJtis.consume(clientId, goneAssertion, NOW - 1);
    await fresh.assertionJtis.consume(clientId, keptAssertion, NOW + 60);

    expect(await fresh.purgeExpired(NOW)).toBe(expiredTokens.length + 1 + 1);
    for (const r of expiredTokens) expect(await fresh.refreshTokens.find(r.tokenHash)).toBeUndefined();
    expect(await fresh.refreshTokens.find(liveToken.tokenHash)).toStrictEqual(liveToken);
    expect((await fresh.revokedTokens.live(NOW - 10)).map((r) => r.jti)).toEqual([keptJti]);
    expect(await fresh.assertionJtis.consume(clientId, goneAssertion, NOW + 60)).toBe(true); // forgotten: its assertion has expired anyway
    expect(await fresh.assertionJtis.consume(clientId, keptAssertion, NOW + 60)).toBe(false);
    expect(await fresh.purgeExpired(NOW)).toBe(0);
  });
});
