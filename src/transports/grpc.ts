import * as grpc from "@grpc/grpc-js";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { PeerCertificates } from "../tls/peers.js";
import type { TlsSource } from "../tls/source.js";
import type { RequestHeaders } from "../pipeline/context.js";
import type { Failure } from "../pipeline/failure.js";
import type { Method, Pipeline } from "../pipeline/pipeline.js";
import type { ServiceBinding } from "../rpc/service.js";
import { statusDetails } from "./status.js";

/**
 * The grpc-js adapter: every method of every bound service becomes a grpc-js
 * handler that builds a call context from the call, runs the pipeline and
 * encodes its outcome. No logic of its own (no interceptors).
 */
export function addServices(server: grpc.Server, bindings: ServiceBinding[], methods: ReadonlyMap<string, Method>, pipeline: Pipeline, certificates?: PeerCertificates): void {
  for (const binding of bindings) {
    const implementation: grpc.UntypedServiceImplementation = {};
    const definition: Record<string, unknown> = {};
    for (const [name, def] of Object.entries(binding.definition)) {
      const method = methods.get(def.path)!;
      implementation[name] = method.stream ? streamCall(method, pipeline, certificates) : unaryCall(method, pipeline, certificates);
      // The method's own decoder: a request that does not decode reaches the pipeline (INVALID_ARGUMENT), not grpc-js's INTERNAL.
      definition[name] = { ...def, requestDeserialize: (bytes: Buffer) => method.decode(bytes) };
    }
    server.addService(definition as unknown as grpc.ServiceDefinition, implementation);
  }
}

function unaryCall(method: Method, pipeline: Pipeline, certificates: PeerCertificates | undefined): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const { ctx, cancel } = pipeline.context({ method: method.path, requestHeaders: headersOf(call.metadata), deadline: deadlineOf(call), peer: peerAddress(call), clientCertificate: certificates?.of(call.getPeer()) });
    call.once("cancelled", cancel);
    void pipeline.unary(method, call.request, ctx).then((outcome) => {
      if (!outcome.ok) return callback(serviceError(outcome.failure));
      const md = responseMetadata(ctx.responseHeaders, ctx.httpStatus);
      if (md) call.sendMetadata(md);
      callback(null, outcome.response);
    });
  };
}

function streamCall(method: Method, pipeline: Pipeline, certificates: PeerCertificates | undefined): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const { ctx, cancel } = pipeline.context({ method: method.path, requestHeaders: headersOf(call.metadata), deadline: deadlineOf(call), peer: peerAddress(call), clientCertificate: certificates?.of(call.getPeer()) });
    call.once("cancelled", cancel);
    let headersSent = false;
    const send = (message: unknown) =>
      new Promise<void>((resolve, reject) => {
        if (ctx.signal.aborted) return reject(ctx.signal.reason);
        if (!headersSent) {
          headersSent = true;
          const md = responseMetadata(ctx.responseHeaders, ctx.httpStatus);
          if (md) call.sendMetadata(md);
        }
        if (call.write(message)) resolve();
        else call.once("drain", () => resolve());
      });
    void pipeline.stream(method, call.request, ctx, send).then((outcome) => {
      if (outcome.ok) call.end();
      else call.emit("error", serviceError(outcome.failure));
    });
  };
}

/** Metadata -> the context's request headers (text values only; `-bin` values are not headers). */
function headersOf(metadata: grpc.Metadata): RequestHeaders {
  return {
    get(name) {
      const value = metadata.get(name)[0];
      return typeof value === "string" ? value : undefined;
    },
  };
}

/** The caller's address: grpc-js's getPeer() is `<remoteAddress>:<remotePort>` (`127.0.0.1:5678`, `::1:5678`); the port is no part of it. */
function peerAddress(call: { getPeer(): string }): string {
  return call.getPeer().replace(/:\d+$/, "");
}

function deadlineOf(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : Number.isFinite(d) ? Number(d) : Number.POSITIVE_INFINITY;
}

/** Response headers (and an HTTP status other than 200, as `x-http-code`) as initial metadata; undefined when there are none. */
function responseMetadata(headers: Record<string, string>, httpStatus: number): grpc.Metadata | undefined {
  const names = Object.keys(headers);
  if (names.length === 0 && httpStatus === 200) return undefined;
  const md = new grpc.Metadata();
  if (httpStatus !== 200) md.set("x-http-code", String(httpStatus));
  for (const name of names) md.set(name, headers[name]!);
  return md;
}

/** A failure as the gRPC status grpc-js sends (trailers-only: its metadata becomes the HTTP headers behind Envoy). */
function serviceError(failure: Failure): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  metadata.set("grpc-status-details-bin", statusDetails(failure));
  for (const [name, value] of Object.entries(failure.headers)) metadata.set(name, value);
  return { code: failure.code as unknown as grpc.status, details: failure.message, metadata };
}

export interface GrpcListener {
  port: number;
  /** Stops accepting connections (open ones are drained by the server's shutdown). */
  close(): void;
}

export interface GrpcListenLimits {
  /** Open connections at most; more are refused at accept. */
  maxConnections: number;
  /** A connection must send its first bytes (the HTTP/2 preface) within this long, or it is closed (ms); with TLS, finish its handshake. */
  handshakeTimeoutMs: number;
  /** TLS (ALPN h2) with the source's current certificate; each connection's client certificate goes to `certificates`. */
  tls?: { source: TlsSource; certificates: PeerCertificates };
}

/**
 * The gRPC listener: a plain TCP server this module owns, handing each
 * connection to grpc-js (`createConnectionInjector`) once it has sent its
 * first bytes. grpc-js alone keeps a connection that never sends the HTTP/2
 * preface open for ever (its idle timer starts with the session); here it is
 * closed after `handshakeTimeoutMs`, and the number of connections is capped.
 */
export function listenGrpc(server: grpc.Server, address: string, limits: GrpcListenLimits): Promise<GrpcListener> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const net: NetServer = createNetServer({ pauseOnConnect: true, noDelay: true }, (socket) => admit(socket));
  net.maxConnections = limits.maxConnections;
  function admit(socket: Socket): void {
    socket.on("error", () => socket.destroy());
    if (tlsEngine) return void tlsEngine.emit("connection", socket);
    const timer = setTimeout(() => socket.destroy(), limits.handshakeTimeoutMs);
    socket.once("readable", () => {
      clearTimeout(timer);
      // Peeked, then put back: the HTTP/2 session reads the preface itself.
      const first = socket.read() as Buffer | null;
      if (first) socket.unshift(first);
      if (!socket.destroyed) injector.injectConnection(socket);
    });
    socket.once("close", () => clearTimeout(timer));
  }
  /**
   * TLS terminated here rather than by grpc-js: its handlers see only
   * certificates that chain to a CA, and RFC 8705 §2.2 self-signed client
   * certificates do not. A tls.Server that never listens does the handshake
   * (timeout included) on the connections this listener accepted; the
   * decrypted stream goes to grpc-js as a plain HTTP/2 connection. A
   * plaintext client fails the handshake and is closed.
   */
  const tlsEngine = limits.tls && tlsEngineFor(limits.tls, limits.handshakeTimeoutMs, (secure) => injector.injectConnection(secure));
  const { host, port } = splitAddress(address);
  return new Promise((resolve, reject) => {
    net.once("error", reject);
    net.listen(port, host, () => {
      net.off("error", reject);
      const bound = net.address();
      resolve({ port: typeof bound === "object" && bound ? bound.port : port, close: () => void net.close() });
    });
  });
}

function tlsEngineFor(tls: NonNullable<GrpcListenLimits["tls"]>, handshakeTimeoutMs: number, onSecure: (socket: TLSSocket) => void): TlsServer {
  const engine = createTlsServer(
    { ...tls.source.options(), requestCert: tls.source.requestClientCertificates, rejectUnauthorized: false, ALPNProtocols: ["h2"], handshakeTimeout: handshakeTimeoutMs },
    (secure) => {
      // gRPC is HTTP/2 only: a client that did not negotiate h2 cannot speak it here.
      if (secure.alpnProtocol !== "h2") return void secure.destroy();
      secure.on("error", () => secure.destroy());
      tls.certificates.track(secure);
      onSecure(secure);
    },
  );
  engine.on("tlsClientError", (_err, socket) => socket.destroy());
  tls.source.onReload(() => engine.setSecureContext(tls.source.options()));
  return engine;
}

export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(address.slice(colon + 1)) };
}
