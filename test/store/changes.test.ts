// The change feed: ChangeRepository (src/domain/ports.ts) and its follower
// (src/domain/changes.ts) on a second store instance, on both engines.
import { EventEmitter } from "node:events";
import { afterEach, beforeAll, expect, test } from "vitest";
import { createChangeFeed, type ChangeFeed } from "../../src/domain/changes.js";
import type { Change } from "../../src/domain/ports.js";
import { silentLogger } from "../../src/log.js";
import type { Store } from "../../src/store/index.js";
import { appendChange, T0, uid } from "./fixtures.js";
import { deadline, describeEngines, rejection, type TestDatabase } from "./harness.js";

/** How long a follower may take to see a committed change (the design's bound is 1 s). */
const SEEN_WITHIN_MS = 5_000;

const append = (store: Store, id: string, time = T0, detail: Record<string, unknown> = { id }) => store.transaction((tx) => tx.changes.append({ kind: "grant", id, detail, time }));

describeEngines("store contract: change feed", (engine) => {
  let db: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    db = await engine.database();
    store = db.store;
  });

  test("append is refused outside a transaction", async () => {
    const err = await rejection(store.changes.append({ kind: "client", id: uid("c"), detail: {}, time: T0 }));
    expect(err.message).toMatch(/transaction/);
  });

  test("an append is invisible until its transaction commits, and absent after a rollback", async () => {
    const before = await store.changes.latest();
    const id = uid("c");
    await store.transaction(async (tx) => {
      await tx.changes.append({ kind: "api_server", id, detail: { nested: { list: [1, "two"] }, n: 3 }, time: T0 + 7 });
      expect(await store.changes.since(before, 100)).toEqual([]);
      expect(await store.changes.latest()).toBe(before);
    });
    const [committed] = await store.changes.since(before, 100);
    expect(committed).toStrictEqual({ seq: committed!.seq, kind: "api_server", id, detail: { nested: { list: [1, "two"] }, n: 3 }, time: T0 + 7 });
    expect(committed!.seq).toBeGreaterThan(before);
    expect(await store.changes.latest()).toBe(committed!.seq);

    const gone = uid("c");
    await rejection(
      store.transaction(async (tx) => {
        await tx.changes.append({ kind: "client", id: gone, detail: {}, time: T0 });
        throw new Error("rolled back");
      }),
    );
    expect(await store.changes.since(before, 100)).toStrictEqual([committed]);
    expect(await store.changes.latest()).toBe(committed!.seq);
  });

  test("latest, oldest, since and purge on a fresh feed; purge keeps the last change whatever its age", async () => {
    const fresh = (await engine.database()).store;
    expect([await fresh.changes.latest(), await fresh.changes.oldest(), await fresh.changes.since(0, 10), await fresh.changes.purge(T0 * 2)]).toEqual([0, 0, [], 0]);
    const ids = Array.from({ length: 5 }, () => uid("c"));
    for (const [i, id] of ids.entries()) await append(fresh, id, i < 3 ? T0 : T0 + 10_000);
    const feed = await fresh.changes.since(0, 10);
    expect(feed.map((c) => c.id)).toEqual(ids);
    const seqs = feed.map((c) => c.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(await fresh.changes.oldest()).toBe(seqs[0]);
    expect(await fresh.changes.latest()).toBe(seqs[4]);
    expect((await fresh.changes.since(seqs[0]!, 2)).map((c) => c.seq)).toEqual(seqs.slice(1, 3));
    expect(await fresh.changes.since(seqs[4]!, 10)).toEqual([]);

    expect(await fresh.changes.purge(T0 + 5_000)).toBe(3);
    expect(await fresh.changes.oldest()).toBe(seqs[3]);
    expect((await fresh.changes.since(0, 10)).map((c) => c.seq)).toEqual(seqs.slice(3));
    expect(await fresh.changes.purge(T0 + 1e9)).toBe(1);
    expect([await fresh.changes.oldest(), await fresh.changes.latest()]).toEqual([seqs[4], seqs[4]]);
    expect(await fresh.changes.purge(T0 + 1e9)).toBe(0);
    // Sequence numbers are never reused after a purge.
    await append(fresh, uid("c"));
    expect(await fresh.changes.latest()).toBeGreaterThan(seqs[4]!);
  });

  test("under concurrent writers in two replicas, seq order is commit order: a reader following by cursor never skips a change", async () => {
    const peer = await db.peer();
    const start = await store.changes.latest();
    const ids = Array.from({ length: 100 }, () => uid("w"));
    const seen: Change[] = [];
    let cursor = start;
    let writing = true;
    const readOnce = async () => {
      for (const c of await store.changes.since(cursor, 1_000)) {
        seen.push(c);
        cursor = c.seq;
      }
    };
    const reader = (async () => {
      while (writing) {
        await readOnce();
        await new Promise(setImmediate); // let the writers' I/O in (SQLite reads never leave the microtask queue)
      }
    })();
    await Promise.all(ids.map((id, i) => (i % 2 ? peer.appendChange(id) : appendChange(store, id))));
    writing = false;
    await reader;
    await readOnce();
    const all = await store.changes.since(start, 1_000);
    expect(new Set(all.map((c) => c.id))).toEqual(new Set(ids));
    expect(seen.map((c) => c.seq)).toEqual(all.map((c) => c.seq));
  });
});

describeEngines("store contract: change feed follower", (engine) => {
  let db: TestDatabase;
  let writer: Store;
  let feeds: ChangeFeed[] = [];
  beforeAll(async () => {
    db = await engine.database();
    writer = db.store;
  });
  afterEach(() => {
    for (const f of feeds) f.stop();
    feeds = [];
  });

  /**
   * A follower on its own store instance. PostgreSQL: its poll is far longer
   * than the deadline, so only a NOTIFY can wake it in time; SQLite has no
   * notifications and polls often.
   */
  async function follower(apply: (c: Change) => void = () => {}) {
    const reader = await db.open();
    const events = new EventEmitter();
    const applied: Change[] = [];
    const published: Change[] = [];
    let wakes = 0;
    const notified = reader.notified && ((listener: () => void) => reader.notified!(() => (wakes++, events.emit("event"), listener())));
    const feed = createChangeFeed({
      changes: reader.changes,
      notified,
      pollMs: engine.name === "postgres" ? 600_000 : 20,
      apply: (c) => {
        try {
          apply(c);
          applied.push(c);
        } finally {
          events.emit("event");
        }
      },
      logger: silentLogger,
    });
    feed.subscribe((cs) => published.push(...cs));
    feeds.push(feed);
    /** Resolves once `ready()` holds, re-checked on every wake-up and applied change. */
    const until = (ready: () => boolean, what: string) =>
      deadline(
        new Promise<void>((resolve) => {
          const check = () => ready() && (events.off("event", check), resolve());
          events.on("event", check);
          check();
        }),
        SEEN_WITHIN_MS,
        what,
      );
    const start = async () => {
      await feed.start();
      // PostgreSQL: LISTEN is up once the listener's first catch-up call comes.
      if (notified) await until(() => wakes > 0, "the LISTEN connection");
    };
    return { feed, applied, published, until, start, reader };
  }

  test("a follower on another store instance applies what the first commits, in order, from where it started", async () => {
    const earlier = uid("before");
    await append(writer, earlier);
    const f = await follower();
    await f.start();
    expect(f.feed.position()).toBe(await writer.changes.latest());
    const ids = [uid("a"), uid("b")];
    for (const id of ids) await append(writer, id);
    await f.until(() => f.applied.length >= 2, "the follower to apply two changes");
    expect(f.applied.map((c) => c.id)).toEqual(ids);
    expect(f.published).toStrictEqual(f.applied);
    expect(f.feed.position()).toBe(await writer.changes.latest());

    // catchUp reads everything committed before it was called.
    const third = uid("c");
    await append(writer, third);
    await f.feed.catchUp();
    expect(f.applied.map((c) => c.id)).toEqual([...ids, third]);
  });

  test("a change whose application fails is retried on the next read, not skipped", async () => {
    const failing = uid("fails-once");
    const attempts: string[] = [];
    let failed = false;
    const f = await follower((c) => {
      attempts.push(c.id);
      if (c.id === failing && !failed) {
        failed = true;
        throw new Error("apply failed");
      }
    });
    await f.start();
    await append(writer, failing);
    await f.until(() => failed, "the first, failing application");
    const next = uid("next");
    await append(writer, next); // wakes the follower again (PostgreSQL: only this NOTIFY can)
    await f.until(() => f.applied.length >= 2, "the retry and the next change");
    expect(attempts).toEqual([failing, failing, next]);
    expect(f.applied.map((c) => c.id)).toEqual([failing, next]);
  });
});
