import * as grpc from "@grpc/grpc-js";
import { propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type Sampler } from "@opentelemetry/sdk-trace-base";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";
import { createLogger, silentLogger } from "../../src/log.js";
import { createOpsServer } from "../../src/ops/server.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** The ops listener of a test server on an ephemeral port (main.ts binds it in production). */
export async function startOps(t: TestServer): Promise<{ url: string; close(): Promise<void> }> {
  const { metrics, readiness } = t.server.operations;
  const server = createOpsServer(
    { metrics: async () => ({ body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }), readiness: () => ({ ready: readiness.ready(), state: readiness.state() }) },
    silentLogger,
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** One scrape: every sample by `name{label="value",...}` (labels sorted) -> value. */
export async function scrape(opsUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${opsUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseExposition(await res.text());
}

/** The Prometheus text format, parsed enough for assertions. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable sample: ${line}`);
    const labels = [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    out.set(series(m[1]!, labels), Number(m[3]));
  }
  return out;
}

/** A series key as `parseExposition` writes it: `series("authz_ready")`, `series("x_total", { code: "OK" })`. */
export function series(name: string, labels: Record<string, string> | string[] = {}): string {
  const parts = Array.isArray(labels) ? labels : Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort();
  return parts.length ? `${name}{${parts.join(",")}}` : name;
}

/** What changed between two scrapes in the series of these metric families (name prefixes), as key -> delta. */
export function deltas(before: Map<string, number>, after: Map<string, number>, families: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of after) {
    if (!families.some((f) => key === f || key.startsWith(`${f}{`))) continue;
    const d = value - (before.get(key) ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

/** grpc.health.v1.Health/Check for `service` (""): the serving status (1 SERVING, 2 NOT_SERVING). */
export async function healthStatus(address: string, service = ""): Promise<number> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const body = service ? Buffer.concat([Buffer.from([0x0a, service.length]), Buffer.from(service)]) : Buffer.alloc(0);
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, body, (err, res?: Buffer) => {
      client.close();
      if (err) return reject(err);
      resolve(res && res.length >= 2 && res[0] === 0x08 ? res[1]! : 0);
    }),
  );
}

/** An HTTP request from a chosen local address (127.0.0.0/8 is all loopback on Linux): a second "source" for the per-address limits. */
export function postFrom(localAddress: string, url: string, headers: Record<string, string | string[]>, body: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { ...headers, "content-length": Buffer.byteLength(body) }, localAddress }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * A test server under what an OpenTelemetry SDK configured by OTEL_* would
 * register (a tracer provider with `sampler`, default parent-based always on,
 * and the W3C propagator), spans to memory and log lines parsed; hooks
 * registered for the calling test file, torn down after it.
 */
export function tracedTestServer(sampler?: Sampler): { exporter: InMemorySpanExporter; logs: Array<Record<string, unknown>>; server(): TestServer } {
  const exporter = new InMemorySpanExporter();
  const logs: Array<Record<string, unknown>> = [];
  let t: TestServer | undefined;
  beforeAll(async () => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ ...(sampler ? { sampler } : {}), spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    t = await startTestServer({ logger: createLogger("info", (line) => logs.push(JSON.parse(line) as Record<string, unknown>)) });
  });
  afterAll(async () => {
    await t?.cleanup();
    trace.disable();
    propagation.disable();
  });
  return { exporter, logs, server: () => t! };
}
