// Limit process for the observability scenario: a minimal node:http token
// endpoint that does what authz cannot do without (read the form, sign a
// fresh ES256 access token, answer JSON) inside the spans authz makes per
// token request: a server span with the rpc attributes, and two step spans
// under it, through @opentelemetry/api only. Run with and without an SDK
// preloaded (NODE_OPTIONS=--import=bench/procs/otel_*.mjs), its on/off ratio
// is what recording those spans costs a server that does nothing else: the
// floor under authz's own ratio.
import { propagation, ROOT_CONTEXT, SpanKind, trace, type TextMapGetter } from "@opentelemetry/api";
import { generateKeyPairSync, sign } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { listenForBench } from "../lib/listen.js";
import { signingInput } from "../lib/token_shape.js";

const tracer = trace.getTracer("floor");
const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const key = { key: privateKey, dsaEncoding: "ieee-p1363" as const };
const getter: TextMapGetter<IncomingHttpHeaders> = {
  get: (h, k) => h[k] as string | undefined,
  keys: (h) => Object.keys(h),
};
const SERVER = {
  kind: SpanKind.SERVER,
  // authz's server span attributes (src/pipeline/pipeline.ts rpcAttributes), no more.
  attributes: { "rpc.system": "grpc", "rpc.service": "authz.v1.OAuthService", "rpc.method": "Token" },
};

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers, getter);
    const span = tracer.startSpan("authz.v1.OAuthService/Token", SERVER, parent);
    span.setAttribute("network.peer.address", req.socket.remoteAddress ?? "");
    const ctx = trace.setSpan(parent, span);
    const auth = tracer.startSpan("oauth.authenticate_client", undefined, ctx);
    auth.setAttribute("oauth.client_auth.method", "client_secret_basic");
    const form = new URLSearchParams(Buffer.concat(chunks).toString("latin1"));
    auth.end();
    const grant = tracer.startSpan(`oauth.grant ${form.get("grant_type") ?? "none"}`, undefined, ctx);
    const input = signingInput("ES256");
    const token = `${input}.${sign("sha256", Buffer.from(input, "latin1"), key).toString("base64url")}`;
    grant.end();
    const body = JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: 3600, scope: "orders:read" });
    span.setAttribute("rpc.grpc.status_code", 0);
    span.end();
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
    res.end(body);
  });
});
listenForBench(server);
