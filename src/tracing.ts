import { INVALID_SPAN_CONTEXT, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter } from "@opentelemetry/api";
import { AuthzError } from "./errors.js";
import type { RequestHeaders } from "./pipeline/context.js";

/**
 * Tracing through the OpenTelemetry API only: every call here is a no-op
 * (a non-recording span, nothing exported) until an OpenTelemetry SDK
 * registers a tracer provider and a propagator: src/otel.ts
 * does when the standard OTEL_* variables name an exporter (or a process
 * preloads an SDK of its own). Nothing here depends on an SDK.
 */
export const tracer = trace.getTracer("authz");

/** The span of work outside any traced call: records nothing. */
const NOT_TRACED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export { SpanKind, type Attributes, type Context, type Span };

const HEADERS: TextMapGetter<RequestHeaders> = {
  get: (carrier, key) => carrier.get(key),
  keys: () => [],
};

/** The caller's trace context (W3C `traceparent`/`tracestate` by the registered propagator) from request headers or gRPC metadata. */
export function extractTraceContext(headers: RequestHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers, HEADERS);
}

/**
 * Trace context is carried explicitly (a call's `CallContext.traceContext`,
 * the OAuth core's `trace` fields), never through the context manager:
 * entering one (AsyncLocalStorage on Node 20) costs every promise in the
 * process a hook. What cannot be handed a parent, the store wrapper and log
 * lines, reads the parent set here for the synchronous stretch of
 * `underTrace` — enough for a store call a step starts before its first
 * await; later ones are simply not traced, never misattributed.
 */
let syncParent: Context | undefined;

/** Runs `fn` with `parent` as the trace parent of what it starts synchronously (store spans, log line ids); free when nothing records (or no parent: not traced). */
export function underTrace<T>(parent: Context | undefined, fn: () => T): T {
  if (!parent || !trace.getSpan(parent)?.isRecording()) return fn();
  const previous = syncParent;
  syncParent = parent;
  try {
    return fn();
  } finally {
    syncParent = previous;
  }
}

/** The parent `underTrace` set for this synchronous stretch, if any (recording). */
export function syncTraceParent(): Context | undefined {
  return syncParent;
}

/**
 * Runs `fn` in a child span of `parent`'s span, handing it the span and the
 * child's context (the parent of what `fn` starts in turn): ended when `fn`
 * settles, status ERROR (with the error's name only: never request data)
 * when it throws. Under a span that is not recording (or no parent: not
 * traced), no span at all: not even a new root one a sampler might keep.
 */
export function inSpan<T>(parent: Context | undefined, name: string, fn: (span: Span, trace: Context) => Promise<T>): Promise<T> {
  if (!parent || !trace.getSpan(parent)?.isRecording()) return fn(NOT_TRACED, parent ?? ROOT_CONTEXT);
  const span = tracer.startSpan(name, undefined, parent);
  const child = trace.setSpan(parent, span);
  let work: Promise<T>;
  try {
    work = underTrace(child, () => fn(span, child));
  } catch (err) {
    work = Promise.reject(err);
  }
  return work.then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      failSpan(span, err);
      span.end();
      throw err;
    },
  );
}

/**
 * Marks a span failed, described by a fixed code (the RFC error or the
 * error's kind, else the class name), never its message: it may quote input.
 */
export function failSpan(span: Span, err: unknown): void {
  if (!span.isRecording()) return;
  const message = err instanceof AuthzError ? (err.reason ?? err.kind) : err instanceof Error ? err.name : "error";
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** A log line's trace fields. */
export interface TraceIds {
  trace_id: string;
  span_id: string;
}

/** The trace and span ids of a span, for log lines; undefined when it has none (no SDK, no caller trace). */
export function traceIds(span: Span | undefined): TraceIds | undefined {
  const sc = span?.spanContext();
  return sc && isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : undefined;
}

/** The ids of the span `underTrace` set (log lines written in a call's synchronous stretch). */
export function activeTraceIds(): TraceIds | undefined {
  return syncParent && traceIds(trace.getSpan(syncParent));
}

export { SpanStatusCode, trace };
