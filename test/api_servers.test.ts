import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateApiServerRequest, TokenDialect, UpdateApiServerRequest, type ApiServer } from "../gen/authz/v1/api_server.js";
import { SigningAlg } from "../gen/authz/v1/common.js";
import { violatedFields, violations } from "./helpers/errors.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.cleanup());

let n = 0;
const ident = (p = "api") => `https://${p}-${++n}.example.com`;
const api = () => t.clients.apiServers;
const create = (fields: Partial<ApiServer> = {}) =>
  api().createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "Orders", identifier: ident(), permissions: [{ value: "orders:read" }], ...fields } })).then((r) => r.apiServer!);
const update = (apiServer: Partial<ApiServer>, updateMask: string[]) => api().updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer, updateMask })).then((r) => r.apiServer!);
const countAll = async () => (await api().listApiServers({ pageSize: 500, pageToken: "", filter: "" })).apiServers.length;

describe("the life of an API server", () => {
  test("create applies defaults; get, update (FieldMask), delete", async () => {
    const s = await create({ audiences: [ident("extra")], description: "orders" });
    expect(s).toMatchObject({ signingAlg: SigningAlg.SIGNING_ALG_ES256, tokenLifetimeSeconds: 86_400, tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN, refreshTokenLifetimeSeconds: 2_592_000, system: false });
    expect(s.id).toMatch(/^as_[A-Za-z0-9_-]{22}$/);
    expect(s.createTime).toBe(s.updateTime);
    expect(s.etag).toBeTruthy();
    expect((await api().getApiServer({ id: s.id })).apiServer).toEqual(s);

    const u = await update({ id: s.id, name: "Orders v2", description: "ignored: not in the mask", signingAlg: SigningAlg.SIGNING_ALG_EDDSA, enforcePolicies: true, permissions: [{ value: "orders:read", description: "" }, { value: "orders:write", description: "" }] }, ["name", "signing_alg", "enforce_policies", "permissions"]);
    expect(u).toMatchObject({ name: "Orders v2", description: "orders", signingAlg: SigningAlg.SIGNING_ALG_EDDSA, enforcePolicies: true });
    expect(u.permissions.map((p) => p.value)).toEqual(["orders:read", "orders:write"]);
    expect(u.etag).not.toBe(s.etag);

    await api().deleteApiServer({ id: s.id, etag: u.etag });
    expect((await rpcError(api().getApiServer({ id: s.id }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rpcError(api().deleteApiServer({ id: s.id, etag: "" }))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("identifier is immutable: an update naming it is rejected and nothing changes", async () => {
    const s = await create();
    const err = await rpcError(update({ id: s.id, identifier: ident(), name: "new" }, ["identifier", "name"]));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violations(err)).toContainEqual({ field: "update_mask", description: "identifier is immutable after create" });
    expect((await api().getApiServer({ id: s.id })).apiServer).toEqual(s);
  });

  test("a stale etag on update or delete is ABORTED", async () => {
    const s = await create();
    await update({ id: s.id, name: "changed", etag: s.etag }, ["name"]);
    expect((await rpcError(update({ id: s.id, name: "lost update", etag: s.etag }, ["name"]))).code).toBe(grpc.status.ABORTED);
    expect((await rpcError(api().deleteApiServer({ id: s.id, etag: s.etag }))).code).toBe(grpc.status.ABORTED);
    expect((await api().getApiServer({ id: s.id })).apiServer?.name).toBe("changed");
  });

  test("the built-in management API server exists and cannot be deleted or renamed in identifier", async () => {
    const { apiServers } = await api().listApiServers({ pageSize: 1, pageToken: "", filter: 'identifier = "urn:authz:management"' });
    const m = apiServers[0]!;
    expect(m.system).toBe(true);
    expect(m.permissions.map((p) => p.value)).toEqual(expect.arrayContaining(["api_servers:read", "api_servers:write", "clients:write", "grants:write", "keys:write", "tokens:introspect", "audit:read"]));
    expect((await rpcError(api().deleteApiServer({ id: m.id, etag: "" }))).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await rpcError(create({ identifier: "urn:authz:other" }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("validation: every bad field, all at once, and nothing written", () => {
  test.each<[string, Partial<ApiServer>, string]>([
    ["empty name", { name: "" }, "api_server.name"],
    ["name too long", { name: "x".repeat(201) }, "api_server.name"],
    ["name with control characters", { name: "a\u0007b" }, "api_server.name"],
    ["empty identifier", { identifier: "" }, "api_server.identifier"],
    ["identifier with a space", { identifier: "https://a b" }, "api_server.identifier"],
    ["identifier too long", { identifier: `https://${"a".repeat(600)}` }, "api_server.identifier"],
    ["reserved identifier namespace", { identifier: "urn:authz:x" }, "api_server.identifier"],
    ["audience repeating the identifier", { identifier: "https://same.example.com", audiences: ["https://same.example.com"] }, "api_server.audiences[0]"],
    ["duplicate audience", { audiences: ["https://d.example.com", "https://d.example.com"] }, "api_server.audiences[1]"],
    ["too many audiences", { audiences: Array.from({ length: 21 }, (_, i) => `https://many-${i}.example.com`) }, "api_server.audiences"],
    ["description too long", { description: "x".repeat(2001) }, "api_server.description"],
    ["permission with a space", { permissions: [{ value: "orders read", description: "" }] }, "api_server.permissions[0].value"],
    ["permission with a quote", { permissions: [{ value: 'orders:"read', description: "" }] }, "api_server.permissions[0].value"],
    ["empty permission", { permissions: [{ value: "", description: "" }] }, "api_server.permissions[0].value"],
    ["duplicate permission", { permissions: [{ value: "a:b", description: "" }, { value: "a:b", description: "" }] }, "api_server.permissions[1].value"],
    ["permission description too long", { permissions: [{ value: "a:b", description: "x".repeat(501) }] }, "api_server.permissions[0].description"],
    ["unknown signing alg", { signingAlg: 99 as SigningAlg }, "api_server.signing_alg"],
    ["unknown token dialect", { tokenDialect: 7 as TokenDialect }, "api_server.token_dialect"],
    ["lifetime too short", { tokenLifetimeSeconds: 59 }, "api_server.token_lifetime_seconds"],
    ["lifetime too long", { tokenLifetimeSeconds: 2_592_001 }, "api_server.token_lifetime_seconds"],
    ["refresh lifetime too long", { refreshTokenLifetimeSeconds: 31_536_001 }, "api_server.refresh_token_lifetime_seconds"],
    ["dynamic scope not a permission", { dynamicClientScopes: ["nope:read"] }, "api_server.dynamic_client_scopes[0]"],
  ])("%s -> %s", async (_name, fields, field) => {
    const before = await countAll();
    const err = await rpcError(create(fields));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(err)).toContain(field);
    expect(await countAll()).toBe(before);
  });

  test("several bad fields are all reported in one response", async () => {
    const err = await rpcError(create({ name: "", identifier: "", tokenLifetimeSeconds: 5, permissions: [{ value: "a b", description: "" }] }));
    expect(violatedFields(err)).toEqual(expect.arrayContaining(["api_server.name", "api_server.identifier", "api_server.token_lifetime_seconds", "api_server.permissions[0].value"]));
    expect(violations(err).length).toBeGreaterThanOrEqual(4);
  });

  test("lifetimes at their bounds are accepted", async () => {
    expect((await create({ tokenLifetimeSeconds: 60 })).tokenLifetimeSeconds).toBe(60);
    expect((await create({ tokenLifetimeSeconds: 2_592_000 })).tokenLifetimeSeconds).toBe(2_592_000);
  });

  test("update masks: empty, unknown and output-only paths are refused", async () => {
    const s = await create();
    for (const [mask, fragment] of [[[], "at least one"], [["colour"], "unknown field"], [["create_time"], "output only"], [["id"], "output only"]] as const) {
      const err = await rpcError(update({ id: s.id }, [...mask]));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(violations(err)[0]!.description).toContain(fragment);
    }
    expect((await rpcError(update({ id: "as_missing", name: "x" }, ["name"]))).code).toBe(grpc.status.NOT_FOUND);
  });
});

describe("uniqueness of identifiers and audiences", () => {
  test("duplicate identifier -> ALREADY_EXISTS", async () => {
    const s = await create();
    const err = await rpcError(create({ identifier: s.identifier }));
    expect(err.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(err.details).toContain(s.identifier);
  });

  test("an audience may not equal another server's identifier or audience, in either direction", async () => {
    const a = await create({ audiences: [ident("shared")] });
    expect((await rpcError(create({ audiences: [a.identifier] }))).code).toBe(grpc.status.ALREADY_EXISTS);
    expect((await rpcError(create({ identifier: a.audiences[0]! }))).code).toBe(grpc.status.ALREADY_EXISTS);
    expect((await rpcError(create({ audiences: [a.audiences[0]!] }))).code).toBe(grpc.status.ALREADY_EXISTS);
  });

  test("replacing audiences frees the old ones; a conflicting update changes nothing", async () => {
    const old = ident("old");
    const a = await create({ audiences: [old] });
    const b = await create();
    expect((await rpcError(update({ id: b.id, audiences: [old] }, ["audiences"]))).code).toBe(grpc.status.ALREADY_EXISTS);
    expect((await api().getApiServer({ id: b.id })).apiServer).toEqual(b);
    await update({ id: a.id, audiences: [ident("new")] }, ["audiences"]);
    expect((await update({ id: b.id, audiences: [old] }, ["audiences"])).audiences).toEqual([old]);
  });
});

describe("listing", () => {
  test("120 API servers page through with no duplicates or gaps, in creation order", async () => {
    const prefix = `https://page-${Date.now()}.example.com/`;
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push((await create({ identifier: `${prefix}${i}` })).id);
    for (const pageSize of [7, 0]) {
      const seen: string[] = [];
      let pageToken = "";
      do {
        const res = await api().listApiServers({ pageSize, pageToken, filter: `identifier = "${prefix}*"` });
        expect(res.apiServers.length).toBeLessThanOrEqual(pageSize || 50);
        seen.push(...res.apiServers.map((s) => s.id));
        pageToken = res.nextPageToken;
      } while (pageToken);
      expect(seen).toEqual(ids);
    }
  });

  test("filters: name exact, identifier prefix, conjunction", async () => {
    const tag = `f${Date.now()}`;
    await create({ name: `${tag}-a`, identifier: `https://${tag}.example.com/a` });
    await create({ name: `${tag}-b`, identifier: `https://${tag}.example.com/b` });
    const byName = await api().listApiServers({ pageSize: 0, pageToken: "", filter: `name = "${tag}-a"` });
    expect(byName.apiServers.map((s) => s.name)).toEqual([`${tag}-a`]);
    const byPrefix = await api().listApiServers({ pageSize: 0, pageToken: "", filter: `identifier = "https://${tag}.example.com/*"` });
    expect(byPrefix.apiServers).toHaveLength(2);
    const both = await api().listApiServers({ pageSize: 0, pageToken: "", filter: `identifier = "https://${tag}.example.com/*" AND name = "${tag}-b"` });
    expect(both.apiServers.map((s) => s.name)).toEqual([`${tag}-b`]);
  });

  test.each([
    ["bad filter syntax", { filter: "name ~ x" }, "filter"],
    ["unknown filter field", { filter: 'colour = "blue"' }, "filter"],
    ["page_size over 500", { pageSize: 501 }, "page_size"],
    ["negative page_size", { pageSize: -1 }, "page_size"],
    ["garbage page_token", { pageToken: "garbage" }, "page_token"],
  ])("%s -> INVALID_ARGUMENT on %s", async (_name, req, field) => {
    const err = await rpcError(api().listApiServers({ pageSize: 0, pageToken: "", filter: "", ...req }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(err)).toEqual([field]);
  });

  test("a page token is bound to its filter", async () => {
    for (let i = 0; i < 3; i++) await create({ name: "bound" });
    const first = await api().listApiServers({ pageSize: 1, pageToken: "", filter: 'name = "bound"' });
    expect(first.nextPageToken).toBeTruthy();
    const err = await rpcError(api().listApiServers({ pageSize: 1, pageToken: first.nextPageToken, filter: 'name = "other"' }));
    expect(violatedFields(err)).toEqual(["page_token"]);
  });
});
