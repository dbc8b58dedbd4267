import cluster from "node:cluster";
import { AggregatorRegistry } from "prom-client";
import type { Operations } from "./index.js";
import type { OpsSource } from "./server.js";

/**
 * `--workers N`: node:cluster would share one ops port among the replicas
 * (each scrape answered by whichever got the connection), so the supervising
 * process serves it instead: /metrics is every replica's registry summed
 * (prom-client's AggregatorRegistry over the cluster channel; gauges such as
 * authz_ready by their own aggregator, e.g. min), /readyz is ready when every
 * replica has said it is.
 */
const READINESS = "authz:readiness";

interface ReadinessMessage {
  type: typeof READINESS;
  ready: boolean;
  state: string;
}

/** In a replica: answer the supervisor's metric requests from this server's registry, and tell it every readiness change. */
export function shareWithSupervisor(operations: Operations): void {
  AggregatorRegistry.setRegistries([operations.metrics.registry]);
  new AggregatorRegistry(); // installs the worker's side of the cluster channel
  const tell = (ready: boolean, state: string) => process.send?.({ type: READINESS, ready, state } satisfies ReadinessMessage);
  tell(operations.readiness.ready(), operations.readiness.state());
  operations.readiness.onChange(tell);
}

/** In the supervisor: the ops source over `replicas` workers. */
export function supervisorOpsSource(replicas: number): OpsSource {
  const aggregator = new AggregatorRegistry();
  const states = new Map<number, ReadinessMessage>();
  cluster.on("message", (worker, message: ReadinessMessage) => {
    if (message?.type === READINESS) states.set(worker.id, message);
  });
  cluster.on("exit", (worker) => states.delete(worker.id));
  return {
    metrics: async () => ({ body: await aggregator.clusterMetrics(), contentType: aggregator.contentType }),
    readiness() {
      const all = [...states.values()];
      if (all.length < replicas) return { ready: false, state: "starting" };
      const notReady = all.find((s) => !s.ready);
      return notReady ? { ready: false, state: notReady.state } : { ready: true, state: "ready" };
    },
  };
}
