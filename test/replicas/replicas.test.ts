// Three real replica processes (`authz serve --database-url`) on one private
// PostgreSQL: what one replica writes is in force on the others, single-use
// values stay single-use across them, a replica killed with SIGKILL loses no
// acknowledged write, and a PostgreSQL restart under load is survived.
// Propagation is awaited on events (a revocation watch on the other replica
// delivers a change only once that replica has applied it), with deadlines.
import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TokenEndpointAuthMethod } from "../../gen/authz/v1/client.js";
import { SigningAlg } from "../../gen/authz/v1/common.js";
import { KeyState } from "../../gen/authz/v1/key.js";
import { createAuthzClients, type AuthzClients } from "../../sdk/src/index.js";
import { MANAGEMENT_API_SERVER_ID, MANAGEMENT_AUDIENCE } from "../../src/domain/constants.js";
import { startPrivatePostgres, type PrivatePostgres } from "../helpers/postgres.js";
import { banner, killAll, serve, stop, type Running } from "../helpers/process.js";
import { openWatch, type WatchReader } from "../helpers/watch.js";

const ISSUER = "http://authz.replicas.test";
const KEK = randomBytes(32).toString("base64url");

interface Replica {
  name: string;
  process: Running;
  grpc: string;
  http: string;
  api: AuthzClients;
}

let pg: PrivatePostgres;
let databaseUrl: string;
let replicas: Replica[];
let admin: { id: string; secret: string };
let adminToken: string;

async function startReplica(name: string): Promise<Replica> {
  const process = await serve(
    ["--database-url", databaseUrl, "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--key-publish-lead-seconds", "0", "--jwks-max-age-seconds", "0"],
    { env: { AUTHZ_KEY_ENCRYPTION_KEY: KEK, AUTHZ_ISSUER: ISSUER, AUTHZ_LOG_LEVEL: "info", AUTHZ_OPS_ADDRESS: "127.0.0.1:0" } },
  );
  const grpcAddress = `127.0.0.1:${process.grpcPort}`;
  return { name, process, grpc: grpcAddress, http: `http://127.0.0.1:${process.httpPort}`, api: createAuthzClients({ address: grpcAddress, token: async () => adminToken }) };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

/** POST an OAuth form to a replica's HTTP endpoint. */
async function oauth(r: Replica, path: string, fields: Record<string, string>, auth?: { id: string; secret: string }) {
  const res = await fetch(`${r.http}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(auth ? { authorization: basic(auth.id, auth.secret) } : {}) },
    body: new URLSearchParams(fields).toString(),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : {} };
}

const token = (r: Replica, c: { id: string; secret: string }, audience: string, extra: Record<string, string> = {}) =>
  oauth(r, "/oauth/token", { grant_type: "client_credentials", audience, ...extra }, c);

async function issued(r: Replica, c: { id: string; secret: string }, audience: string): Promise<string> {
  const res = await token(r, c, audience);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json.access_token as string;
}

/** A client with a secret and a grant on `apiServerId` (every scope unless given), created on replica `r`. */
async function client(r: Replica, apiServerId: string, scopes: string[] = [], fields: Record<string, unknown> = {}) {
  const { client: c, clientSecret } = await r.api.clients.createClient({ client: { name: `svc-${randomBytes(4).toString("hex")}`, ...fields } });
  await r.api.grants.createGrant({ grant: { clientId: c!.clientId, apiServerId, scopes, allowAllScopes: scopes.length === 0 } });
  return { id: c!.clientId, secret: clientSecret };
}

describe.sequential("three replicas on one PostgreSQL", () => {
  let orders: { id: string; identifier: string };
  /** Holds tokens:introspect and a grant on `orders`: introspects and watches on any replica. */
  let watcher: { id: string; secret: string };
  let watcherToken: string;
  const watches = new Set<WatchReader>();
  const watch = (r: Replica) => {
    const w = openWatch(r.grpc, watcherToken);
    watches.add(w);
    return w;
  };
  const introspect = async (r: Replica, accessToken: string) => (await oauth(r, "/oauth/introspect", { token: accessToken }, watcher)).json as { active: boolean };

  /**
   * Waits until every replica in `others` has applied everything `on` has
   * written so far: a revocation made on `on` after those writes arrives on a
   * replica's watch only once that replica has applied all changes before it.
   */
  async function barrier(on: Replica, others: Replica[]): Promise<void> {
    const readers = others.map(watch);
    await Promise.all(readers.map((w) => w.next())); // each is live
    const marker = await issued(on, watcher, orders.identifier);
    expect((await oauth(on, "/oauth/revoke", { token: marker }, watcher)).status).toBe(200);
    await Promise.all(readers.map((w) => w.untilJti(decodeJwt(marker).jti!)));
    for (const w of readers) w.close();
  }

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    databaseUrl = await pg.newDatabase();
  }, 120_000);

  afterAll(async () => {
    for (const w of watches) w.close();
    for (const r of replicas ?? []) r.api.close();
    await Promise.all((replicas ?? []).map((r) => (r.process.proc.exitCode === null ? stop(r.process) : undefined)));
    killAll();
    await pg?.stop();
  }, 60_000);

  test("started together on an empty database: one admin client, one signing key per algorithm, the same JWKS on every replica", async () => {
    replicas = await Promise.all(["a", "b", "c"].map(startReplica));
    const banners = replicas.map((r) => banner(r.process.stderr)).filter((b) => b !== undefined);
    expect(banners).toHaveLength(1);
    admin = banners[0]!;
    const res = await token(replicas[1]!, admin, MANAGEMENT_AUDIENCE);
    expect(res.status).toBe(200);
    adminToken = res.json.access_token;

    const { keys } = await replicas[2]!.api.keys.listKeys({});
    const active = keys.filter((k) => k.state === KeyState.KEY_STATE_ACTIVE);
    expect(active.map((k) => k.alg).sort()).toEqual([SigningAlg.SIGNING_ALG_ES256, SigningAlg.SIGNING_ALG_RS256, SigningAlg.SIGNING_ALG_EDDSA].sort());
    expect(keys).toHaveLength(active.length);
    const jwks = await Promise.all(replicas.map(async (r) => ((await (await fetch(`${r.http}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort()));
    expect(jwks[1]).toEqual(jwks[0]);
    expect(jwks[2]).toEqual(jwks[0]);
    expect(jwks[0]).toHaveLength(3);
    const { clients } = await replicas[0]!.api.clients.listClients({ pageSize: 100 });
    expect(clients.map((c) => c.clientId)).toEqual([admin.id]);
  }, 120_000);

  test("what one replica writes, the others serve at once", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const { apiServer } = await a.api.apiServers.createApiServer({
      apiServer: { name: "Orders", identifier: `https://orders-${randomBytes(4).toString("hex")}.example.com`, permissions: [{ value: "orders:read" }, { value: "orders:write" }] },
    });
    orders = apiServer!;
    watcher = await client(a, orders.id, ["orders:read"]);
    await a.api.grants.createGrant({ grant: { clientId: watcher.id, apiServerId: MANAGEMENT_API_SERVER_ID, scopes: ["tokens:introspect"] } });
    watcherToken = (await token(a, watcher, MANAGEMENT_AUDIENCE)).json.access_token;

    const svc = await client(a, orders.id, ["orders:read"]);
    const accessToken = await issued(b, svc, orders.identifier);
    expect(decodeJwt(accessToken)).toMatchObject({ iss: ISSUER, aud: orders.identifier, client_id: svc.id, scope: "orders:read" });
    expect((await introspect(c, accessToken)).active).toBe(true);
    expect((await c.api.apiServers.getApiServer({ id: orders.id })).apiServer?.identifier).toBe(orders.identifier);
  });

  test("a revocation, a disabled client and a deleted grant made on one replica are in force on the others", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const onB = watch(b);
    const onC = watch(c);
    await Promise.all([onB.next(), onC.next()]);

    // Revocation: B and C warmed (introspected active) first, so a stale cache would show.
    const svc = await client(a, orders.id);
    const revoked = await issued(b, svc, orders.identifier);
    expect((await introspect(c, revoked)).active).toBe(true);
    expect((await oauth(a, "/oauth/revoke", { token: revoked }, svc)).status).toBe(200);
    const jti = decodeJwt(revoked).jti!;
    await Promise.all([onB.untilJti(jti), onC.untilJti(jti)]);
    expect((await introspect(b, revoked)).active).toBe(false);
    expect((await introspect(c, revoked)).active).toBe(false);

    // A disabled client: no new tokens anywhere, and its earlier tokens are inactive.
    const disabled = await client(a, orders.id);
    const before = await issued(c, disabled, orders.identifier);
    expect((await token(b, disabled, orders.identifier)).status).toBe(200); // cached on B
    await a.api.clients.updateClient({ client: { clientId: disabled.id, disabled: true }, updateMask: ["disabled"] });
    const isDisabled = (m: { events: Array<{ reason: string; subject?: { clientId: string } }> }) => m.events.some((e) => e.reason === "client_disabled" && e.subject?.clientId === disabled.id);
    for (const w of [onB, onC]) while (!isDisabled(await w.nextEvents()));
    expect((await token(b, disabled, orders.identifier)).json.error).toBe("invalid_client");
    expect((await introspect(c, before)).active).toBe(false);

    // A deleted grant: the client can no longer get tokens for that API server, and those it has are inactive.
    const ungranted = await client(a, orders.id);
    const held = await issued(b, ungranted, orders.identifier);
    const { grants } = await a.api.grants.listGrants({ clientId: ungranted.id });
    await a.api.grants.deleteGrant({ id: grants[0]!.id });
    const isDeleted = (m: { events: Array<{ reason: string; subject?: { clientId: string } }> }) => m.events.some((e) => e.reason === "grant_deleted" && e.subject?.clientId === ungranted.id);
    for (const w of [onB, onC]) while (!isDeleted(await w.nextEvents()));
    const refused = await token(c, ungranted, orders.identifier);
    expect(refused.json.error).toBe("invalid_target");
    expect((await introspect(b, held)).active).toBe(false);
  });

  test("a key rotated on one replica is published and signs on the others", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const { keys } = await a.api.keys.rotateKeys({ alg: SigningAlg.SIGNING_ALG_ES256 });
    const fresh = keys.find((k) => k.alg === SigningAlg.SIGNING_ALG_ES256 && k.state === KeyState.KEY_STATE_ACTIVE)!;
    expect(fresh).toBeDefined();
    await barrier(a, [b, c]);
    for (const r of [b, c]) {
      const jwks = (await (await fetch(`${r.http}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
      expect(jwks.keys.map((k) => k.kid)).toContain(fresh.kid);
      // orders signs with ES256 (the default): a token issued on this replica now carries the new key's kid.
      expect(decodeProtectedHeader(await issued(r, watcher, orders.identifier)).kid).toBe(fresh.kid);
    }
  });

  test("two replicas rotating the same algorithm at once take turns: afterwards one key of it signs and the other is retired", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const eddsa = async (r: Replica) => (await r.api.keys.listKeys({})).keys.filter((k) => k.alg === SigningAlg.SIGNING_ALG_EDDSA);
    const before = (await eddsa(a)).map((k) => k.kid);
    // No publish lead on these replicas: each rotation is allowed, and the second retires the first one's key.
    const rotated = await Promise.all([a, b].map((r) => r.api.keys.rotateKeys({ alg: SigningAlg.SIGNING_ALG_EDDSA })));
    const fresh = rotated.map((res) => res.keys[0]!.kid);
    expect(new Set(fresh).size).toBe(2);
    await barrier(a, [b, c]); // the marker's change comes after both rotations', on every replica
    for (const r of [a, b, c]) {
      const keys = await eddsa(r);
      expect(keys.map((k) => k.kid).sort()).toEqual([...before, ...fresh].sort());
      const active = keys.filter((k) => k.state === KeyState.KEY_STATE_ACTIVE);
      expect(active).toHaveLength(1);
      expect(fresh).toContain(active[0]!.kid);
    }
  });

  test("the last two full administrators deleting each other at once on two replicas: one of them stays", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const x = await client(a, MANAGEMENT_API_SERVER_ID);
    const y = await client(a, MANAGEMENT_API_SERVER_ID);
    const apiAs = async (r: Replica, who: { id: string; secret: string }) => {
      const bearer = await issued(r, who, MANAGEMENT_AUDIENCE);
      return createAuthzClients({ address: r.grpc, token: async () => bearer });
    };
    const [xOnA, yOnB] = [await apiAs(a, x), await apiAs(b, y)];
    try {
      // The bootstrap admin steps down to reading clients: x and y are the last two holding everything.
      const adminGrant = (await a.api.grants.listGrants({ clientId: admin.id })).grants.find((g) => g.apiServerId === MANAGEMENT_API_SERVER_ID)!;
      await xOnA.grants.updateGrant({ grant: { id: adminGrant.id, scopes: ["clients:read"], allowAllScopes: false }, updateMask: ["scopes", "allow_all_scopes"] });
      await barrier(a, [b, c]);

      const outcomes = await Promise.allSettled([xOnA.clients.deleteClient({ clientId: y.id }), yOnB.clients.deleteClient({ clientId: x.id })]);
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      // The other is refused: the last administrator (FAILED_PRECONDITION), or its caller already deleted (UNAUTHENTICATED).
      const refused = outcomes.find((o) => o.status === "rejected")!.reason as grpc.ServiceError;
      expect([grpc.status.FAILED_PRECONDITION, grpc.status.UNAUTHENTICATED]).toContain(refused.code);
      await barrier(a, [b, c]);
      const ids = (await c.api.clients.listClients({ pageSize: 500 })).clients.map((k) => k.clientId);
      expect([x.id, y.id].filter((id) => ids.includes(id))).toHaveLength(1);

      // The survivor restores the bootstrap admin, whose token is issued again (the narrowing applied to the old one).
      const survivor = outcomes[0]!.status === "fulfilled" ? xOnA : yOnB;
      await survivor.grants.updateGrant({ grant: { id: adminGrant.id, scopes: [], allowAllScopes: true }, updateMask: ["scopes", "allow_all_scopes"] });
      adminToken = await issued(a, admin, MANAGEMENT_AUDIENCE);
      await barrier(a, [b, c]);
    } finally {
      xOnA.close();
      yOnB.close();
    }
  });

  test("a permission removed on one replica while grants naming it are created on another: no grant keeps it", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const pairs = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const identifier = `https://inventory-${randomBytes(4).toString("hex")}.example.com`;
        const { apiServer } = await a.api.apiServers.createApiServer({ apiServer: { name: `Inventory ${identifier.slice(18, 26)}`, identifier, permissions: [{ value: "stock:read" }, { value: "stock:write" }] } });
        const { client: k } = await a.api.clients.createClient({ client: { name: `svc-${randomBytes(4).toString("hex")}` } });
        return { apiServer: apiServer!, clientId: k!.clientId };
      }),
    );
    await barrier(a, [b, c]);
    // Each pair at once: A removes stock:write from the API server, B grants it. Either the grant is refused (the
    // permission is gone) or made first and then stripped; without turns, both read the other's rows before it committed.
    const outcomes = await Promise.all(
      pairs.map(({ apiServer, clientId }) =>
        Promise.allSettled([
          a.api.apiServers.updateApiServer({ apiServer: { id: apiServer.id, permissions: [{ value: "stock:read" }] }, updateMask: ["permissions"] }),
          b.api.grants.createGrant({ grant: { clientId, apiServerId: apiServer.id, scopes: ["stock:read", "stock:write"] } }),
        ]),
      ),
    );
    for (const [removal, grant] of outcomes) {
      expect(removal.status).toBe("fulfilled");
      if (grant.status === "rejected") expect((grant.reason as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    await barrier(a, [b, c]);
    for (const { apiServer, clientId } of pairs) {
      const { grants } = await c.api.grants.listGrants({ apiServerId: apiServer.id });
      for (const g of grants) expect({ clientId: g.clientId, scopes: g.scopes }).toEqual({ clientId, scopes: ["stock:read"] });
      // Put back, the permission is in no grant: it was removed from every one.
      await a.api.apiServers.updateApiServer({ apiServer: { id: apiServer.id, permissions: [{ value: "stock:read" }, { value: "stock:write" }] }, updateMask: ["permissions"] });
      expect((await b.api.grants.listGrants({ apiServerId: apiServer.id })).grants.flatMap((g) => g.scopes)).not.toContain("stock:write");
    }
  });

  test("a client assertion's jti and a refresh token used on one replica are refused on the others", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const { client: keyed } = await a.api.clients.createClient({
      client: { name: "keyed", tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT, jwks: { keys: [jwk] } },
    });
    await a.api.grants.createGrant({ grant: { clientId: keyed!.clientId, apiServerId: orders.id, allowAllScopes: true } });
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ jti: `j-${randomBytes(8).toString("hex")}` })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(keyed!.clientId)
      .setSubject(keyed!.clientId)
      .setAudience(`${ISSUER}/oauth/token`)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    const withAssertion = { grant_type: "client_credentials", audience: orders.identifier, client_id: keyed!.clientId, client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion };
    expect((await oauth(a, "/oauth/token", withAssertion)).status).toBe(200);
    for (const r of [b, c]) {
      const replay = await oauth(r, "/oauth/token", withAssertion);
      expect(replay.status, r.name).toBe(401);
      expect(replay.json.error).toBe("invalid_client");
    }

    const { apiServer: offline } = await a.api.apiServers.createApiServer({
      apiServer: { name: "Offline", identifier: `https://offline-${randomBytes(4).toString("hex")}.example.com`, allowOfflineAccess: true, refreshTokenLifetimeSeconds: 3600, permissions: [{ value: "r" }] },
    });
    const refresher = await client(a, offline!.id, [], { grantTypes: ["client_credentials", "refresh_token"] });
    const first = await token(a, refresher, offline!.identifier);
    const rt1 = first.json.refresh_token as string;
    expect(rt1).toMatch(/^rt_/);
    const second = await oauth(b, "/oauth/token", { grant_type: "refresh_token", refresh_token: rt1 }, refresher);
    expect(second.status).toBe(200);
    // Reuse of the rotated token on a third replica: refused, and the whole family with it.
    const reuse = await oauth(c, "/oauth/token", { grant_type: "refresh_token", refresh_token: rt1 }, refresher);
    expect(reuse.json.error).toBe("invalid_grant");
    const family = await oauth(a, "/oauth/token", { grant_type: "refresh_token", refresh_token: second.json.refresh_token }, refresher);
    expect(family.json.error).toBe("invalid_grant");

    // Concurrent use of one refresh token on all three replicas: exactly one wins.
    const rt = (await token(a, refresher, offline!.identifier)).json.refresh_token as string;
    const raced = await Promise.all(replicas.map((r) => oauth(r, "/oauth/token", { grant_type: "refresh_token", refresh_token: rt }, refresher)));
    expect(raced.filter((x) => x.status === 200)).toHaveLength(1);
    expect(raced.filter((x) => x.json.error === "invalid_grant")).toHaveLength(2);
  });

  test("tokens_issued counts every issuance on every replica; replicas restarted on the same store create no second admin", async () => {
    const svc = await client(replicas[0]!, orders.id);
    await Promise.all(replicas.flatMap((r) => Array.from({ length: 10 }, () => issued(r, svc, orders.identifier))));
    // Counters are added in batches; a graceful stop flushes each replica's last batch.
    for (const r of replicas) r.api.close();
    expect(await Promise.all(replicas.map((r) => stop(r.process)))).toEqual([0, 0, 0]);
    replicas = await Promise.all(["a", "b", "c"].map(startReplica));
    expect(replicas.map((r) => banner(r.process.stderr))).toEqual([undefined, undefined, undefined]);
    const { client: counted } = await replicas[2]!.api.clients.getClient({ clientId: svc.id });
    expect(counted?.usage?.tokensIssued).toBe(30);
  }, 60_000);

  test("kill -9 of one replica under write load loses no acknowledged write, and the others keep serving", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const svc = await client(a, orders.id);
    const acked = new Map<string, string>(); // client id -> replica that acknowledged it
    const survivorsFailed: string[] = [];
    let stopLoad = false;
    let afterKill = 0;
    let killed = false;
    const writer = async (r: Replica) => {
      while (!stopLoad) {
        try {
          const res = await r.api.clients.createClient({ client: { name: `load-${randomBytes(4).toString("hex")}` } }, { timeoutMs: 5_000 });
          acked.set(res.client!.clientId, r.name);
          if (killed && r !== a) afterKill++;
          answered();
        } catch (err) {
          if (r !== a || !killed) survivorsFailed.push(`${r.name}: ${(err as grpc.ServiceError).code} ${(err as Error).message}`);
          if (r === a) return;
        }
      }
    };
    const issuer = async (r: Replica) => {
      while (!stopLoad) {
        const res = await token(r, svc, orders.identifier);
        if (res.status !== 200) survivorsFailed.push(`${r.name} token: ${res.status}`);
        answered();
      }
    };
    const ackedBy = (name: string) => [...acked.values()].filter((n) => n === name).length;
    const load = [writer(a), writer(a), writer(b), writer(b), issuer(c), issuer(b)];
    // Wait on the load itself: kill once A has acknowledged some writes, stop once B has acknowledged more after the kill.
    await until(() => ackedBy("a") >= 20, 20_000, "writes acknowledged by a");
    killed = true;
    a.process.proc.kill("SIGKILL");
    await a.process.exited;
    await until(() => afterKill >= 20, 20_000, "writes acknowledged by b after the kill");
    stopLoad = true;
    await Promise.all(load);

    expect(survivorsFailed).toEqual([]);
    for (const [clientId, by] of acked) {
      const found = await c.api.clients.getClient({ clientId }).catch((err: grpc.ServiceError) => err);
      expect(found instanceof Error ? `${clientId} acknowledged by ${by} is missing: ${found.message}` : "found").toBe("found");
    }
    // The replacement starts on the same store and sees everything.
    a.api.close();
    replicas[0] = await startReplica("a2");
    expect((await replicas[0].api.clients.getClient({ clientId: [...acked.keys()][0]! })).client).toBeDefined();
  }, 90_000);

  test("a PostgreSQL restart under load: replicas stay up, answer 503/UNAVAILABLE with Retry-After (never 401 or 500), keep issuing from memory, and recover by themselves", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const svc = await client(a, orders.id);
    await issued(b, svc, orders.identifier); // warm B's caches
    const statuses = new Map<string, number>();
    const count = (key: string) => (statuses.set(key, (statuses.get(key) ?? 0) + 1), answered());
    const seen = (key: string) => statuses.get(key) ?? 0;
    const badRetryAfter: string[] = [];
    let stopLoad = false;
    const issuing = async () => {
      while (!stopLoad) {
        const res = await token(b, svc, orders.identifier);
        count(`token ${res.status}`);
        if (res.status === 503 && !/^\d+$/.test(res.headers.get("retry-after") ?? "")) badRetryAfter.push(JSON.stringify(res.json));
      }
    };
    const writing = async () => {
      while (!stopLoad) {
        const r = await c.api.apiServers.createApiServer({ apiServer: { name: "During", identifier: `https://during-${randomBytes(4).toString("hex")}.example.com` } }, { timeoutMs: 10_000 }).then(
          () => "OK",
          (err: grpc.ServiceError) => grpc.status[err.code],
        );
        count(`write ${r}`);
      }
    };
    const load = [issuing(), issuing(), writing()];
    await until(() => seen("write OK") >= 5, 20_000, "writes before the restart");
    await pg.down();
    // While it is down: writes are refused as unavailable, and tokens keep coming from memory.
    const issuedBefore = seen("token 200");
    await until(() => seen("write UNAVAILABLE") >= 3 && seen("token 200") >= issuedBefore + 20, 20_000, "answers while PostgreSQL is down");
    await pg.up();
    stopLoad = true;
    await Promise.all(load);

    // Every answer was a success or "temporarily unavailable"; none was a bad-credentials or internal error.
    const kinds = [...statuses.keys()].sort();
    expect(kinds.every((k) => ["token 200", "token 503", "write OK", "write UNAVAILABLE"].includes(k)), JSON.stringify(Object.fromEntries(statuses))).toBe(true);
    expect(badRetryAfter).toEqual([]);
    for (const r of replicas) expect(r.process.proc.exitCode, r.name).toBeNull();

    // Recovery without a restart of the replicas: a write on one is in force on the others again.
    const deadline = Date.now() + 30_000;
    let recovered: unknown;
    while (Date.now() < deadline) {
      recovered = await a.api.apiServers.createApiServer({ apiServer: { name: "After", identifier: `https://after-${randomBytes(4).toString("hex")}.example.com` } }).then(
        (x) => x,
        () => undefined,
      );
      if (recovered) break;
    }
    expect(recovered).toBeDefined();
    await barrier(a, [b, c]);
    expect((await token(c, svc, orders.identifier)).status).toBe(200);
  }, 120_000);
});

/** Load loops report each answer here; a test waits on them for a condition, with a deadline. */
const progress = new EventEmitter();
const answered = () => progress.emit("answer");

function until(ready: () => boolean, deadlineMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      progress.off("answer", check);
      err ? reject(err) : resolve();
    };
    const check = () => ready() && done();
    const timer = setTimeout(() => done(new Error(`no ${what} within ${deadlineMs} ms`)), deadlineMs);
    progress.on("answer", check);
    check();
  });
}
