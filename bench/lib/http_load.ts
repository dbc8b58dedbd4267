import autocannon from "autocannon";
import type { RunResult } from "./stats.js";

export interface HttpJob {
  url: string;
  method: "GET" | "POST";
  /** Rotated per request: each has its own headers/body (e.g. another client's credentials). */
  requests: Array<{ headers?: Record<string, string>; body?: string }>;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

/** autocannon with keep-alive connections = concurrency; non-2xx responses count as errors. */
export async function httpLoad(job: HttpJob): Promise<RunResult> {
  let i = 0;
  const requests = [
    {
      method: job.method,
      setupRequest: (req: Record<string, unknown>) => {
        const r = job.requests[i++ % job.requests.length]!;
        return { ...req, headers: { ...r.headers }, body: r.body };
      },
    },
  ];
  const options = { url: job.url, connections: job.connections, pipelining: 1, requests } as unknown as autocannon.Options;
  if (job.warmupSeconds > 0) await autocannon({ ...options, duration: job.warmupSeconds });
  const result = await autocannon({ ...options, duration: job.durationSeconds });
  return {
    rps: result.requests.total / job.durationSeconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}
