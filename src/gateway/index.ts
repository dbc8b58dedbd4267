import { fromBinary, toJsonString, type FileRegistry } from "@bufbuild/protobuf";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { TLSSocket, type Server as TlsServer } from "node:tls";
import { defaults, type Config } from "../config.js";
import { descriptorRegistry } from "../descriptor.js";
import type { Logger } from "../log.js";
import { errorFields } from "../log.js";
import { requestMetadata } from "./headers.js";
import { BadPath, createMatcher, type Match } from "./match.js";
import { buildRequest, GatewayError } from "./request.js";
import { grpcCodeOf, printOptions, toHttpResponse, type HttpResponse } from "./response.js";
import { buildRoutes, type Route } from "./routes.js";
import { transcoderSettings, UPSTREAM_TIMEOUT_MS, type TranscoderSettings } from "./settings.js";
import { UndecodableFields, withDecodeViolations } from "./undecodable.js";
import { ClientHangup, type Upstream, type UpstreamReply } from "./upstream.js";
import type { ClientCertificate } from "../pipeline/context.js";
import { certificateOf } from "../tls/peers.js";
import type { TlsSource } from "../tls/source.js";

export interface GatewayOptions {
  /** Where transcoded calls go: in-process (the pipeline) or loopback (a real gRPC connection). */
  upstream: Upstream;
  logger: Logger;
  settings?: TranscoderSettings;
  registry?: FileRegistry;
  /**
   * Static routes served beside the transcoded API (the web console at
   * /console/): called first; returns true when it answered the request.
   */
  staticRoutes?: (req: IncomingMessage, res: ServerResponse) => boolean;
  limits?: HttpLimits;
  /** HTTPS instead of HTTP (the certificate follows its files); client certificates are requested when the source has a client CA. */
  tls?: TlsSource;
  /** Told of each request the gateway answers itself, before any call (a metric: the pipeline never sees these). */
  onRefused?: (status: number) => void;
}

/** Bounds of the HTTP listener (config.ts documents the defaults). */
export interface HttpLimits {
  /** Whole request headers must arrive within this long (slowloris), ms. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this long, ms. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long, ms. */
  keepAliveTimeoutMs: number;
  /** Open connections at most. */
  maxConnections: number;
}

/** The HTTP listener's bounds from the config. */
export function httpLimits(config: Pick<Config, "httpHeadersTimeoutMs" | "httpRequestTimeoutMs" | "httpKeepAliveTimeoutMs" | "httpMaxConnections">): HttpLimits {
  return { headersTimeoutMs: config.httpHeadersTimeoutMs, requestTimeoutMs: config.httpRequestTimeoutMs, keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs, maxConnections: config.httpMaxConnections };
}

export interface Gateway {
  /** An http.Server, or an https.Server (a tls.Server) with TLS: both are driven the same way. */
  server: HttpServer;
  close(): Promise<void>;
}

/**
 * The embedded HTTP/JSON gateway: the same google.api.http transcoding as
 * Envoy's grpc_json_transcoder, from the same descriptor and settings, in
 * front of an upstream. Unbound: main.ts (or a test) listens. Route table and
 * matcher are built once here; a request costs a trie walk, the JSON mapping
 * and one upstream call.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const settings = options.settings ?? transcoderSettings;
  const registry = options.registry ?? descriptorRegistry();
  const limits = options.limits ?? httpLimits(defaults);
  const { upstream, logger } = options;
  if (!settings.requestValidationOptions.rejectUnknownMethod) {
    // Envoy would pass an unmapped request through untranscoded (and the gRPC server would fail it); there is nothing to pass it to here.
    throw new Error("gateway: requestValidationOptions.rejectUnknownMethod must be true for the embedded gateway");
  }
  const match = createMatcher(buildRoutes(registry, settings.services, settings.autoMapping), settings);
  const refuse = (res: ServerResponse, status: number, message: string, close = false) => {
    options.onRefused?.(status);
    sendLocal(res, status, message, close);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (options.staticRoutes?.(req, res)) return;
    let found: Match | undefined;
    try {
      found = match(req.method ?? "GET", path);
    } catch (err) {
      if (err instanceof BadPath) return refuse(res, 400, err.message);
      throw err;
    }
    if (!found) return refuse(res, 404, `no route for ${req.method} ${path.slice(0, 200)}`);
    if (Number(req.headers["content-length"] ?? 0) > settings.maxRequestBodySize) return refuse(res, 413, "request body too large", true);
    const body = await readBody(req, settings.maxRequestBodySize);
    if (body === "gone") return;
    if (body === "over") return refuse(res, 413, "request body too large", true);

    let request: Uint8Array;
    try {
      request = buildRequest(registry, settings, found, q < 0 ? "" : url.slice(q + 1), req.headers["content-type"] ?? "", body);
    } catch (err) {
      if (err instanceof UndecodableFields) return undecodableAnswer(found.route, err, req, res, url);
      throw err;
    }
    if (found.route.stream) return stream(found.route, request, req, res, url);
    const reply = await call(found.route, request, req, res, url);
    if (reply) respond(res, found.route, reply);
  }

  /** One unary upstream call for this HTTP request; undefined when the client hung up (the call is cancelled, as Envoy resets the upstream stream). */
  async function call(route: Route, request: Uint8Array, req: IncomingMessage, res: ServerResponse, url: string): Promise<UpstreamReply | undefined> {
    const hangup = new ClientHangup();
    const onClose = () => {
      if (!res.writableFinished) hangup.hangUp();
    };
    res.once("close", onClose);
    const reply = await upstream.unary({ route, request, headers: requestMetadata(req, url), deadline: Date.now() + UPSTREAM_TIMEOUT_MS, hangup, peer: req.socket.remoteAddress ?? "", clientCertificate: clientCertificateOf(req) });
    res.off("close", onClose);
    return hangup.happened || res.destroyed ? undefined : reply;
  }

  /**
   * A request with undecodable fields (never sent as is): a 400 naming each
   * of them, with the service's violations of the other fields when the
   * method can check them without writing (validate_only).
   */
  async function undecodableAnswer(route: Route, err: UndecodableFields, req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    if (route.stream || !err.validateOnly) {
      options.onRefused?.(400);
      return respond(res, route, withDecodeViolations(err, registry));
    }
    const checked = await call(route, err.validateOnly, req, res, url);
    if (checked) respond(res, route, withDecodeViolations(err, registry, checked));
  }

  function respond(res: ServerResponse, route: Route, reply: UpstreamReply): void {
    let response: HttpResponse;
    try {
      response = toHttpResponse(route, reply, registry, settings);
    } catch (fault) {
      // A response the gateway cannot render (bad bytes, a type missing from the descriptor): 500, never a crash.
      logger.error("gateway cannot render the response", { method: route.grpcPath, ...errorFields(fault) });
      response = localResponse(500, "the service's response could not be transcoded");
    }
    // Draining: no more requests on this connection, so close() is not held up by keep-alive.
    if (closing) response.close = true;
    send(res, response);
  }

  /**
   * A server-streaming RPC as newline-delimited JSON (Envoy's
   * print_options.stream_newline_delimited): one line per message, flushed as
   * it comes; a failure before the first message is an ordinary error
   * response, a failure after it ends the body (the status line is long gone).
   */
  async function stream(route: Route, request: Uint8Array, req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const hangup = new ClientHangup();
    res.once("close", hangup.hangUp);
    streams.add(hangup);
    let started = false;
    const options = printOptions(settings, registry);
    const reply = await upstream
      .stream({ route, request, headers: requestMetadata(req, url), deadline: Number.POSITIVE_INFINITY, hangup, peer: req.socket.remoteAddress ?? "", clientCertificate: clientCertificateOf(req) }, async (bytes) => {
      if (res.destroyed) return;
      if (!started) {
        started = true;
        res.writeHead(200, { "content-type": "application/json", ...(closing ? { connection: "close" } : {}) });
      }
      const line = toJsonString(route.method.output, fromBinary(route.method.output, bytes), options) + "\n";
      if (!res.write(line)) await new Promise<void>((resolve) => (res.once("drain", resolve), res.once("close", resolve)));
    })
      .finally(() => streams.delete(hangup));
    if (res.destroyed) return;
    // Ended by close(): the connection is idle once the body is out, and close() waits for it.
    if (started) return void res.end(() => closing && server.closeIdleConnections());
    if (reply.code === 0) return send(res, { status: 200, headers: {}, contentType: "application/json", body: Buffer.alloc(0) });
    send(res, toHttpResponse(route, reply, registry, settings));
  }

  const serverOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node checks those timeouts (its default, 30 s, would let a slow client hold on that long).
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
  const { tls } = options;
  // With TLS: client certificates are asked for (with a client CA) but never
  // required at the handshake, and not rejected there when they do not chain
  // to the CA: RFC 8705 §2.2 self-signed certificates are checked against the
  // client's JWKS by client authentication, which also checks CA chains.
  const createServer = (handler: (req: IncomingMessage, res: ServerResponse) => void): HttpServer =>
    tls
      ? (createHttpsServer({ ...serverOptions, ...tls.options(), requestCert: tls.requestClientCertificates, rejectUnauthorized: false }, handler) as unknown as HttpServer)
      : createHttpServer(serverOptions, handler);
  const server = createServer(
    (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof GatewayError) return refuse(res, err.status, err.message);
      // A client that went away mid-request is not a fault of the service.
      if (req.destroyed || res.destroyed) return logger.debug("http client went away", { error: (err as Error).name });
      logger.error("gateway fault", errorFields(err));
      if (!res.headersSent) refuse(res, 500, "internal error");
    });
    },
  );
  server.maxConnections = limits.maxConnections;
  if (tls) tls.onReload(() => (server as unknown as TlsServer).setSecureContext(tls.options()));
  // Errors on a client's socket (too slow, malformed, oversized headers) end that connection only, with Node's status for each.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  let closing = false;
  /** Streaming calls in flight: closing ends them (a watcher resumes from its cursor), or close() would wait for ever. */
  const streams = new Set<ClientHangup>();

  return {
    server,
    /** Stops accepting, lets in-flight requests finish (their connections then close) and ends streams, then closes the upstream. */
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const s of streams) s.hangUp();
        server.close(() => {
          upstream.close();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
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
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
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
  const code = grpcCodeOf(status === 404 ? "not_found" : status === 413 ? "resource_exhausted" : status >= 500 ? "internal" : "invalid_argument");
  return { status, headers: {}, contentType: "application/json", body: Buffer.from(JSON.stringify({ code, message, details: [] })), close };
}

function sendLocal(res: ServerResponse, status: number, message: string, close = false): void {
  if (!res.headersSent && !res.destroyed) send(res, localResponse(status, message, close));
}

/** The client certificate of the request's TLS connection (read once per connection), if it presented one. */
const connectionCertificates = new WeakMap<TLSSocket, ClientCertificate | null>();
function clientCertificateOf(req: IncomingMessage): ClientCertificate | undefined {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  let cert = connectionCertificates.get(socket);
  if (cert === undefined) connectionCertificates.set(socket, (cert = certificateOf(socket) ?? null));
  return cert ?? undefined;
}
