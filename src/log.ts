import pino from "pino";
import type { LogLevel } from "./config.js";
import { activeTraceIds } from "./tracing.js";

/** Structured logger: one JSON object per line on stderr. Never pass secrets or tokens. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Writes out what is buffered (before exit). */
  flush(): void;
}

const NO_FIELDS = Object.freeze({});
const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 100;

type SonicBoomLike = pino.DestinationStream & { flushSync(): void };

/** pino's ISO timestamp, formatted once per millisecond rather than once per line. */
let lastMs = -1;
let lastTime = "";
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/**
 * pino, writing asynchronously to stderr by default (a log line costs the
 * hot path a serialization, not a write syscall), or synchronously to `write`
 * (tests). Lines: `{"level":"info","time":"<ISO>","msg":"...",...fields}`,
 * with `trace_id` and `span_id` when written under an active span (an
 * OpenTelemetry SDK registered, src/tracing.ts).
 */
export function createLogger(level: LogLevel = "info", write?: (line: string) => void): Logger {
  // Lines are gathered up to LOG_BATCH_BYTES per write (a write per line
  // costs a threadpool round trip each) and never held longer than
  // LOG_FLUSH_MS (sonic-boom's own timer, stopped when the destination
  // closes; its flush without a callback writes and does not fsync: a log
  // line needs to reach stderr, not the disk, and a flush with a callback
  // fsyncs stderr's file every time); flush() writes the rest before exit.
  const destination = write ? { write } : pino.destination({ dest: 2, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
  const p = pino(
    {
      level,
      base: undefined,
      messageKey: "msg",
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => activeTraceIds() ?? NO_FIELDS,
      // pino's default merge writes into the mixin's object; without a span there is nothing to merge.
      mixinMergeStrategy: (fields: object, mixin: object) => (mixin === NO_FIELDS ? fields : { ...mixin, ...fields }),
    },
    destination,
  );
  const flush = () => {
    if (!write) (destination as SonicBoomLike).flushSync();
  };
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    flush() {
      try {
        flush();
      } catch {
        // Nothing buffered, or stderr closed: nothing more to do.
      }
    },
  };
}

/** A logger that drops everything (tests that do not inspect logs). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, flush() {} };

/** Reduces any thrown value to loggable fields without echoing request data. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? { cause: `${err.cause.name}: ${err.cause.message}` } : {};
    return { error: err.name, detail: err.message, stack: err.stack?.split("\n").slice(1, 4).join(" |"), ...cause };
  }
  return { error: String(err) };
}
