import { randomBytes } from "node:crypto";
import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";

/** How many replica processes `workers` means on this machine. */
export function workerCount(workers: Config["workers"]): number {
  return workers === "auto" ? availableParallelism() : workers;
}

/** Where the supervisor hands its replicas the loopback gateway's key (not a setting: never set it yourself). */
export const GATEWAY_KEY_ENV = "AUTHZ_INTERNAL_GATEWAY_KEY";

/**
 * `authz serve --workers N`: this (primary) process forks N replicas of
 * itself; they share the listening ports (node:cluster hands each accepted
 * connection to one of them) and the store, so one node uses every core.
 * A replica that dies unexpectedly is replaced (after a short pause, so a
 * replica that cannot start does not spin); SIGTERM/SIGINT go to every replica,
 * and the primary exits once all have stopped.
 */
export function superviseWorkers(count: number, logger: Logger, exit: (code: number) => void): void {
  let stopping = false;
  // One key for every replica: a loopback gateway's call may reach another replica's gRPC listener (src/gateway/loopback_peer.ts).
  const env = { [GATEWAY_KEY_ENV]: randomBytes(32).toString("base64url") };
  const fork = () => {
    const worker = cluster.fork(env);
    worker.once("exit", (code, signal) => onExit(worker, code, signal));
  };
  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) exit(0);
      return;
    }
    logger.error("replica exited; starting another", { pid: worker.process.pid, code, signal });
    setTimeout(fork, 1_000).unref();
  };
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info("stopping replicas", { signal });
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) return exit(0);
    for (const w of workers) w?.process.kill(signal);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  for (let i = 0; i < count; i++) fork();
  logger.info("replicas started", { workers: count });
}

export const isPrimary = (): boolean => cluster.isPrimary;
