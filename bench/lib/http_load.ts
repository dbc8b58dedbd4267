// HTTP load: wrk (pinned to the load core, generated Lua rotating over the
// fixtures), or autocannon in this process when wrk is missing.
import autocannon from "autocannon";
import { scratch } from "./plan.js";
import type { RunResult } from "./stats.js";
import { wrkAvailable, wrkLoad, writeWrkScript, type HttpRequestSpec } from "./wrk.js";

export type { HttpRequestSpec };
export const httpTool = wrkAvailable ? "wrk" : "autocannon";

export interface HttpJob {
  /** http://127.0.0.1:port */
  base: string;
  /** Rotated per request. */
  requests: HttpRequestSpec[];
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

const scripts = new WeakMap<HttpRequestSpec[], string>();

export async function httpLoad(job: HttpJob, core: number | undefined): Promise<RunResult> {
  if (wrkAvailable) {
    let script = scripts.get(job.requests);
    if (!script) scripts.set(job.requests, (script = writeWrkScript(job.requests, scratch)));
    return wrkLoad(job.base, script, job.connections, job.warmupSeconds, job.durationSeconds, core);
  }
  return autocannonLoad(job);
}

/** autocannon with keep-alive connections = concurrency; non-2xx responses count as errors. */
async function autocannonLoad(job: HttpJob): Promise<RunResult> {
  let i = 0;
  const requests = [
    {
      setupRequest: (req: Record<string, unknown>) => {
        const r = job.requests[i++ % job.requests.length]!;
        return { ...req, method: r.method, path: r.path, headers: { ...r.headers }, body: r.body };
      },
    },
  ];
  const options = { url: job.base, connections: job.connections, pipelining: 1, requests } as unknown as autocannon.Options;
  if (job.warmupSeconds > 0) await autocannon({ ...options, duration: job.warmupSeconds });
  const result = await autocannon({ ...options, duration: job.durationSeconds });
  return {
    rps: result.requests.total / job.durationSeconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}
