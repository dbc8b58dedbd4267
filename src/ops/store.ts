import { performance } from "node:perf_hooks";
import type { Store, StoreData, StoreTx } from "../store/index.js";
import { failSpan, SpanKind, syncTraceParent, trace, tracer, underTrace, type Span } from "../tracing.js";

/** Times one store call: its operation name (`clients.get`, `transaction`), seconds, success. */
export type StoreCallObserver = (operation: string, seconds: number, ok: boolean) => void;

/**
 * The store with every repository call and transaction timed (the store
 * latency metric) and, when started in a traced step's synchronous stretch
 * (src/tracing.ts underTrace), in a client span of its own under it
 * (`store clients.get`; background work such as the change feed's polling
 * starts no traces; a no-op without an OpenTelemetry SDK). The hot path
 * reads memory, so this runs on cache misses, writes and background work
 * only. Operation names come from the code, never from data.
 */
export function instrumentStore(store: Store, observe: StoreCallObserver): Store {
  const system = store.dialect === "postgres" ? "postgresql" : "sqlite";
  const run = <T>(operation: string, work: () => Promise<T>, span: Span | undefined): Promise<T> => {
    const start = performance.now();
    return work().then(
      (value) => {
        observe(operation, (performance.now() - start) / 1000, true);
        span?.end();
        return value;
      },
      (err: unknown) => {
        observe(operation, (performance.now() - start) / 1000, false);
        if (span) {
          failSpan(span, err);
          span.end();
        }
        throw err;
      },
    );
  };
  const timed = <T>(operation: string, work: () => Promise<T>): Promise<T> => {
    const parent = syncTraceParent();
    if (!parent) return run(operation, work, undefined);
    const span = tracer.startSpan(`store ${operation}`, { kind: SpanKind.CLIENT, attributes: { "db.system": system, "db.operation": operation } }, parent);
    return run(operation, () => underTrace(trace.setSpan(parent, span), work), span);
  };
  const data = <D extends object>(repositories: D): D => {
    const out: Record<string, unknown> = { ...(repositories as Record<string, unknown>) };
    for (const [name, repository] of Object.entries(repositories)) {
      if (repository === null || typeof repository !== "object") continue;
      const wrapped: Record<string, unknown> = {};
      for (const [method, fn] of Object.entries(repository as Record<string, unknown>)) {
        wrapped[method] = typeof fn === "function" ? (...args: unknown[]) => timed(`${name}.${method}`, () => (fn as (...a: unknown[]) => Promise<unknown>).apply(repository, args)) : fn;
      }
      out[name] = wrapped;
    }
    return out as D;
  };
  return {
    ...data<StoreData>(store),
    dialect: store.dialect,
    transaction: (fn) => timed("transaction", () => store.transaction((tx) => fn(data<StoreTx>(tx)))),
    purgeExpired: (now) => timed("purgeExpired", () => store.purgeExpired(now)),
    notified: store.notified,
    close: () => store.close(),
  };
}
