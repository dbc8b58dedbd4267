import { createServer, type Server } from "node:http";
import type { Logger } from "../log.js";
import { errorFields } from "../log.js";

export interface OpsSource {
  /** The Prometheus exposition and its content type. */
  metrics(): Promise<{ body: string; contentType: string }>;
  /** Readiness and its state name (`ready`, `starting`, `store_unreachable`, `stopping`, ...). */
  readiness(): { ready: boolean; state: string } | Promise<{ ready: boolean; state: string }>;
}

/**
 * The operations listener, off the public ports (unbound: main.ts listens):
 *   GET /metrics  Prometheus text exposition
 *   GET /healthz  liveness: 200 while the process serves at all
 *   GET /readyz   readiness: 200 when ready, 503 otherwise; the body names the state
 * Nothing else (404; other methods 405). No request data is ever echoed.
 */
export function createOpsServer(source: OpsSource, logger: Logger): Server {
  // The timeouts are enforced every second, not every 30 s (Node's default check): a few dozen
  // connections sending headers slowly must not hold every slot, or probes fail and the pod restarts.
  const server = createServer({ headersTimeout: 5_000, requestTimeout: 10_000, connectionsCheckingInterval: 1_000 }, (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    const reply = (status: number, contentType: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": contentType, "cache-control": "no-store", "content-length": Buffer.byteLength(body), ...extra });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "text/plain", "method not allowed\n", { allow: "GET, HEAD" }); // RFC 9110 §15.5.6
    if (path === "/healthz") return reply(200, "application/json", '{"status":"alive"}\n');
    const work =
      path === "/metrics"
        ? source.metrics().then(({ body, contentType }) => reply(200, contentType, body))
        : path === "/readyz"
          ? Promise.resolve(source.readiness()).then(({ ready, state }) => reply(ready ? 200 : 503, "application/json", `${JSON.stringify({ status: state })}\n`))
          : Promise.resolve(reply(404, "text/plain", "not found: /metrics, /healthz, /readyz\n"));
    work.catch((err: unknown) => {
      logger.error("ops endpoint failed", { path: path?.slice(0, 16), ...errorFields(err) });
      if (!res.headersSent) reply(500, "text/plain", "internal error\n");
    });
  });
  server.maxConnections = 64;
  server.keepAliveTimeout = 5_000;
  return server;
}
