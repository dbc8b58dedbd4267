import type { Logger } from "../log.js";
import { errorFields } from "../log.js";

export type ReadinessState = "starting" | "ready" | "store_unreachable" | "stopping";

export interface ReadinessOptions {
  /** A cheap store round trip; rejects (or outlives `timeoutMs`) when the store cannot serve. */
  probe: () => Promise<unknown>;
  intervalMs: number;
  timeoutMs: number;
  logger: Logger;
  /** Told every change of readiness (the gRPC health service, the `authz_ready` gauge). */
  onChange: (ready: boolean, state: ReadinessState) => void;
}

/**
 * Readiness: `starting` until the server is built (migrations ran, keys
 * loaded, the change feed caught up: `started()`), then `ready` while the
 * store answers the probe within its timeout and `store_unreachable` while it
 * does not (ready again after the next probe that succeeds), `stopping` once
 * shutdown began. The probe runs every `intervalMs` (and on `check()`); a
 * probe still running when the next is due is not doubled. Liveness is
 * separate: the process answering at all.
 */
export function createReadiness() {
  let state: ReadinessState = "starting";
  let options: ReadinessOptions | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<ReadinessState> | undefined;
  const listeners = new Set<(ready: boolean, state: ReadinessState) => void>();

  function set(next: ReadinessState): void {
    if (next === state) return;
    const was = state;
    state = next;
    if (next === "store_unreachable") options?.logger.warn("not ready: the store does not answer", { was });
    else if (next === "ready" && was === "store_unreachable") options?.logger.info("ready again: the store answers");
    for (const l of listeners) l(next === "ready", next);
  }

  async function probeOnce(): Promise<ReadinessState> {
    const o = options!;
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        o.probe(),
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
        }),
      ]);
      return "ready";
    } catch (err) {
      if (state !== "store_unreachable") o.logger.debug("store probe failed", errorFields(err));
      return "store_unreachable";
    } finally {
      clearTimeout(timeout);
    }
  }

  /** Probes the store now (unless a probe is under way: its result) and returns the state it leaves. */
  function check(): Promise<ReadinessState> {
    if (!options || state === "stopping") return Promise.resolve(state);
    running ??= probeOnce()
      .then((result) => {
        if (state !== "stopping") set(result);
        return state;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    state: () => state,
    ready: () => state === "ready",
    /** Subscribes to changes (ready, state); returns the unsubscribe. */
    onChange(listener: (ready: boolean, state: ReadinessState) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** The server is built: probe now and every interval from here on. */
    async started(o: ReadinessOptions): Promise<void> {
      options = o;
      listeners.add(o.onChange);
      await check();
      timer = setInterval(() => void check(), o.intervalMs).unref();
    },
    check,
    /** Shutdown began: not ready from now on, whatever the store does. */
    stop(): void {
      clearInterval(timer);
      set("stopping");
    },
  };
}

export type Readiness = ReturnType<typeof createReadiness>;
