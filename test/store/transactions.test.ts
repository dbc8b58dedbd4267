// Units of work (DomainStore.transaction, TransactionControl.lock), on both engines.
import { beforeAll, expect, test } from "vitest";
import { AlreadyExists } from "../../src/domain/errors.js";
import type { Store, StoreTx } from "../../src/store/index.js";
import { apiServer, auditEvent, client, grant, keyRecord, lockedIncrement, refreshToken, T0, uid } from "./fixtures.js";
import { describeEngines, rejection, type TestDatabase } from "./harness.js";

describeEngines("store contract: transactions", (engine) => {
  let db: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    db = await engine.database();
    store = db.store;
  });

  /** One write to every repository, as a single unit of work would make them. */
  function everything() {
    const s = apiServer({ audiences: [`urn:${uid("aud")}`] });
    const c = client();
    const g = grant(c.clientId, s.id);
    const event = auditEvent({ actor: uid("actor"), resourceId: c.clientId });
    const meta = uid("meta");
    const token = refreshToken({ clientId: c.clientId, apiServerId: s.id });
    const key = keyRecord();
    const change = { kind: "client" as const, id: c.clientId, detail: { created: true }, time: T0 };
    const write = async (tx: StoreTx) => {
      await tx.apiServers.insert(s);
      await tx.clients.insert(c);
      await tx.grants.insert(g);
      await tx.audit.append(event);
      await tx.meta.set(meta, "v");
      await tx.refreshTokens.insert(token);
      await tx.keys.insert(key);
      await tx.changes.append(change);
    };
    /** What is visible of those writes through `store` (outside any transaction). */
    const visible = async () => ({
      apiServer: (await store.apiServers.get(s.id)) !== undefined,
      audience: (await store.apiServers.findByAudience(s.audiences[0]!)) !== undefined,
      client: (await store.clients.get(c.clientId)) !== undefined,
      grant: (await store.grants.get(g.id)) !== undefined,
      audit: (await store.audit.list({ actor: event.actor, beforeSeq: Number.MAX_SAFE_INTEGER, limit: 10 })).length > 0,
      meta: (await store.meta.get(meta)) !== undefined,
      refreshToken: (await store.refreshTokens.find(token.tokenHash)) !== undefined,
      key: (await store.keys.all()).some((k) => k.kid === key.kid),
      change: (await store.changes.since(0, 100_000)).some((x) => x.id === c.clientId),
    });
    return { write, visible, s, c, g };
  }
  const all = (v: boolean) => ({ apiServer: v, audience: v, client: v, grant: v, audit: v, meta: v, refreshToken: v, key: v, change: v });

  test("every write commits together; none is visible outside before the commit; the transaction reads its own writes", async () => {
    const { write, visible, s, c, g } = everything();
    const inside = await store.transaction(async (tx) => {
      await write(tx);
      const outside = await visible();
      const own = { s: await tx.apiServers.get(s.id), c: await tx.clients.get(c.clientId), g: await tx.grants.findByPair(c.clientId, s.id) };
      return { outside, own };
    });
    expect(inside.outside).toEqual(all(false));
    expect([inside.own.s?.id, inside.own.c?.clientId, inside.own.g?.id]).toEqual([s.id, c.clientId, g.id]);
    expect(await visible()).toEqual(all(true));
  });

  test("a throw rolls every write back (nothing visible after) and the error is passed through as it is", async () => {
    const { write, visible } = everything();
    const thrown = new Error("the caller gives up");
    const err = await rejection(
      store.transaction(async (tx) => {
        await write(tx);
        throw thrown;
      }),
    );
    expect(err).toBe(thrown);
    expect(await visible()).toEqual(all(false));
  });

  test("a conflict inside a transaction is AlreadyExists and rolls back the writes before it", async () => {
    const taken = await store.clients.insert(client());
    const { write, visible } = everything();
    const err = await rejection(
      store.transaction(async (tx) => {
        await write(tx);
        await tx.clients.insert(client({ clientId: taken.clientId }));
      }),
    );
    expect(err).toBeInstanceOf(AlreadyExists);
    expect(await visible()).toEqual(all(false));
    // The store is fine afterwards (PostgreSQL: the aborted transaction's connection went back clean).
    const { write: again, visible: seen } = everything();
    await store.transaction(again);
    expect(await seen()).toEqual(all(true));
  });

  test("transactions taking lock('bootstrap') are serialised, across replicas: each sees the one before it", async () => {
    const key = uid("counter");
    const peer = await db.peer();
    const n = 12;
    const seen = await Promise.all(Array.from({ length: 2 * n }, (_, i) => (i % 2 ? peer.lockedIncrement(key) : lockedIncrement(store, key))));
    // Every transaction read the count the previous one wrote: no two read the same value, none was lost.
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 2 * n }, (_, i) => i));
    expect(await store.meta.get(key)).toBe(String(2 * n));
  });

  test("a second store instance on the same database sees committed writes and nothing else", async () => {
    const other = await db.open();
    const c = client();
    await store.transaction(async (tx) => {
      await tx.clients.insert(c);
      expect(await other.clients.get(c.clientId)).toBeUndefined();
    });
    expect((await other.clients.get(c.clientId))?.clientId).toBe(c.clientId);
  });
});
