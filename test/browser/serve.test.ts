import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleRoutes } from "../../src/console/serve.js";

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const INDEX = '<!doctype html><title>console</title><script type="module" src="/console/assets/index-abc123.js"></script>';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A raw request: node:http sends the path as given (fetch would normalize `..`). */
function send(server: Server, method: string, path: string): Promise<Reply> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

function serve(distDir: string): Promise<Server> {
  const routes = createConsoleRoutes({ distDir });
  const server = createServer((req, res) => {
    if (routes(req, res)) return;
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not the console");
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function expectSecurityHeaders(r: Reply) {
  expect(r.headers["content-security-policy"]).toBe(CSP);
  expect(r.headers["x-content-type-options"]).toBe("nosniff");
  expect(r.headers["referrer-policy"]).toBe("no-referrer");
  expect(r.headers["x-frame-options"]).toBe("DENY");
}

describe("console static routes", () => {
  let dir: string;
  let server: Server;
  let missing: Server;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "console-serve-"));
    const dist = join(dir, "dist");
    mkdirSync(join(dist, "assets"), { recursive: true });
    writeFileSync(join(dist, "index.html"), INDEX);
    writeFileSync(join(dist, "assets", "index-abc123.js"), "console.log('app')");
    writeFileSync(join(dist, "assets", "index-def456.css"), "body{}");
    writeFileSync(join(dir, "secret.txt"), "TOP-SECRET");
    writeFileSync(join(dist, "assets", "..secret"), "dotted");
    server = await serve(dist);
    missing = await serve(join(dir, "no-such-dist"));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await new Promise((r) => missing.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("redirects /console to /console/ with 308, keeping the query", async () => {
    const r = await send(server, "GET", "/console");
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe("/console/");
    expectSecurityHeaders(r);
    expect((await send(server, "GET", "/console?x=1")).headers.location).toBe("/console/?x=1");
  });

  it("serves index.html at /console/ with no-cache and the security headers", async () => {
    const r = await send(server, "GET", "/console/");
    expect(r.status).toBe(200);
    expect(r.body).toBe(INDEX);
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.headers["cache-control"]).toBe("no-cache");
    expectSecurityHeaders(r);
  });

  it("falls back to index.html for client-side routes", async () => {
    for (const path of ["/console/api-servers", "/console/api-servers/as_123/settings?x=1", "/console/applications/cl_x/apis"]) {
      const r = await send(server, "GET", path);
      expect(r.status, path).toBe(200);
      expect(r.body).toBe(INDEX);
      expect(r.headers["cache-control"]).toBe("no-cache");
    }
  });

  it("serves hashed assets as immutable with their content types, and 404s missing ones", async () => {
    const js = await send(server, "GET", "/console/assets/index-abc123.js");
    expect(js.status).toBe(200);
    expect(js.body).toBe("console.log('app')");
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expectSecurityHeaders(js);
    const css = await send(server, "GET", "/console/assets/index-def456.css");
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
    const gone = await send(server, "GET", "/console/assets/index-000000.js");
    expect(gone.status).toBe(404);
    expectSecurityHeaders(gone);
  });

  it("answers HEAD without a body and refuses other methods with 405", async () => {
    const head = await send(server, "HEAD", "/console/");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(INDEX)));
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const r = await send(server, method, "/console/");
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toBe("GET, HEAD");
      expectSecurityHeaders(r);
    }
  });

  it("never serves a file outside the dist (traversal in any spelling)", async () => {
    const attempts = [
      "/console/../secret.txt",
      "/console/assets/../../secret.txt",
      "/console/%2e%2e/secret.txt",
      "/console/%2E%2E/secret.txt",
      "/console/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
      "/console/..%2fsecret.txt",
      "/console/.%2e/secret.txt",
      "/console/assets/..\\..\\secret.txt",
      "/console/assets/%5c..%5csecret.txt",
      "/console/index.html%00.js",
      "/console/%00",
      "/console/assets/..secret",
      "/console/%zz",
      "/console//etc/passwd",
      "/console/%2fetc%2fpasswd",
    ];
    for (const path of attempts) {
      const r = await send(server, "GET", path);
      expect(r.status, path).toBe(400);
      expect(r.body).not.toContain("TOP-SECRET");
      expectSecurityHeaders(r);
    }
  });

  it("leaves every other path to the API", async () => {
    for (const path of ["/", "/consolex", "/console.js", "/v1/api-servers", "/oauth/token"]) {
      const r = await send(server, "GET", path);
      expect(r.body, path).toBe("not the console");
    }
  });

  it("answers 503 while the console is not built", async () => {
    const r = await send(missing, "GET", "/console/");
    expect(r.status).toBe(503);
    expect(r.body).toContain("console not built: run npm run build:console");
    expectSecurityHeaders(r);
  });

  it("keeps the files in memory once read", async () => {
    const dist = join(dir, "dist2");
    mkdirSync(join(dist, "assets"), { recursive: true });
    writeFileSync(join(dist, "index.html"), INDEX);
    writeFileSync(join(dist, "assets", "a-1.js"), "one");
    const s = await serve(dist);
    try {
      expect((await send(s, "GET", "/console/assets/a-1.js")).body).toBe("one");
      rmSync(dist, { recursive: true, force: true });
      expect((await send(s, "GET", "/console/assets/a-1.js")).body).toBe("one");
      expect((await send(s, "GET", "/console/")).body).toBe(INDEX);
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});
