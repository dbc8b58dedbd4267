import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { CreateApiServerRequest } from "../gen/authz/v1/api_server.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import { createLogger } from "../src/log.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

const require = createRequire(import.meta.url);
const protoRoot = (pkg: string) => dirname(require.resolve(`${pkg}/package.json`));
const healthProto = grpc.loadPackageDefinition(loadSync(join(protoRoot("grpc-health-check"), "proto/health/v1/health.proto"), { enums: String })) as any;
const reflectionProto = grpc.loadPackageDefinition(
  loadSync(join(protoRoot("@grpc/reflection"), "build/proto/grpc/reflection/v1/reflection.proto")),
) as any;

const running: TestServer[] = [];
afterEach(async () => {
  for (const t of running.splice(0)) await t.cleanup().catch(() => {});
});
async function start(...args: Parameters<typeof startTestServer>) {
  const t = await startTestServer(...args);
  running.push(t);
  return t;
}

function healthClient(address: string) {
  return new healthProto.grpc.health.v1.Health(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
}

test("state persists across a restart on the same file (same key-encryption key, same signing keys)", async () => {
  const first = await startTestServer();
  const s = await createApiServer(first);
  const { client, secret } = await createClient(first);
  await grant(first, client.clientId, s.id, ["orders:read"]);
  const kids = (await first.clients.keys.listKeys({})).keys.map((k) => k.kid).sort();
  await first.stop();

  const second = await start({ dataFile: first.dataFile, kek: first.kek, config: { adminClientId: first.adminClientId, adminClientSecret: first.adminClientSecret } });
  expect((await second.clients.apiServers.getApiServer({ id: s.id })).apiServer).toEqual(s);
  expect((await second.clients.keys.listKeys({})).keys.map((k) => k.kid).sort()).toEqual(kids);
  const token = await second.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: s.identifier }));
  expect(token.scope).toBe("orders:read");
  expect(second.server.bootstrap).toBeUndefined(); // the admin was created once, by the first start
});

test("a wrong key-encryption key fails start-up clearly", async () => {
  const first = await startTestServer();
  await first.stop();
  await expect(startTestServer({ dataFile: first.dataFile, kek: Buffer.alloc(32, 7) })).rejects.toThrow(/cannot decrypt signing key .*wrong key-encryption key/);
});

describe("health", () => {
  test("SERVING; during a graceful shutdown NOT_SERVING, and shutdown waits for the in-flight call", async () => {
    const t = await startTestServer();
    const health = healthClient(t.address);
    const check = await new Promise<{ status: string }>((resolve, reject) => health.Check({ service: "" }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res))));
    expect(check.status).toBe("SERVING");

    // A server-streaming Watch call stays in flight across the shutdown.
    const watch = health.Watch({ service: "" }) as grpc.ClientReadableStream<{ status: string }>;
    const statuses: string[] = [];
    const notServing = new Promise<void>((resolve) =>
      watch.on("data", (m: { status: string }) => {
        statuses.push(m.status);
        if (m.status === "NOT_SERVING") resolve();
      }),
    );
    watch.on("error", () => {});
    await new Promise<void>((resolve) => watch.once("data", () => resolve()));
    let stopped = false;
    const stopping = t.stop().then(() => (stopped = true));
    await notServing;
    expect(statuses).toEqual(["SERVING", "NOT_SERVING"]);
    expect(stopped).toBe(false); // still waiting for the open call
    watch.cancel();
    await stopping;
    expect(stopped).toBe(true);
    health.close();
  });
});

test("reflection lists the services", async () => {
  const t = await start();
  const client = new reflectionProto.grpc.reflection.v1.ServerReflection(t.address, grpc.credentials.createInsecure());
  const stream = client.ServerReflectionInfo();
  const response = await new Promise<any>((resolve, reject) => {
    stream.on("data", resolve);
    stream.on("error", reject);
    stream.write({ listServices: "" });
  });
  stream.end();
  client.close();
  const names = response.listServicesResponse.service.map((s: { name: string }) => s.name);
  expect(names).toEqual(expect.arrayContaining(["authz.v1.ApiServerService", "authz.v1.ClientService", "authz.v1.GrantService", "authz.v1.KeyService", "authz.v1.TokenService", "authz.v1.OAuthService", "authz.v1.AuditService"]));
});

test("one log line per call with method, status and duration; never request contents, secrets or tokens", async () => {
  const lines: string[] = [];
  const t = await start({ logger: createLogger("debug", (l) => lines.push(l)) });
  const marker = `very-distinctive-${Date.now()}`;
  await t.clients.apiServers.createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "Logged", identifier: `https://${marker}.example.com`, description: marker } }));
  const s = await createApiServer(t);
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, s.id, []);
  const { accessToken } = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: s.identifier }));
  await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: `${secret}-wrong` }, audience: s.identifier })).catch(() => {});

  const all = lines.join("");
  for (const hidden of [marker, secret, accessToken, t.adminClientSecret]) expect(all).not.toContain(hidden);
  const rpc = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "rpc");
  expect(rpc.find((l) => l.method === "/authz.v1.ApiServerService/CreateApiServer")).toMatchObject({ code: "OK", level: "info" });
  expect(rpc.find((l) => l.method === "/authz.v1.TokenService/IssueToken" && l.code === "UNAUTHENTICATED")).toBeDefined();
  for (const l of rpc) expect(typeof l.ms).toBe("number");
});
