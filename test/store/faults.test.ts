// Values and faults at the store's edge, on both engines: BIGINT columns come
// back as exact numbers, and a store that cannot serve is the domain's
// Unavailable (UNAVAILABLE / 503), never a driver error.
import pg from "pg";
import { expect, test } from "vitest";
import { Unavailable } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { openStore, storeOn, type Store } from "../../src/store/index.js";
import { openPostgres } from "../../src/store/postgres/database.js";
import { apiServer, auditEvent, client, grant, keyRecord, refreshToken, T0, uid } from "./fixtures.js";
import { describeEngines, rejection } from "./harness.js";

/** The largest integer a JS number holds exactly, and one near it: every BIGINT here must survive the trip. */
const BIG = Number.MAX_SAFE_INTEGER;

/** Every kind of store call, each expected to reject when the store is down. */
function calls(store: Store): Array<[string, () => Promise<unknown>]> {
  return [
    ["apiServers.get", () => store.apiServers.get("as_x")],
    ["apiServers.insert", () => store.apiServers.insert(apiServer())],
    ["clients.list", () => store.clients.list({ terms: [{ field: "name", op: "prefix", value: "a" }], afterSeq: 0, limit: 10 })],
    ["clients.recordIssuance", () => store.clients.recordIssuance("cl_x", 1, T0)],
    ["grants.findByPair", () => store.grants.findByPair("cl_x", "as_x")],
    ["audit.list", () => store.audit.list({ beforeSeq: BIG, limit: 10 })],
    ["meta.set", () => store.meta.set("k", "v")],
    ["changes.since", () => store.changes.since(0, 10)],
    ["changes.latest", () => store.changes.latest()],
    ["refreshTokens.rotate", () => store.refreshTokens.rotate("fam_x", Buffer.alloc(32), 1, undefined)],
    ["refreshTokens.revokeFamily", () => store.refreshTokens.revokeFamily("fam_x")],
    ["assertionJtis.consume", () => store.assertionJtis.consume("cl_x", "j", 1)],
    ["keys.all", () => store.keys.all()],
    ["purgeExpired", () => store.purgeExpired(1)],
    ["transaction", () => store.transaction((tx) => tx.meta.set("k", "v"))],
  ];
}

async function expectUnavailable(name: string, call: () => Promise<unknown>): Promise<void> {
  const err = await rejection(call());
  expect(err, name).toBeInstanceOf(Unavailable);
  expect((err as Unavailable).kind, name).toBe("unavailable");
  expect((err as Unavailable).headers["retry-after"], name).toBeDefined();
}

describeEngines("store contract: values and faults", (engine) => {
  test("BIGINT columns (seq, epoch-ms times, counters) come back as exact numbers on every read path", async () => {
    const { store } = await engine.database();
    const s = await store.apiServers.insert(apiServer({ createTime: BIG, updateTime: BIG - 1 }));
    const c = await store.clients.insert(client({ tokensValidAfter: BIG - 2, createTime: BIG - 3, updateTime: BIG - 4 }));
    await store.clients.recordIssuance(c.clientId, 2 ** 40, BIG - 5);
    await store.clients.recordIssuance(c.clientId, 1, BIG - 6);
    const g = await store.grants.insert(grant(c.clientId, s.id, { createTime: BIG - 7, updateTime: BIG - 8 }));
    const event = auditEvent({ actor: uid("actor"), time: BIG - 9 });
    await store.audit.append(event);
    const key = keyRecord({ createTime: BIG - 10, activateTime: BIG - 11, retireTime: BIG - 12 });
    await store.keys.insert(key);
    const token = refreshToken({ issuedAtMs: BIG - 13, expiresAt: BIG - 14 });
    await store.refreshTokens.insert(token);
    await store.refreshTokens.rotate(token.familyId, token.tokenHash, BIG - 15, undefined);
    const jti = uid("jti");
    await store.revokedTokens.insert(jti, BIG - 16);
    await store.transaction((tx) => tx.changes.append({ kind: "key", id: key.kid, detail: {}, time: BIG - 17 }));

    const server = (await store.apiServers.get(s.id))!;
    expect([server.seq, server.createTime, server.updateTime]).toStrictEqual([s.seq, BIG, BIG - 1]);
    const stored = (await store.clients.get(c.clientId))!;
    expect([stored.seq, stored.tokensIssued, stored.lastIssueTime, stored.tokensValidAfter, stored.createTime, stored.updateTime]).toStrictEqual([
      c.seq,
      2 ** 40 + 1,
      BIG - 5,
      BIG - 2,
      BIG - 3,
      BIG - 4,
    ]);
    const listed = (await store.clients.list({ terms: [{ field: "name", op: "eq", value: c.name }], afterSeq: 0, limit: 2 }))[0]!;
    expect([listed.seq, listed.tokensIssued]).toStrictEqual([c.seq, 2 ** 40 + 1]);
    const gr = (await store.grants.get(g.id))!;
    expect([gr.seq, gr.createTime, gr.updateTime]).toStrictEqual([g.seq, BIG - 7, BIG - 8]);
    const [ev] = await store.audit.list({ actor: event.actor, beforeSeq: BIG, limit: 1 });
    expect(typeof ev!.seq).toBe("number");
    expect(ev!.time).toBe(BIG - 9);
    const k = (await store.keys.all()).find((x) => x.kid === key.kid)!;
    expect([k.createTime, k.activateTime, k.retireTime]).toStrictEqual([BIG - 10, BIG - 11, BIG - 12]);
    const t = (await store.refreshTokens.find(token.tokenHash))!;
    expect([t.issuedAtMs, t.expiresAt, t.usedAt]).toStrictEqual([BIG - 13, BIG - 14, BIG - 15]);
    expect((await store.revokedTokens.live(0)).find((r) => r.jti === jti)).toStrictEqual({ jti, expiresAt: BIG - 16 });
    const latest = await store.changes.latest();
    const oldest = await store.changes.oldest();
    const [change] = await store.changes.since(latest - 1, 1);
    expect([typeof latest, typeof oldest, change!.seq, change!.time]).toStrictEqual(["number", "number", latest, BIG - 17]);
  });

  test("a closed store is Unavailable on every call, reads, writes and transactions alike", async () => {
    const db = await engine.database();
    const other = await db.open();
    await other.close();
    for (const [name, call] of calls(other)) await expectUnavailable(name, call);
    // The database itself is fine: the first instance still serves.
    expect(await db.store.changes.latest()).toBeTypeOf("number");
  });

  test.runIf(engine.name === "postgres")("a server that refuses connections is Unavailable, at open and on every call", async () => {
    const url = "postgres://authz@127.0.0.1:1/authz"; // nothing listens on port 1
    const options = { url, poolSize: 2, queryTimeoutMs: 2_000, logger: silentLogger };
    await expectUnavailable("openStore", () => openStore({ databaseUrl: url, dataFile: "", storeTimeoutMs: 2_000, postgresPoolSize: 2, postgresSchema: "unreachable", logger: silentLogger }));
    const store = storeOn(openPostgres(options));
    try {
      for (const [name, call] of calls(store)) await expectUnavailable(name, call);
    } finally {
      await store.close();
    }
  });

  test.runIf(engine.name === "postgres")("a connection that breaks between the statements of a transaction fails that transaction as Unavailable, crashes nothing, and the next one works", async () => {
    const url = process.env.AUTHZ_TEST_DATABASE_URL!;
    const sql = openPostgres({ url, poolSize: 1, queryTimeoutMs: 5_000, logger: silentLogger });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const failed = await rejection(
        sql.transaction(async (tx) => {
          const { pid } = (await tx.get<{ pid: number }>("SELECT pg_backend_pid() AS pid"))!;
          await admin.query("SELECT pg_terminate_backend($1)", [pid]);
          // The backend is gone and its socket closed while this transaction holds no statement in flight:
          // the driver reports that on the client itself, which must not become an uncaught exception.
          while ((await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid])).rowCount) {
            /* until the backend has exited */
          }
          await admin.query("SELECT 1");
          return tx.get("SELECT 1");
        }),
      );
      expect(failed).toBeInstanceOf(Unavailable);
      // The pool dropped the broken connection: the next transaction gets a fresh one.
      expect(await sql.transaction((tx) => tx.get<{ one: number }>("SELECT 1 AS one"))).toEqual({ one: 1 });
    } finally {
      await admin.end();
      await sql.close();
    }
  });
});
