import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { GrpcCode, ResourceExhausted } from "../errors.js";
import { InvalidClient } from "../oauth/errors.js";
import type { OAuthTelemetry } from "../oauth/guard.js";
import { errorCodeOf } from "../oauth/http.js";
import type { CallObserver, Transport } from "../pipeline/observer.js";

/**
 * The service's Prometheus metrics, in a registry of its own (several servers
 * may run in one process). Every label value comes from a bounded set the
 * code defines (method paths of the method table, gRPC code names, RFC error
 * codes, failure reasons, limit names, cache names, algorithms) or from the
 * store at most `apiServerLabels` times (API server ids; later ones are
 * `other`): never a client id, token, audience, path or anything else a
 * caller chooses.
 *
 * What every call touches (requests, latency, token and introspection
 * outcomes) is counted in plain numbers bound once per label set and handed
 * to prom-client when scraped: a call costs a few increments, no label
 * hashing and no allocation (prom-client's labelled `inc`/`observe` hash the
 * labels every time, ~1-2 µs each).
 */
export function createMetrics(options: { apiServerLabels: number; processMetrics?: boolean }) {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const requests = slotCounter(registry, "authz_rpc_requests_total", "Calls served, by RPC (gRPC path), transport (grpc, or http: transcoded by the gateway or Envoy) and gRPC status code.", ["method", "transport", "code"]);
  const durations = new CallHistogram("authz_rpc_duration_seconds", "Time to serve a call, by RPC and transport.", RPC_BUCKETS);
  registry.registerMetric(durations as never);
  const tokenRequests = slotCounter(registry, "authz_token_requests_total", "Token requests (token endpoint and TokenService.IssueToken) by result: issued, or the RFC 6749 error answered.", ["result"]);
  const tokensIssued = slotCounter(registry, "authz_tokens_issued_total", `Access tokens issued, by API server id (the first ${options.apiServerLabels} seen; the rest as other).`, ["api_server"]);
  const introspections = slotCounter(registry, "authz_introspections_total", "Introspections by result: active, inactive, or the error answered.", ["result"]);
  const authFailures = slotCounter(registry, "authz_client_auth_failures_total", "Failed client authentications by reason.", ["reason"]);
  const limited = slotCounter(registry, "authz_rate_limited_total", "Requests refused by a rate limit or quota, by limit.", ["limit"]);
  const httpRefused = slotCounter(registry, "authz_http_refused_total", "HTTP requests the embedded gateway answered itself, before any call (no route, too large, undecodable), by HTTP status.", ["status"]);
  const storeSeconds = new Histogram({ name: "authz_store_duration_seconds", help: "Store calls (cache misses, writes, background work) by operation.", labelNames: ["operation"], buckets: STORE_BUCKETS, registers: [registry] });
  const storeErrors = new Counter({ name: "authz_store_errors_total", help: "Store calls that failed, by operation.", labelNames: ["operation"], registers: [registry] });
  const ready = new Gauge({ name: "authz_ready", help: "1 while this replica is ready (store reachable, keys loaded), else 0.", registers: [registry], aggregator: "min" });

  const apiServers = boundedLabel(options.apiServerLabels);
  const callSlots = new Map<string, [CallSlot, CallSlot]>();

  const observer: CallObserver = {
    ended(method: string, transport: Transport, code: number, seconds: number, cause: unknown): void {
      let pair = callSlots.get(method);
      if (!pair) callSlots.set(method, (pair = [callSlot(durations, method, "grpc"), callSlot(durations, method, "http")]));
      const slot = pair[transport === "http" ? 1 : 0];
      (slot.codes[code] ??= requests.bind(method, transport, CODE_NAMES[code] ?? String(code))).n++;
      slot.histogram.observe(seconds);
      if (TOKEN_METHODS.has(method)) tokenRequests.bind(code === GrpcCode.OK ? "issued" : errorCodeOf(cause)).n++;
      else if (code !== GrpcCode.OK && INTROSPECTION_METHODS.has(method)) introspections.bind(errorCodeOf(cause)).n++;
      if (code === GrpcCode.OK) return;
      if (cause instanceof ResourceExhausted) {
        limited.bind(cause.limit).n++;
        if (cause.cause instanceof InvalidClient) authFailures.bind(cause.cause.failure).n++;
      } else if (cause instanceof InvalidClient) authFailures.bind(cause.failure).n++;
    },
  };

  const oauth: OAuthTelemetry = {
    tokenIssued: (apiServerId) => tokensIssued.bind(apiServers(apiServerId)).n++,
    introspected: (active) => introspections.bind(active ? "active" : "inactive").n++,
  };

  return {
    registry,
    observer,
    oauth,
    /** An HTTP request the gateway refused before any call (src/gateway/index.ts): not in authz_rpc_requests_total. */
    httpRefused(status: number): void {
      httpRefused.bind(REFUSAL_STATUSES.has(status) ? String(status) : "other").n++;
    },
    /** Times a store call (src/ops/store.ts). */
    storeCall(operation: string, seconds: number, ok: boolean): void {
      storeSeconds.observe({ operation }, seconds);
      if (!ok) storeErrors.inc({ operation });
    },
    setReady(value: boolean): void {
      ready.set(value ? 1 : 0);
    },
    /** Gauges read when scraped from the parts that hold the numbers (caches, change feed, key ring, limits). */
    watch(sources: WatchedSources): void {
      new Counter({
        name: "authz_cache_lookups_total",
        help: "Hot-path cache lookups by cache and result (hit, miss); the hit ratio is rate(hit) / rate(all).",
        labelNames: ["cache", "result"],
        registers: [registry],
        collect() {
          this.reset();
          for (const [cache, stats] of Object.entries(sources.caches)) {
            const s = stats();
            this.inc({ cache, result: "hit" }, s.hits);
            this.inc({ cache, result: "miss" }, s.misses);
          }
        },
      });
      gauge(registry, "authz_cache_entries", "Entries held by each hot-path cache.", ["cache"], (set) => {
        for (const [cache, stats] of Object.entries(sources.caches)) set({ cache }, stats().entries);
      });
      gauge(registry, "authz_cache_bytes", "Estimated bytes held by each hot-path cache.", ["cache"], (set) => {
        for (const [cache, stats] of Object.entries(sources.caches)) set({ cache }, stats().bytes);
      });
      gauge(registry, "authz_change_feed_lag_seconds", "Time since this replica last read the change feed to its end.", [], (set) => set({}, sources.feed.lagMs() / 1000), "max");
      gauge(registry, "authz_change_feed_position", "Sequence of the last change this replica applied.", [], (set) => set({}, sources.feed.position()), "min");
      gauge(registry, "authz_signing_key_age_seconds", "Age of the key signing each algorithm's tokens now (since it became active).", ["alg"], (set) => {
        const now = sources.now();
        const newest = new Map<string, number>();
        for (const k of sources.keys()) if (k.state === "active") newest.set(k.alg, Math.max(newest.get(k.alg) ?? 0, k.activateTime));
        for (const [alg, at] of newest) set({ alg }, (now - at) / 1000);
      }, "max");
      gauge(registry, "authz_signing_keys", "Published signing keys by algorithm and state.", ["alg", "state"], (set) => {
        const counts = new Map<string, { alg: string; state: string; n: number }>();
        for (const k of sources.keys()) {
          const key = `${k.alg}/${k.state}`;
          const c = counts.get(key) ?? { alg: k.alg, state: k.state, n: 0 };
          c.n++;
          counts.set(key, c);
        }
        for (const c of counts.values()) set({ alg: c.alg, state: c.state }, c.n);
      }, "max");
      if (sources.limits) {
        const stats = sources.limits;
        gauge(registry, "authz_rate_limit_buckets", "Buckets each limit holds (bounded by rateLimitMaxEntries).", ["limit"], (set) => {
          const s = stats();
          set({ limit: "token_rate" }, s.tokenBuckets);
          set({ limit: "auth_failures_client" }, s.failureBuckets);
          set({ limit: "auth_failures_source" }, s.sourceBuckets);
        });
      }
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

export interface WatchedSources {
  caches: Record<string, () => CacheStats>;
  feed: { lagMs(): number; position(): number };
  keys: () => ReadonlyArray<{ alg: string; state: string; activateTime: number }>;
  limits?: () => { tokenBuckets: number; failureBuckets: number; sourceBuckets: number };
  /** The service's clock (epoch ms). */
  now: () => number;
}

const TOKEN_METHODS = new Set(["/authz.v1.OAuthService/Token", "/authz.v1.TokenService/IssueToken"]);
const INTROSPECTION_METHODS = new Set(["/authz.v1.OAuthService/Introspect", "/authz.v1.TokenService/IntrospectToken"]);
const CODE_NAMES = Object.fromEntries(Object.entries(GrpcCode).map(([name, code]) => [code, name])) as Record<number, string>;
/** Seconds: issuance is ~0.2 ms of CPU; a store round trip a few ms; the server's own bound is 15 s. */
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/** The API server label: its id while fewer than `max` ids have been seen, `other` after (ids come from the store, never from callers). */
function boundedLabel(max: number): (value: string) => string {
  const admitted = new Set<string>();
  return (value) => {
    if (admitted.has(value)) return value;
    if (admitted.size >= max) return "other";
    admitted.add(value);
    return value;
  };
}

/** The statuses the gateway answers by itself (any other would be a bug: counted as other, never a new label value). */
const REFUSAL_STATUSES = new Set([400, 404, 405, 413, 414, 415, 431, 500]);

interface Slot {
  n: number;
}

/**
 * A prom-client counter fed from slots bound once per label set: callers add
 * to `slot.n`; a scrape moves what was added into the counter.
 */
function slotCounter(registry: Registry, name: string, help: string, labelNames: string[]) {
  const slots = new Map<string, { labels: Record<string, string>; slot: Slot }>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const { labels, slot } of slots.values()) {
        this.inc(labels, slot.n);
        slot.n = 0;
      }
    },
  });
  return {
    /** The slot of these label values (in `labelNames` order); bound once, then a Map lookup. */
    bind(...values: string[]): Slot {
      const key = values.length === 1 ? values[0]! : values.join("\u0000");
      let bound = slots.get(key);
      if (!bound) slots.set(key, (bound = { labels: Object.fromEntries(labelNames.map((l, i) => [l, values[i]!])), slot: { n: 0 } }));
      return bound.slot;
    },
  };
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, value: number) => void) => void, aggregator: "sum" | "max" | "min" = "sum"): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    aggregator,
    collect() {
      this.reset();
      read((labels, value) => this.set(labels, value));
    },
  });
}

interface CallSlot {
  codes: Array<Slot | undefined>;
  histogram: HistogramSlot;
}

function callSlot(durations: CallHistogram, method: string, transport: Transport): CallSlot {
  return { codes: [], histogram: durations.slot({ method, transport }) };
}

interface HistogramSlot {
  observe(value: number): void;
}

/**
 * A histogram whose label sets are bound once (per RPC and transport) and
 * whose observations are two array increments; rendered through the
 * registry (prom-client's exposition format, summed across --workers) when
 * scraped.
 */
class CallHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly slots: Array<{ labels: Record<string, string>; counts: Float64Array; sum: number; count: number }> = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  slot(labels: Record<string, string>): HistogramSlot {
    const s = { labels, counts: new Float64Array(this.bounds.length), sum: 0, count: 0 };
    this.slots.push(s);
    const bounds = this.bounds;
    return {
      observe(value: number) {
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        if (i < bounds.length) s.counts[i]!++;
        s.sum += value;
        s.count++;
      },
    };
  }

  async get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const s of this.slots) {
      if (s.count === 0) continue;
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...s.labels, le: "+Inf" }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
