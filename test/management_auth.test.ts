import * as grpc from "@grpc/grpc-js";
import { getOption, hasOption } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import type { ManualClock } from "../src/clock.js";
import { descriptorRegistry } from "../src/descriptor.js";
import { accessTable } from "../src/pipeline/access.js";
import { SERVICE_NAMES } from "../src/descriptor.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
const table = accessTable(descriptorRegistry(), SERVICE_NAMES);
const protectedMethods = [...table].filter(([, rule]) => !rule.public) as Array<[string, { public: false; permission: string }]>;

/** A token for `audience` from a fresh client granted `scopes` on it. */
async function tokenFor(audience: string, apiServerId: string, scopes: string[]): Promise<string> {
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, apiServerId, scopes);
  const res = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience }));
  return res.accessToken;
}

/** Calls any RPC by path with an empty request; resolves the status code and metadata (a stream: once it is served or refused). */
function rawCall(path: string, token?: string): Promise<{ code: grpc.status; metadata: grpc.Metadata }> {
  const client = new grpc.Client(t.address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve) => {
    const done = (code: grpc.status, metadata = new grpc.Metadata()) => {
      client.close();
      resolve({ code, metadata });
    };
    if (streaming.has(path)) {
      // A watch that is served answers with a first message and stays open: that is OK here.
      const stream = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md);
      stream.once("data", () => (stream.cancel(), done(grpc.status.OK)));
      stream.on("error", (err: grpc.ServiceError) => done(err.code, err.metadata));
      return;
    }
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, (err) => done(err?.code ?? grpc.status.OK, err?.metadata));
  });
}
const streaming = new Set(["/authz.v1.RevocationService/WatchRevocations"]);

/** The HTTP request the google.api.http rule of `path` maps to, with dummy path variables. */
function httpRoute(path: string): { method: string; url: string } {
  const [, service, methodName] = /^\/(.+)\/(.+)$/.exec(path)!;
  const method = descriptorRegistry().getService(service!)!.methods.find((m) => m.name === methodName)!;
  const ext = descriptorRegistry().getExtension("google.api.http")!;
  if (!hasOption(method, ext)) throw new Error(`${path} has no http rule`);
  const rule = getOption(method, ext) as { pattern: { case: string; value: string } };
  return { method: rule.pattern.case.toUpperCase(), url: rule.pattern.value.replace(/\{[^}]+\}/g, "x") };
}

let admin: string;
let managementId: string;
beforeAll(async () => {
  t = await startTestServer();
  admin = await t.adminToken();
  managementId = (await t.clients.apiServers.listApiServers({ pageSize: 1, pageToken: "", filter: 'identifier = "urn:authz:management"' })).apiServers[0]!.id;
});
afterAll(() => t.cleanup());

test("every RPC of every service has an access rule; management RPCs name a permission", () => {
  // ApiServer 5 + Client 6 + Grant 5 + Key 2 + Audit 1 + Revocation 1
  expect(protectedMethods.length).toBe(20);
  for (const [path, rule] of protectedMethods) expect(rule.permission, path).toMatch(/^[a-z_]+:[a-z]+$/);
  expect(table.get("/authz.v1.TokenService/IssueToken")).toEqual({ public: true });
  expect(table.get("/authz.v1.OAuthService/GetJwks")).toEqual({ public: true });
});

describe("over gRPC", () => {
  test("no token -> UNAUTHENTICATED with a Bearer challenge", async () => {
    for (const [path] of protectedMethods) {
      const { code, metadata } = await rawCall(path);
      expect(code, path).toBe(grpc.status.UNAUTHENTICATED);
      expect(String(metadata.get("www-authenticate")[0]), path).toMatch(/^Bearer /);
    }
  });

  test("a token for another audience or a garbage token -> UNAUTHENTICATED", async () => {
    const orders = await createApiServer(t);
    const wrongAudience = await tokenFor(orders.identifier, orders.id, ["orders:read"]);
    for (const [path] of protectedMethods) {
      expect((await rawCall(path, wrongAudience)).code, path).toBe(grpc.status.UNAUTHENTICATED);
      expect((await rawCall(path, "not-a-token")).code, path).toBe(grpc.status.UNAUTHENTICATED);
    }
  });

  test("a valid management token without the permission -> PERMISSION_DENIED; with it -> served", async () => {
    for (const [path, rule] of protectedMethods) {
      const other = rule.permission === "audit:read" ? "keys:read" : "audit:read";
      const lacking = await tokenFor("urn:authz:management", managementId, [other]);
      expect((await rawCall(path, lacking)).code, path).toBe(grpc.status.PERMISSION_DENIED);
      const right = await tokenFor("urn:authz:management", managementId, [rule.permission]);
      const { code } = await rawCall(path, right);
      expect([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED], path).not.toContain(code);
    }
  });

  test("an expired management token -> UNAUTHENTICATED", async () => {
    const token = await tokenFor("urn:authz:management", managementId, ["api_servers:read"]);
    expect((await rawCall("/authz.v1.ApiServerService/ListApiServers", token)).code).toBe(grpc.status.OK);
    (t.clock as ManualClock).advance(3601);
    expect((await rawCall("/authz.v1.ApiServerService/ListApiServers", token)).code).toBe(grpc.status.UNAUTHENTICATED);
    admin = await t.adminToken(true);
  });

  test("public endpoints and infrastructure stay open", async () => {
    expect((await rawCall("/authz.v1.OAuthService/GetJwks")).code).toBe(grpc.status.OK);
    expect((await rawCall("/authz.v1.OAuthService/GetServerMetadata")).code).toBe(grpc.status.OK);
    expect((await rawCall("/grpc.health.v1.Health/Check")).code).toBe(grpc.status.OK);
  });

  test("a spoofed actor header is ignored: the audit actor is the token's client", async () => {
    const client = new grpc.Client(t.address, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${admin}`);
    md.set("x-authz-actor", "cl_spoofed");
    await new Promise<void>((resolve) => client.makeUnaryRequest("/authz.v1.KeyService/RotateKeys", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, () => resolve()));
    client.close();
    const { events } = await t.clients.audit.listAuditEvents({ pageSize: 1, pageToken: "", actor: "", resourceId: "" });
    expect(events[0]?.method).toBe("authz.v1.KeyService/RotateKeys");
    expect(events[0]?.actor).toBe(t.adminClientId);
  });
});

describe("over HTTP", () => {
  test("no token -> 401 with WWW-Authenticate; lacking permission -> 403; right -> neither", async () => {
    const lacking = await tokenFor("urn:authz:management", managementId, ["audit:read"]);
    for (const [path, rule] of protectedMethods) {
      const { method, url } = httpRoute(path);
      const send = async (token?: string) => {
        const res = await fetch(`${t.httpUrl}${url}`, {
          method,
          headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: method === "GET" || method === "DELETE" ? undefined : "{}",
        });
        if (streaming.has(path) && res.status === 200) await res.body?.cancel(); // a served watch stays open
        return res;
      };
      const none = await send();
      expect(none.status, path).toBe(401);
      expect(none.headers.get("www-authenticate"), path).toMatch(/^Bearer /);
      expect((await none.json()).code, path).toBe(16);
      if (rule.permission !== "audit:read") expect((await send(lacking)).status, path).toBe(403);
      const served = await send(admin);
      expect([401, 403], path).not.toContain(served.status);
    }
  });
});
