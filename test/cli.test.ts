import * as grpc from "@grpc/grpc-js";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ApiServerServiceClient } from "../gen/authz/v1/api_server.js";
import { IssueTokenRequest, TokenServiceClient } from "../gen/authz/v1/token.js";
import { banner, killAll, run, serve, stop } from "./helpers/process.js";
import { promisify } from "./helpers/promisify.js";

const dir = mkdtempSync(join(tmpdir(), "authz-cli-"));
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const ephemeral = ["--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0"];

/** grpc.health.v1.Health/Check with a generic client: an empty request is `service: ""`; the reply's field 1 is the status (1 = SERVING). */
async function healthCheck(port: number): Promise<{ code: grpc.status; serving: boolean }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) =>
    client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err, res?: Buffer) => {
      client.close();
      resolve({ code: err?.code ?? grpc.status.OK, serving: res !== undefined && res.equals(Buffer.from([0x08, 0x01])) });
    }),
  );
}

async function token(httpPort: number, id: string, secret: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${httpPort}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` },
    body: "grant_type=client_credentials&audience=urn%3Aauthz%3Amanagement",
  });
}

/** A listener holding a port, to make `authz serve` fail to bind it. */
async function occupyPort(): Promise<{ port: number; server: NetServer }> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe("help and configuration errors", () => {
  test("--help lists the commands, flags and environment variables", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    for (const flag of ["serve", "--data-file", "--grpc-address", "--http-address", "--no-gateway", "--issuer", "--log-level", "--registration", "AUTHZ_DATA_FILE", "AUTHZ_GRPC_ADDRESS", "AUTHZ_HTTP_ADDRESS", "AUTHZ_GATEWAY", "AUTHZ_ISSUER", "AUTHZ_LOG_LEVEL", "AUTHZ_KEY_ENCRYPTION_KEY", "AUTHZ_ADMIN_CLIENT_ID", "AUTHZ_ADMIN_CLIENT_SECRET", "reset-secret", "api-servers"]) {
      expect(stdout).toContain(flag);
    }
    expect((await run(["serve", "--help"])).stdout).toContain("--grpc-address");
  });

  test("no command prints the help and exits 2; an unknown command exits 2 naming it", async () => {
    expect((await run([])).code).toBe(2);
    const unknown = await run(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  test.each<[string, string[], Record<string, string>, string]>([
    ["a bad --grpc-address", ["--grpc-address", "nonsense"], {}, 'grpcAddress must be host:port, got "nonsense"'],
    ["a port out of range", ["--http-address", "127.0.0.1:70000"], {}, "httpAddress must be host:port"],
    ["a bad --log-level", ["--log-level", "loud"], {}, "logLevel must be debug, info, warn or error"],
    ["a bad issuer", ["--issuer", "not a url"], {}, "issuer must be an absolute URL"],
    ["an unknown flag", ["--colour", "blue"], {}, "Unknown option '--colour'"],
    ["a bad AUTHZ_LOG_LEVEL", [], { AUTHZ_LOG_LEVEL: "loud" }, "logLevel must be debug, info, warn or error"],
    ["AUTHZ_GATEWAY that is not true/false", [], { AUTHZ_GATEWAY: "0" }, 'AUTHZ_GATEWAY must be true or false, got "0"'],
    ["a short AUTHZ_ADMIN_CLIENT_SECRET", [], { AUTHZ_ADMIN_CLIENT_ID: "ops", AUTHZ_ADMIN_CLIENT_SECRET: "short-secret-value" }, "adminClientSecret must be at least 32 characters"],
    ["a bad AUTHZ_KEY_ENCRYPTION_KEY", [], { AUTHZ_KEY_ENCRYPTION_KEY: "c2hvcnQ" }, "keyEncryptionKey must be base64url of exactly 32 bytes"],
  ])("%s exits 1 with a clear one-line message, before touching the data file", async (_name, args, env, message) => {
    const dataFile = join(dir, `bad-${Math.random().toString(36).slice(2)}.db`);
    const { code, stderr } = await run(["serve", "--data-file", dataFile, ...ephemeral, ...args], env);
    expect(code).toBe(1);
    expect(stderr).toContain(message);
    expect(stderr.trim().split("\n")).toHaveLength(1); // no stack trace
    expect(stderr).not.toContain("short-secret-value");
    expect(existsSync(dataFile)).toBe(false);
  });

  test("a port in use exits 1 naming the address, for gRPC and for HTTP (nothing left running)", async () => {
    const busy = await occupyPort();
    try {
      const grpcBusy = await run(["serve", "--data-file", join(dir, "busy.db"), "--grpc-address", `127.0.0.1:${busy.port}`, "--no-gateway"]);
      expect(grpcBusy.code).toBe(1);
      expect(grpcBusy.stderr).toContain(`cannot listen on 127.0.0.1:${busy.port} (gRPC)`);
      // The gRPC listener is up by then: the process must still stop rather than hang.
      const httpBusy = await run(["serve", "--data-file", join(dir, "busy.db"), "--grpc-address", "127.0.0.1:0", "--http-address", `127.0.0.1:${busy.port}`]);
      expect(httpBusy.code).toBe(1);
      expect(httpBusy.stderr).toContain(`cannot listen on 127.0.0.1:${busy.port} (HTTP): listen EADDRINUSE`);
    } finally {
      busy.server.close();
    }
  });
});

describe("data at rest (issue 10, items 14 and 15)", () => {
  test("a missing KEK file with signing keys in the store fails every start with one clear line, and no new KEK is written", async () => {
    const data = join(dir, "kek-missing", "authz.db");
    const first = await serve(["--data-file", data, "--no-gateway", "--grpc-address", "127.0.0.1:0"]);
    expect(await stop(first)).toBe(0);
    const kekFile = join(dir, "kek-missing", "authz.kek");
    rmSync(kekFile);
    for (let attempt = 0; attempt < 2; attempt++) {
      const again = await run(["serve", "--data-file", data, "--no-gateway", "--grpc-address", "127.0.0.1:0"]);
      expect(again.code).toBe(1);
      const lines = again.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^authz: invalid configuration: .*authz\.kek is missing, but the store holds signing keys/);
      expect(existsSync(kekFile)).toBe(false);
    }
  });

  test("the data directory is created 0700, the database and its WAL 0600", async () => {
    const folder = join(dir, "private", "nested");
    const data = join(folder, "authz.db");
    const r = await serve(["--data-file", data, "--no-gateway", "--grpc-address", "127.0.0.1:0"]);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(statSync(data).mode & 0o777).toBe(0o600);
    expect(statSync(`${data}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(join(folder, "authz.kek")).mode & 0o777).toBe(0o600);
    expect(await stop(r)).toBe(0);
  });
});

describe("serving", () => {
  test("gRPC only, data file from AUTHZ_DATA_FILE: health SERVING, GetApiServer works, SIGTERM twice stops cleanly with exit 0", async () => {
    const dataFile = join(dir, "env-file", "authz.db");
    const r = await serve(["--grpc-address", "127.0.0.1:0", "--no-gateway"], { env: { AUTHZ_DATA_FILE: dataFile } });
    expect(r.httpPort).toBeUndefined();
    expect(r.logs.find((l) => l.msg === "grpc listening")).toMatchObject({ dataFile, port: r.grpcPort });
    expect(existsSync(dataFile)).toBe(true);
    expect(await healthCheck(r.grpcPort)).toEqual({ code: grpc.status.OK, serving: true });

    const admin = banner(r.stderr)!;
    const address = `127.0.0.1:${r.grpcPort}`;
    const tokens = promisify(new TokenServiceClient(address, grpc.credentials.createInsecure()));
    const { accessToken } = await tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: admin.id, clientSecret: admin.secret }, audience: "urn:authz:management" }));
    const apiServers = promisify(new ApiServerServiceClient(address, grpc.credentials.createInsecure()));
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${accessToken}`);
    const { apiServer } = await apiServers.getApiServer({ id: "as_management" }, metadata);
    expect(apiServer).toMatchObject({ identifier: "urn:authz:management", system: true });
    tokens.raw.close();
    apiServers.raw.close();

    r.proc.kill("SIGTERM");
    r.proc.kill("SIGTERM"); // an impatient supervisor
    expect(await r.exited).toBe(0);
    const messages = r.logs.map((l) => l.msg);
    expect(messages.filter((m) => m === "shutting down")).toHaveLength(1);
    expect(messages.at(-1)).toBe("stopped");
    expect(r.stderr.join("\n")).not.toContain(accessToken);
  });

  test("behind Envoy: --no-gateway with --console-address serves the console alone there, and nothing else", async () => {
    const r = await serve(["--data-file", join(dir, "console", "authz.db"), "--no-gateway", "--grpc-address", "127.0.0.1:0", "--console-address", "127.0.0.1:0"]);
    const { port } = (await r.logged("console listening")) as { port: number };
    const page = await fetch(`http://127.0.0.1:${port}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect((await fetch(`http://127.0.0.1:${port}/v1/api-servers`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/oauth/token`, { method: "POST" })).status).toBe(404);
    expect(await stop(r)).toBe(0);
  });

  test("flags win over environment variables", async () => {
    const dataFile = join(dir, "precedence.db");
    const r = await serve(["--data-file", dataFile, "--grpc-address", "127.0.0.1:0", "--log-level", "info", "--no-gateway"], {
      env: { AUTHZ_DATA_FILE: join(dir, "env-loses.db"), AUTHZ_GRPC_ADDRESS: "nonsense", AUTHZ_LOG_LEVEL: "loud", AUTHZ_GATEWAY: "true" },
    });
    expect(r.logs.find((l) => l.msg === "grpc listening")).toMatchObject({ dataFile, address: "127.0.0.1:0" });
    expect(existsSync(join(dir, "env-loses.db"))).toBe(false);
    expect(await stop(r)).toBe(0);
    expect(r.logs.some((l) => l.msg === "http listening")).toBe(false);
  });
});

describe("a newcomer's first start", () => {
  const dataFile = join(dir, "first", "authz.db");

  test("prints the admin once; the admin gets a management token over HTTP and manages API servers with the CLI; SIGTERM stops cleanly", async () => {
    const first = await serve(["--data-file", dataFile, ...ephemeral]);
    const admin = banner(first.stderr);
    expect(admin?.id).toMatch(/^cl_/);
    expect(await healthCheck(first.grpcPort)).toEqual({ code: grpc.status.OK, serving: true });
    expect(statSync(join(dir, "first", "authz.kek")).mode & 0o777).toBe(0o600);

    const res = await token(first.httpPort!, admin!.id, admin!.secret);
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    const list = await fetch(`http://127.0.0.1:${first.httpPort}/v1/api-servers`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(list.status).toBe(200);
    // The web console is on the same port (npm ci built it; the harness rebuilds it if its sources are newer).
    const page = await fetch(`http://127.0.0.1:${first.httpPort}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await page.text()).toMatch(/<script type="module"[^>]* src="\/console\/assets\/index-[\w-]+\.js"/);

    const env = { AUTHZ_GRPC_ADDRESS: `127.0.0.1:${first.grpcPort}`, AUTHZ_ADMIN_CLIENT_ID: admin!.id, AUTHZ_ADMIN_CLIENT_SECRET: admin!.secret };
    const created = await run(["api-servers", "create", "--name", "Orders", "--identifier", "https://orders.cli.example.com", "--permission", "orders:read=Read orders", "--json"], env);
    expect(created.code).toBe(0);
    const server = JSON.parse(created.stdout) as { id: string; permissions: Array<{ value: string; description: string }> };
    expect(server.permissions).toEqual([{ value: "orders:read", description: "Read orders" }]);
    const table = await run(["api-servers", "list"], env);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+IDENTIFIER/m);
    expect(table.stdout).toContain("https://orders.cli.example.com");
    const client = await run(["clients", "create", "--name", "billing", "--json"], env);
    const { client: c, clientSecret } = JSON.parse(client.stdout) as { client: { clientId: string }; clientSecret: string };
    expect(clientSecret).toHaveLength(43);
    const grant = await run(["grants", "create", "--client-id", c.clientId, "--api-server-id", server.id, "--scope", "orders:read", "--json"], env);
    expect(grant.code).toBe(0);
    expect((await run(["grants", "list", "--client-id", c.clientId], env)).stdout).toContain(server.id);
    expect((await run(["api-servers", "delete", server.id], env)).code).toBe(0);
    const gone = await run(["api-servers", "get", server.id], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("not found");
    const noCreds = await run(["api-servers", "list"], { AUTHZ_GRPC_ADDRESS: env.AUTHZ_GRPC_ADDRESS, AUTHZ_ADMIN_CLIENT_ID: "", AUTHZ_ADMIN_CLIENT_SECRET: "" });
    expect(noCreds.code).toBe(1);

    expect(await stop(first)).toBe(0);
    expect(first.logs.at(-1)?.msg).toBe("stopped");
    expect(first.stderr.join("\n")).not.toContain(access_token);

    // Restart: the credentials are never printed again, and still work.
    const second = await serve(["--data-file", dataFile, ...ephemeral]);
    expect(banner(second.stderr)).toBeUndefined();
    const secondToken = ((await (await token(second.httpPort!, admin!.id, admin!.secret)).json()) as { access_token: string }).access_token;
    // Locked out some other way: the admin switched to private_key_jwt with a key whose private half is lost.
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const locked = await fetch(`http://127.0.0.1:${second.httpPort}/v1/clients/${admin!.id}?update_mask=token_endpoint_auth_method,jwks`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${secondToken}`, "content-type": "application/json" },
      body: JSON.stringify({ token_endpoint_auth_method: "PRIVATE_KEY_JWT", jwks: { keys: [publicKey.export({ format: "jwk" })] } }),
    });
    expect(locked.status, await locked.text()).toBe(200);
    expect((await token(second.httpPort!, admin!.id, admin!.secret)).status).toBe(401);
    expect(await stop(second)).toBe(0);

    // Lost secret (or locked out): reset it on the data file; the old one stops working, the new one is all it takes.
    const reset = await run(["admin", "reset-secret", "--data-file", dataFile]);
    expect(reset.code).toBe(0);
    const fresh = banner([reset.stderr]);
    expect(fresh?.id).toBe(admin!.id);
    const third = await serve(["--data-file", dataFile, ...ephemeral]);
    expect((await token(third.httpPort!, admin!.id, admin!.secret)).status).toBe(401);
    const restored = await token(third.httpPort!, fresh!.id, fresh!.secret);
    expect(restored.status).toBe(200);
    expect(((await restored.json()) as { scope: string }).scope.split(" ")).toEqual(expect.arrayContaining(["clients:write", "grants:write", "keys:write"]));
    expect(await stop(third)).toBe(0);
  }, 120_000); // a dozen CLI processes, each compiling TypeScript on start

  test("admin credentials from the environment are used and not printed", async () => {
    const id = "ops-admin";
    const secret = "s".repeat(20) + "0123456789abcdefghij";
    const r = await serve(["--data-file", join(dir, "env", "authz.db"), ...ephemeral], { env: { AUTHZ_ADMIN_CLIENT_ID: id, AUTHZ_ADMIN_CLIENT_SECRET: secret } });
    expect(banner(r.stderr)).toBeUndefined();
    expect(r.stderr.join("\n")).not.toContain(secret);
    expect((await token(r.httpPort!, id, secret)).status).toBe(200);
    expect(await stop(r)).toBe(0);
  });
});

/**
 * Faults are injected from outside the product: a preload module (`node
 * --import`) that, on SIGUSR2, leaves a promise rejection unhandled or throws
 * from an event listener, as a bug in any dependency might.
 */
describe("stray errors in a running service", () => {
  const injector = (body: string) => {
    const file = join(dir, `inject-${Math.random().toString(36).slice(2)}.mjs`);
    writeFileSync(file, `process.on("SIGUSR2", () => { ${body} });\n`);
    return ["--import", file];
  };

  test("an unhandled rejection is logged as one JSON line and the service keeps serving", async () => {
    const r = await serve(["--data-file", join(dir, "rejection.db"), "--grpc-address", "127.0.0.1:0", "--no-gateway"], {
      nodeArgs: injector(`Promise.reject(new TypeError("injected rejection"));`),
    });
    r.proc.kill("SIGUSR2");
    const line = await r.logged("unhandled rejection");
    expect(line).toMatchObject({ level: "error", error: "TypeError", detail: "injected rejection" });
    expect(await healthCheck(r.grpcPort)).toEqual({ code: grpc.status.OK, serving: true });
    expect(await stop(r)).toBe(0);
  });

  test("an uncaught exception is logged as one JSON line and the process exits 1", async () => {
    const r = await serve(["--data-file", join(dir, "uncaught.db"), "--grpc-address", "127.0.0.1:0", "--no-gateway"], {
      nodeArgs: injector(`throw new RangeError("injected throw");`),
    });
    r.proc.kill("SIGUSR2");
    expect(await r.exited).toBe(1);
    expect(r.logs.find((l) => l.msg === "uncaught exception; exiting")).toMatchObject({ level: "error", error: "RangeError", detail: "injected throw" });
    // Only JSON log lines and the admin banner: no raw stack dump on stderr.
    expect(r.stderr.filter((l) => /^\s+at /.test(l))).toEqual([]);
  });
});
