import { context, INVALID_SPAN_CONTEXT, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter } from "@opentelemetry/api";
import { AuthzError } from "./errors.js";
import type { RequestHeaders } from "./pipeline/context.js";

/**
 * Tracing through the OpenTelemetry API only: every call here is a no-op
 * (a non-recording span, nothing exported) until an OpenTelemetry SDK
 * registers a tracer provider, propagator and context manager: src/otel.ts
 * does when the standard OTEL_* variables name an exporter (or a process
 * preloads an SDK of its own). Nothing here depends on an SDK.
 */
export const tracer = trace.getTracer("authz");

/** The span of work outside any traced call: records nothing. */
const NOT_TRACED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export { SpanKind, type Context, type Span };

const HEADERS: TextMapGetter<RequestHeaders> = {
  get: (carrier, key) => carrier.get(key),
  keys: () => [],
};

/** The caller's trace context (W3C `traceparent`/`tracestate` by the registered propagator) from request headers or gRPC metadata. */
export function extractTraceContext(headers: RequestHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers, HEADERS);
}

/**
 * Runs a call's work with its trace context active (the parent of the spans
 * and the ids of the log lines under it) — only when its server span is
 * recording. Entering a context costs every promise under it the context
 * manager's bookkeeping (AsyncLocalStorage); a call that is not sampled (no
 * SDK, or a sampler that said no) has nothing to carry, so it pays nothing.
 */
export function inCallContext<T>(span: Span, call: { traceContext: Context }, fn: () => T): T {
  return span.isRecording() ? context.with(call.traceContext, fn) : fn();
}

/**
 * Runs `fn` in a child span of the active one: ended when `fn` settles,
 * status ERROR (with the error's name only: never request data) when it throws.
 */
export function inSpan<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
  // Under a call that is not traced, no span: not even a new root one the sampler might keep.
  if (!trace.getActiveSpan()?.isRecording()) return fn(NOT_TRACED);
  return tracer.startActiveSpan(name, (span) =>
    fn(span).then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        failSpan(span, err);
        span.end();
        throw err;
      },
    ),
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

/** The trace and span ids of a span, for log lines; undefined when it has none (no SDK, no caller trace). */
export function traceIds(span: Span | undefined): { trace_id: string; span_id: string } | undefined {
  const sc = span?.spanContext();
  return sc && isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : undefined;
}

/** The ids of the active span (log lines written while handling a call). */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  return traceIds(trace.getActiveSpan());
}

export { SpanStatusCode, trace };
