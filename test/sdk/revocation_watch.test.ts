// Revocation watch against an in-test grpc-js double of RevocationService:
// events applied (each subject format, claims change), cursor resume after a
// dropped stream, fail closed / open after maxStaleSeconds, resync gaps; the
// local view's memory bound; the HTTP (NDJSON) transport.
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CAEP_EVENT_TYPES,
  createVerifier,
  RevocationView,
  RevocationWatch,
  TokenVerificationError,
  type RevocationWatchError,
  type RevocationWatchOptions,
  type Verifier,
} from "../../sdk/src/index.js";
import type { RevocationEvent } from "../../sdk/src/gen/authz/v1/revocation.js";
import { AUDIENCE, claimsAt, FakeAuthServer, ISSUER, makeKey, ManualClock, sign, silentWatchTransport, until, type TestKey } from "./helpers.js";
import { RevocationDouble } from "./revocation_double.js";

const { sessionRevoked, credentialChange, tokenClaimsChange } = CAEP_EVENT_TYPES;
const iso = (ms: number) => new Date(ms).toISOString();

let key: TestKey;
let auth: FakeAuthServer;
beforeAll(async () => {
  key = await makeKey("ES256");
  auth = new FakeAuthServer(key);
});

let double: RevocationDouble;
let clock: ManualClock;
const cleanups: Array<() => Promise<void> | void> = [];
beforeEach(async () => {
  double = await new RevocationDouble().start();
  clock = new ManualClock(Date.now(), true); // manual time, real (short) sleeps for reconnects
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await double.stop();
});

function watchAndVerifier(extra: Partial<RevocationWatchOptions> = {}, introspect?: Parameters<typeof createVerifier>[0]["introspect"]) {
  const errors: RevocationWatchError[] = [];
  const events: RevocationEvent[] = [];
  const watch = new RevocationWatch({
    address: double.address,
    token: async () => "mgmt-token",
    failMode: "closed",
    maxStaleSeconds: 30,
    clock,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    onError: (e) => errors.push(e),
    onEvents: (e) => events.push(...e),
    ...extra,
  });
  const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: auth.fetch, clock, watch, introspect });
  cleanups.push(() => watch.stop());
  return { watch, verifier, errors, events };
}

async function codeOf(verifier: Verifier, token: string): Promise<string | undefined> {
  try {
    await verifier.verify(token);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(TokenVerificationError);
    return (err as TokenVerificationError).code;
  }
}

const tokenFor = (clientId: string, issuedAt: number, extra: Record<string, unknown> = {}) =>
  sign(key, claimsAt(issuedAt, { client_id: clientId, sub: clientId, ...extra }));

describe("events applied", () => {
  it("jwt_id, client, client_audience, audience and token-claims-change", async () => {
    const { watch, verifier } = watchAndVerifier();
    expect(await watch.ready()).toBe(true);
    expect(double.requests[0]).toEqual({ cursor: "", audiences: [], authorization: "Bearer mgmt-token" });
    const now = clock.now();

    const byJti = await tokenFor("cl_1", now - 5_000);
    const sibling = await tokenFor("cl_1", now - 5_000);
    const cl2Before = await tokenFor("cl_2", now - 1);
    const cl2AtCutoff = await tokenFor("cl_2", now); // not *before* the cutoff: stays active
    const cl3 = await tokenFor("cl_3", now - 1_000);
    const cl4 = await tokenFor("cl_4", now - 1_000);
    for (const t of [byJti, sibling, cl2Before, cl2AtCutoff, cl3, cl4]) expect(await codeOf(verifier, t)).toBeUndefined();

    const jti = JSON.parse(Buffer.from(byJti.split(".")[1]!, "base64url").toString()).jti as string;
    double.push(
      { eventType: sessionRevoked, subject: { format: "jwt_id", jti }, reason: "token_revoked" },
      {
        eventType: credentialChange,
        subject: { format: "client", clientId: "cl_2" },
        tokensIssuedBefore: iso(now),
        reason: "secret_revoked",
        changeType: "revoke",
      },
      {
        eventType: sessionRevoked,
        subject: { format: "client_audience", clientId: "cl_3", audience: AUDIENCE },
        tokensIssuedBefore: iso(now),
        reason: "grant_deleted",
      },
      {
        eventType: tokenClaimsChange,
        subject: { format: "client_audience", clientId: "cl_4", audience: AUDIENCE },
        tokensIssuedBefore: iso(now),
        scopes: ["orders:read"],
        reason: "grant_narrowed",
      },
    );
    await until(() => watch.status().cursor === "c4", 5_000, "events applied");

    expect(await codeOf(verifier, byJti)).toBe("ERR_TOKEN_REVOKED");
    expect(await codeOf(verifier, sibling)).toBeUndefined();
    expect(await codeOf(verifier, cl2Before)).toBe("ERR_TOKEN_REVOKED");
    expect(await codeOf(verifier, cl2AtCutoff)).toBeUndefined();
    expect(await codeOf(verifier, cl3)).toBe("ERR_TOKEN_REVOKED");
    expect((await verifier.verify(cl4)).scopes).toEqual(["orders:read"]);
    // The claims change is for tokens issued before it: a new token keeps what it was given.
    clock.advance(1_000);
    expect((await verifier.verify(await tokenFor("cl_4", clock.now()))).scopes).toEqual(["orders:read", "orders:write"]);

    // client_audience is only that audience; audience is every client's token for it.
    const facts = (clientId: string, aud: string, issuedAtMs: number) => ({
      jti: `j-${Math.random()}`,
      clientId,
      audience: [aud],
      issuedAtMs,
      expiresAtMs: issuedAtMs + 3600_000,
      scopes: [],
    });
    expect(watch.check(facts("cl_3", "https://billing.test", now - 1_000)).status).toBe("active");
    double.push({
      eventType: sessionRevoked,
      subject: { format: "audience", audience: "https://billing.test" },
      tokensIssuedBefore: iso(now),
      reason: "api_server_deleted",
    });
    await until(() => watch.status().cursor === "c5");
    expect(watch.check(facts("cl_9", "https://billing.test", now - 1_000))).toEqual({ status: "revoked", reason: "api_server_deleted" });
    expect(watch.check(facts("cl_9", "https://billing.test", now + 1)).status).toBe("active");
    expect(watch.check(facts("cl_9", AUDIENCE, now - 1_000)).status).toBe("active");
  });

  it("issuance time comes from the jti's milliseconds, not iat's seconds", async () => {
    const { watch, verifier } = watchAndVerifier();
    await watch.ready();
    const second = Math.floor(clock.now() / 1000) * 1000;
    const early = await tokenFor("cl_5", second + 100);
    const late = await tokenFor("cl_5", second + 900); // same iat second
    double.push({ eventType: sessionRevoked, subject: { format: "client", clientId: "cl_5" }, tokensIssuedBefore: iso(second + 500) });
    await until(() => watch.status().cursor === "c1");
    expect(await codeOf(verifier, early)).toBe("ERR_TOKEN_REVOKED");
    expect(await codeOf(verifier, late)).toBeUndefined();
  });
});

describe("cursor resume", () => {
  it("reconnects with the last cursor after the server drops the stream; no event is lost or repeated", async () => {
    const { watch, events, errors } = watchAndVerifier();
    await watch.ready();
    double.push({ eventType: sessionRevoked, subject: { format: "jwt_id", jti: "a" } }, { eventType: sessionRevoked, subject: { format: "jwt_id", jti: "b" } });
    await until(() => watch.status().cursor === "c2");
    double.drop(grpc.status.UNAVAILABLE);
    double.push({ eventType: sessionRevoked, subject: { format: "jwt_id", jti: "c" } }); // while disconnected
    await until(() => watch.status().cursor === "c3", 5_000, "resume");
    double.push({ eventType: sessionRevoked, subject: { format: "jwt_id", jti: "d" } });
    await until(() => watch.status().cursor === "c4");
    expect(double.requests.map((r) => r.cursor)).toEqual(["", "c2"]);
    expect(events.map((e) => e.subject?.jti)).toEqual(["a", "b", "c", "d"]);
    expect(errors.map((e) => [e.code, e.grpcCode])).toEqual([["ERR_WATCH_STREAM", grpc.status.UNAVAILABLE]]);
    for (const jti of ["a", "b", "c", "d"])
      expect(watch.check({ jti, clientId: "x", audience: [AUDIENCE], issuedAtMs: 0, expiresAtMs: 0, scopes: [] }).status).toBe("revoked");
  });

  it("resumes from a persisted cursor (onCursor / cursor)", async () => {
    double.push(
      { eventType: sessionRevoked, subject: { format: "jwt_id", jti: "old-1" } },
      { eventType: sessionRevoked, subject: { format: "jwt_id", jti: "old-2" } },
    );
    const cursors: string[] = [];
    const { watch, events } = watchAndVerifier({ cursor: "c1", onCursor: (c) => cursors.push(c) });
    await watch.ready();
    expect(events.map((e) => e.subject?.jti)).toEqual(["old-2"]);
    expect(cursors).toEqual(["c2"]);
  });

  it("an expired cursor (OUT_OF_RANGE) resynchronises; tokens from before the gap are unknown", async () => {
    double.push({}, {}, {});
    double.retainedFrom = 2;
    const { watch, verifier, errors } = watchAndVerifier({ cursor: "c1" });
    expect(await watch.ready()).toBe(true);
    expect(double.requests.map((r) => r.cursor)).toEqual(["c1", ""]);
    expect(errors[0]?.code).toBe("ERR_WATCH_CURSOR_EXPIRED");
    const before = await tokenFor("cl_6", clock.now() - 1_000);
    expect(await codeOf(verifier, before)).toBe("ERR_REVOCATION_WATCH_DOWN");
    clock.advance(1_000);
    expect(await codeOf(verifier, await tokenFor("cl_6", clock.now()))).toBeUndefined();
  });

  it("UNAUTHENTICATED is reported and retried with a fresh token", async () => {
    let n = 0;
    double.refuseNext = { code: grpc.status.UNAUTHENTICATED, details: "expired" };
    const { watch, errors } = watchAndVerifier({ token: async () => `mgmt-${++n}` });
    expect(await watch.ready()).toBe(true);
    expect(errors.map((e) => e.grpcCode)).toEqual([grpc.status.UNAUTHENTICATED]);
    expect(double.requests.map((r) => r.authorization)).toEqual(["Bearer mgmt-1", "Bearer mgmt-2"]);
  });
});

describe("staleness", () => {
  it("fails closed after maxStaleSeconds without a message, and recovers on the next heartbeat", async () => {
    const { watch, verifier } = watchAndVerifier({ failMode: "closed", maxStaleSeconds: 30 });
    await watch.ready();
    const token = await tokenFor("cl_7", clock.now());
    expect(await codeOf(verifier, token)).toBeUndefined();
    clock.advance(30_000);
    expect(await codeOf(verifier, token)).toBeUndefined(); // exactly maxStale: not yet
    clock.advance(1_000);
    const err = (await verifier.verify(token).catch((e) => e)) as TokenVerificationError;
    expect(err.code).toBe("ERR_REVOCATION_WATCH_DOWN");
    expect(err.status).toBe(503);
    expect(watch.status().stale).toBe(true);
    double.heartbeat();
    await until(() => !watch.status().stale, 5_000, "heartbeat");
    expect(await codeOf(verifier, token)).toBeUndefined();
  });

  it("fails open by the explicit option; a known revocation still holds", async () => {
    const { watch, verifier } = watchAndVerifier({ failMode: "open", maxStaleSeconds: 30 });
    await watch.ready();
    const token = await tokenFor("cl_8", clock.now() - 10);
    const revoked = await tokenFor("cl_8b", clock.now() - 10);
    double.push({ eventType: sessionRevoked, subject: { format: "client", clientId: "cl_8b" }, tokensIssuedBefore: iso(clock.now()) });
    await until(() => watch.status().cursor === "c1");
    clock.advance(31_000);
    expect(watch.status().stale).toBe(true);
    expect(await codeOf(verifier, token)).toBeUndefined();
    expect(await codeOf(verifier, revoked)).toBe("ERR_TOKEN_REVOKED");
  });

  it("before any message, the staleness clock starts at start()", async () => {
    const { verifier } = watchAndVerifier({ transport: silentWatchTransport, failMode: "closed", maxStaleSeconds: 10 });
    const token = await tokenFor("cl_9", clock.now());
    expect(await codeOf(verifier, token)).toBeUndefined();
    clock.advance(10_001);
    expect(await codeOf(verifier, token)).toBe("ERR_REVOCATION_WATCH_DOWN");
  });

  it("resumed from a saved cursor, failing closed: nothing is vouched for until the catch-up has ended", async () => {
    const { verifier: resumed } = watchAndVerifier({ transport: silentWatchTransport, cursor: "c7" });
    // Whatever was revoked while this process was away is not in the view yet.
    expect(await codeOf(resumed, await tokenFor("cl_9", clock.now()))).toBe("ERR_REVOCATION_WATCH_DOWN");

    double.push({ eventType: sessionRevoked, subject: { format: "jwt_id", jti: "x" } });
    const { watch, verifier } = watchAndVerifier({ cursor: "c0" });
    expect(await watch.ready()).toBe(true);
    await until(() => !watch.status().stale, 5_000, "caught up");
    expect(await codeOf(verifier, await tokenFor("cl_9", clock.now()))).toBeUndefined();
  });

  it('"on-revocation-watch-down" introspects only while the watch cannot vouch', async () => {
    const introspected: string[] = [];
    const { watch, verifier } = watchAndVerifier(
      { maxStaleSeconds: 30 },
      {
        clientId: "cl_rs",
        clientSecret: "x",
        transport: {
          async introspect(token) {
            introspected.push(token);
            return { active: true, scope: "orders:read" };
          },
        },
      },
    );
    await watch.ready();
    const token = await tokenFor("cl_10", clock.now());
    expect((await verifier.verify(token)).introspected).toBe(false);
    clock.advance(31_000);
    const v = await verifier.verify(token);
    expect(v.introspected).toBe(true);
    expect(v.scopes).toEqual(["orders:read"]);
    expect(introspected).toEqual([token]);
  });
});

describe("the local view's memory", () => {
  it("caps jti entries (oldest first) and drops entries once their tokens must have expired", () => {
    const view = new RevocationView({ maxEntries: 3, maxTokenLifetimeSeconds: 3600 });
    const t0 = Date.UTC(2030, 0, 1);
    for (let i = 0; i < 5; i++)
      view.apply(
        {
          id: `e${i}`,
          eventType: sessionRevoked,
          subject: { format: "jwt_id", jti: `${(t0 + i).toString(36)}.r${i}`, clientId: "", audience: "" },
          scopes: [],
          reason: "token_revoked",
          changeType: "",
        },
        t0,
      );
    expect(view.size().jtis).toBe(3);
    const facts = (i: number) => ({
      jti: `${(t0 + i).toString(36)}.r${i}`,
      clientId: "c",
      audience: [AUDIENCE],
      issuedAtMs: t0 + i,
      expiresAtMs: t0 + i + 3600_000,
      scopes: [],
    });
    // Evicted by the cap, never forgotten silently: unknown (introspected, or refused failing closed), not active again.
    expect(view.check(facts(0), t0).status).toBe("unknown");
    expect(view.check(facts(1), t0).status).toBe("unknown");
    expect(view.check(facts(4), t0).status).toBe("revoked");
    expect(view.check({ ...facts(9), jti: "later" }, t0).status).toBe("active"); // issued after what was dropped
    view.apply(
      {
        id: "c",
        eventType: sessionRevoked,
        subject: { format: "client", clientId: "c", jti: "", audience: "" },
        tokensIssuedBefore: iso(t0),
        scopes: [],
        reason: "",
        changeType: "",
      },
      t0,
    );
    view.apply(
      {
        id: "s",
        eventType: tokenClaimsChange,
        subject: { format: "audience", audience: AUDIENCE, clientId: "", jti: "" },
        tokensIssuedBefore: iso(t0),
        scopes: ["a"],
        reason: "",
        changeType: "",
      },
      t0,
    );
    expect(view.size()).toMatchObject({ jtis: 3, clients: 1, scopeLimits: 1 });
    view.prune(t0 + 3600_000 + 61_000); // past the 1 h lifetime (+ skew allowance)
    expect(view.size()).toEqual({ jtis: 0, clients: 0, clientAudiences: 0, audiences: 0, scopeLimits: 0 });
  });

  it("a subject's scope narrowings over the cap are merged, never dropped: no scope comes back", () => {
    const view = new RevocationView({ maxTokenLifetimeSeconds: 3600 });
    const t0 = Date.UTC(2030, 0, 1);
    const narrow = (n: number, scopes: string[]) =>
      view.apply({ id: `n${n}`, eventType: tokenClaimsChange, subject: { format: "client_audience", clientId: "c", audience: AUDIENCE, jti: "" }, tokensIssuedBefore: iso(t0 + n), scopes, reason: "grant_narrowed", changeType: "" }, t0 + n);
    narrow(1, ["read"]); // admin takes "admin" away from tokens issued before t0+1
    for (let n = 2; n <= 20; n++) narrow(n, ["read", "admin"]); // later changes keep both (a re-widening sends none)
    const old = { jti: "j", clientId: "c", audience: [AUDIENCE], issuedAtMs: t0, expiresAtMs: t0 + 3600_000, scopes: ["read", "admin"] };
    expect(view.check(old, t0 + 30)).toEqual({ status: "active", scopes: ["read"] });
  });

  it("ignores unknown event types and subject formats (forward compatible)", () => {
    const view = new RevocationView();
    view.apply(
      {
        id: "x",
        eventType: "https://example.com/other",
        subject: { format: "jwt_id", jti: "j", clientId: "", audience: "" },
        scopes: [],
        reason: "",
        changeType: "",
      },
      0,
    );
    view.apply(
      { id: "y", eventType: sessionRevoked, subject: { format: "email", jti: "", clientId: "", audience: "" }, scopes: [], reason: "", changeType: "" },
      0,
    );
    expect(view.ignored).toBe(2);
    expect(view.size().jtis).toBe(0);
  });
});

describe("HTTP transport (newline-delimited JSON)", () => {
  let http: Server;
  let url: string;
  const queries: string[] = [];
  afterEach(
    () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  );

  it("reads messages line by line and resumes with ?cursor=", async () => {
    let connection = 0;
    http = createServer((req, res) => {
      queries.push(req.url ?? "");
      expect(req.headers.authorization).toBe("Bearer mgmt-token");
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      if (++connection === 1) {
        res.write(`${JSON.stringify({ events: [], cursor: "c0" })}\n`);
        res.write(
          `${JSON.stringify({ result: { events: [{ id: "e1", event_type: sessionRevoked, subject: { format: "jwt_id", jti: "h1" } }], cursor: "c1" } })}\n`,
        );
        res.end(); // the server ends the stream: the watch reconnects from c1
      } else {
        res.write(`${JSON.stringify({ events: [{ id: "e2", event_type: sessionRevoked, subject: { format: "jwt_id", jti: "h2" } }], cursor: "c2" })}\n`);
      }
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const watch = new RevocationWatch({
      url,
      token: async () => "mgmt-token",
      failMode: "closed",
      clock,
      reconnect: { initialDelayMs: 5 },
      audiences: [AUDIENCE],
    }).start();
    cleanups.push(() => watch.stop());
    await until(() => watch.status().cursor === "c2", 5_000, "second connection");
    expect(queries).toEqual([
      `/v1/revocations:watch?audiences=${encodeURIComponent(AUDIENCE)}`,
      `/v1/revocations:watch?cursor=c1&audiences=${encodeURIComponent(AUDIENCE)}`,
    ]);
    const f = (jti: string) => ({ jti, clientId: "x", audience: [AUDIENCE], issuedAtMs: 0, expiresAtMs: 0, scopes: [] });
    expect(watch.check(f("h1")).status).toBe("revoked");
    expect(watch.check(f("h2")).status).toBe("revoked");
  });
});
