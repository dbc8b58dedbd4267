import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { ApiServerServiceClient, CreateApiServerRequest, ListApiServersRequest, ListApiServersResponse } from "../gen/authz/v1/api_server.js";
import { FileDescriptorProto } from "../gen/google/protobuf/descriptor.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import { createLogger } from "../src/log.js";
import type { Route } from "../src/gateway/routes.js";
import { ClientHangup } from "../src/gateway/upstream.js";
import { promisify } from "./helpers/promisify.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

const require = createRequire(import.meta.url);
const protoRoot = (pkg: string) => dirname(require.resolve(`${pkg}/package.json`));
const healthProto = grpc.loadPackageDefinition(loadSync(join(protoRoot("grpc-health-check"), "proto/health/v1/health.proto"), { enums: String })) as any;
const reflectionProto = (version: "v1" | "v1alpha") =>
  (grpc.loadPackageDefinition(loadSync(join(protoRoot("@grpc/reflection"), `build/proto/grpc/reflection/${version}/reflection.proto`))) as any).grpc.reflection[version];

const running: TestServer[] = [];
afterEach(async () => {
  for (const t of running.splice(0)) await t.cleanup().catch(() => {});
});
async function start(...args: Parameters<typeof startTestServer>) {
  const t = await startTestServer(...args);
  running.push(t);
  return t;
}

type HealthClient = grpc.Client & Record<string, Function>;
function healthClient(address: string): HealthClient {
  return new healthProto.grpc.health.v1.Health(address, grpc.credentials.createInsecure()) as HealthClient;
}
function check(health: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => health.Check({ service }, (err: grpc.ServiceError | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))));
}
/** Opens a Watch stream and resolves once its first status arrived; `statuses` keeps filling. */
async function watch(health: HealthClient, service: string) {
  const stream = health.Watch({ service }) as grpc.ClientReadableStream<{ status: string }>;
  const statuses: string[] = [];
  const waiters: Array<{ status: string; resolve: () => void }> = [];
  stream.on("data", (m: { status: string }) => {
    statuses.push(m.status);
    for (const w of waiters.filter((w) => w.status === m.status)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const ended = new Promise<grpc.status>((resolve) => stream.on("status", (s: grpc.StatusObject) => resolve(s.code)));
  stream.on("error", () => {});
  const until = (status: string) => (statuses.includes(status) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ status, resolve })));
  await new Promise<void>((resolve) => stream.once("data", () => resolve()));
  return { stream, statuses, until, ended };
}

describe("persistence", () => {
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

  test("list order and page tokens survive a restart; a refused write before it left nothing behind", async () => {
    const first = await startTestServer();
    const prefix = `https://restart-${Date.now()}.example.com/`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createApiServer(first, { identifier: `${prefix}${i}` })).id);
    const refused = await rpcError(createApiServer(first, { identifier: `${prefix}bad`, audiences: [`${prefix}0`] }));
    expect(refused.code).toBe(grpc.status.ALREADY_EXISTS);
    const filter = `identifier = "${prefix}*"`;
    const page = await first.clients.apiServers.listApiServers(ListApiServersRequest.fromPartial({ pageSize: 2, filter }));
    await first.stop();

    const second = await start({ dataFile: first.dataFile, kek: first.kek, config: { adminClientId: first.adminClientId, adminClientSecret: first.adminClientSecret } });
    const rest = await second.clients.apiServers.listApiServers(ListApiServersRequest.fromPartial({ pageSize: 10, pageToken: page.nextPageToken, filter }));
    expect([...page.apiServers, ...rest.apiServers].map((s) => s.id)).toEqual(ids);
    // The refused create claimed nothing, even across the restart.
    expect((await createApiServer(second, { identifier: `${prefix}bad` })).identifier).toBe(`${prefix}bad`);
  });

  test("a wrong key-encryption key fails start-up clearly", async () => {
    const first = await startTestServer();
    await first.stop();
    await expect(startTestServer({ dataFile: first.dataFile, kek: Buffer.alloc(32, 7) })).rejects.toThrow(/cannot decrypt signing key .*wrong key-encryption key/);
  });
});

describe("health", () => {
  test("SERVING overall and per service; an unknown service is NOT_FOUND", async () => {
    const t = await start();
    const health = healthClient(t.address);
    expect(await check(health, "")).toBe("SERVING");
    for (const service of ["authz.v1.ApiServerService", "authz.v1.TokenService", "authz.v1.OAuthService"]) expect(await check(health, service)).toBe("SERVING");
    expect((await check(health, "authz.v1.NoSuchService").catch((err: grpc.ServiceError) => err.code))).toBe(grpc.status.NOT_FOUND);
    health.close();
  });

  test("a graceful shutdown turns every status NOT_SERVING and waits for the open call", async () => {
    const t = await startTestServer();
    const health = healthClient(t.address);
    // Server-streaming Watch calls stay in flight across the shutdown: they
    // report the status change, and shutdown cannot finish while they are open.
    const overall = await watch(health, "");
    const perService = await watch(health, "authz.v1.ApiServerService");
    let stopped = false;
    const stopping = t.stop().then(() => (stopped = true));
    await overall.until("NOT_SERVING");
    await perService.until("NOT_SERVING");
    expect(overall.statuses).toEqual(["SERVING", "NOT_SERVING"]);
    expect(perService.statuses).toEqual(["SERVING", "NOT_SERVING"]);
    // New calls are refused while draining (the listener is closed).
    const fresh = promisify(new ApiServerServiceClient(t.address, grpc.credentials.createInsecure()));
    expect((await rpcError(fresh.getApiServer({ id: "as_x" }))).code).toBe(grpc.status.UNAVAILABLE);
    fresh.raw.close();
    expect(stopped).toBe(false); // still waiting for the open calls
    overall.stream.cancel();
    perService.stream.cancel();
    await stopping;
    expect(stopped).toBe(true);
    health.close();
  });

  test("after the grace period, shutdown cancels calls that are still open and resolves", async () => {
    const t = await startTestServer({ config: { shutdownGraceSeconds: 0 } });
    const health = healthClient(t.address);
    const open = await watch(health, "");
    await t.stop(); // resolves although the Watch call was never ended by the client
    expect(await open.ended).not.toBe(grpc.status.OK);
    expect(t.server.shutdown()).toBe(t.server.shutdown()); // idempotent: one shutdown, the same promise
    health.close();
  });
});

/**
 * A unary call in flight across the start of a graceful shutdown, made
 * honestly: a raw HTTP/2 client sends the call's headers but holds back its
 * message, so the server has an open stream and no handler can have finished.
 * A PING round trip proves the server has read those headers (HTTP/2 frames
 * are processed in order, RFC 9113 §6.7). Shutdown then starts (the client
 * sees GOAWAY, RFC 9113 §6.8); only afterwards is the message sent. The real
 * ListApiServers handler answers it in full, and shutdown resolves only after
 * that response.
 */
test("graceful shutdown lets an in-flight unary call complete before it resolves", async () => {
  const t = await startTestServer();
  const token = await t.adminToken();
  const session = connect(`http://${t.address}`);
  session.on("error", () => {}); // a broken shutdown shows up in the assertions below
  await new Promise<void>((resolve, reject) => session.once("connect", () => resolve()).once("error", reject));
  const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
  const stream = session.request({
    ":method": "POST",
    ":path": "/authz.v1.ApiServerService/ListApiServers",
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${token}`,
  });
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  const trailers = new Promise<IncomingHttpHeaders>((resolve) => stream.once("trailers", (h) => resolve(h)));
  await ping(session);

  const events: string[] = [];
  const stopping = t.stop().then(() => events.push("stopped"));
  await goaway;
  expect(events).toEqual([]);

  const message = Buffer.from(ListApiServersRequest.encode(ListApiServersRequest.fromPartial({ pageSize: 10 })).finish());
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
  frame.writeUInt32BE(message.length, 1);
  stream.end(frame);
  const status = await trailers;
  events.push("response");
  expect(status["grpc-status"]).toBe("0");
  const body = Buffer.concat(chunks);
  const response = ListApiServersResponse.decode(body.subarray(5, 5 + body.readUInt32BE(1)));
  expect(response.apiServers.map((s) => s.identifier)).toContain("urn:authz:management");

  await stopping;
  expect(events).toEqual(["response", "stopped"]);
  session.close();
});

function ping(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
}

describe("reflection", () => {
  const services = ["authz.v1.ApiServerService", "authz.v1.ClientService", "authz.v1.GrantService", "authz.v1.KeyService", "authz.v1.TokenService", "authz.v1.OAuthService", "authz.v1.AuditService", "grpc.health.v1.Health"];

  async function ask(address: string, version: "v1" | "v1alpha", request: object): Promise<any> {
    const client = new (reflectionProto(version).ServerReflection)(address, grpc.credentials.createInsecure());
    const stream = client.ServerReflectionInfo();
    try {
      return await new Promise<any>((resolve, reject) => {
        stream.once("data", resolve);
        stream.once("error", reject);
        stream.write(request);
      });
    } finally {
      stream.end();
      client.close();
    }
  }

  test.each(["v1", "v1alpha"] as const)("%s lists the services", async (version) => {
    const t = await start();
    const response = await ask(t.address, version, { listServices: "" });
    const names = response.listServicesResponse.service.map((s: { name: string }) => s.name);
    expect(names).toEqual(expect.arrayContaining(services));
  });

  /** What a reflection client such as grpcurl does: the file declaring a symbol, then each import it lacks, by file name. */
  async function resolve(address: string, symbol: string) {
    const files = new Map<string, FileDescriptorProto>();
    const add = (res: any) => {
      const decoded = (res.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((b) => FileDescriptorProto.decode(b));
      for (const f of decoded) files.set(f.name!, f);
      return decoded[0]!;
    };
    const root = add(await ask(address, "v1", { fileContainingSymbol: symbol }));
    for (;;) {
      const missing = [...new Set([...files.values()].flatMap((f) => f.dependency))].filter((d) => !files.has(d));
      if (missing.length === 0) return { root, files };
      for (const name of missing) add(await ask(address, "v1", { fileByFilename: name }));
    }
  }

  test("describes a service with its real file and imports, so a client can link every type (grpcurl describe)", async () => {
    const t = await start();
    const { root, files } = await resolve(t.address, "authz.v1.ApiServerService");
    expect(root.name).toBe("authz/v1/api_server.proto");
    expect(root.service.map((s) => s.name)).toEqual(["ApiServerService"]);
    expect(root.service[0]!.method.map((m) => m.name)).toEqual(["CreateApiServer", "GetApiServer", "ListApiServers", "UpdateApiServer", "DeleteApiServer"]);
    expect(root.dependency).toEqual(expect.arrayContaining(["google/protobuf/timestamp.proto", "google/protobuf/field_mask.proto", "authz/v1/common.proto"]));

    // As protoc links: every type a file names is declared in that file or in one it imports.
    const declaredIn = new Map<string, string>();
    for (const f of files.values()) {
      const walk = (scope: string, messages: FileDescriptorProto["messageType"]) => {
        for (const m of messages) {
          declaredIn.set(`${scope}.${m.name}`, f.name!);
          for (const e of m.enumType) declaredIn.set(`${scope}.${m.name}.${e.name}`, f.name!);
          walk(`${scope}.${m.name}`, m.nestedType);
        }
      };
      walk(`.${f.package}`, f.messageType);
      for (const e of f.enumType) declaredIn.set(`.${f.package}.${e.name}`, f.name!);
    }
    const referenced = [...root.messageType.flatMap((m) => m.field.map((field) => field.typeName)), ...root.service[0]!.method.flatMap((m) => [m.inputType, m.outputType])].filter((x): x is string => Boolean(x));
    expect(referenced).toContain(".google.protobuf.Timestamp");
    for (const type of referenced) expect([root.name, ...root.dependency], type).toContain(declaredIn.get(type));

    const unknown = await ask(t.address, "v1", { fileContainingSymbol: "authz.v1.Nope" });
    expect(unknown.errorResponse.errorCode).toBe(grpc.status.NOT_FOUND);
  });

  test("the health service is described too (grpcurl ... grpc.health.v1.Health/Check needs no local proto)", async () => {
    const t = await start();
    const { root } = await resolve(t.address, "grpc.health.v1.Health");
    expect(root.service.map((s) => s.name)).toEqual(["Health"]);
    expect(root.service[0]!.method.map((m) => m.name)).toEqual(expect.arrayContaining(["Check", "Watch"]));
  });
});

describe("logs", () => {
  test("one line per call with method, status and duration; never request contents, secrets or tokens", async () => {
    const lines: string[] = [];
    const t = await start({ logger: createLogger("debug", (l) => lines.push(l)) });
    const marker = `very-distinctive-${Date.now()}`;
    await t.clients.apiServers.createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "Logged", identifier: `https://${marker}.example.com`, description: marker } }));
    // A refused request carrying the marker in several fields is not logged either.
    const refused = await rpcError(t.clients.apiServers.createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: `${marker}\u0000`, identifier: `https://${marker} space`, description: marker } })));
    expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
    const s = await createApiServer(t);
    const { client, secret } = await createClient(t);
    await grant(t, client.clientId, s.id, []);
    const { accessToken } = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: s.identifier }));
    await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: `${secret}-wrong` }, audience: s.identifier })).catch(() => {});

    const all = lines.join("");
    for (const hidden of [marker, secret, accessToken, t.adminClientSecret, await t.adminToken()]) expect(all).not.toContain(hidden);
    const rpc = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "rpc");
    const creates = rpc.filter((l) => l.method === "/authz.v1.ApiServerService/CreateApiServer");
    expect(creates.map((l) => l.code)).toEqual(["OK", "INVALID_ARGUMENT", "OK"]);
    for (const l of creates) expect(Object.keys(l).sort()).toEqual(["code", "level", "method", "ms", "msg", "time"]);
    expect(rpc.find((l) => l.method === "/authz.v1.TokenService/IssueToken" && l.code === "UNAUTHENTICATED")).toBeDefined();
    for (const l of rpc) expect(typeof l.ms).toBe("number");
  });

  test("a call whose caller went away is logged once, as CANCELLED, whatever the handler then did", async () => {
    const lines: string[] = [];
    const t = await startTestServer({ logger: createLogger("info", (l) => lines.push(l)) });
    const gone = new ClientHangup();
    gone.hangUp();
    const route = { grpcPath: "/authz.v1.OAuthService/GetJwks", httpBodyResponseField: undefined } as unknown as Route;
    const reply = await t.server.inProcess.unary({ route, request: new Uint8Array(), headers: [], deadline: Date.now() + 5_000, hangup: gone, peer: "127.0.0.1" });
    expect(reply.code).toBe(grpc.status.CANCELLED);
    await t.cleanup();
    const rpc = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "rpc" && l.method === "/authz.v1.OAuthService/GetJwks");
    expect(rpc).toEqual([expect.objectContaining({ code: "CANCELLED", level: "info" })]);
  });
});
