// RevocationService.WatchRevocations from the outside: the generated gRPC
// client and plain HTTP (newline-delimited JSON through the gateway).
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UpdateClientRequest } from "../gen/authz/v1/client.js";
import { DeleteGrantRequest } from "../gen/authz/v1/grant.js";
import { RevocationServiceClient, WatchRevocationsRequest } from "../gen/authz/v1/revocation.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import { decodeJwt } from "jose";
import { MANAGEMENT_API_SERVER_ID } from "../src/domain/constants.js";
import { bearerInterceptor } from "../sdk/src/index.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { managementToken } from "./security/helpers.js";
import { openWatch } from "./helpers/watch.js";

const SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change";

let t: TestServer;
/** The resource server's API (the watcher has a grant on it) and another it has no access to. */
let orders: { id: string; identifier: string };
let billing: { id: string; identifier: string };
/** The watcher: tokens:introspect on the management API, a grant on `orders`. */
let watcherToken: string;
/** A client with grants on both APIs, whose tokens get revoked. */
let subject: { clientId: string; secret: string };

beforeAll(async () => {
  t = await startTestServer({ config: { watchHeartbeatSeconds: 1 } });
  orders = await createApiServer(t);
  billing = await createApiServer(t);
  const watcher = await createClient(t);
  await grant(t, watcher.client.clientId, MANAGEMENT_API_SERVER_ID, ["tokens:introspect"]);
  await grant(t, watcher.client.clientId, orders.id, ["orders:read"]);
  watcherToken = await managementToken(t, watcher.client.clientId, watcher.secret);
  const s = await createClient(t);
  subject = { clientId: s.client.clientId, secret: s.secret };
  await grant(t, s.client.clientId, orders.id, ["orders:read"]);
  await grant(t, s.client.clientId, billing.id, ["orders:read"]);
});
afterAll(() => t.cleanup());

const watch = (request: Partial<WatchRevocationsRequest> = {}, token = watcherToken) => openWatch(t.address, token, request);
const seqOf = (cursor: string) => parseInt(cursor.slice(1), 36);

async function issue(audience: string): Promise<string> {
  const res = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: subject.clientId, clientSecret: subject.secret }, audience }));
  return res.accessToken;
}

async function revoke(token: string): Promise<void> {
  await t.clients.tokens.revokeToken({ client: { clientId: subject.clientId, clientSecret: subject.secret, clientAssertion: "", clientAssertionType: "" }, token, tokenTypeHint: "" });
}

describe("over gRPC", () => {
  test("starts with a heartbeat at the feed's end, then pushes revocations of visible audiences only, in order", async () => {
    const w = watch();
    try {
      const first = await w.next();
      expect(first.events).toEqual([]);
      expect(first.cursor).toMatch(/^c[0-9a-z]+$/);

      const hidden = await issue(billing.identifier);
      const visible = await issue(orders.identifier);
      await revoke(hidden);
      await revoke(visible);
      // The billing revocation came first in the feed; the next event is still the orders one.
      const m = await w.nextEvents();
      expect(m.events).toHaveLength(1);
      const [event] = m.events;
      expect(event!.eventType).toBe(SESSION_REVOKED);
      expect(event!.reason).toBe("token_revoked");
      expect(event!.subject).toEqual({ format: "jwt_id", jti: decodeJwt(visible).jti, clientId: subject.clientId, audience: orders.identifier });
      expect(m.cursor > first.cursor || m.cursor.length > first.cursor.length).toBe(true);
    } finally {
      w.close();
    }
  });

  test("a client disabled: credential-change for the visible audience only; a grant deleted: session-revoked", async () => {
    const w = watch();
    try {
      await w.next();
      const s = await createClient(t);
      await grant(t, s.client.clientId, billing.id, []);
      const g = await grant(t, s.client.clientId, orders.id, ["orders:read"]);
      await t.clients.clients.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: s.client.clientId, disabled: true }, updateMask: ["disabled"] }));
      const disabled = await w.nextEvents();
      expect(disabled.events.map((e) => [e.eventType, e.reason, e.changeType, e.subject?.format, e.subject?.clientId, e.subject?.audience])).toEqual([
        [CREDENTIAL_CHANGE, "client_disabled", "revoke", "client_audience", s.client.clientId, orders.identifier],
      ]);
      expect(disabled.events[0]!.tokensIssuedBefore).toBeDefined();

      await t.clients.grants.deleteGrant(DeleteGrantRequest.fromPartial({ id: g.id }));
      const deleted = await w.nextEvents();
      expect(deleted.events.map((e) => [e.eventType, e.reason, e.subject?.clientId, e.subject?.audience])).toEqual([[SESSION_REVOKED, "grant_deleted", s.client.clientId, orders.identifier]]);
    } finally {
      w.close();
    }
  });

  test("a watcher that loses access to an API server gets no more of its events from the next heartbeat on", async () => {
    const leaving = await createClient(t);
    await grant(t, leaving.client.clientId, MANAGEMENT_API_SERVER_ID, ["tokens:introspect"]);
    const access = await grant(t, leaving.client.clientId, orders.id, ["orders:read"]);
    const w = watch({}, await managementToken(t, leaving.client.clientId, leaving.secret));
    const witness = watch();
    try {
      await Promise.all([w.next(), witness.next()]);
      const before = await issue(orders.identifier);
      await revoke(before);
      expect((await w.nextEvents()).events[0]!.subject!.jti).toBe(decodeJwt(before).jti);

      await t.clients.grants.deleteGrant(DeleteGrantRequest.fromPartial({ id: access.id }));
      expect((await w.nextEvents()).events[0]!.reason).toBe("grant_deleted"); // its own grant's end still reaches it
      // Two heartbeats: the visible set was read again after the deletion, and what it held before has aged out.
      await w.next();
      await w.next();
      const after = await issue(orders.identifier);
      await revoke(after);
      const seen = seqOf((await witness.untilJti(decodeJwt(after).jti!)).cursor);
      // Up to a heartbeat past the revocation, nothing but heartbeats.
      for (let m = await w.next(); ; m = await w.next()) {
        expect(m.events).toEqual([]);
        if (seqOf(m.cursor) >= seen) break;
      }
    } finally {
      w.close();
      witness.close();
    }
  });

  test("resuming from a cursor replays what happened since, from the store, then goes live", async () => {
    const first = watch();
    const start = (await first.next()).cursor;
    first.close();
    const a = await issue(orders.identifier);
    const b = await issue(orders.identifier);
    await revoke(a);
    await revoke(b);

    const resumed = watch({ cursor: start });
    try {
      const jtis = [(await resumed.nextEvents()).events[0]!.subject!.jti, (await resumed.nextEvents()).events[0]!.subject!.jti];
      expect(jtis).toEqual([decodeJwt(a).jti, decodeJwt(b).jti]);
      const caughtUp = await resumed.next();
      expect(caughtUp.events).toEqual([]);
      const c = await issue(orders.identifier);
      await revoke(c);
      expect((await resumed.nextEvents()).events[0]!.subject!.jti).toBe(decodeJwt(c).jti);
    } finally {
      resumed.close();
    }
  });

  test("a quiet stream sends heartbeats carrying the cursor", async () => {
    const w = watch();
    try {
      const first = await w.next();
      const beat = await w.next();
      expect(beat).toEqual({ events: [], cursor: first.cursor });
    } finally {
      w.close();
    }
  });

  test("refused: an audience the caller cannot see, a malformed cursor, a cursor older than the retention, no permission", async () => {
    const hidden = watch({ audiences: [billing.identifier] });
    expect((await hidden.failure()).code).toBe(grpc.status.PERMISSION_DENIED);
    hidden.close();

    const filtered = watch({ audiences: [orders.identifier] });
    expect((await filtered.next()).events).toEqual([]);
    filtered.close();

    for (const cursor of ["nope", "c", "C12", "c" + "z".repeat(12), "c" + "z".repeat(11)]) {
      const bad = watch({ cursor });
      const err = await bad.failure();
      expect(err.code, cursor).toBe(grpc.status.INVALID_ARGUMENT);
      bad.close();
    }
    const bad = watch({ audiences: ["not an identifier"] });
    expect((await bad.failure()).code).toBe(grpc.status.INVALID_ARGUMENT);
    bad.close();

    // Ahead of the feed (another deployment's cursor, a store restored from a backup): waiting there would miss every change before it.
    const now = await t.store.changes.latest();
    const ahead = watch({ cursor: `c${(now + 1000).toString(36)}` });
    const aheadErr = await ahead.failure();
    expect([aheadErr.code, aheadErr.details]).toEqual([grpc.status.OUT_OF_RANGE, expect.stringMatching(/ahead of the change feed; resynchronise/)]);
    ahead.close();
    const atEnd = watch({ cursor: `c${now.toString(36)}` });
    expect((await atEnd.next()).events).toEqual([]);
    atEnd.close();

    // Retention: drop every change but the newest, as the purge does once they are old enough.
    await t.store.changes.purge(t.clock.now() + 60_000);
    const expired = watch({ cursor: "c1" });
    const err = await expired.failure();
    expect(err.code).toBe(grpc.status.OUT_OF_RANGE);
    expect(err.details).toMatch(/resynchronise/);
    expired.close();

    const { client, secret } = await createClient(t);
    await grant(t, client.clientId, MANAGEMENT_API_SERVER_ID, ["clients:read"]);
    const lacking = watch({}, await managementToken(t, client.clientId, secret));
    expect((await lacking.failure()).code).toBe(grpc.status.PERMISSION_DENIED);
    lacking.close();
  });
});

describe("over HTTP", () => {
  /** Reads newline-delimited JSON messages from a streaming response. */
  async function* lines(res: Response): AsyncGenerator<any> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
        yield JSON.parse(buffered.slice(0, i));
        buffered = buffered.slice(i + 1);
      }
    }
  }

  test("GET /v1/revocations:watch streams newline-delimited JSON messages", async () => {
    const gone = new AbortController();
    const res = await fetch(`${t.httpUrl}/v1/revocations:watch`, { headers: { authorization: `Bearer ${watcherToken}` }, signal: gone.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const messages = lines(res);
    const first = (await messages.next()).value;
    expect(first).toEqual({ events: [], cursor: expect.stringMatching(/^c[0-9a-z]+$/) });
    const token = await issue(orders.identifier);
    await revoke(token);
    let m = (await messages.next()).value;
    while (m.events.length === 0) m = (await messages.next()).value;
    expect(m.events[0]).toMatchObject({ event_type: SESSION_REVOKED, reason: "token_revoked", subject: { format: "jwt_id", jti: decodeJwt(token).jti, audience: orders.identifier } });
    expect(m.events[0].event_time).toMatch(/^\d{4}-\d\d-\d\dT/);
    gone.abort();
  });

  test("refusals before the first message are ordinary HTTP errors", async () => {
    const none = await fetch(`${t.httpUrl}/v1/revocations:watch`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const hidden = await fetch(`${t.httpUrl}/v1/revocations:watch?audiences=${encodeURIComponent(billing.identifier)}`, { headers: { authorization: `Bearer ${watcherToken}` } });
    expect(hidden.status).toBe(403);
    const bad = await fetch(`${t.httpUrl}/v1/revocations:watch?cursor=nope`, { headers: { authorization: `Bearer ${watcherToken}` } });
    expect(bad.status).toBe(400);
    const status = await bad.json();
    const detail = status.details.find((d: { "@type": string }) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest");
    expect(detail.field_violations.map((v: { field: string }) => v.field)).toEqual(["cursor"]);
  });
});

test("shutting down ends open watches at once (UNAVAILABLE over gRPC; the HTTP body ends) instead of holding the grace period", async () => {
  const own = await startTestServer({ config: { shutdownGraceSeconds: 30 } });
  try {
    const api = await createApiServer(own);
    const c = await createClient(own);
    await grant(own, c.client.clientId, MANAGEMENT_API_SERVER_ID, ["tokens:introspect"]);
    await grant(own, c.client.clientId, api.id, []);
    const token = await managementToken(own, c.client.clientId, c.secret);
    const client = new RevocationServiceClient(own.address, grpc.credentials.createInsecure(), { interceptors: [bearerInterceptor(async () => token)] });
    const call = client.watchRevocations(WatchRevocationsRequest.fromPartial({}));
    const failed = new Promise<grpc.ServiceError>((resolve) => call.on("error", resolve));
    await new Promise((resolve) => call.once("data", resolve));
    const http = await fetch(`${own.httpUrl}/v1/revocations:watch`, { headers: { authorization: `Bearer ${token}` } });
    const body = http.text();

    const started = Date.now();
    await own.stop();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await failed).code).toBe(grpc.status.UNAVAILABLE);
    expect(await body).toMatch(/^\{"events":\[\],"cursor":"c[0-9a-z]+"\}\n$/);
    client.close();
  } finally {
    await own.cleanup();
  }
}, 20_000);
