import type { Config } from "../config.js";
import { createMetrics } from "./metrics.js";
import { createReadiness } from "./readiness.js";

/**
 * One server's operations state: its metrics registry and its readiness.
 * main.ts makes it before the store opens (so /readyz answers `starting`
 * while migrations run and keys load) and hands it to createServer; tests let
 * createServer make one per server.
 */
export function createOperations(config: Pick<Config, "metricsApiServerLabels">, options: { processMetrics?: boolean } = {}) {
  return { metrics: createMetrics({ apiServerLabels: config.metricsApiServerLabels, processMetrics: options.processMetrics }), readiness: createReadiness() };
}

export type Operations = ReturnType<typeof createOperations>;
