// The management repositories' promises (src/domain/ports.ts), on both engines.
import { beforeAll, expect, test } from "vitest";
import { AlreadyExists } from "../../src/domain/errors.js";
import type { ListQuery } from "../../src/domain/listing.js";
import type { Store } from "../../src/store/index.js";
import { apiServer, auditEvent, client, grant, T0, uid } from "./fixtures.js";
import { describeEngines, rejection, type TestDatabase } from "./harness.js";

const query = (terms: ListQuery["terms"], afterSeq = 0, limit = 100): ListQuery => ({ terms, afterSeq, limit });

/** Every page of a list, `size` rows at a time, each continuing after the last seq of the previous one. */
async function pages<T extends { seq: number }>(list: (q: ListQuery) => Promise<T[]>, terms: ListQuery["terms"], size: number): Promise<T[][]> {
  const out: T[][] = [];
  for (let afterSeq = 0; ;) {
    const rows = await list(query(terms, afterSeq, size));
    if (rows.length === 0) return out;
    out.push(rows);
    afterSeq = rows[rows.length - 1]!.seq;
  }
}

describeEngines("store contract: API servers", (engine) => {
  let db: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    db = await engine.database();
    store = db.store;
  });

  test("insert returns the row with its seq; get returns every field as written; unknown ids are undefined", async () => {
    const written = apiServer({ audiences: ["urn:orders", "https://orders.example.org/v2"] });
    const inserted = await store.apiServers.insert(written);
    expect(inserted.seq).toBeGreaterThan(0);
    expect(inserted).toStrictEqual({ ...written, seq: inserted.seq });
    expect(await store.apiServers.get(written.id)).toStrictEqual(inserted);
    expect(await store.apiServers.get(uid("as"))).toBeUndefined();
  });

  test("findByAudience selects by the identifier or any extra audience, nothing else", async () => {
    const s = await store.apiServers.insert(apiServer({ audiences: [`urn:${uid("aud")}`, `urn:${uid("aud")}`] }));
    for (const audience of [s.identifier, ...s.audiences]) expect((await store.apiServers.findByAudience(audience))?.id).toBe(s.id);
    expect(await store.apiServers.findByAudience(`${s.identifier}/`)).toBeUndefined();
    expect(await store.apiServers.findByAudience(s.name)).toBeUndefined();
  });

  test("list pages in seq order after afterSeq, with eq and prefix terms combined", async () => {
    const tag = uid("list");
    const names = ["alpha", "beta", "alpine", "gamma", "alps"].map((n) => `${tag} ${n}`);
    const rows: Awaited<ReturnType<Store["apiServers"]["insert"]>>[] = [];
    for (const name of names) rows.push(await store.apiServers.insert(apiServer({ name })));
    const seqs = rows.map((r) => r.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);

    const all = await pages((q) => store.apiServers.list(q), [{ field: "name", op: "prefix", value: tag }], 2);
    expect(all.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(all.flat()).toStrictEqual(rows);

    const alp = await store.apiServers.list(query([{ field: "name", op: "prefix", value: `${tag} alp` }]));
    expect(alp.map((r) => r.name)).toEqual(names.filter((n) => n.startsWith(`${tag} alp`)));
    const after = await store.apiServers.list(query([{ field: "name", op: "prefix", value: `${tag} alp` }], alp[0]!.seq));
    expect(after.map((r) => r.id)).toEqual(alp.slice(1).map((r) => r.id));

    const exact = await store.apiServers.list(query([{ field: "name", op: "eq", value: names[1]! }]));
    expect(exact.map((r) => r.id)).toEqual([rows[1]!.id]);
    const both = await store.apiServers.list(
      query([
        { field: "name", op: "prefix", value: tag },
        { field: "identifier", op: "eq", value: rows[3]!.identifier },
      ]),
    );
    expect(both.map((r) => r.id)).toEqual([rows[3]!.id]);
    expect(await store.apiServers.list(query([{ field: "name", op: "eq", value: tag }]))).toEqual([]);
  });

  test("a prefix term is case-sensitive, has no wildcards and counts characters, not UTF-16 units", async () => {
    const tag = uid("pfx");
    const emoji = await store.apiServers.insert(apiServer({ name: `${tag} 🚀 launch` }));
    await store.apiServers.insert(apiServer({ name: `${tag.toUpperCase()} upper` }));
    const percent = await store.apiServers.insert(apiServer({ name: `${tag}%_ literal` }));
    const list = (value: string) => store.apiServers.list(query([{ field: "name", op: "prefix", value }]));
    expect((await list(`${tag} 🚀`)).map((r) => r.id)).toEqual([emoji.id]);
    expect((await list(`${tag}%_`)).map((r) => r.id)).toEqual([percent.id]);
    expect((await list(`${tag}%`)).map((r) => r.id)).toEqual([percent.id]);
    expect(await list(`${tag}_`)).toEqual([]);
    expect((await list(tag)).map((r) => r.id)).toEqual([emoji.id, percent.id]);
  });

  test("a taken identifier or audience is AlreadyExists naming that value, and the refused insert leaves nothing behind", async () => {
    const first = await store.apiServers.insert(apiServer({ audiences: [`urn:${uid("aud")}`] }));
    const cases = [
      { taken: first.identifier, server: apiServer({ identifier: first.identifier }) },
      { taken: first.audiences[0]!, server: apiServer({ audiences: [first.audiences[0]!] }) },
      { taken: first.audiences[0]!, server: apiServer({ identifier: first.audiences[0]! }) },
      { taken: first.identifier, server: apiServer({ audiences: [`urn:${uid("free")}`, first.identifier] }) },
    ];
    for (const { taken, server } of cases) {
      for (const run of [(s: typeof server) => store.apiServers.insert(s), (s: typeof server) => store.transaction((tx) => tx.apiServers.insert(s))]) {
        const err = await rejection(run(server));
        expect(err).toBeInstanceOf(AlreadyExists);
        expect(err.message).toContain(JSON.stringify(taken));
        expect(await store.apiServers.get(server.id)).toBeUndefined();
        for (const audience of [server.identifier, ...server.audiences].filter((a) => a !== taken)) expect(await store.apiServers.findByAudience(audience)).toBeUndefined();
      }
    }
    expect(await store.apiServers.get(first.id)).toStrictEqual(first);
    for (const audience of [first.identifier, ...first.audiences]) expect((await store.apiServers.findByAudience(audience))?.id).toBe(first.id);
  });

  test("update replaces the row and its audiences when the version is the next one; a stale version is false and changes nothing", async () => {
    const v1 = await store.apiServers.insert(apiServer({ audiences: [`urn:${uid("old")}`] }));
    const v2 = { ...v1, name: `${v1.name} renamed`, audiences: [`urn:${uid("new")}`], permissions: [{ value: "a:b", description: "" }], enforcePolicies: false, updateTime: T0 + 99, version: 2 };
    expect(await store.apiServers.update(v2)).toBe(true);
    expect(await store.apiServers.get(v1.id)).toStrictEqual(v2);
    expect(await store.apiServers.findByAudience(v1.audiences[0]!)).toBeUndefined();
    expect((await store.apiServers.findByAudience(v2.audiences[0]!))?.id).toBe(v1.id);
    expect((await store.apiServers.findByAudience(v1.identifier))?.id).toBe(v1.id);

    const stale = { ...v1, name: "stale write", version: 2 }; // built from version 1, which is gone
    expect(await store.apiServers.update(stale)).toBe(false);
    expect(await store.apiServers.get(v1.id)).toStrictEqual(v2);
    expect(await store.apiServers.update({ ...apiServer(), version: 2 })).toBe(false);
  });

  test("update claiming another server's audience is AlreadyExists naming it, and leaves the row and its audiences as they were", async () => {
    const other = await store.apiServers.insert(apiServer({ audiences: [`urn:${uid("other")}`] }));
    const mine = await store.apiServers.insert(apiServer({ audiences: [`urn:${uid("mine")}`] }));
    const next = { ...mine, name: "claims", audiences: [other.audiences[0]!], version: 2 };
    for (const run of [() => store.apiServers.update(next), () => store.transaction((tx) => tx.apiServers.update(next))]) {
      const err = await rejection(run());
      expect(err).toBeInstanceOf(AlreadyExists);
      expect(err.message).toContain(JSON.stringify(other.audiences[0]));
      expect(await store.apiServers.get(mine.id)).toStrictEqual(mine);
      expect((await store.apiServers.findByAudience(mine.audiences[0]!))?.id).toBe(mine.id);
      expect((await store.apiServers.findByAudience(other.audiences[0]!))?.id).toBe(other.id);
    }
  });

  test("delete (on the version read) cascades to the audiences (free again) and the grants; false when absent or changed since", async () => {
    const s = await store.apiServers.insert(apiServer({ audiences: [`urn:${uid("aud")}`] }));
    const c = await store.clients.insert(client());
    const g = await store.grants.insert(grant(c.clientId, s.id));
    expect(await store.apiServers.delete(s.id, s.version + 1)).toBe(false);
    expect(await store.apiServers.get(s.id)).toBeDefined();
    expect(await store.apiServers.delete(s.id, s.version)).toBe(true);
    expect(await store.apiServers.get(s.id)).toBeUndefined();
    expect(await store.apiServers.findByAudience(s.identifier)).toBeUndefined();
    expect(await store.grants.get(g.id)).toBeUndefined();
    expect(await store.grants.findByPair(c.clientId, s.id)).toBeUndefined();
    expect(await store.clients.get(c.clientId)).toBeDefined();
    expect(await store.apiServers.delete(s.id, s.version)).toBe(false);
    const again = await store.apiServers.insert(apiServer({ identifier: s.identifier, audiences: s.audiences }));
    expect((await store.apiServers.findByAudience(s.audiences[0]!))?.id).toBe(again.id);
  });
});

describeEngines("store contract: clients", (engine) => {
  let store: Store;
  let db: TestDatabase;
  beforeAll(async () => {
    db = await engine.database();
    store = db.store;
  });

  test("insert/get round-trip every field (secret digests, jwks, metadata, null times); unknown ids are undefined", async () => {
    const written = client({
      jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "k1" }] },
      tokenEndpointAuthMethod: "private_key_jwt",
      disabled: true,
      dynamic: true,
    });
    const inserted = await store.clients.insert(written);
    expect(inserted.seq).toBeGreaterThan(0);
    const read = await store.clients.get(written.clientId);
    expect(read).toStrictEqual({ ...written, seq: inserted.seq });
    expect(Buffer.isBuffer(read!.secrets[0]!.hash)).toBe(true);
    const plain = await store.clients.insert(client());
    expect((await store.clients.get(plain.clientId))?.jwks).toBeUndefined();
    expect(await store.clients.get(uid("cl"))).toBeUndefined();
  });

  test("a taken client id is AlreadyExists naming it", async () => {
    const c = await store.clients.insert(client());
    const err = await rejection(store.clients.insert(client({ clientId: c.clientId, name: "second" })));
    expect(err).toBeInstanceOf(AlreadyExists);
    expect(err.message).toContain(JSON.stringify(c.clientId));
    expect(await store.clients.get(c.clientId)).toStrictEqual(c);
  });

  test("list pages in seq order with name prefix and boolean terms", async () => {
    const tag = uid("cls");
    const rows = [];
    for (const [i, flags] of [
      { disabled: false, dynamic: false },
      { disabled: true, dynamic: false },
      { disabled: false, dynamic: true },
      { disabled: true, dynamic: true },
      { disabled: false, dynamic: false },
    ].entries())
      rows.push(await store.clients.insert(client({ name: `${tag} ${i}`, ...flags })));
    const byTag = { field: "name", op: "prefix", value: tag } as const;
    expect((await pages((q) => store.clients.list(q), [byTag], 2)).flat()).toStrictEqual(rows);
    for (const disabled of [true, false]) {
      for (const dynamic of [true, false]) {
        const got = await store.clients.list(query([byTag, { field: "disabled", op: "eq", value: disabled }, { field: "dynamic", op: "eq", value: dynamic }]));
        expect(got.map((c) => c.clientId)).toEqual(rows.filter((c) => c.disabled === disabled && c.dynamic === dynamic).map((c) => c.clientId));
      }
    }
  });

  test("update is optimistic on version, and keeps the usage counters (their own statement) and `dynamic`", async () => {
    const v1 = await store.clients.insert(client());
    await store.clients.recordIssuance(v1.clientId, 3, T0 + 500);
    const v2 = { ...v1, name: "renamed", disabled: true, dynamic: true, secrets: [], tokensValidAfter: T0 + 1000, updateTime: T0 + 1000, version: 2 };
    expect(await store.clients.update(v2)).toBe(true);
    expect(await store.clients.get(v1.clientId)).toStrictEqual({ ...v2, dynamic: v1.dynamic, tokensIssued: 3, lastIssueTime: T0 + 500 });
    expect(await store.clients.update({ ...v1, name: "stale", version: 2 })).toBe(false);
    expect((await store.clients.get(v1.clientId))?.name).toBe("renamed");
    expect(await store.clients.update({ ...client(), version: 2 })).toBe(false);
  });

  test("delete (on the version read) cascades to the client's grants only; false when absent or changed since", async () => {
    const s = await store.apiServers.insert(apiServer());
    const [a, b] = [await store.clients.insert(client()), await store.clients.insert(client())];
    const ga = await store.grants.insert(grant(a.clientId, s.id));
    const gb = await store.grants.insert(grant(b.clientId, s.id));
    expect(await store.clients.delete(a.clientId, a.version + 1)).toBe(false);
    expect(await store.clients.get(a.clientId)).toBeDefined();
    expect(await store.clients.delete(a.clientId, a.version)).toBe(true);
    expect(await store.clients.get(a.clientId)).toBeUndefined();
    expect(await store.grants.get(ga.id)).toBeUndefined();
    expect(await store.grants.get(gb.id)).toStrictEqual(gb);
    expect(await store.clients.delete(a.clientId, a.version)).toBe(false);
  });

  test("recordIssuance adds from many parallel calls in two replicas with nothing lost; the last issue time is the latest", async () => {
    const c = await store.clients.insert(client());
    const peer = await db.peer();
    const calls = Array.from({ length: 40 }, (_, i) => ({ count: i + 1, last: T0 + 1_000 * ((i * 7) % 40) }));
    await Promise.all(calls.map(({ count, last }, i) => (i % 2 ? peer.recordIssuance(c.clientId, count, last) : store.clients.recordIssuance(c.clientId, count, last))));
    const read = await store.clients.get(c.clientId);
    expect(read?.tokensIssued).toBe(calls.reduce((n, x) => n + x.count, 0));
    expect(read?.lastIssueTime).toBe(Math.max(...calls.map((x) => x.last)));
    await store.clients.recordIssuance(c.clientId, 1, T0); // an older time never moves it back
    expect((await store.clients.get(c.clientId))?.lastIssueTime).toBe(read?.lastIssueTime);
  });
});

describeEngines("store contract: grants", (engine) => {
  let store: Store;
  beforeAll(async () => {
    store = (await engine.database()).store;
  });

  test("insert/get/findByPair round-trip; a taken (client, API server) pair is AlreadyExists naming both", async () => {
    const [s1, s2] = [await store.apiServers.insert(apiServer()), await store.apiServers.insert(apiServer())];
    const c = await store.clients.insert(client());
    const written = grant(c.clientId, s1.id, { scopes: ["orders:read", "orders:write"], allowAllScopes: true });
    const g = await store.grants.insert(written);
    expect(g).toStrictEqual({ ...written, seq: g.seq });
    expect(await store.grants.get(g.id)).toStrictEqual(g);
    expect(await store.grants.findByPair(c.clientId, s1.id)).toStrictEqual(g);
    expect(await store.grants.findByPair(c.clientId, s2.id)).toBeUndefined();
    const dup = grant(c.clientId, s1.id);
    const err = await rejection(store.grants.insert(dup));
    expect(err).toBeInstanceOf(AlreadyExists);
    expect(err.message).toContain(JSON.stringify(c.clientId));
    expect(err.message).toContain(JSON.stringify(s1.id));
    expect(await store.grants.get(dup.id)).toBeUndefined();
    expect((await store.grants.insert(grant(c.clientId, s2.id))).apiServerId).toBe(s2.id);
  });

  test("list pages in seq order, of one client and/or one API server", async () => {
    const servers = [await store.apiServers.insert(apiServer()), await store.apiServers.insert(apiServer())];
    const clients = [await store.clients.insert(client()), await store.clients.insert(client()), await store.clients.insert(client())];
    const rows = [];
    for (const c of clients) for (const s of servers) rows.push(await store.grants.insert(grant(c.clientId, s.id)));
    const start = rows[0]!.seq - 1;
    expect(await store.grants.list(query([], start), { clientId: "", apiServerId: "" })).toStrictEqual(rows);
    for (const s of servers) {
      const mine = rows.filter((g) => g.apiServerId === s.id);
      const paged: typeof rows = [];
      for (let after = 0; ;) {
        const page = await store.grants.list(query([], after, 2), { clientId: "", apiServerId: s.id });
        if (page.length === 0) break;
        paged.push(...page);
        after = page[page.length - 1]!.seq;
      }
      expect(paged).toStrictEqual(mine);
    }
    for (const c of clients) expect(await store.grants.list(query([]), { clientId: c.clientId, apiServerId: "" })).toStrictEqual(rows.filter((g) => g.clientId === c.clientId));
    expect(await store.grants.list(query([]), { clientId: clients[1]!.clientId, apiServerId: servers[0]!.id })).toStrictEqual([rows[2]]);
  });

  test("update is optimistic on version; delete is true once", async () => {
    const s = await store.apiServers.insert(apiServer());
    const c = await store.clients.insert(client());
    const v1 = await store.grants.insert(grant(c.clientId, s.id));
    const v2 = { ...v1, scopes: ["orders:write"], allowAllScopes: true, updateTime: T0 + 5, version: 2 };
    expect(await store.grants.update(v2)).toBe(true);
    expect(await store.grants.get(v1.id)).toStrictEqual(v2);
    expect(await store.grants.update({ ...v1, scopes: [], version: 2 })).toBe(false);
    expect(await store.grants.get(v1.id)).toStrictEqual(v2);
    expect(await store.grants.delete(v1.id, v1.version)).toBe(false); // changed since: v2
    expect(await store.grants.get(v1.id)).toStrictEqual(v2);
    expect(await store.grants.delete(v1.id, v2.version)).toBe(true);
    expect(await store.grants.get(v1.id)).toBeUndefined();
    expect(await store.grants.delete(v1.id, v2.version)).toBe(false);
  });

  test("removeScopes takes the values out of every grant of that API server and returns exactly the grants it changed", async () => {
    const [s, other] = [await store.apiServers.insert(apiServer()), await store.apiServers.insert(apiServer())];
    const cs = [await store.clients.insert(client()), await store.clients.insert(client()), await store.clients.insert(client())];
    const a = await store.grants.insert(grant(cs[0]!.clientId, s.id, { scopes: ["a", "b", "c"] }));
    const b = await store.grants.insert(grant(cs[1]!.clientId, s.id, { scopes: ["b"] }));
    const c = await store.grants.insert(grant(cs[2]!.clientId, s.id, { scopes: ["c"] }));
    const elsewhere = await store.grants.insert(grant(cs[0]!.clientId, other.id, { scopes: ["a", "b"] }));
    const at = T0 + 77_000;
    const changed = await store.grants.removeScopes(s.id, ["b", "x"], at);
    const expected = [
      { ...a, scopes: ["a", "c"], updateTime: at, version: a.version + 1 },
      { ...b, scopes: [], updateTime: at, version: b.version + 1 },
    ];
    expect([...changed].sort((x, y) => x.seq - y.seq)).toStrictEqual(expected);
    for (const g of expected) expect(await store.grants.get(g.id)).toStrictEqual(g);
    expect(await store.grants.get(c.id)).toStrictEqual(c);
    expect(await store.grants.get(elsewhere.id)).toStrictEqual(elsewhere);
    expect(await store.grants.removeScopes(s.id, ["b"], at + 1)).toEqual([]);
  });
});

describeEngines("store contract: grants under concurrency", (engine) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await engine.database();
  });

  test("removeScopes never overwrites a grant updated concurrently: it works from the committed version", async () => {
    const { store } = db;
    const s = await store.apiServers.insert(apiServer());
    const c = await store.clients.insert(client());
    const v1 = await store.grants.insert(grant(c.clientId, s.id, { scopes: ["orders:read", "orders:write"] }));
    let commit!: () => void;
    const held = new Promise<void>((resolve) => (commit = resolve));
    let written!: () => void;
    const updated = new Promise<void>((resolve) => (written = resolve));
    // A grant update that holds its row until released, and an API server's permission removal meanwhile.
    const update = store.transaction(async (tx) => {
      const ok = await tx.grants.update({ ...v1, scopes: ["orders:read", "orders:write", "orders:new"], updateTime: T0 + 1, version: 2 });
      written();
      await held;
      return ok;
    });
    await updated;
    const removal = store.transaction((tx) => tx.grants.removeScopes(s.id, ["orders:write"], T0 + 2));
    await db.rowLockWait("grants");
    commit();
    expect(await update).toBe(true);
    const [changed] = await removal;
    const expected = { ...v1, scopes: ["orders:read", "orders:new"], updateTime: T0 + 2, version: 3 };
    expect(changed).toStrictEqual(expected);
    expect(await store.grants.get(v1.id)).toStrictEqual(expected);
  });
});

describeEngines("store contract: audit and meta", (engine) => {
  let store: Store;
  beforeAll(async () => {
    store = (await engine.database()).store;
  });

  test("audit lists newest first below beforeSeq, with actor, resource and time filters combined", async () => {
    const [alice, bob] = [uid("alice"), uid("bob")];
    const written = [
      auditEvent({ actor: alice, resourceId: "r1", time: T0 }),
      auditEvent({ actor: bob, resourceId: "r1", time: T0 + 1_000 }),
      auditEvent({ actor: alice, resourceId: "r2", time: T0 + 2_000 }),
      auditEvent({ actor: alice, resourceId: "r1", time: T0 + 3_000 }),
      auditEvent({ actor: bob, resourceId: "r2", time: T0 + 4_000 }),
    ];
    for (const e of written) await store.audit.append(e);
    const top = Number.MAX_SAFE_INTEGER;
    const mine = await store.audit.list({ actor: alice, beforeSeq: top, limit: 100 });
    expect(mine.map((e) => e.id)).toEqual(
      written
        .filter((e) => e.actor === alice)
        .map((e) => e.id)
        .reverse(),
    );
    expect(mine[0]).toStrictEqual({ ...written[3], seq: mine[0]!.seq });
    expect(mine.map((e) => e.seq)).toEqual([...mine.map((e) => e.seq)].sort((x, y) => y - x));

    // Paging: each page continues below the oldest seq of the previous one.
    const paged: string[] = [];
    for (let before = top; ;) {
      const page = await store.audit.list({ actor: alice, beforeSeq: before, limit: 2 });
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(2);
      paged.push(...page.map((e) => e.id));
      before = page[page.length - 1]!.seq;
    }
    expect(paged).toEqual(mine.map((e) => e.id));

    const ids = async (q: Parameters<Store["audit"]["list"]>[0]) => (await store.audit.list(q)).map((e) => e.id);
    const expectIds = (pick: (e: (typeof written)[number]) => boolean) =>
      written
        .filter(pick)
        .map((e) => e.id)
        .reverse();
    expect(await ids({ actor: alice, resourceId: "r1", beforeSeq: top, limit: 100 })).toEqual(expectIds((e) => e.actor === alice && e.resourceId === "r1"));
    expect(await ids({ actor: bob, startTime: T0 + 1_000, endTime: T0 + 4_000, beforeSeq: top, limit: 100 })).toEqual(expectIds((e) => e.actor === bob && e.time === T0 + 1_000));
    expect(await ids({ actor: alice, startTime: T0 + 2_000, beforeSeq: top, limit: 100 })).toEqual(expectIds((e) => e.actor === alice && e.time >= T0 + 2_000));
    expect(await ids({ actor: alice, endTime: T0 + 2_000, beforeSeq: top, limit: 100 })).toEqual(expectIds((e) => e.actor === alice && e.time < T0 + 2_000));
    expect(await ids({ actor: alice, beforeSeq: mine[1]!.seq, limit: 100 })).toEqual(mine.slice(2).map((e) => e.id));
    expect(await ids({ actor: alice, beforeSeq: top, limit: 1 })).toEqual([mine[0]!.id]);
  });

  test("meta get is undefined until set; set overwrites", async () => {
    const key = uid("meta");
    expect(await store.meta.get(key)).toBeUndefined();
    await store.meta.set(key, "one");
    expect(await store.meta.get(key)).toBe("one");
    await store.meta.set(key, "two");
    expect(await store.meta.get(key)).toBe("two");
    await store.transaction((tx) => tx.meta.set(key, "three"));
    expect(await store.meta.get(key)).toBe("three");
  });
});
