import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, Socket, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { banner, killAll, serve, stop } from "../helpers/process.js";
import { parseExposition, series } from "./helpers.js";

/** `authz serve` binds the ops listener (issue 15): /metrics, /healthz, /readyz off the public ports. */
const dir = mkdtempSync(join(tmpdir(), "authz-ops-cli-"));
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const ephemeral = ["--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0"];
const dataFile = () => join(dir, `${Math.random().toString(36).slice(2)}.db`);

describe("authz serve --ops-address", () => {
  test("serves /metrics (with the call just made), /healthz and /readyz", async () => {
    const r = await serve([...ephemeral, "--data-file", dataFile(), "--ops-address", "127.0.0.1:0"]);
    try {
      const port = (await r.logged("ops listening")).port as number;
      const admin = banner(r.stderr)!;
      const res = await fetch(`http://127.0.0.1:${r.httpPort}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${admin.id}:${admin.secret}`).toString("base64")}` },
        body: "grant_type=client_credentials&audience=urn%3Aauthz%3Amanagement",
      });
      expect(res.status).toBe(200);
      const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(scrape.status).toBe(200);
      expect(scrape.headers.get("content-type")).toContain("text/plain");
      const text = await scrape.text();
      const m = parseExposition(text);
      expect(m.get(series("authz_rpc_requests_total", { method: "/authz.v1.OAuthService/Token", transport: "http", code: "OK" }))).toBe(1);
      expect(m.get(series("authz_tokens_issued_total", { api_server: "as_management" }))).toBe(1);
      expect(m.get(series("authz_ready"))).toBe(1);
      expect(text).not.toContain(admin.secret);
      expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ status: "alive" });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect([ready.status, await ready.json()]).toEqual([200, { status: "ready" }]);
      expect((await fetch(`http://127.0.0.1:${port}/anything`)).status).toBe(404);
      // Not on the public port.
      expect((await fetch(`http://127.0.0.1:${r.httpPort}/metrics`)).status).toBe(404);
    } finally {
      expect(await stop(r)).toBe(0);
    }
  });

  test("on SIGTERM /readyz says stopping at once, while an HTTP request still in flight holds the listeners open", async () => {
    const r = await serve([...ephemeral, "--data-file", dataFile(), "--ops-address", "127.0.0.1:0"]);
    const port = (await r.logged("ops listening")).port as number;
    // A request whose body never ends: the gateway waits for it (up to its request timeout) before it closes.
    const held = new Socket();
    await new Promise<void>((resolve) => held.connect(r.httpPort!, "127.0.0.1", resolve));
    held.write("POST /oauth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type=");
    try {
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      r.proc.kill("SIGTERM");
      await r.logged("shutting down");
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect([ready.status, await ready.json()]).toEqual([503, { status: "stopping" }]);
      expect(r.proc.exitCode).toBeNull(); // still draining
    } finally {
      held.destroy();
      expect(await r.exited).toBe(0);
    }
  });

  test('--ops-address "" serves none; an ops port in use is an error line, not a failed start', async () => {
    const off = await serve([...ephemeral, "--data-file", dataFile(), "--ops-address", ""]);
    expect(off.logs.some((l) => l.msg === "ops listening")).toBe(false);
    expect(await stop(off)).toBe(0);

    const holder = createNetServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = (holder.address() as { port: number }).port;
    try {
      const r = await serve([...ephemeral, "--data-file", dataFile()], { env: { AUTHZ_OPS_ADDRESS: `127.0.0.1:${taken}` } });
      expect(r.logs.find((l) => l.msg === "cannot listen on the ops address; serving without /metrics, /healthz and /readyz")).toMatchObject({ level: "error", address: `127.0.0.1:${taken}` });
      expect(r.httpPort).toBeGreaterThan(0); // serving all the same
      expect(await stop(r)).toBe(0);
    } finally {
      holder.close();
    }
  });

  test("with --workers 2 the supervisor serves the replicas' metrics summed", async () => {
    const r = await serve([...ephemeral, "--data-file", dataFile(), "--ops-address", "127.0.0.1:0", "--workers", "2"], { env: { AUTHZ_ADMIN_CLIENT_ID: "ops-admin", AUTHZ_ADMIN_CLIENT_SECRET: "x".repeat(40) } });
    try {
      const port = (await r.logged("ops listening")).port as number;
      // Both replicas are up (each logs it) before the supervisor asks them.
      await new Promise<void>((resolve) => {
        const check = () => {
          if (r.logs.filter((l) => l.msg === "http listening").length < 2) return;
          r.proc.stderr!.off("data", check);
          resolve();
        };
        r.proc.stderr!.on("data", check); // after the line reader's listener: `logs` is up to date
        check();
      });
      const m = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      expect(m.has(series("authz_ready"))).toBe(true);
      expect(m.get(series("authz_signing_keys", { alg: "ES256", state: "active" }))).toBe(1); // max over replicas, not a sum
    } finally {
      expect(await stop(r)).toBe(0);
    }
  });
});

/** An OTLP/HTTP collector on an ephemeral port: every request it got, and the body of the first that names `traceId`. */
async function startCollector(traceId: string) {
  const requests: Array<{ method?: string; url?: string; body: string }> = [];
  let arrived: (body: string) => void = () => {};
  const exported = new Promise<string>((resolve) => (arrived = resolve));
  const collector = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      requests.push({ method: req.method, url: req.url, body });
      if (body.includes(traceId)) arrived(body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  return { endpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`, requests, exported, close: () => collector.close() };
}

describe("trace export by the standard OTEL_* variables", () => {
  test("OTEL_EXPORTER_OTLP_ENDPOINT: a call's spans reach the collector by OTLP/HTTP, in the caller's trace, named by OTEL_SERVICE_NAME", async () => {
    const traceId = randomBytes(16).toString("hex");
    const { endpoint, requests, exported, close } = await startCollector(traceId);
    const r = await serve([...ephemeral, "--data-file", dataFile(), "--ops-address", ""], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "authz-test", OTEL_BSP_SCHEDULE_DELAY: "20" } });
    try {
      expect(r.logs.find((l) => l.msg === "tracing on: spans exported by OTLP/HTTP")).toMatchObject({ endpoint });
      const res = await fetch(`http://127.0.0.1:${r.httpPort}/.well-known/jwks.json`, { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` } });
      expect(res.status).toBe(200);
      const body = await exported;
      expect(requests.find((q) => q.body.includes(traceId))).toMatchObject({ method: "POST", url: "/v1/traces" });
      const spans = (JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ traceId: string; name: string }> }> }> }).resourceSpans;
      expect(spans[0]!.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue).toBe("authz-test");
      const names = spans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)).filter((sp) => sp.traceId === traceId).map((sp) => sp.name);
      expect(names).toContain("authz.v1.OAuthService/GetJwks");
      // The call's log line names the trace as well.
      expect(await r.logged("rpc")).toMatchObject({ method: "/authz.v1.OAuthService/GetJwks", trace_id: traceId });
    } finally {
      expect(await stop(r)).toBe(0);
      close();
    }
  });

  test("OTEL_TRACES_SAMPLER (the README's setting for load, here at ratio 0): calls of the service's own are not recorded and their log lines name no trace; a caller's sampled trace is followed", async () => {
    const traceId = randomBytes(16).toString("hex");
    const { endpoint, requests, exported, close } = await startCollector(traceId);
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0", OTEL_BSP_SCHEDULE_DELAY: "20" };
    const r = await serve([...ephemeral, "--data-file", dataFile(), "--ops-address", ""], { env });
    try {
      // First a call with no trace of the caller's, then one the caller sampled: spans leave in the order they end.
      expect((await fetch(`http://127.0.0.1:${r.httpPort}/.well-known/jwks.json`)).status).toBe(200);
      const unsampledLine = await r.logged("rpc");
      expect((await fetch(`http://127.0.0.1:${r.httpPort}/.well-known/oauth-authorization-server`, { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` } })).status).toBe(200);
      await exported;
      const names = requests.flatMap((q) => [...q.body.matchAll(/"name":"([^"]+)"/g)].map((m) => m[1]));
      expect(names).toContain("authz.v1.OAuthService/GetServerMetadata");
      expect(names).not.toContain("authz.v1.OAuthService/GetJwks");
      expect(unsampledLine).toMatchObject({ method: "/authz.v1.OAuthService/GetJwks" });
      expect(unsampledLine).not.toHaveProperty("trace_id");
    } finally {
      expect(await stop(r)).toBe(0);
      close();
    }
  });

  test("without them (or with OTEL_SDK_DISABLED=true) nothing is exported and no SDK is loaded", async () => {
    const r = await serve([...ephemeral, "--data-file", dataFile(), "--ops-address", ""], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_SDK_DISABLED: "true" } });
    try {
      const res = await fetch(`http://127.0.0.1:${r.httpPort}/.well-known/jwks.json`, { headers: { traceparent: `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01` } });
      expect(res.status).toBe(200);
      expect(r.logs.some((l) => l.msg === "tracing on: spans exported by OTLP/HTTP")).toBe(false);
      expect(await r.logged("rpc")).not.toHaveProperty("trace_id");
    } finally {
      expect(await stop(r)).toBe(0);
    }
  });
});
