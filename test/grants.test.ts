import * as grpc from "@grpc/grpc-js";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UpdateApiServerRequest } from "../gen/authz/v1/api_server.js";
import { CreateGrantRequest, UpdateGrantRequest, type Grant, type ListGrantsRequest } from "../gen/authz/v1/grant.js";
import type { ClientInput } from "../src/domain/clients.js";
import { violatedFields } from "./helpers/errors.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.cleanup();
  // After the restart test `t` runs on the first server's temp file; remove its directory too.
  rmSync(dirname(t.dataFile), { recursive: true, force: true });
});

const grants = () => t.clients.grants;
const domain = () => t.server.domain;
const getGrant = async (id: string) => (await grants().getGrant({ id })).grant!;
/** Every page of a selection, in order. */
const listAll = async (selection: Partial<ListGrantsRequest>, pageSize = 500) => {
  const all: Grant[] = [];
  let pageToken = "";
  do {
    const page = await grants().listGrants({ pageSize, pageToken, clientId: "", apiServerId: "", ...selection });
    expect(page.grants.length).toBeLessThanOrEqual(pageSize || 50); // 0 means the default, 50
    all.push(...page.grants);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
};
/** What the token endpoint would allow this client for this API server (read through the domain caches). */
const access = async (clientId: string, apiServerId: string) => domain().grants.resolveAccess(await domain().clients.get(clientId), await domain().apiServers.get(apiServerId));
const setPermissions = (id: string, values: string[]) =>
  t.clients.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id, permissions: values.map((value) => ({ value })) }, updateMask: ["permissions"] }));
const dynamicInput: ClientInput = { name: "dyn", description: "", type: undefined, tokenEndpointAuthMethod: undefined, grantTypes: [], disabled: false, metadata: {}, jwks: undefined };

describe("life of a grant", () => {
  test("create, get, update, delete; one grant per (client, API server)", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    const g = await grant(t, client.clientId, s.id, ["orders:read"]);
    expect(g).toMatchObject({ clientId: client.clientId, apiServerId: s.id, scopes: ["orders:read"], allowAllScopes: false });
    expect(g.id).toMatch(/^gr_[A-Za-z0-9_-]{22}$/);
    expect(await getGrant(g.id)).toEqual(g);

    const dup = await rpcError(grant(t, client.clientId, s.id, []));
    expect(dup.code).toBe(grpc.status.ALREADY_EXISTS);
    expect((await listAll({ clientId: client.clientId })).map((x) => x.id)).toEqual([g.id]);

    const { grant: u } = await grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: ["orders:read", "orders:write"], allowAllScopes: true }, updateMask: ["scopes"] }));
    expect(u).toMatchObject({ scopes: ["orders:read", "orders:write"], allowAllScopes: false });
    expect(u!.etag).not.toBe(g.etag);
    const stale = await rpcError(grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: [], etag: g.etag }, updateMask: ["scopes"] })));
    expect(stale.code).toBe(grpc.status.ABORTED);
    expect((await rpcError(grants().deleteGrant({ id: g.id, etag: g.etag }))).code).toBe(grpc.status.ABORTED);
    expect(await getGrant(g.id)).toEqual(u);

    await grants().deleteGrant({ id: g.id, etag: u!.etag });
    expect((await rpcError(grants().getGrant({ id: g.id }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rpcError(grants().deleteGrant({ id: g.id, etag: "" }))).code).toBe(grpc.status.NOT_FOUND);
    // The pair is free again.
    expect((await grant(t, client.clientId, s.id, [])).id).not.toBe(g.id);
  });

  test("switching to allow_all_scopes and back", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    const g = await grant(t, client.clientId, s.id, ["orders:read"]);
    const { grant: all } = await grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: [], allowAllScopes: true }, updateMask: ["scopes", "allow_all_scopes"] }));
    expect(all).toMatchObject({ scopes: [], allowAllScopes: true });
    expect(await access(client.clientId, s.id)).toMatchObject({ scopes: ["orders:read", "orders:write", "orders:delete"] });
    const { grant: back } = await grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: ["orders:write"], allowAllScopes: false }, updateMask: ["scopes", "allow_all_scopes"] }));
    expect(back).toMatchObject({ scopes: ["orders:write"], allowAllScopes: false });
    expect(await access(client.clientId, s.id)).toMatchObject({ scopes: ["orders:write"] });
  });
});

describe("validation", () => {
  test("unknown scopes are named by index; nothing is created", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    const unknown = await rpcError(grant(t, client.clientId, s.id, ["orders:read", "orders:fly", "x:y"]));
    expect(unknown.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(unknown)).toEqual(["grant.scopes[1]", "grant.scopes[2]"]);
    expect(await listAll({ clientId: client.clientId })).toEqual([]);
  });

  test("unknown or missing client and API server are INVALID_ARGUMENT field violations", async () => {
    const s = await createApiServer(t);
    const missing = await rpcError(grants().createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: "cl_nope", apiServerId: "as_nope", scopes: ["orders:read"] } })));
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(missing)).toEqual(["grant.client_id", "grant.api_server_id"]);
    const empty = await rpcError(grants().createGrant(CreateGrantRequest.fromPartial({ grant: {} })));
    expect(violatedFields(empty)).toEqual(["grant.client_id", "grant.api_server_id"]);
    const noGrant = await rpcError(grants().createGrant(CreateGrantRequest.fromPartial({})));
    expect(violatedFields(noGrant)).toEqual(["grant.client_id", "grant.api_server_id"]);
    expect(await listAll({ apiServerId: s.id })).toEqual([]);
  });

  test("allow_all_scopes with scopes is refused", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    const both = await rpcError(grant(t, client.clientId, s.id, ["orders:read"], true));
    expect(violatedFields(both)).toEqual(["grant.scopes"]);
    const g = await grant(t, client.clientId, s.id, ["orders:read"]);
    // Setting allow_all_scopes alone leaves the existing scopes, which is refused: clear them in the same update.
    const alone = await rpcError(grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, allowAllScopes: true }, updateMask: ["allow_all_scopes"] })));
    expect(violatedFields(alone)).toEqual(["grant.scopes"]);
    expect(await getGrant(g.id)).toEqual(g);
  });

  test("a bad update names its fields and changes nothing", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    const g = await grant(t, client.clientId, s.id, ["orders:read"]);
    const scopes = await rpcError(grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: ["orders:write", "nope"] }, updateMask: ["scopes"] })));
    expect(violatedFields(scopes)).toEqual(["grant.scopes[1]"]);
    for (const mask of [[], ["client_id"], ["api_server_id"], ["id"], ["etag"], ["create_time"], ["nope"]]) {
      const err = await rpcError(grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, clientId: "cl_other", apiServerId: "as_other" }, updateMask: mask })));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(violatedFields(err)).toEqual(["update_mask"]);
    }
    expect(await getGrant(g.id)).toEqual(g);
    expect((await rpcError(grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: "gr_nope", scopes: [] }, updateMask: ["scopes"] })))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("list arguments are validated", async () => {
    expect(violatedFields(await rpcError(grants().listGrants({ pageSize: 501, pageToken: "", clientId: "", apiServerId: "" })))).toEqual(["page_size"]);
    expect(violatedFields(await rpcError(grants().listGrants({ pageSize: -1, pageToken: "", clientId: "", apiServerId: "" })))).toEqual(["page_size"]);
    expect(violatedFields(await rpcError(grants().listGrants({ pageSize: 0, pageToken: "not-ours", clientId: "", apiServerId: "" })))).toEqual(["page_token"]);
    // Filter ids are checked before any lookup, as every other id is.
    expect(violatedFields(await rpcError(grants().listGrants({ pageSize: 0, pageToken: "", clientId: "x".repeat(900_000), apiServerId: "" })))).toEqual(["client_id"]);
    expect(violatedFields(await rpcError(grants().listGrants({ pageSize: 0, pageToken: "", clientId: "", apiServerId: "as_\u0000" })))).toEqual(["api_server_id"]);
  });
});

describe("cascades", () => {
  test("removing a permission from an API server removes it from every grant", async () => {
    const s = await createApiServer(t);
    const a = await createClient(t);
    const b = await createClient(t);
    const ga = await grant(t, a.client.clientId, s.id, ["orders:read", "orders:write"]);
    const gb = await grant(t, b.client.clientId, s.id, ["orders:write"]);
    expect(await access(a.client.clientId, s.id)).toMatchObject({ scopes: ["orders:read", "orders:write"] }); // cached now
    await setPermissions(s.id, ["orders:read", "orders:delete"]);
    expect((await getGrant(ga.id)).scopes).toEqual(["orders:read"]);
    const after = await getGrant(gb.id);
    expect(after.scopes).toEqual([]);
    expect(after.etag).not.toBe(gb.etag);
    expect(await access(a.client.clientId, s.id)).toMatchObject({ scopes: ["orders:read"] });
    expect(await access(b.client.clientId, s.id)).toMatchObject({ scopes: [] });
    // Adding the permission back does not restore it to grants.
    await setPermissions(s.id, ["orders:read", "orders:write"]);
    expect((await getGrant(ga.id)).scopes).toEqual(["orders:read"]);
  });

  test("an API server update refused for another reason strips nothing", async () => {
    const s = await createApiServer(t, { dynamicClientAccess: true, dynamicClientScopes: ["orders:write"] });
    const { client } = await createClient(t);
    const g = await grant(t, client.clientId, s.id, ["orders:write"]);
    // orders:write is still a dynamic client scope, so removing it is refused as a whole.
    const err = await rpcError(setPermissions(s.id, ["orders:read"]));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await getGrant(g.id)).toEqual(g);
  });

  test("allow_all_scopes covers current and future permissions", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    await grant(t, client.clientId, s.id, [], true);
    expect(await (await access(client.clientId, s.id))!.scopes).toEqual(["orders:read", "orders:write", "orders:delete"]);
    await setPermissions(s.id, ["orders:read", "orders:audit"]);
    expect(await (await access(client.clientId, s.id))!.scopes).toEqual(["orders:read", "orders:audit"]);
  });

  test("a grant still naming a permission its API server removed (written on another replica as the permission went) never yields it", async () => {
    const s = await createApiServer(t, { permissions: [{ value: "orders:read", description: "" }, { value: "orders:write", description: "" }] });
    const { client } = await createClient(t);
    const g = await grant(t, client.clientId, s.id, ["orders:read", "orders:write"]);
    await setPermissions(s.id, ["orders:read"]);
    // The racing grant write commits after the removal swept the grants, and its change reaches this replica.
    const stored = (await t.store.grants.get(g.id))!;
    expect(stored.scopes).toEqual(["orders:read"]);
    expect(await t.store.grants.update({ ...stored, scopes: ["orders:read", "orders:write"], version: stored.version + 1 })).toBe(true);
    domain().grants.invalidate({ clientId: client.clientId, apiServerId: s.id });
    expect((await access(client.clientId, s.id))!.scopes).toEqual(["orders:read"]);
  });

  test("deleting an API server or a client deletes its grants (and forgets cached access)", async () => {
    const s1 = await createApiServer(t);
    const s2 = await createApiServer(t);
    const { client } = await createClient(t);
    const other = await createClient(t);
    const g1 = await grant(t, client.clientId, s1.id, ["orders:read"]);
    const g2 = await grant(t, client.clientId, s2.id, ["orders:read"]);
    const g3 = await grant(t, other.client.clientId, s2.id, ["orders:read"]);
    const server1 = await domain().apiServers.get(s1.id);
    const c = await domain().clients.get(client.clientId);
    expect(await domain().grants.resolveAccess(c, server1)).toMatchObject({ scopes: ["orders:read"] }); // cached now
    expect(await domain().grants.resolveAccess(c, await domain().apiServers.get(s2.id))).toMatchObject({ scopes: ["orders:read"] });

    await t.clients.apiServers.deleteApiServer({ id: s1.id, etag: "" });
    expect((await rpcError(grants().getGrant({ id: g1.id }))).code).toBe(grpc.status.NOT_FOUND);
    expect(await domain().grants.resolveAccess(c, server1)).toBeUndefined();
    expect(await getGrant(g2.id)).toEqual(g2);

    const server2 = await domain().apiServers.get(s2.id);
    expect(await domain().grants.resolveAccess(c, server2)).toMatchObject({ scopes: ["orders:read"] }); // cached again
    await t.clients.clients.deleteClient({ clientId: client.clientId, etag: "" });
    expect((await rpcError(grants().getGrant({ id: g2.id }))).code).toBe(grpc.status.NOT_FOUND);
    expect(await domain().grants.resolveAccess(c, server2)).toBeUndefined();
    expect(await listAll({ clientId: client.clientId })).toEqual([]);
    expect((await listAll({ apiServerId: s2.id })).map((g) => g.id)).toEqual([g3.id]);
  });
});

describe("listing", () => {
  test("more than 100 grants by API server, by client, both and neither: no duplicates, no gaps", async () => {
    const a = await createApiServer(t);
    const b = await createApiServer(t);
    const onA: string[] = [];
    const clientIds: string[] = [];
    for (let i = 0; i < 105; i++) {
      const { client } = await createClient(t);
      clientIds.push(client.clientId);
      onA.push((await grant(t, client.clientId, a.id, i % 2 ? ["orders:read"] : [])).id);
    }
    const onB = [await grant(t, clientIds[7]!, b.id, []), await grant(t, clientIds[99]!, b.id, [])].map((g) => g.id);

    for (const pageSize of [10, 1, 0]) {
      const seen = (await listAll({ apiServerId: a.id }, pageSize)).map((g) => g.id);
      expect(seen).toEqual(onA);
      expect(new Set(seen).size).toBe(105);
    }
    const defaultPage = await grants().listGrants({ pageSize: 0, pageToken: "", clientId: "", apiServerId: a.id });
    expect(defaultPage.grants).toHaveLength(50);
    expect((await listAll({ apiServerId: b.id }, 1)).map((g) => g.id)).toEqual(onB);
    expect((await listAll({ clientId: clientIds[7]! }, 1)).map((g) => g.id)).toEqual([onA[7], onB[0]]);
    expect((await listAll({ clientId: clientIds[7]!, apiServerId: b.id })).map((g) => g.id)).toEqual([onB[0]]);
    expect((await listAll({ clientId: clientIds[8]!, apiServerId: b.id })).map((g) => g.id)).toEqual([]);
    const everything = (await listAll({}, 100)).map((g) => g.id);
    expect(new Set(everything).size).toBe(everything.length);
    expect(everything.filter((id) => onA.includes(id) || onB.includes(id))).toEqual([...onA, ...onB]);
  });

  test("a page token is bound to its selection", async () => {
    const s = await createApiServer(t);
    const clientIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { client } = await createClient(t);
      clientIds.push(client.clientId);
      await grant(t, client.clientId, s.id, []);
    }
    const first = await grants().listGrants({ pageSize: 1, pageToken: "", clientId: "", apiServerId: s.id });
    expect(first.nextPageToken).not.toBe("");
    const swapped = await rpcError(grants().listGrants({ pageSize: 1, pageToken: first.nextPageToken, clientId: s.id, apiServerId: "" }));
    expect(violatedFields(swapped)).toEqual(["page_token"]);
    const narrowed = await rpcError(grants().listGrants({ pageSize: 1, pageToken: first.nextPageToken, clientId: clientIds[0]!, apiServerId: s.id }));
    expect(violatedFields(narrowed)).toEqual(["page_token"]);
    const dropped = await rpcError(grants().listGrants({ pageSize: 1, pageToken: first.nextPageToken, clientId: "", apiServerId: "" }));
    expect(violatedFields(dropped)).toEqual(["page_token"]);
    // The page size may change between pages.
    const rest = await grants().listGrants({ pageSize: 5, pageToken: first.nextPageToken, clientId: "", apiServerId: s.id });
    expect(rest.grants.map((g) => g.clientId)).toEqual(clientIds.slice(1));
  });
});

describe("resolveAccess", () => {
  test("a grant gives its scopes; no grant gives nothing to a regular client; grant changes are seen at once", async () => {
    const s = await createApiServer(t, { dynamicClientAccess: true, dynamicClientScopes: ["orders:read"] });
    const { client } = await createClient(t);
    expect(await access(client.clientId, s.id)).toBeUndefined(); // regular client, no grant: dynamic access does not apply
    const g = await grant(t, client.clientId, s.id, ["orders:write"]);
    // `since` is the grant's creation: tokens issued before it are not covered by it.
    expect(await access(client.clientId, s.id)).toEqual({ scopes: ["orders:write"], since: Date.parse(g.createTime!) });
    const { grant: u } = await grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: ["orders:read", "orders:delete"] }, updateMask: ["scopes"] }));
    expect(await access(client.clientId, s.id)).toMatchObject({ scopes: ["orders:read", "orders:delete"] });
    await grants().deleteGrant({ id: g.id, etag: u!.etag });
    expect(await access(client.clientId, s.id)).toBeUndefined();
  });

  test("an empty grant still gives access, with no scopes", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    await grant(t, client.clientId, s.id, []);
    expect(await access(client.clientId, s.id)).toMatchObject({ scopes: [] });
  });

  test("dynamic clients: access only where enabled, with the API server's dynamic scopes; a grant wins", async () => {
    const open = await createApiServer(t, { dynamicClientAccess: true, dynamicClientScopes: ["orders:read"] });
    const closed = await createApiServer(t);
    const { client: dynamic } = await t.server.transaction((tx) => domain().clients.create(dynamicInput, tx, { dynamic: true }));
    expect(await access(dynamic.clientId, open.id)).toEqual({ scopes: ["orders:read"], since: 0 });
    expect(await access(dynamic.clientId, closed.id)).toBeUndefined();
    await grant(t, dynamic.clientId, open.id, ["orders:write"]);
    expect(await access(dynamic.clientId, open.id)).toMatchObject({ scopes: ["orders:write"] });
    await grant(t, dynamic.clientId, closed.id, [], true);
    expect(await access(dynamic.clientId, closed.id)).toMatchObject({ scopes: ["orders:read", "orders:write", "orders:delete"] });
    // Turning dynamic access off takes effect on the next lookup.
    const open2 = await createApiServer(t, { dynamicClientAccess: true, dynamicClientScopes: ["orders:delete"] });
    expect(await access(dynamic.clientId, open2.id)).toMatchObject({ scopes: ["orders:delete"] });
    await t.clients.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: open2.id, dynamicClientAccess: false }, updateMask: ["dynamic_client_access"] }));
    expect(await access(dynamic.clientId, open2.id)).toBeUndefined();
  });
});

test("grants survive a restart", async () => {
  const s = await createApiServer(t);
  const { client } = await createClient(t);
  const g = await grant(t, client.clientId, s.id, ["orders:read"]);
  const all = await grant(t, (await createClient(t)).client.clientId, s.id, [], true);
  await t.stop();
  t = await startTestServer({ dataFile: t.dataFile, kek: t.kek, clock: t.clock, config: { adminClientId: t.adminClientId, adminClientSecret: t.adminClientSecret } });
  expect(await getGrant(g.id)).toEqual(g);
  expect(await getGrant(all.id)).toEqual(all);
  expect(await access(client.clientId, s.id)).toMatchObject({ scopes: ["orders:read"] });
  expect(await access(all.clientId, s.id)).toMatchObject({ scopes: ["orders:read", "orders:write", "orders:delete"] });
  expect((await rpcError(grant(t, client.clientId, s.id, []))).code).toBe(grpc.status.ALREADY_EXISTS);
});
