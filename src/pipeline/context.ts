import type { Context } from "@opentelemetry/api";

/**
 * What a handler knows about its call, the same for every transport: a
 * handler is `(request, ctx) => response` and never sees grpc-js or HTTP
 * objects. Transports build the context; the pipeline fills `principal`.
 */
export interface CallContext {
  /** The RPC, `/<package>.<Service>/<Method>`. */
  readonly method: string;
  /** Request headers (gRPC metadata or the HTTP request's), lower-case names. */
  readonly requestHeaders: RequestHeaders;
  /** Response headers to send (initial metadata; HTTP headers through the gateway or Envoy). */
  readonly responseHeaders: Record<string, string>;
  /**
   * HTTP status of an HttpBody endpoint's response (OAuth endpoints): sent as
   * `x-http-code` metadata, which the gateway and Envoy's Lua filter turn into
   * the status. 200 means none is sent.
   */
  httpStatus: number;
  /** The authenticated caller of a management RPC (set by the access step). */
  principal: Principal | undefined;
  /** Epoch ms after which the call is abandoned (the caller's deadline, capped by the server's). */
  readonly deadline: number;
  /** Aborted (reason: Cancelled) when the caller goes away; made on first use (most calls never need one). */
  readonly signal: AbortSignal;
  /** Whether the caller went away, without making the signal. */
  readonly cancelled: boolean;
  /**
   * The caller's network address (for throttling; never trusted for
   * identity): the connection's peer, or the configured client address
   * header's last hop behind a proxy.
   */
  readonly peer: string;
  /**
   * The OpenTelemetry context of the call: the caller's W3C trace context
   * (`traceparent` from gRPC metadata, or from the HTTP request, which the
   * gateway and Envoy pass on as metadata) with the call's server span. Spans
   * started under the handler are its children; a no-op without an SDK.
   */
  traceContext: Context;
  /**
   * The TLS client certificate the caller presented (RFC 8705): on its own
   * connection, or forwarded by a trusted proxy (`x-forwarded-client-cert`).
   * Proves nothing by itself: client authentication checks it.
   */
  readonly clientCertificate: ClientCertificate | undefined;
}

/** A client certificate, DER: the leaf and whatever certificates the client sent above it (leaf first). */
export interface ClientCertificate {
  der: Buffer;
  chain: Buffer[];
}

export interface RequestHeaders {
  get(name: string): string | undefined;
}

/** The caller of a management RPC, as proven by its bearer token. */
export interface Principal {
  clientId: string;
  /** Effective management permissions: the token's scope intersected with the caller's current grant. */
  scopes: readonly string[];
}

export type UnaryHandler<Req = any, Res = any> = (request: Req, ctx: CallContext) => Promise<Res> | Res;
/** A server-streaming handler: `send` resolves when the transport can take more (back-pressure). */
export type StreamHandler<Req = any, Res = any> = (request: Req, ctx: CallContext, send: (response: Res) => Promise<void>) => Promise<void>;

/** Headers from a plain object (HTTP requests; tests). */
export function headersOf(record: Record<string, string | string[] | undefined>): RequestHeaders {
  return {
    get(name) {
      const v = record[name];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}
