import * as grpc from "@grpc/grpc-js";
import { type FileRegistry } from "@bufbuild/protobuf";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { descriptorRegistry } from "../descriptor.js";
import type { Logger } from "../log.js";
import { errorFields } from "../log.js";
import { BadPath, createMatcher, type Match } from "./match.js";
import { buildRequest, GatewayError } from "./request.js";
import { errorResponse, okResponse, type HttpResponse } from "./response.js";
import { buildRoutes, type Route } from "./routes.js";
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

/**
 * Request headers that never become metadata: hop-by-hop (RFC 9110 §7.6.1),
 * the ones the transcoding replaces (host is :authority, content-type and
 * content-length describe the JSON, not the gRPC message), and `expect`.
 */
const NOT_METADATA = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "content-type", "expect"]);

/**
 * The embedded HTTP/JSON gateway: the same google.api.http transcoding as
 * Envoy's grpc_json_transcoder, from the same descriptor and settings, in front
 * of the gRPC server over loopback. Unbound: main.ts (or a test) listens.
 * Route table and matcher are built once here; a request costs a trie walk,
 * the JSON mapping and one call on a shared channel.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const settings = options.settings ?? transcoderSettings;
  const registry = options.registry ?? descriptorRegistry();
  if (!settings.requestValidationOptions.rejectUnknownMethod) {
    // Envoy would pass an unmapped request through untranscoded (and the gRPC server would fail it); there is nothing to pass it to here.
    throw new Error("gateway: requestValidationOptions.rejectUnknownMethod must be true for the embedded gateway");
  }
  const match = createMatcher(buildRoutes(registry, settings.services, settings.autoMapping), settings);
  // One channel (one HTTP/2 connection) for every request, as Envoy's cluster.
  const client = new grpc.Client(options.grpcTarget, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": settings.maxResponseBodySize * 2,
  });
  const identity = (b: Buffer) => b;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    let found: Match | undefined;
    try {
      found = match(req.method ?? "GET", path);
    } catch (err) {
      if (err instanceof BadPath) return sendLocal(res, 400, err.message);
      throw err;
    }
    if (!found) return sendLocal(res, 404, `no route for ${req.method} ${path.slice(0, 200)}`);
    if (Number(req.headers["content-length"] ?? 0) > settings.maxRequestBodySize) return sendLocal(res, 413, "request body too large", true);
    const body = await readBody(req, settings.maxRequestBodySize);
    if (body === "gone") return;
    if (body === "over") return sendLocal(res, 413, "request body too large", true);

    const request = buildRequest(registry, settings, found, q < 0 ? "" : url.slice(q + 1), req.headers["content-type"] ?? "", body);
    const reply = await call(found.route, Buffer.from(request.buffer, request.byteOffset, request.byteLength), toMetadata(req, url), res);
    if (!reply || res.destroyed) return;
    // Draining: no more requests on this connection, so close() is not held up by keep-alive.
    if (closing) reply.close = true;
    send(res, reply);
  }

  /** One unary call; resolves to the HTTP response (undefined when the client went away). */
  function call(route: Route, request: Buffer, metadata: grpc.Metadata, res: ServerResponse): Promise<HttpResponse | undefined> {
    return new Promise((resolve) => {
      let initial: grpc.Metadata | undefined;
      let done = false;
      const deadline = Date.now() + UPSTREAM_TIMEOUT_MS;
      const pending = client.makeUnaryRequest(route.grpcPath, identity, identity, request, metadata, { deadline }, (err, out) => {
        done = true;
        try {
          resolve(err ? errorResponse(err, initial, registry, settings) : okResponse(route, out!, initial, registry, settings));
        } catch (fault) {
          // A response the gateway cannot render (bad bytes, a type missing from the descriptor): 500, never a crash.
          options.logger.error("gateway cannot render the response", { method: route.grpcPath, ...errorFields(fault) });
          resolve(localResponse(500, "the service's response could not be transcoded"));
        }
      });
      pending.on("metadata", (md: grpc.Metadata) => {
        initial = md;
      });
      // The client hung up: cancel the call, as Envoy resets the upstream stream.
      res.once("close", () => {
        if (!done) {
          pending.cancel();
          resolve(undefined);
        }
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
  let closing = false;

  return {
    server,
    /** Stops accepting, lets in-flight requests finish (their connections then close), then closes the channel. */
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => {
          client.close();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/**
 * Every request header becomes metadata (authorization included), minus
 * NOT_METADATA, `grpc-*` (the transport's own) and `-bin` names (gRPC would
 * read them as base64 binary); plus Envoy's x-envoy-original-path (with the
 * query) and x-envoy-original-method.
 */
function toMetadata(req: IncomingMessage, url: string): grpc.Metadata {
  const md = new grpc.Metadata();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_METADATA.has(name) || name.startsWith("grpc-") || name.endsWith("-bin")) continue;
    try {
      md.add(name, raw[i + 1]!);
    } catch {
      throw new GatewayError(400, `header ${name.slice(0, 64)} cannot be carried as gRPC metadata`);
    }
  }
  md.set("x-envoy-original-path", url);
  md.set("x-envoy-original-method", req.method ?? "GET");
  return md;
}

/**
 * Reads the body up to `limit` bytes: "over" as soon as it is larger (Envoy
 * answers 413 without waiting for the rest), "gone" when the client went away.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "over" | "gone"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        resolve("over");
      } else chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => {
      ended = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.on("error", () => resolve("gone"));
    req.on("close", () => {
      if (!ended) resolve("gone");
    });
  });
}

function send(res: ServerResponse, reply: HttpResponse): void {
  res.writeHead(reply.status, { ...reply.headers, "content-type": reply.contentType, "content-length": reply.body.length, ...(reply.close ? { connection: "close" } : {}) });
  res.end(reply.body);
}

/** A reply made by the gateway itself (no RPC happened), as google.rpc.Status JSON. */
function localResponse(status: number, message: string, close = false): HttpResponse {
  const code = status === 404 ? 5 : status === 413 ? 8 : status === 415 ? 3 : status >= 500 ? 13 : 3;
  return { status, headers: {}, contentType: "application/json", body: Buffer.from(JSON.stringify({ code, message, details: [] })), close };
}

function sendLocal(res: ServerResponse, status: number, message: string, close = false): void {
  if (!res.headersSent && !res.destroyed) send(res, localResponse(status, message, close));
}
