import { performance } from "node:perf_hooks";
import { AuthzError, Cancelled, DeadlineExceeded, GrpcCode, isFault } from "../errors.js";
import { errorFields, type Logger } from "../log.js";
import { extractTraceContext, failSpan, SpanKind, trace, traceIds, tracer, underTrace, type Attributes, type Span, type TraceIds } from "../tracing.js";
import { authorize, type MethodRule, type VerifyManagementToken } from "./access.js";
import type { CallContext, ClientCertificate, RequestHeaders, StreamHandler, UnaryHandler } from "./context.js";
import { toFailure, type Failure } from "./failure.js";
import { TRANSCODED_HEADER, type CallObserver } from "./observer.js";

/** One RPC as the pipeline serves it; built in src/rpc/ from the generated definitions. */
export interface Method {
  path: string;
  rule: MethodRule;
  /** Unary, or server streaming (`stream`). */
  stream: boolean;
  handler: UnaryHandler | StreamHandler;
  /** The request message from its protobuf bytes (an UndecodableRequest when they do not decode), and the response to them (the generated codecs). */
  decode(bytes: Uint8Array): unknown;
  encode(response: unknown): Uint8Array;
  /**
   * For HTTP-shaped RPCs (the OAuth endpoints): renders a failure as a
   * successful response carrying the RFC error body and status, so protocol
   * errors and faults alike reach HTTP callers RFC-shaped. The call is still
   * logged with the failure's code. Undefined: not renderable (a gRPC error).
   */
  renderError?(err: unknown, ctx: CallContext): unknown;
}

/**
 * A request whose bytes did not decode (malformed, or nested past the
 * decoder's recursion limit). Methods' `decode` returns it instead of
 * throwing, so the call fails as INVALID_ARGUMENT through the pipeline
 * (logged, counted) rather than as the transport's INTERNAL.
 */
export class UndecodableRequest {
  constructor(readonly cause: unknown) {}
}

function checkDecoded(request: unknown): void {
  if (request instanceof UndecodableRequest) {
    throw new AuthzError("invalid_argument", "the request message cannot be decoded (malformed, or nested too deeply)", { cause: request.cause });
  }
}

export type Outcome = { ok: true; response: unknown } | { ok: false; failure: Failure };

export interface PipelineDeps {
  verify: VerifyManagementToken;
  logger: Logger;
  /** Longest a unary call may run on the server, whatever the caller's deadline (ms). */
  maxUnaryCallMs: number;
  /** Metrics of every call (src/ops/metrics.ts). */
  observer?: CallObserver;
  /** Header whose last hop is the caller's address (behind a proxy); empty: the connection's peer. */
  clientAddressHeader?: string;
  /**
   * The client certificate a trusted proxy forwarded for a call that came
   * from `peer` (Envoy's x-forwarded-client-cert; src/tls/forwarded.ts), or
   * undefined: none, or `peer` is not a trusted proxy.
   */
  forwardedCertificate?: (peer: string, headers: RequestHeaders) => ClientCertificate | undefined;
  /** The HTTP caller's address the loopback gateway vouched for (src/gateway/loopback_peer.ts), if any: it stands for the connection's peer. */
  gatewayPeer?: (headers: RequestHeaders) => string | undefined;
}

const SERVER_SPAN = { kind: SpanKind.SERVER };

/** A call's server span and the trace ids its log lines carry (none: not named, see startSpan). */
interface CallSpan {
  span: Span;
  ids: TraceIds | undefined;
}

/** The rpc semantic-convention attributes of a method's server spans, made once per method (keys: the served methods' paths only). */
const RPC_ATTRIBUTES = new Map<string, Attributes>();
function rpcAttributes(path: string): Attributes {
  let attributes = RPC_ATTRIBUTES.get(path);
  if (!attributes) {
    const slash = path.lastIndexOf("/");
    attributes = { "rpc.system": "grpc", "rpc.service": path.slice(1, slash), "rpc.method": path.slice(slash + 1) };
    RPC_ATTRIBUTES.set(path, attributes);
  }
  return attributes;
}

const CODE_NAMES = Object.fromEntries(Object.entries(GrpcCode).map(([name, code]) => [code, name])) as Record<number, string>;

export interface CallInit {
  method: string;
  requestHeaders: RequestHeaders;
  /** The caller's deadline (epoch ms), Infinity for none. */
  deadline: number;
  peer: string;
  /** The client certificate of the call's own TLS connection. */
  clientCertificate?: ClientCertificate;
}

/**
 * The transport-neutral call path, identical for grpc-js and the embedded
 * gateway: access, the handler under a deadline in the call's server span,
 * the error table, one log line and one observation (metrics) per call.
 * Transports make a context with `context()`, call `unary` or `stream`, and
 * encode the outcome; they hold no logic of their own.
 */
export function createPipeline(deps: PipelineDeps) {
  const { logger, observer } = deps;
  const addressHeader = deps.clientAddressHeader ?? "";

  function context(init: CallInit): { ctx: CallContext; cancel(): void } {
    // The AbortController is made when a handler asks for the signal: an
    // EventTarget per call costs the hot path more than the rest of the context.
    let controller: AbortController | undefined;
    let cancelled: Cancelled | undefined;
    const connected = deps.gatewayPeer?.(init.requestHeaders) ?? init.peer;
    const ctx: CallContext = {
      method: init.method,
      requestHeaders: init.requestHeaders,
      responseHeaders: {},
      httpStatus: 200,
      principal: undefined,
      deadline: init.deadline,
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (cancelled) controller.abort(cancelled);
        }
        return controller.signal;
      },
      get cancelled() {
        return cancelled !== undefined;
      },
      peer: addressHeader ? (lastHop(init.requestHeaders.get(addressHeader)) ?? connected) : connected,
      traceContext: extractTraceContext(init.requestHeaders),
      clientCertificate: init.clientCertificate ?? deps.forwardedCertificate?.(connected, init.requestHeaders),
    };
    const cancel = () => {
      if (cancelled) return;
      cancelled = new Cancelled();
      controller?.abort(cancelled);
    };
    return { ctx, cancel };
  }

  /**
   * The call's server span (rpc semantic conventions), a child of the
   * caller's trace; the handler runs in its context. Its ids go in the log
   * lines when its trace is recorded or continues the caller's (an id the
   * caller knows); a fresh trace sampled out is named nowhere, so not there.
   */
  function startSpan(method: Method, ctx: CallContext): CallSpan {
    const continued = trace.getSpanContext(ctx.traceContext) !== undefined;
    const span = tracer.startSpan(method.path.slice(1), SERVER_SPAN, ctx.traceContext);
    const recording = span.isRecording();
    if (recording) {
      span.setAttributes(rpcAttributes(method.path));
      span.setAttribute("network.peer.address", ctx.peer);
    }
    ctx.traceContext = trace.setSpan(ctx.traceContext, span);
    return { span, ids: recording || continued ? traceIds(span) : undefined };
  }

  function succeed(method: Method, start: number, response: unknown, ctx: CallContext, span: CallSpan): Outcome {
    // A call whose caller went away is CANCELLED, whatever the handler did after.
    if (ctx.cancelled) return fail(method, start, new Cancelled(), ctx, span);
    end(method.path, start, GrpcCode.OK, ctx, span, undefined);
    return { ok: true, response };
  }

  function fail(method: Method, start: number, err: unknown, ctx: CallContext, span: CallSpan): Outcome {
    const cause = ctx.cancelled ? new Cancelled() : err;
    const failure = toFailure(cause);
    end(method.path, start, failure.code, ctx, span, cause);
    if (isFault(cause)) logger.error("handler fault", { method: method.path, ...span.ids, ...errorFields(cause) });
    const rendered = failure.kind === "cancelled" ? undefined : method.renderError?.(cause, ctx);
    return rendered === undefined ? { ok: false, failure } : { ok: true, response: rendered };
  }

  function end(method: string, start: number, code: number, ctx: CallContext, { span, ids }: CallSpan, cause: unknown): void {
    const ms = performance.now() - start;
    if (span.isRecording()) {
      span.setAttribute("rpc.grpc.status_code", code);
      if (code !== GrpcCode.OK) failSpan(span, cause);
    }
    span.end();
    observer?.ended(method, ctx.requestHeaders.get(TRANSCODED_HEADER) === undefined ? "grpc" : "http", code, ms / 1000, cause);
    // One literal per shape: spreading the ids into the fields costs pino's
    // serializer more than the rest of the line (measured: 4% of issuance).
    const rounded = Math.round(ms * 100) / 100;
    if (ids) logger.info("rpc", { method, code: CODE_NAMES[code], ms: rounded, trace_id: ids.trace_id, span_id: ids.span_id });
    else logger.info("rpc", { method, code: CODE_NAMES[code], ms: rounded });
  }

  async function unary(method: Method, request: unknown, ctx: CallContext): Promise<Outcome> {
    const start = performance.now();
    const deadline = Math.min(ctx.deadline, Date.now() + deps.maxUnaryCallMs);
    const span = startSpan(method, ctx);
    let timer: NodeJS.Timeout | undefined;
    try {
      await underTrace(ctx.traceContext, () => authorize(method.rule, ctx, deps.verify));
      checkDecoded(request);
      const work = Promise.resolve(underTrace(ctx.traceContext, () => (method.handler as UnaryHandler)(request, ctx)));
      const response = await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DeadlineExceeded()), Math.max(0, deadline - Date.now()));
        }),
      ]);
      return succeed(method, start, response, ctx, span);
    } catch (err) {
      return fail(method, start, err, ctx, span);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Server streaming: no server deadline (watch streams are long-lived); ends when the handler returns or the caller goes away. */
  async function stream(method: Method, request: unknown, ctx: CallContext, send: (response: unknown) => Promise<void>): Promise<Outcome> {
    const start = performance.now();
    const span = startSpan(method, ctx);
    try {
      await underTrace(ctx.traceContext, () => authorize(method.rule, ctx, deps.verify));
      checkDecoded(request);
      await underTrace(ctx.traceContext, () => (method.handler as StreamHandler)(request, ctx, send));
      return succeed(method, start, undefined, ctx, span);
    } catch (err) {
      return fail(method, start, err, ctx, span);
    }
  }

  return { context, unary, stream };
}

export type Pipeline = ReturnType<typeof createPipeline>;

/** The last comma-separated value of a forwarding header (the hop the proxy itself saw), trimmed; undefined when absent or empty. */
function lastHop(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const hop = value.slice(value.lastIndexOf(",") + 1).trim();
  return hop === "" || hop.length > 64 ? undefined : hop;
}
