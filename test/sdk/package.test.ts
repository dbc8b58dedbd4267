// Packaging: `npm pack` the SDK workspace, install the tarball into a fresh
// project outside the repository, type-check and build the example there with
// the root's TypeScript, and run it against a live authz: granted -> 200,
// lacking scope -> 403 with the challenge, no token -> 401; and (pending on the
// server) a revoked token refused through the revocation watch.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthzClients, TokenSource, type AuthzClients } from "../../sdk/src/index.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const TSC = join(ROOT, "node_modules/.bin/tsc");
// Pinned to the root's versions so the install is served from the npm cache.
const INSTALL = ["express@5.3.0", "@types/express@5.0.6", "@types/node@20.19.43"];

/** The environment without npm's per-run settings (vitest runs under npx). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")));
  return { ...env, ...extra };
}

let work: string;
let t: TestServer;
let authz: AuthzClients;
let admin: TokenSource;
let service: ChildProcess | undefined;
let serviceLog = "";
let ordersUrl: string;
let audience: string;
const creds: Record<"reader" | "writer" | "rs", { clientId: string; secret: string }> = {} as never;

beforeAll(async () => {
  // 1. Pack the workspace (prepack builds dist/) into a temp directory outside the repo.
  work = mkdtempSync(join(tmpdir(), "authz-sdk-pack-"));
  const packDir = join(work, "pack");
  const appDir = join(work, "app");
  for (const d of [packDir, appDir]) await run("mkdir", ["-p", d]);
  const packed = await run("npm", ["pack", "-w", "sdk", "--pack-destination", packDir, "--json"], { cwd: ROOT, env: cleanEnv(), maxBuffer: 16 << 20 });
  const [{ filename, files }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const paths = files.map((f) => f.path);
  expect(paths).toContain("dist/index.js");
  expect(paths).toContain("dist/index.d.ts");
  expect(paths).toContain("dist/middleware/express.js");
  expect(paths.some((p) => p.startsWith("examples/") || p.startsWith("node_modules/"))).toBe(false);
  const tarball = join(packDir, filename.replace(/^@authz\//, "authz-"));

  // 2. A fresh project that installs the tarball and Express, with the example and its tsconfig.
  writeFileSync(join(appDir, "package.json"), JSON.stringify({ name: "orders-example", private: true, type: "module" }, null, 2));
  await run("npm", ["install", tarball, ...INSTALL, "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: appDir,
    env: cleanEnv(),
    maxBuffer: 16 << 20,
  });
  for (const f of ["orders-service.ts", "orders-caller.ts", "tsconfig.json"]) copyFileSync(join(ROOT, "sdk/examples", f), join(appDir, f));

  // 3. Type-check and build there with the root's TypeScript (skipLibCheck off: the SDK's .d.ts are checked too).
  await run(TSC, ["-p", join(appDir, "tsconfig.json")], { cwd: appDir }).catch((err: { stdout?: string }) => {
    throw new Error(`the example does not type-check against the packed SDK:\n${err.stdout}`);
  });
  // The runtime resolves @authz/sdk from the temp project, not the repository.
  expect(readFileSync(join(appDir, "node_modules/@authz/sdk/package.json"), "utf8")).toContain('"name": "@authz/sdk"');
  // Express and Fastify are optional peers: every entry point loads without Fastify installed
  // (the middleware imports them as types only).
  const probe = [
    'const sdk = await import("@authz/sdk");',
    'await import("@authz/sdk/express");',
    'const f = await import("@authz/sdk/fastify");',
    'const gen = await import("@authz/sdk/gen/authz/v1/api_server.js");',
    "console.log(JSON.stringify([typeof sdk.TokenSource, typeof sdk.createVerifier, typeof f.fastifyAuth, typeof gen.CreateApiServerRequest.fromPartial,",
    // Sender-constrained tokens (DPoP, certificate binding) are in the package too.
    "typeof sdk.createDpopProof, typeof sdk.generateDpopKey, typeof sdk.verifyDpopProof, typeof sdk.MemoryDpopReplayCache, typeof sdk.certificateThumbprint]));",
  ].join(" ");
  const loaded = await run(process.execPath, ["--input-type=module", "-e", probe], { cwd: appDir });
  expect(JSON.parse(loaded.stdout)).toEqual(Array(9).fill("function"));
  await expect(run(process.execPath, ["--input-type=module", "-e", 'await import("fastify")'], { cwd: appDir })).rejects.toThrow(); // really absent

  // 4. A live authz, an orders API server and three clients.
  t = await startTestServer();
  admin = new TokenSource({ address: t.address, clientId: t.adminClientId, clientSecret: t.adminClientSecret, audience: "urn:authz:management" });
  authz = createAuthzClients({ address: t.address, token: admin, defaultTimeoutMs: 10_000 });
  audience = `https://orders-${process.pid}-${Date.now()}.example.com`;
  const { apiServer } = await authz.apiServers.createApiServer({
    apiServer: { name: "Orders", identifier: audience, permissions: [{ value: "orders:read" }, { value: "orders:write" }] },
  });
  const management = (await authz.apiServers.listApiServers({ filter: 'identifier = "urn:authz:management"' })).apiServers[0];
  expect(management?.identifier).toBe("urn:authz:management");
  const client = async (name: string) => {
    const res = await authz.clients.createClient({ client: { name } }); // client_secret_basic (the default)
    return { clientId: res.client!.clientId, secret: res.clientSecret };
  };
  creds.reader = await client("orders-reader");
  creds.writer = await client("orders-writer");
  creds.rs = await client("orders-service");
  await authz.grants.createGrant({ grant: { clientId: creds.reader.clientId, apiServerId: apiServer!.id, scopes: ["orders:read"] } });
  await authz.grants.createGrant({ grant: { clientId: creds.writer.clientId, apiServerId: apiServer!.id, scopes: ["orders:write"] } });
  // The resource server: tokens:introspect for the watch, and a grant to its own API server to see its tokens.
  await authz.grants.createGrant({ grant: { clientId: creds.rs.clientId, apiServerId: management!.id, scopes: ["tokens:introspect"] } });
  await authz.grants.createGrant({ grant: { clientId: creds.rs.clientId, apiServerId: apiServer!.id, scopes: ["orders:read"] } });

  // 5. Run the example resource server.
  service = spawn(process.execPath, [join(appDir, "dist/orders-service.js")], {
    cwd: appDir,
    env: cleanEnv({
      AUTHZ_ISSUER: t.config.issuer,
      AUTHZ_GRPC_ADDRESS: t.address,
      ORDERS_AUDIENCE: audience,
      ORDERS_CLIENT_ID: creds.rs.clientId,
      ORDERS_CLIENT_SECRET: creds.rs.secret,
      AUTHZ_WATCH_FAIL_MODE: "closed",
      // Generous for slow CI while the server lacks WatchRevocations (the stale -> 503 path is unit-tested).
      AUTHZ_WATCH_MAX_STALE_SECONDS: "120",
      PORT: "0",
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  ordersUrl = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`orders-service did not start:\n${serviceLog}`)), 20_000);
    const onData = (chunk: Buffer) => {
      serviceLog += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(serviceLog);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    };
    service!.stdout!.on("data", onData);
    service!.stderr!.on("data", (c: Buffer) => (serviceLog += c.toString()));
    service!.once("exit", (code) => reject(new Error(`orders-service exited (${code}):\n${serviceLog}`)));
  });
}, 300_000);

afterAll(async () => {
  if (service && service.exitCode === null) {
    const exited = new Promise((r) => service!.once("exit", r));
    service.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (service.exitCode === null) service.kill("SIGKILL");
  }
  authz?.close();
  admin?.close();
  await t?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

function tokens(who: "reader" | "writer") {
  return new TokenSource({ issuer: t.config.issuer, clientId: creds[who].clientId, clientSecret: creds[who].secret, audience });
}

describe("the packed SDK in a fresh project, against a live authz", () => {
  it("the example caller (TokenSource over HTTP) gets 200 with orders:read", async () => {
    const out = await run(process.execPath, [join(work, "app/dist/orders-caller.js")], {
      cwd: join(work, "app"),
      env: cleanEnv({
        AUTHZ_ISSUER: t.config.issuer,
        ORDERS_AUDIENCE: audience,
        CALLER_CLIENT_ID: creds.reader.clientId,
        CALLER_CLIENT_SECRET: creds.reader.secret,
        ORDERS_URL: ordersUrl,
      }),
    });
    const result = JSON.parse(out.stdout.trim()) as { status: number; body: { client: string; scopes: string[] } };
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ client: creds.reader.clientId, scopes: ["orders:read"] });
  });

  it("a client granted only orders:write gets 403 with WWW-Authenticate insufficient_scope", async () => {
    const writer = tokens("writer");
    const res = await writer.fetch(`${ordersUrl}/orders`);
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_scope", .*scope="orders:read"$/);
    writer.close();
  });

  it("no token -> 401 with WWW-Authenticate: Bearer", async () => {
    const res = await fetch(`${ordersUrl}/orders`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("an invalid token -> 401 invalid_token", async () => {
    const res = await fetch(`${ordersUrl}/orders`, { headers: { authorization: "Bearer eyJhbGciOiJub25lIn0.e30." } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
  });

  // The example verifies locally with the watch on and no introspection, so only
  // the watch can make it refuse the revoked token.
  it("a revoked token is refused through the watch, without introspection", async () => {
    const reader = tokens("reader");
    try {
      const token = await reader.token();
      const call = () => fetch(`${ordersUrl}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect((await call()).status).toBe(200);

      const revoke = await fetch(`${t.httpUrl}/oauth/revoke`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(creds.reader.clientId)}:${encodeURIComponent(creds.reader.secret)}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
      });
      expect(revoke.status).toBe(200);

      // Poll the example (no fixed sleep) until it answers 401, with a deadline.
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await call()).status;
        if (status === 401) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const health = (await (await fetch(`${ordersUrl}/healthz`)).json()) as {
        watch?: { state: string; cursor: string; lastError?: { code: string; grpcCode?: number } };
      };
      expect(
        status,
        `the revoked token was still answered ${status} after 15 s; ` +
          `the example's revocation watch: ${JSON.stringify({ state: health.watch?.state, cursor: health.watch?.cursor, lastError: health.watch?.lastError })}`,
      ).toBe(401);
    } finally {
      reader.close();
    }
  }, 30_000);
});
