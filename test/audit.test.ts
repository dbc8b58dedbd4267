import { afterAll, beforeAll, expect, test } from "vitest";
import { CreateApiServerRequest, UpdateApiServerRequest } from "../gen/authz/v1/api_server.js";
import { ListAuditEventsRequest } from "../gen/authz/v1/audit.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import type { ManualClock } from "../src/clock.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.cleanup());

const list = (fields: Partial<ListAuditEventsRequest> = {}) => t.clients.audit.listAuditEvents(ListAuditEventsRequest.fromPartial({ pageSize: 500, ...fields })).then((r) => r.events);

test("every management write is recorded with who, what, which and when", async () => {
  const s = await createApiServer(t);
  const { client } = await createClient(t);
  const g = await grant(t, client.clientId, s.id, []);
  await t.clients.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: s.id, name: "renamed" }, updateMask: ["name"] }));
  await t.clients.grants.deleteGrant({ id: g.id, etag: "" });
  const events = await list({ actor: t.adminClientId });
  const mine = events.filter((e) => [s.id, client.clientId, g.id].includes(e.resourceId)).map((e) => [e.method, e.resourceType, e.resourceId]);
  // Newest first.
  expect(mine).toEqual([
    ["authz.v1.GrantService/DeleteGrant", "grant", g.id],
    ["authz.v1.ApiServerService/UpdateApiServer", "api_server", s.id],
    ["authz.v1.GrantService/CreateGrant", "grant", g.id],
    ["authz.v1.ClientService/CreateClient", "client", client.clientId],
    ["authz.v1.ApiServerService/CreateApiServer", "api_server", s.id],
  ]);
  for (const e of events) {
    expect(e.actor).toBe(t.adminClientId);
    expect(e.result).toBe("OK");
    expect(Date.parse(e.time!)).toBeGreaterThan(0);
  }
});

test("a refused write leaves no audit row and no change", async () => {
  const s = await createApiServer(t);
  const before = (await list()).length;
  await rpcError(t.clients.apiServers.createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "", identifier: s.identifier } })));
  await rpcError(t.clients.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: s.id, name: "x", etag: "stale" }, updateMask: ["name"] })));
  await rpcError(t.clients.grants.deleteGrant({ id: "gr_missing", etag: "" }));
  expect((await list()).length).toBe(before);
  expect((await t.clients.apiServers.getApiServer({ id: s.id })).apiServer).toEqual(s);
});

test("reads are not audited; filters by resource and time; pagination", async () => {
  const s = await createApiServer(t);
  const before = (await list()).length;
  await t.clients.apiServers.getApiServer({ id: s.id });
  await t.clients.apiServers.listApiServers({ pageSize: 1, pageToken: "", filter: "" });
  expect((await list()).length).toBe(before);

  expect((await list({ resourceId: s.id })).map((e) => e.method)).toEqual(["authz.v1.ApiServerService/CreateApiServer"]);
  (t.clock as ManualClock).advance(3600);
  const cut = new Date(t.clock.now()).toISOString();
  const later = await createApiServer(t);
  expect((await list({ startTime: cut })).map((e) => e.resourceId)).toEqual([later.id]);
  expect((await list({ endTime: cut })).map((e) => e.resourceId)).not.toContain(later.id);

  const all = await list();
  const paged: string[] = [];
  let pageToken = "";
  do {
    const res = await t.clients.audit.listAuditEvents(ListAuditEventsRequest.fromPartial({ pageSize: 3, pageToken }));
    paged.push(...res.events.map((e) => e.id));
    pageToken = res.nextPageToken;
  } while (pageToken);
  expect(paged).toEqual(all.map((e) => e.id));
});

test("token issuance is counted per client (not audited row by row)", async () => {
  const s = await createApiServer(t);
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, s.id, []);
  const before = (await list()).length;
  for (let i = 0; i < 3; i++) await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: s.identifier }));
  const { client: got } = await t.clients.clients.getClient({ clientId: client.clientId });
  expect(got!.usage).toEqual({ tokensIssued: 3, lastIssueTime: new Date(t.clock.now()).toISOString() });
  expect((await list()).length).toBe(before);
});

test("filters are ids: too long or not visible ASCII is INVALID_ARGUMENT naming the field", async () => {
  for (const [fields, field] of [
    [{ actor: "a".repeat(129) }, "actor"],
    [{ actor: "cl_\n" }, "actor"],
    [{ resourceId: "gr_ x" }, "resource_id"],
  ] as const) {
    const err = await rpcError(t.clients.audit.listAuditEvents(ListAuditEventsRequest.fromPartial({ pageSize: 10, ...fields })));
    expect(err.code).toBe(3);
    expect(err.details).toContain(field);
  }
});
