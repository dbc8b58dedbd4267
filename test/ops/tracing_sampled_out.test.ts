import { AlwaysOffSampler, ParentBasedSampler } from "@opentelemetry/sdk-trace-base";
import { randomBytes } from "node:crypto";
import { beforeAll, expect, test } from "vitest";
import { createApiServer, createClient, grant } from "../helpers/oauth.js";
import type { TestServer } from "../helpers/server.js";
import { tracedTestServer } from "./helpers.js";

/**
 * Log lines under a sampler that keeps no call of its own (what a ratio
 * sampler does to most): a call's line names its trace only when that trace
 * exists somewhere — recorded here (the caller sampled it) or continued from
 * the caller (an id the caller knows) — never the fresh id of a trace nobody
 * records.
 */
const { exporter, logs, server } = tracedTestServer(new ParentBasedSampler({ root: new AlwaysOffSampler() }));
let t: TestServer;
beforeAll(() => {
  t = server();
});

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

async function tokenCall(traceparent?: string): Promise<Record<string, unknown>> {
  const api = await createApiServer(t);
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, api.id, ["orders:read"]);
  const before = logs.length;
  const res = await fetch(`${t.httpUrl}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(traceparent ? { traceparent } : {}) },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: client.clientId, client_secret: secret, audience: api.identifier }).toString(),
  });
  expect(res.status).toBe(200);
  const line = logs.slice(before).find((l) => l.msg === "rpc" && l.method === "/authz.v1.OAuthService/Token");
  expect(line).toBeDefined();
  return line!;
}

test("a call without a traceparent, sampled out: recorded nowhere, and its log line names no trace", async () => {
  exporter.reset();
  const line = await tokenCall();
  expect(exporter.getFinishedSpans().filter((s) => s.name === "authz.v1.OAuthService/Token")).toEqual([]);
  expect(line).not.toHaveProperty("trace_id");
  expect(line).not.toHaveProperty("span_id");
});

test("a caller's unsampled trace: not recorded, but the log line carries the caller's trace id", async () => {
  exporter.reset();
  const traceId = hex(16);
  const line = await tokenCall(`00-${traceId}-${hex(8)}-00`);
  expect(exporter.getFinishedSpans()).toEqual([]);
  expect(line.trace_id).toBe(traceId);
});

test("a caller's sampled trace: recorded, and the log line names the server span", async () => {
  exporter.reset();
  const traceId = hex(16);
  const line = await tokenCall(`00-${traceId}-${hex(8)}-01`);
  const server = exporter.getFinishedSpans().find((s) => s.name === "authz.v1.OAuthService/Token" && s.spanContext().traceId === traceId);
  expect(server).toBeDefined();
  expect(line).toMatchObject({ trace_id: traceId, span_id: server!.spanContext().spanId });
});
