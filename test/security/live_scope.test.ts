import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateClientRequest } from "../../gen/authz/v1/client.js";
import { UpdateGrantRequest } from "../../gen/authz/v1/grant.js";
import { IntrospectTokenRequest, IssueTokenRequest } from "../../gen/authz/v1/token.js";
import type { ManualClock } from "../../src/clock.js";
import { MANAGEMENT_API_SERVER_ID } from "../../src/domain/constants.js";
import { createApiServer, createClient, grant } from "../helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "../helpers/server.js";
import { managementClients, managementToken, operator } from "./helpers.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.cleanup());

/** A client allowed to introspect tokens of `apiServerId` (and, with `extra`, more management permissions). */
async function introspector(apiServerId: string | undefined, extra: string[] = []) {
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, MANAGEMENT_API_SERVER_ID, ["tokens:introspect", ...extra]);
  if (apiServerId) await grant(t, client.clientId, apiServerId, []);
  return { clientId: client.clientId, clientSecret: secret };
}

const clock = () => t.clock as ManualClock;
const introspect = (caller: { clientId: string; clientSecret: string }, token: string) => t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: caller, token }));

describe("a token's scope is its claims intersected with the current grant (item 4)", () => {
  test("after the grant is narrowed from `r w` to `r`, the old token introspects with scope `r` (and permissions `r`)", async () => {
    const api = await createApiServer(t, { tokenDialect: 2 /* ACCESS_TOKEN_AUTHZ */ });
    const { client, secret } = await createClient(t);
    const g = await grant(t, client.clientId, api.id, ["orders:read", "orders:write"]);
    const { accessToken } = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }));
    const caller = await introspector(api.id);
    expect(await introspect(caller, accessToken)).toMatchObject({ active: true, scope: "orders:read orders:write", permissions: ["orders:read", "orders:write"] });
    await t.clients.grants.updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: ["orders:read"] }, updateMask: ["scopes"] }));
    expect(await introspect(caller, accessToken)).toMatchObject({ active: true, scope: "orders:read", permissions: ["orders:read"] });
  });

  test("a management token from a downgraded grant can no longer do what it lost", async () => {
    const op = await operator(t, ["clients:write", "clients:read"]);
    await op.api.clients.createClient(CreateClientRequest.fromPartial({ client: { name: "allowed" } }));
    await t.clients.grants.updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: op.grant.id, scopes: ["clients:read"] }, updateMask: ["scopes"] }));
    const err = await rpcError(op.api.clients.createClient(CreateClientRequest.fromPartial({ client: { name: "refused" } })));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await op.api.clients.getClient({ clientId: op.clientId })).client!.clientId).toBe(op.clientId); // what remains still works
  });

  test("a grant deleted and created again does not revive tokens issued before the deletion", async () => {
    const api = await createApiServer(t);
    const { client, secret } = await createClient(t);
    const g = await grant(t, client.clientId, api.id, ["orders:read"]);
    const { accessToken: before } = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }));
    const caller = await introspector(api.id);
    await t.clients.grants.deleteGrant({ id: g.id, etag: "" });
    clock().advance(0.001); // one millisecond later: the new grant is younger than the token
    await grant(t, client.clientId, api.id, ["orders:read"]);
    expect(await introspect(caller, before)).toMatchObject({ active: false });
    const { accessToken: after } = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }));
    expect(await introspect(caller, after)).toMatchObject({ active: true });
    // The same holds for management tokens: the old one is refused by the management API.
    const op = await operator(t, ["clients:read"]);
    await t.clients.grants.deleteGrant({ id: op.grant.id, etag: "" });
    clock().advance(0.001);
    await grant(t, op.clientId, MANAGEMENT_API_SERVER_ID, ["clients:read"]);
    expect((await rpcError(op.api.clients.getClient({ clientId: op.clientId }))).code).toBe(grpc.status.UNAUTHENTICATED);
    const fresh = managementClients(t, await managementToken(t, op.clientId, op.secret));
    expect((await fresh.clients.getClient({ clientId: op.clientId })).client!.clientId).toBe(op.clientId);
  });
});

describe("management tokens are shown to introspection only with an explicit permission (item 5)", () => {
  test("tokens:introspect alone sees the admin's token as inactive; with tokens:introspect_management it is active", async () => {
    const adminToken = await t.adminToken();
    const { apiServer } = await t.clients.apiServers.getApiServer({ id: MANAGEMENT_API_SERVER_ID });
    expect(apiServer!.permissions.map((p) => p.value)).toContain("tokens:introspect_management");
    const plain = await introspector(undefined);
    expect(await introspect(plain, adminToken)).toEqual(expect.objectContaining({ active: false, scope: "", clientId: "" }));
    const allowed = await introspector(undefined, ["tokens:introspect_management"]);
    expect(await introspect(allowed, adminToken)).toMatchObject({ active: true, clientId: t.adminClientId });
  });
});

describe("typed token RPCs over HTTP (item 6)", () => {
  test("/v1/tokens:issue and /v1/tokens:introspect answer with Cache-Control: no-store", async () => {
    const api = await createApiServer(t);
    const { client, secret } = await createClient(t);
    await grant(t, client.clientId, api.id, ["orders:read"]);
    const issued = await fetch(`${t.httpUrl}/v1/tokens:issue`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ client: { client_id: client.clientId, client_secret: secret }, audience: api.identifier }) });
    expect(issued.status).toBe(200);
    expect(issued.headers.get("cache-control")).toBe("no-store");
    const { access_token } = (await issued.json()) as { access_token: string };
    const caller = await introspector(api.id);
    const res = await fetch(`${t.httpUrl}/v1/tokens:introspect`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ client: { client_id: caller.clientId, client_secret: caller.clientSecret }, token: access_token }) });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(((await res.json()) as { active: boolean }).active).toBe(true);
  });
});
