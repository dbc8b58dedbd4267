import * as grpc from "@grpc/grpc-js";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, test } from "vitest";
import { IssueTokenRequest, TokenServiceClient } from "../../gen/authz/v1/token.js";
import { createApiServer, createClient, grant } from "../helpers/oauth.js";
import type { TestServer } from "../helpers/server.js";
import { tracedTestServer } from "./helpers.js";

/**
 * W3C trace context over HTTP and gRPC (issue 15, item 2): what an
 * OpenTelemetry SDK configured by OTEL_* would register, here with an
 * in-memory exporter. The service itself only uses @opentelemetry/api, and
 * carries trace context explicitly: no context manager is registered here,
 * and parents still come out right.
 */
const { exporter, logs, server } = tracedTestServer();
let t: TestServer;
beforeAll(() => {
  t = server();
});

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

async function fixture() {
  const api = await createApiServer(t);
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, api.id, ["orders:read"]);
  return { api, client, secret };
}

const spansOf = (traceId: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

describe("a traceparent sent with a request", () => {
  test("over HTTP: the handler's span continues the caller's trace, with the token endpoint's steps and store calls under it, and the call's log line names the trace", async () => {
    const f = await fixture();
    const traceId = hex(16);
    const parentId = hex(8);
    const res = await fetch(`${t.httpUrl}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", traceparent: `00-${traceId}-${parentId}-01` },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: f.client.clientId, client_secret: f.secret, audience: f.api.identifier }).toString(),
    });
    expect(res.status).toBe(200);

    const spans = spansOf(traceId);
    const server = spans.find((s) => s.name === "authz.v1.OAuthService/Token")!;
    expect(server).toBeDefined();
    expect(server.parentSpanContext?.spanId).toBe(parentId);
    expect(server.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.service": "authz.v1.OAuthService", "rpc.method": "Token", "rpc.grpc.status_code": 0 });
    const under = (parent: ReadableSpan) => spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
    const steps = under(server).map((s) => s.name);
    expect(steps).toEqual(expect.arrayContaining(["oauth.authenticate_client", "oauth.grant client_credentials"]));
    // The client was new to this replica's cache: its lookup went to the store, in a span under the step that made it.
    const authSpan = spans.find((s) => s.name === "oauth.authenticate_client")!;
    expect(under(authSpan).map((s) => s.name)).toContain("store clients.get");

    const line = logs.find((l) => l.msg === "rpc" && l.trace_id === traceId);
    expect(line).toMatchObject({ method: "/authz.v1.OAuthService/Token", code: "OK", trace_id: traceId, span_id: server.spanContext().spanId });
    // Nothing of the request is in the spans: no secret, no token.
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain(f.secret);
  });

  test("over gRPC metadata, and a failed call's span is marked as an error", async () => {
    const f = await fixture();
    const traceId = hex(16);
    const client = new TokenServiceClient(t.address, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("traceparent", `00-${traceId}-${hex(8)}-01`);
    const code = await new Promise<grpc.status>((resolve) =>
      client.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: f.client.clientId, clientSecret: "wrong" }, audience: f.api.identifier }), md, (err) => resolve(err?.code ?? grpc.status.OK)),
    );
    client.close();
    expect(code).toBe(grpc.status.UNAUTHENTICATED);
    const server = spansOf(traceId).find((s) => s.name === "authz.v1.TokenService/IssueToken")!;
    expect(server.attributes["rpc.grpc.status_code"]).toBe(grpc.status.UNAUTHENTICATED);
    expect(server.status).toEqual({ code: 2, message: "invalid_client" }); // SpanStatusCode.ERROR with the RFC error code, never a message
    expect(spansOf(traceId).find((s) => s.name === "oauth.authenticate_client")?.status.code).toBe(2);
    expect(logs.find((l) => l.msg === "rpc" && l.trace_id === traceId)).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  test("without one, a call starts a trace of its own; background store reads start none", async () => {
    exporter.reset();
    const res = await fetch(`${t.httpUrl}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const roots = exporter.getFinishedSpans().filter((s) => s.parentSpanContext === undefined);
    expect(roots.map((s) => s.name)).toEqual(["authz.v1.OAuthService/GetJwks"]);
    await t.server.feed.catchUp(); // a change-feed read outside any call
    expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith("store "))).toEqual([]);
  });
});
