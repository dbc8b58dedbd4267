import * as grpc from "@grpc/grpc-js";
import { fromBinary, toJsonString, type FileRegistry } from "@bufbuild/protobuf";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { descriptorRegistry } from "../descriptor.js";
import type { Logger } from "../log.js";
import { errorFields } from "../log.js";
import { BadPath, createMatcher, type Match } from "./match.js";
import { buildRequest, GatewayError } from "./request.js";
import { httpStatusOf, isResponseHeader, printOptions, statusBody } from "./response.js";
import { buildRoutes } from "./routes.js";
import { transcoderSettings, UPSTREAM_TIMEOUT_MS, type TranscoderSettings } from "./settings.js";

export interface GatewayOptions {
  /** host:port of the gRPC server (a real loopback connection, as Envoy has). */
  grpcTarget: string;
  logger: Logger;
  settings?: TranscoderSettings;
  registry?: FileRegistry;
}

export interface Gateway {
  server: ReturnType<typeof createHttpServer>;
  close(): Promise<void>;
}

/** Request headers that are hop-by-hop or transport detail, never metadata. */
const NOT_METADATA = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "content-type", "expect"]);

/**
 * The embedded HTTP/JSON gateway: the same google.api.http transcoding as
 * Envoy's grpc_json_transcoder, from the same descriptor and settings, in front
 * of the gRPC server over loopback. Unbound: main.ts (or a test) listens.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const settings = options.settings ?? transcoderSettings;
  const registry = options.registry ?? descriptorRegistry();
  const match = createMatcher(buildRoutes(registry, settings.services));
  const print = printOptions(settings, registry);
  const client = new grpc.Client(options.grpcTarget, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": settings.maxResponseBodySize * 2,
  });
  const identity = (b: Buffer) => b;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? "" : url.slice(q + 1);
    let found: Match | undefined;
    try {
      found = match(req.method ?? "GET", path);
    } catch (err) {
      if (err instanceof BadPath) return void sendLocal(res, 400, err.message);
      throw err;
    }
    if (!found) return void sendLocal(res, 404, `no route for ${req.method} ${path.slice(0, 200)}`);
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > settings.maxRequestBodySize) return void sendLocal(res, 413, "request body too large", true);
    const body = await readBody(req, settings.maxRequestBodySize);
    if (body === undefined) return void sendLocal(res, 413, "request body too large", true);

    const contentType = req.headers["content-type"] ?? "";
    const request = buildRequest(registry, settings, found, query, contentType, body);
    const metadata = toMetadata(req, url);
    const route = found.route;

    const headers: Record<string, string> = {};
    await new Promise<void>((resolve) => {
      const options = { deadline: Date.now() + UPSTREAM_TIMEOUT_MS };
      const call = client.makeUnaryRequest(route.grpcPath, identity, identity, Buffer.from(request), metadata, options, (err, out) => {
        if (err) {
          // Trailers-only errors carry their headers (e.g. www-authenticate) in the trailers.
          for (const [k, v] of Object.entries(err.metadata?.getMap() ?? {})) if (isResponseHeader(k)) headers[k] = String(v);
          send(res, httpStatusOf(err.code), headers, "application/json", Buffer.from(statusBody(err, registry, print)));
          return resolve();
        }
        const message = fromBinary(route.method.output, out!);
        let status = Number(headers["x-http-code"] ?? 200);
        if (!Number.isInteger(status) || status < 200 || status > 599) status = 500;
        delete headers["x-http-code"];
        let contentType = "application/json";
        let payload: Buffer;
        if (route.httpBodyResponseField) {
          const httpBody = (message as Record<string, unknown>)[route.httpBodyResponseField.localName] as { contentType: string; data: Uint8Array } | undefined;
          payload = Buffer.from(httpBody?.data ?? new Uint8Array());
          if (httpBody?.contentType) contentType = httpBody.contentType;
        } else {
          payload = Buffer.from(toJsonString(route.method.output, message, print));
        }
        if (payload.length > settings.maxResponseBodySize) {
          send(res, 500, {}, "application/json", Buffer.from(JSON.stringify({ code: 13, message: "response body too large", details: [] })));
        } else {
          send(res, status, headers, contentType, payload);
        }
        resolve();
      });
      call.on("metadata", (md: grpc.Metadata) => {
        for (const [k, v] of Object.entries(md.getMap())) if (isResponseHeader(k) || k === "x-http-code") headers[k] = String(v);
      });
    });
  }

  const server = createHttpServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof GatewayError) return sendLocal(res, err.status, err.message);
      options.logger.error("gateway fault", errorFields(err));
      if (!res.headersSent) sendLocal(res, 500, "internal error");
    });
  });
  server.keepAliveTimeout = 65_000;

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          client.close();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** All request headers become metadata, minus hop-by-hop, grpc-* and binary names; plus Envoy's original path/method. */
function toMetadata(req: IncomingMessage, url: string): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || NOT_METADATA.has(name) || name.startsWith("grpc-") || name.endsWith("-bin") || name.startsWith(":")) continue;
    try {
      for (const v of Array.isArray(value) ? value : [value]) md.add(name, v);
    } catch {
      throw new GatewayError(400, `header ${name} has a value gRPC cannot carry`);
    }
  }
  md.set("x-envoy-original-path", url);
  md.set("x-envoy-original-method", req.method ?? "GET");
  return md;
}

/** Reads the body up to `limit` bytes; undefined when it is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else if (!over) chunks.push(chunk);
    });
    req.on("end", () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, contentType: string, body: Buffer): void {
  res.writeHead(status, { ...headers, "content-type": contentType, "content-length": body.length });
  res.end(body);
}

/** A reply made by the gateway itself (no RPC happened). */
function sendLocal(res: ServerResponse, status: number, message: string, close = false): void {
  const code = status === 404 ? 5 : status === 413 ? 8 : status >= 500 ? 13 : 3;
  const body = Buffer.from(JSON.stringify({ code, message, details: [] }));
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, ...(close ? { connection: "close" } : {}) });
  res.end(body);
}
