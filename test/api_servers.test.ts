import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ApiServer as ApiServerCodec, CreateApiServerRequest, ListApiServersRequest, TokenDialect, UpdateApiServerRequest, type ApiServer } from "../gen/authz/v1/api_server.js";
import { CreateClientRequest, ListClientsRequest } from "../gen/authz/v1/client.js";
import { SigningAlg } from "../gen/authz/v1/common.js";
import { ManualClock } from "../src/clock.js";
import { statusOf, violatedFields, violations } from "./helpers/errors.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
const clock = new ManualClock(Date.UTC(2026, 0, 1));
beforeAll(async () => {
  t = await startTestServer({ clock });
});
afterAll(() => t.cleanup());

let n = 0;
const ident = (p = "api") => `https://${p}-${++n}.example.com`;
const api = () => t.clients.apiServers;
const create = (fields: Partial<ApiServer> = {}) =>
  api().createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "Orders", identifier: ident(), permissions: [{ value: "orders:read" }], ...fields } })).then((r) => r.apiServer!);
const get = (id: string) => api().getApiServer({ id }).then((r) => r.apiServer!);
const update = (apiServer: Partial<ApiServer>, updateMask: string[]) => api().updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer, updateMask })).then((r) => r.apiServer!);
const list = (req: Partial<ListApiServersRequest>) => api().listApiServers(ListApiServersRequest.fromPartial(req));
const countAll = async () => {
  let count = 0;
  let pageToken = "";
  do {
    const page = await list({ pageSize: 500, pageToken });
    count += page.apiServers.length;
    pageToken = page.nextPageToken;
  } while (pageToken);
  return count;
};
/** Every id in list order, following page tokens. */
async function listAll(filter: string, pageSize: number): Promise<string[]> {
  const seen: string[] = [];
  let pageToken = "";
  do {
    const res = await list({ pageSize, pageToken, filter });
    expect(res.apiServers.length).toBeLessThanOrEqual(pageSize || 50);
    seen.push(...res.apiServers.map((s) => s.id));
    pageToken = res.nextPageToken;
  } while (pageToken);
  return seen;
}

describe("the life of an API server", () => {
  test("create applies defaults; get, update (FieldMask), delete", async () => {
    const s = await create({ audiences: [ident("extra")], description: "orders" });
    expect(s).toMatchObject({ signingAlg: SigningAlg.SIGNING_ALG_ES256, tokenLifetimeSeconds: 86_400, tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN, refreshTokenLifetimeSeconds: 2_592_000, system: false });
    expect(s.id).toMatch(/^as_[A-Za-z0-9_-]{22}$/);
    expect(s.createTime).toBe(new Date(clock.now()).toISOString());
    expect(s.createTime).toBe(s.updateTime);
    expect(s.etag).toBeTruthy();
    expect(await get(s.id)).toEqual(s);

    clock.advance(90);
    const u = await update({ id: s.id, name: "Orders v2", description: "ignored: not in the mask", signingAlg: SigningAlg.SIGNING_ALG_EDDSA, enforcePolicies: true, permissions: [{ value: "orders:read", description: "" }, { value: "orders:write", description: "" }] }, ["name", "signing_alg", "enforce_policies", "permissions"]);
    expect(u).toMatchObject({ name: "Orders v2", description: "orders", signingAlg: SigningAlg.SIGNING_ALG_EDDSA, enforcePolicies: true, createTime: s.createTime });
    expect(u.updateTime).toBe(new Date(clock.now()).toISOString());
    expect(u.permissions.map((p) => p.value)).toEqual(["orders:read", "orders:write"]);
    expect(u.etag).not.toBe(s.etag);
    expect(await get(s.id)).toEqual(u);

    await api().deleteApiServer({ id: s.id, etag: u.etag });
    expect((await rpcError(get(s.id))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rpcError(api().deleteApiServer({ id: s.id, etag: "" }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rpcError(update({ id: s.id, name: "x" }, ["name"]))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("every field round-trips: create with all of them set, read back equal", async () => {
    const s = await create({
      name: "Billing",
      audiences: [ident("b1"), ident("b2")],
      description: "Invoices and payments",
      permissions: [
        { value: "invoices:read", description: "Read invoices" },
        { value: "invoices:write", description: "Write invoices" },
      ],
      signingAlg: SigningAlg.SIGNING_ALG_RS256,
      tokenLifetimeSeconds: 3_600,
      tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ,
      enforcePolicies: true,
      allowOfflineAccess: true,
      refreshTokenLifetimeSeconds: 7_200,
      skipConsent: true,
      dynamicClientAccess: true,
      dynamicClientScopes: ["invoices:read"],
    });
    expect(s).toMatchObject({
      name: "Billing",
      description: "Invoices and payments",
      signingAlg: SigningAlg.SIGNING_ALG_RS256,
      tokenLifetimeSeconds: 3_600,
      tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ,
      enforcePolicies: true,
      allowOfflineAccess: true,
      refreshTokenLifetimeSeconds: 7_200,
      skipConsent: true,
      dynamicClientAccess: true,
      dynamicClientScopes: ["invoices:read"],
      system: false,
    });
    expect(s.audiences).toHaveLength(2);
    expect(s.permissions).toEqual([
      { value: "invoices:read", description: "Read invoices" },
      { value: "invoices:write", description: "Write invoices" },
    ]);
    expect(await get(s.id)).toEqual(s);
    const listed = await list({ filter: `identifier = "${s.identifier}"` });
    expect(listed.apiServers).toEqual([s]);
  });

  test("every updatable field in one mask; fields outside the mask, and the identifier, keep their values", async () => {
    const s = await create({ description: "before", audiences: [ident("keep")] });
    clock.advance(5);
    const next = {
      id: s.id,
      identifier: ident("ignored"), // not in the mask: ignored, not an error
      name: "Renamed",
      audiences: [ident("a1")],
      description: "after",
      permissions: [{ value: "p:one", description: "one" }, { value: "p:two", description: "" }],
      signingAlg: SigningAlg.SIGNING_ALG_EDDSA,
      tokenLifetimeSeconds: 120,
      tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ,
      enforcePolicies: true,
      allowOfflineAccess: true,
      refreshTokenLifetimeSeconds: 600,
      skipConsent: true,
      dynamicClientAccess: true,
      dynamicClientScopes: ["p:two"],
    };
    const mask = ["name", "audiences", "description", "permissions", "signing_alg", "token_lifetime_seconds", "token_dialect", "enforce_policies", "allow_offline_access", "refresh_token_lifetime_seconds", "skip_consent", "dynamic_client_access", "dynamic_client_scopes"];
    const u = await update(next, mask);
    const { id: _id, identifier: _ignored, ...expected } = next;
    expect(u).toMatchObject({ ...expected, identifier: s.identifier, createTime: s.createTime });
    expect(u.updateTime! > s.updateTime!).toBe(true);
    expect(await get(s.id)).toEqual(u);

    // Zero values reset to the defaults, as on create ("0 means the default").
    const reset = await update({ id: s.id }, ["token_lifetime_seconds", "refresh_token_lifetime_seconds", "signing_alg", "token_dialect"]);
    expect(reset).toMatchObject({ tokenLifetimeSeconds: 86_400, refreshTokenLifetimeSeconds: 2_592_000, signingAlg: SigningAlg.SIGNING_ALG_ES256, tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN });
    // Masking a repeated field with an empty value clears it.
    const cleared = await update({ id: s.id }, ["audiences", "dynamic_client_scopes"]);
    expect(cleared.audiences).toEqual([]);
    expect(cleared.dynamicClientScopes).toEqual([]);
  });

  test("a missing id is INVALID_ARGUMENT naming the field (get, delete, update)", async () => {
    const g = await rpcError(get(""));
    expect(g.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(g)).toEqual(["id"]);
    expect(violatedFields(await rpcError(api().deleteApiServer({ id: "", etag: "" })))).toEqual(["id"]);
    // Reported together with the other problems of the request.
    const u = await rpcError(update({ name: "x" }, []));
    expect(violatedFields(u).sort()).toEqual(["api_server.id", "update_mask"]);
  });

  test("deleting frees the identifier and the audiences for reuse", async () => {
    const s = await create({ audiences: [ident("freed")] });
    await api().deleteApiServer({ id: s.id, etag: "" });
    const again = await create({ identifier: s.identifier, audiences: s.audiences });
    expect(again.id).not.toBe(s.id);
    expect(again.identifier).toBe(s.identifier);
  });
});

describe("the identifier is immutable", () => {
  test("an update naming it is rejected, alone or with other paths, and nothing changes", async () => {
    const s = await create();
    for (const mask of [["identifier"], ["identifier", "name"]]) {
      const err = await rpcError(update({ id: s.id, identifier: ident(), name: "new" }, mask));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(violations(err)).toContainEqual({ field: "update_mask", description: "identifier is immutable after create" });
    }
    expect(await get(s.id)).toEqual(s);
  });
});

describe("etags", () => {
  test("the current etag lets an update and a delete through; a stale one is ABORTED and changes nothing", async () => {
    const s = await create();
    const u = await update({ id: s.id, name: "changed", etag: s.etag }, ["name"]);
    const stale = await rpcError(update({ id: s.id, name: "lost update", etag: s.etag }, ["name"]));
    expect(stale.code).toBe(grpc.status.ABORTED);
    expect(stale.details).toContain("etag");
    expect((await rpcError(api().deleteApiServer({ id: s.id, etag: s.etag }))).code).toBe(grpc.status.ABORTED);
    expect((await rpcError(api().deleteApiServer({ id: s.id, etag: "not-an-etag" }))).code).toBe(grpc.status.ABORTED);
    expect(await get(s.id)).toEqual(u);
    await api().deleteApiServer({ id: s.id, etag: u.etag });
    expect((await rpcError(get(s.id))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("an empty etag skips the check; every update changes the etag", async () => {
    const s = await create();
    const a = await update({ id: s.id, name: "a" }, ["name"]);
    const b = await update({ id: s.id, name: "a" }, ["name"]); // same values: still a new version
    expect(new Set([s.etag, a.etag, b.etag]).size).toBe(3);
  });
});

describe("the built-in management API server", () => {
  const management = async () => (await list({ pageSize: 1, filter: 'identifier = "urn:authz:management"' })).apiServers[0]!;

  test("exists with the management permissions and cannot be deleted", async () => {
    const m = await management();
    expect(m.system).toBe(true);
    expect(m.permissions.map((p) => p.value)).toEqual(expect.arrayContaining(["api_servers:read", "api_servers:write", "clients:write", "grants:write", "keys:write", "tokens:introspect", "audit:read"]));
    const err = await rpcError(api().deleteApiServer({ id: m.id, etag: "" }));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await get(m.id)).toEqual(m);
  });

  test("it is immutable but for its description: no permission change, no dynamic access, no longer lifetime", async () => {
    const m = await management();
    const fewer = m.permissions.filter((p) => p.value !== "api_servers:write");
    const removed = await rpcError(update({ id: m.id, permissions: fewer }, ["permissions"]));
    expect(removed.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(removed.details).toContain("permissions");
    const dynamic = await rpcError(update({ id: m.id, dynamicClientAccess: true }, ["dynamic_client_access"]));
    expect(dynamic.code).toBe(grpc.status.FAILED_PRECONDITION);
    const longer = await rpcError(update({ id: m.id, tokenLifetimeSeconds: 2_592_000, name: "mine" }, ["token_lifetime_seconds", "name"]));
    expect(longer.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(longer.details).toMatch(/token_lifetime_seconds, name/);
    const alias = await rpcError(update({ id: m.id, tokenLifetime: 2_592_000 }, ["token_lifetime"]));
    expect(alias.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await get(m.id)).toEqual(m);
    // The admin still manages API servers.
    expect((await create()).id).toBeTruthy();
    // Harmless changes are allowed.
    const renamed = await update({ id: m.id, description: "ours" }, ["description"]);
    expect(renamed.description).toBe("ours");
  });

  test("the urn:authz: namespace is reserved for identifiers and audiences", async () => {
    const byIdentifier = await rpcError(create({ identifier: "urn:authz:other" }));
    expect(byIdentifier.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violations(byIdentifier)).toEqual([{ field: "api_server.identifier", description: "the urn:authz: namespace is reserved" }]);
    expect(violatedFields(await rpcError(create({ audiences: ["urn:authz:management"] })))).toEqual(["api_server.audiences[0]"]);
  });
});

describe("validation: every bad field, all at once, and nothing written", () => {
  test.each<[string, Partial<ApiServer>, string]>([
    ["empty name", { name: "" }, "api_server.name"],
    ["blank name", { name: "   " }, "api_server.name"],
    ["name too long", { name: "x".repeat(201) }, "api_server.name"],
    ["name with control characters", { name: "a\u0007b" }, "api_server.name"],
    ["empty identifier", { identifier: "" }, "api_server.identifier"],
    ["identifier with a space", { identifier: "https://a b" }, "api_server.identifier"],
    ["identifier with non-ASCII", { identifier: "https://bücher.example" }, "api_server.identifier"],
    ["identifier too long", { identifier: `https://${"a".repeat(600)}` }, "api_server.identifier"],
    ["reserved identifier namespace", { identifier: "urn:authz:x" }, "api_server.identifier"],
    ["audience repeating the identifier", { identifier: "https://same.example.com", audiences: ["https://same.example.com"] }, "api_server.audiences[0]"],
    ["duplicate audience", { audiences: ["https://d.example.com", "https://d.example.com"] }, "api_server.audiences[1]"],
    ["empty audience", { audiences: [""] }, "api_server.audiences[0]"],
    ["audience with a space", { audiences: ["https://ok.example.com", "a b"] }, "api_server.audiences[1]"],
    ["too many audiences", { audiences: Array.from({ length: 21 }, (_, i) => `https://many-${i}.example.com`) }, "api_server.audiences"],
    ["description too long", { description: "x".repeat(2001) }, "api_server.description"],
    ["permission with a space", { permissions: [{ value: "orders read", description: "" }] }, "api_server.permissions[0].value"],
    ["permission with a quote", { permissions: [{ value: 'orders:"read', description: "" }] }, "api_server.permissions[0].value"],
    ["permission with a backslash", { permissions: [{ value: "orders\\read", description: "" }] }, "api_server.permissions[0].value"],
    ["permission too long", { permissions: [{ value: "p".repeat(281), description: "" }] }, "api_server.permissions[0].value"],
    ["empty permission", { permissions: [{ value: "", description: "" }] }, "api_server.permissions[0].value"],
    ["duplicate permission", { permissions: [{ value: "a:b", description: "" }, { value: "a:b", description: "" }] }, "api_server.permissions[1].value"],
    ["too many permissions", { permissions: Array.from({ length: 501 }, (_, i) => ({ value: `p:${i}`, description: "" })) }, "api_server.permissions"],
    ["permission description too long", { permissions: [{ value: "a:b", description: "x".repeat(501) }] }, "api_server.permissions[0].description"],
    ["unknown signing alg", { signingAlg: 99 as SigningAlg }, "api_server.signing_alg"],
    ["unknown token dialect", { tokenDialect: 7 as TokenDialect }, "api_server.token_dialect"],
    ["lifetime too short", { tokenLifetimeSeconds: 59 }, "api_server.token_lifetime_seconds"],
    ["lifetime too long", { tokenLifetimeSeconds: 2_592_001 }, "api_server.token_lifetime_seconds"],
    ["refresh lifetime too short", { refreshTokenLifetimeSeconds: 1 }, "api_server.refresh_token_lifetime_seconds"],
    ["refresh lifetime too long", { refreshTokenLifetimeSeconds: 31_536_001 }, "api_server.refresh_token_lifetime_seconds"],
    ["dynamic scope not a permission", { dynamicClientScopes: ["nope:read"] }, "api_server.dynamic_client_scopes[0]"],
  ])("%s -> %s", async (_name, fields, field) => {
    const before = await countAll();
    const err = await rpcError(create(fields));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(err)).toEqual([field]);
    expect(violations(err)[0]!.description).not.toBe("");
    expect(await countAll()).toBe(before);
  });

  test("several bad fields are all reported in one response, each by its path", async () => {
    const before = await countAll();
    const err = await rpcError(
      create({
        name: "",
        identifier: "has space",
        audiences: ["", "https://dup.example.com", "https://dup.example.com"],
        description: "x".repeat(2001),
        permissions: [{ value: "a b", description: "" }, { value: "ok:read", description: "x".repeat(501) }],
        signingAlg: 42 as SigningAlg,
        tokenLifetimeSeconds: 5,
        tokenDialect: 9 as TokenDialect,
        refreshTokenLifetimeSeconds: 10,
        dynamicClientScopes: ["missing:scope"],
      }),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(err).sort()).toEqual(
      [
        "api_server.name",
        "api_server.identifier",
        "api_server.audiences[0]",
        "api_server.audiences[2]",
        "api_server.description",
        "api_server.permissions[0].value",
        "api_server.permissions[1].description",
        "api_server.signing_alg",
        "api_server.token_lifetime_seconds",
        "api_server.token_dialect",
        "api_server.refresh_token_lifetime_seconds",
        "api_server.dynamic_client_scopes[0]",
      ].sort(),
    );
    // The google.rpc.Status in grpc-status-details-bin agrees with the gRPC status.
    const status = statusOf(err)!;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.message).toBe(err.details);
    expect(await countAll()).toBe(before);
  });

  test("values at their bounds are accepted", async () => {
    const s = await create({
      name: "n".repeat(200),
      identifier: `https://${"i".repeat(592)}`,
      audiences: Array.from({ length: 20 }, () => ident("bound")),
      description: "d".repeat(2000),
      permissions: [{ value: "p".repeat(280), description: "x".repeat(500) }, { value: "a!#[]~", description: "" }],
      tokenLifetimeSeconds: 60,
      refreshTokenLifetimeSeconds: 31_536_000,
    });
    expect(s.identifier).toHaveLength(600);
    expect(s.audiences).toHaveLength(20);
    expect((await create({ tokenLifetimeSeconds: 2_592_000, refreshTokenLifetimeSeconds: 60 })).tokenLifetimeSeconds).toBe(2_592_000);
  });

  test("an invalid update reports every violation (merged resource), and nothing changes", async () => {
    const s = await create({ permissions: [{ value: "a:read", description: "" }], dynamicClientScopes: ["a:read"] });
    const err = await rpcError(update({ id: s.id, name: "", tokenLifetimeSeconds: 1, permissions: [{ value: "b:read", description: "" }] }, ["name", "token_lifetime_seconds", "permissions"]));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    // dynamic_client_scopes was not in the mask, but the merged result would name a permission that no longer exists.
    expect(violatedFields(err).sort()).toEqual(["api_server.dynamic_client_scopes[0]", "api_server.name", "api_server.token_lifetime_seconds"]);
    expect(await get(s.id)).toEqual(s);
  });

  test("update masks: empty, unknown, output-only and immutable paths are refused, all of them at once", async () => {
    const s = await create();
    for (const [mask, fragment] of [
      [[], "at least one"],
      [["colour"], 'unknown field "colour"'],
      [["api_server.name"], "unknown field"],
      [["create_time"], "output only"],
      [["update_time"], "output only"],
      [["id"], "output only"],
      [["etag"], "output only"],
      [["system"], "output only"],
      [["identifier"], "immutable"],
    ] as const) {
      const err = await rpcError(update({ id: s.id, name: "x" }, [...mask]));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(violations(err)).toEqual([{ field: "update_mask", description: expect.stringContaining(fragment) }]);
    }
    const all = await rpcError(update({ id: s.id, name: "x" }, ["name", "colour", "id", "identifier"]));
    expect(violations(all).map((v) => v.description)).toEqual([expect.stringContaining("colour"), expect.stringContaining("id is output only"), expect.stringContaining("identifier is immutable")]);
    expect(await get(s.id)).toEqual(s);
  });
});

describe("Auth0 spellings: enum aliases and token_lifetime", () => {
  test("typed alias values are the canonical numbers; JSON prints the canonical name (declared first)", async () => {
    const s = await create({ signingAlg: SigningAlg.RS256, tokenDialect: TokenDialect.ACCESS_TOKEN_AUTHZ });
    expect(s).toMatchObject({ signingAlg: SigningAlg.SIGNING_ALG_RS256, tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ });
    expect(ApiServerCodec.toJSON(s)).toMatchObject({ signingAlg: "SIGNING_ALG_RS256", tokenDialect: "TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ" });
    expect((await create({ signingAlg: SigningAlg.EDDSA })).signingAlg).toBe(SigningAlg.SIGNING_ALG_EDDSA);
  });

  test("token_lifetime sets the lifetime; both spellings agreeing is fine; responses carry it in both", async () => {
    expect(await create({ tokenLifetime: 3600 })).toMatchObject({ tokenLifetimeSeconds: 3600, tokenLifetime: 3600 });
    expect(await create({ tokenLifetime: 900, tokenLifetimeSeconds: 900 })).toMatchObject({ tokenLifetimeSeconds: 900, tokenLifetime: 900 });
    expect(await create()).toMatchObject({ tokenLifetimeSeconds: 86_400, tokenLifetime: 86_400 });
  });

  test("different values, or an alias out of range, are violations on token_lifetime, reported with the others; nothing is written", async () => {
    const before = await countAll();
    const clash = await rpcError(create({ name: "", tokenLifetime: 900, tokenLifetimeSeconds: 600 }));
    expect(clash.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(clash).sort()).toEqual(["api_server.name", "api_server.token_lifetime"]);
    const short = await rpcError(create({ tokenLifetime: 5 }));
    expect(violations(short)).toEqual([{ field: "api_server.token_lifetime", description: expect.stringContaining("60..2592000") }]);
    expect(await countAll()).toBe(before);
  });

  test("update masks: token_lifetime alone replaces the lifetime; the spelling outside the mask is ignored; both in the mask must agree", async () => {
    const s = await create({ tokenLifetimeSeconds: 600 });
    expect(await update({ id: s.id, tokenLifetime: 1200, tokenLifetimeSeconds: 1 }, ["token_lifetime"])).toMatchObject({ tokenLifetimeSeconds: 1200, tokenLifetime: 1200 });
    expect((await update({ id: s.id, tokenLifetimeSeconds: 300, tokenLifetime: 7 }, ["token_lifetime_seconds"])).tokenLifetimeSeconds).toBe(300);
    expect((await update({ id: s.id }, ["token_lifetime"])).tokenLifetimeSeconds).toBe(86_400); // 0: the default, as token_lifetime_seconds
    const current = await get(s.id);
    const clash = await rpcError(update({ id: s.id, tokenLifetime: 900, tokenLifetimeSeconds: 600 }, ["token_lifetime", "token_lifetime_seconds"]));
    expect(violatedFields(clash)).toEqual(["api_server.token_lifetime"]);
    expect(await get(s.id)).toEqual(current);
  });
});

describe("validate_only (AIP-163)", () => {
  test("create: the preview has no id or etag and every violation is reported; nothing is written either way", async () => {
    const before = await countAll();
    const identifier = ident("preview");
    const { apiServer } = await api().createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "Preview", identifier, tokenLifetime: 120 }, validateOnly: true }));
    expect(apiServer).toMatchObject({ id: "", etag: "", name: "Preview", identifier, tokenLifetimeSeconds: 120, signingAlg: SigningAlg.SIGNING_ALG_ES256 });
    const err = await rpcError(api().createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "", identifier: "has space" }, validateOnly: true })));
    expect(violatedFields(err).sort()).toEqual(["api_server.identifier", "api_server.name"]);
    expect(await countAll()).toBe(before);
    expect((await create({ identifier })).identifier).toBe(identifier); // the identifier was not taken
  });

  test("update: the preview is the merged resource; the mask, etag and id are checked; nothing changes", async () => {
    const s = await create();
    const preview = await api().updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: s.id, name: "Next", etag: s.etag }, updateMask: ["name"], validateOnly: true }));
    expect(preview.apiServer).toMatchObject({ id: s.id, name: "Next", identifier: s.identifier });
    expect(await get(s.id)).toEqual(s);
    const check = (apiServer: Partial<ApiServer>, updateMask: string[]) => rpcError(api().updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer, updateMask, validateOnly: true })));
    expect((await check({ id: s.id, name: "" }, ["name"])).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await check({ id: s.id, identifier: ident() }, ["identifier"])).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await check({ id: s.id, name: "x", etag: "stale" }, ["name"])).code).toBe(grpc.status.ABORTED);
    expect((await check({ id: "as_AAAAAAAAAAAAAAAAAAAAAA", name: "x" }, ["name"])).code).toBe(grpc.status.NOT_FOUND);
    expect(await get(s.id)).toEqual(s);
  });
});

describe("uniqueness of identifiers and audiences", () => {
  test("duplicate identifier -> ALREADY_EXISTS, nothing written", async () => {
    const s = await create();
    const before = await countAll();
    const err = await rpcError(create({ identifier: s.identifier }));
    expect(err.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(err.details).toContain(s.identifier);
    expect(await countAll()).toBe(before);
  });

  test("an audience may not equal another server's identifier or audience, in either direction", async () => {
    const a = await create({ audiences: [ident("shared")] });
    const before = await countAll();
    expect((await rpcError(create({ audiences: [a.identifier] }))).code).toBe(grpc.status.ALREADY_EXISTS); // audience = another's identifier
    expect((await rpcError(create({ identifier: a.audiences[0]! }))).code).toBe(grpc.status.ALREADY_EXISTS); // identifier = another's audience
    expect((await rpcError(create({ audiences: [a.audiences[0]!] }))).code).toBe(grpc.status.ALREADY_EXISTS); // audience = another's audience
    expect(await countAll()).toBe(before);
  });

  test("a refused create claims nothing: its identifier and other audiences stay free", async () => {
    const a = await create();
    const mine = ident("mine");
    const other = ident("other");
    // The conflicting value comes last, after the identifier and one audience were claimed.
    expect((await rpcError(create({ identifier: mine, audiences: [other, a.identifier] }))).code).toBe(grpc.status.ALREADY_EXISTS);
    const ok = await create({ identifier: mine, audiences: [other] });
    expect(ok.audiences).toEqual([other]);
  });

  test("replacing audiences frees the old ones; a conflicting update changes nothing and keeps its audiences", async () => {
    const old = ident("old");
    const a = await create({ audiences: [old] });
    const bOwn = ident("b-own");
    const b = await create({ audiences: [bOwn] });
    const err = await rpcError(update({ id: b.id, audiences: [ident("fresh"), old] }, ["audiences"]));
    expect(err.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(await get(b.id)).toEqual(b);
    // b still owns its audience (the refused update released nothing)...
    expect((await rpcError(create({ audiences: [bOwn] }))).code).toBe(grpc.status.ALREADY_EXISTS);
    // ...and an update that keeps its own audiences is no conflict with itself.
    expect((await update({ id: b.id, audiences: [bOwn], name: "same audiences" }, ["audiences", "name"])).audiences).toEqual([bOwn]);

    await update({ id: a.id, audiences: [ident("new")] }, ["audiences"]);
    expect((await update({ id: b.id, audiences: [old] }, ["audiences"])).audiences).toEqual([old]);
    // bOwn was released by that update.
    expect((await create({ audiences: [bOwn] })).audiences).toEqual([bOwn]);
  });
});

describe("listing", () => {
  test("120 API servers page through with no duplicates or gaps, in creation order (page_size 7 and the default)", async () => {
    const prefix = `https://page-${Date.now()}.example.com/`;
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push((await create({ identifier: `${prefix}${i}` })).id);
    const filter = `identifier = "${prefix}*"`;
    const sevens = await listAll(filter, 7);
    expect(sevens).toEqual(ids);
    expect(new Set(sevens).size).toBe(120);
    const defaults = await listAll(filter, 0);
    expect(defaults).toEqual(ids);
    // The default page is 50: 50 + 50 + 20.
    const first = await list({ filter });
    expect(first.apiServers).toHaveLength(50);
    // 500 is the largest page: everything in one, no next token.
    const big = await list({ pageSize: 500, filter });
    expect(big.apiServers.map((s) => s.id)).toEqual(ids);
    expect(big.nextPageToken).toBe("");
  });

  test("a full last page has no next token (no empty trailing page)", async () => {
    const prefix = `https://exact-${Date.now()}.example.com/`;
    for (let i = 0; i < 6; i++) await create({ identifier: `${prefix}${i}` });
    const first = await list({ pageSize: 3, filter: `identifier = "${prefix}*"` });
    const second = await list({ pageSize: 3, pageToken: first.nextPageToken, filter: `identifier = "${prefix}*"` });
    expect(second.apiServers).toHaveLength(3);
    expect(second.nextPageToken).toBe("");
  });

  test("paging is stable while rows are added and deleted between pages", async () => {
    const prefix = `https://stable-${Date.now()}.example.com/`;
    const made: ApiServer[] = [];
    for (let i = 0; i < 6; i++) made.push(await create({ identifier: `${prefix}${i}` }));
    const filter = `identifier = "${prefix}*"`;
    const first = await list({ pageSize: 3, filter });
    expect(first.apiServers.map((s) => s.id)).toEqual(made.slice(0, 3).map((s) => s.id));
    await api().deleteApiServer({ id: made[1]!.id, etag: "" }); // already seen
    await api().deleteApiServer({ id: made[4]!.id, etag: "" }); // not yet seen
    const added = await create({ identifier: `${prefix}late` });
    const rest: string[] = [];
    let pageToken = first.nextPageToken;
    while (pageToken) {
      const page = await list({ pageSize: 3, pageToken, filter });
      rest.push(...page.apiServers.map((s) => s.id));
      pageToken = page.nextPageToken;
    }
    expect(rest).toEqual([made[3]!.id, made[5]!.id, added.id]);
  });

  test("filters: name exact, identifier prefix, name prefix, conjunction, escapes", async () => {
    const tag = `f${Date.now()}`;
    const a = await create({ name: `${tag}-a`, identifier: `https://${tag}.example.com/a` });
    const b = await create({ name: `${tag}-b`, identifier: `https://${tag}.example.com/b` });
    await create({ name: `${tag}-a`, identifier: `https://${tag}.example.org/a` });
    const names = async (filter: string) => (await list({ filter })).apiServers.map((s) => s.id);
    expect(await names(`name = "${tag}-a"`)).toHaveLength(2);
    expect(await names(`name = "${tag}"`)).toEqual([]); // exact, not prefix
    expect(await names(`identifier = "https://${tag}.example.com/*"`)).toEqual([a.id, b.id]);
    expect(await names(`identifier = "https://${tag}.example.com/A*"`)).toEqual([]); // case-sensitive
    expect(await names(`identifier = "https://${tag}.example.com/*" AND name = "${tag}-b"`)).toEqual([b.id]);
    expect(await names(`  name = "${tag}-b"  `)).toEqual([b.id]);

    const quoted = await create({ name: `say "hi" \\ ${tag}*` });
    expect(await names(`name = "say \\"hi\\" \\\\ ${tag}\\*"`)).toEqual([quoted.id]); // escaped star: a literal *
    expect(await names(`name = "say \\"hi\\" \\\\*"`)).toEqual([quoted.id]); // escaped backslash, then a prefix star
    const emoji = await create({ name: `🚀 launch ${tag}` });
    expect(await names(`name = "🚀 launch*"`)).toEqual([emoji.id]); // prefix length counts characters, not UTF-16 units
  });

  test.each([
    ["bad filter syntax", { filter: "name ~ x" }, "filter"],
    ["unquoted value", { filter: "name = orders" }, "filter"],
    ["dangling AND", { filter: 'name = "a" AND' }, "filter"],
    ["OR is not supported", { filter: 'name = "a" OR name = "b"' }, "filter"],
    ["unterminated string", { filter: 'name = "a' }, "filter"],
    ["a boolean for a string field", { filter: "name = true" }, "filter"],
    ["unknown filter field", { filter: 'colour = "blue"' }, "filter"],
    ["page_size over 500", { pageSize: 501 }, "page_size"],
    ["negative page_size", { pageSize: -1 }, "page_size"],
    ["garbage page_token", { pageToken: "garbage" }, "page_token"],
    ["forged page_token", { pageToken: Buffer.from("1.5.AAAAAAAA").toString("base64url") }, "page_token"],
  ])("%s -> INVALID_ARGUMENT on %s", async (_name, req, field) => {
    const err = await rpcError(list({ ...req }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(err)).toEqual([field]);
  });

  test("a page token is bound to its filter; with the same filter it can be replayed", async () => {
    const name = `bound-${Date.now()}`;
    for (let i = 0; i < 3; i++) await create({ name });
    const first = await list({ pageSize: 1, filter: `name = "${name}"` });
    expect(first.nextPageToken).toBeTruthy();
    for (const filter of [`name = "other"`, ""]) {
      const err = await rpcError(list({ pageSize: 1, pageToken: first.nextPageToken, filter }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(violations(err)).toEqual([{ field: "page_token", description: "was issued for a different list or filter" }]);
    }
    // Nor is a token from another collection's list with the same (empty) filter.
    await create();
    await t.clients.clients.createClient(CreateClientRequest.fromPartial({ client: { name: "paging" } }));
    await t.clients.clients.createClient(CreateClientRequest.fromPartial({ client: { name: "paging" } }));
    const clientsPage = await t.clients.clients.listClients(ListClientsRequest.fromPartial({ pageSize: 1 }));
    expect(clientsPage.nextPageToken).toBeTruthy();
    expect(violatedFields(await rpcError(list({ pageSize: 1, pageToken: clientsPage.nextPageToken })))).toEqual(["page_token"]);

    const a = await list({ pageSize: 1, pageToken: first.nextPageToken, filter: `name = "${name}"` });
    const b = await list({ pageSize: 2, pageToken: first.nextPageToken, filter: `name = "${name}"` }); // page size may change
    expect(b.apiServers[0]).toEqual(a.apiServers[0]);
    expect(b.apiServers).toHaveLength(2);
  });
});
