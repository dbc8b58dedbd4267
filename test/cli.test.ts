import * as grpc from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, test } from "vitest";

const BIN = new URL("../bin/authz.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "authz-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  proc: ChildProcess;
  stderr: string[];
  grpcPort: number;
  httpPort: number;
  exited: Promise<number | null>;
}

/** Starts `authz serve` and resolves once both listeners have logged their ports. */
function serve(dataFile: string, env: Record<string, string> = {}): Promise<Running> {
  const proc = spawn(process.execPath, [BIN, "serve", "--data-file", dataFile, "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let grpcPort = 0;
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      stderr.push(line);
      const parsed = line.startsWith("{") ? (JSON.parse(line) as { msg: string; port?: number }) : undefined;
      if (parsed?.msg === "grpc listening") grpcPort = parsed.port!;
      if (parsed?.msg === "http listening") resolve({ proc, stderr, grpcPort, httpPort: parsed.port!, exited });
    });
    exited.then((code) => reject(new Error(`authz exited with ${code}: ${stderr.join("\n")}`)));
  });
}

/** Runs a one-shot CLI command; resolves its exit code and output. */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (d: Buffer) => (stdout += d));
  proc.stderr!.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve) => proc.on("exit", (code) => resolve({ code, stdout, stderr })));
}

async function stop(r: Running): Promise<number | null> {
  r.proc.kill("SIGTERM");
  return r.exited;
}

function banner(stderr: string[]): { id: string; secret: string } | undefined {
  const text = stderr.join("\n");
  const id = /AUTHZ_ADMIN_CLIENT_ID=(\S+)/.exec(text)?.[1];
  const secret = /AUTHZ_ADMIN_CLIENT_SECRET=(\S+)/.exec(text)?.[1];
  return id && secret ? { id, secret } : undefined;
}

async function healthCheck(port: number): Promise<grpc.status> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) =>
    client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => {
      client.close();
      resolve(err?.code ?? grpc.status.OK);
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

test("--help lists the commands, flags and environment variables", async () => {
  const { code, stdout } = await run(["--help"]);
  expect(code).toBe(0);
  for (const flag of ["serve", "--data-file", "--grpc-address", "--http-address", "--no-gateway", "AUTHZ_DATA_FILE", "AUTHZ_ADMIN_CLIENT_SECRET", "reset-secret", "api-servers"]) expect(stdout).toContain(flag);
});

test("invalid configuration exits 1 with a clear message", async () => {
  const { code, stderr } = await run(["serve", "--grpc-address", "nonsense", "--data-file", join(dir, "bad.db")]);
  expect(code).toBe(1);
  expect(stderr).toContain("grpcAddress must be host:port");
});

describe("a newcomer's first start", () => {
  const dataFile = join(dir, "first", "authz.db");

  test("prints the admin once; the admin gets a management token over HTTP and manages API servers with the CLI; SIGTERM stops cleanly", async () => {
    const first = await serve(dataFile);
    const admin = banner(first.stderr);
    expect(admin?.id).toMatch(/^cl_/);
    expect(await healthCheck(first.grpcPort)).toBe(grpc.status.OK);
    expect(statSync(join(dir, "first", "authz.kek")).mode & 0o777).toBe(0o600);

    const res = await token(first.httpPort, admin!.id, admin!.secret);
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    const list = await fetch(`http://127.0.0.1:${first.httpPort}/v1/api-servers`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(list.status).toBe(200);

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
    expect(first.stderr.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    expect(first.stderr.join("\n")).not.toContain(access_token);

    // Restart: the credentials are never printed again, and still work.
    const second = await serve(dataFile);
    expect(banner(second.stderr)).toBeUndefined();
    expect((await token(second.httpPort, admin!.id, admin!.secret)).status).toBe(200);
    expect(await stop(second)).toBe(0);

    // Lost secret: reset it on the data file; the old one stops working.
    const reset = await run(["admin", "reset-secret", "--data-file", dataFile]);
    expect(reset.code).toBe(0);
    const fresh = banner([reset.stderr]);
    expect(fresh?.id).toBe(admin!.id);
    const third = await serve(dataFile);
    expect((await token(third.httpPort, admin!.id, admin!.secret)).status).toBe(401);
    expect((await token(third.httpPort, fresh!.id, fresh!.secret)).status).toBe(200);
    expect(await stop(third)).toBe(0);
  });

  test("admin credentials from the environment are used and not printed", async () => {
    const id = "ops-admin";
    const secret = "s".repeat(20) + "0123456789abcdefghij";
    const r = await serve(join(dir, "env", "authz.db"), { AUTHZ_ADMIN_CLIENT_ID: id, AUTHZ_ADMIN_CLIENT_SECRET: secret });
    expect(banner(r.stderr)).toBeUndefined();
    expect(r.stderr.join("\n")).not.toContain(secret);
    expect((await token(r.httpPort, id, secret)).status).toBe(200);
    expect(await stop(r)).toBe(0);
  });
});
