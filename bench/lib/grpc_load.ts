import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { jsonResult, spawnNode } from "./procs.js";
import { percentile, type RunResult } from "./stats.js";

export interface GrpcJob {
  target: string;
  path: string;
  requests: Buffer[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

const WORKER = new URL("../grpc_worker.ts", import.meta.url).pathname;

/** Closed-loop gRPC load from worker processes on the load core (2 workers above concurrency 1). */
export async function grpcLoad(job: GrpcJob, scratchDir: string, core?: number): Promise<RunResult> {
  const workers = job.concurrency > 1 ? 2 : 1;
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const file = join(scratchDir, `grpc-job-${process.pid}-${w}.json`);
      const share = Math.ceil(job.concurrency / workers) - (w === workers - 1 && job.concurrency % workers ? 1 : 0);
      writeFileSync(file, JSON.stringify({ ...job, concurrency: Math.max(1, share), requests: job.requests.map((b) => b.toString("base64")) }));
      return jsonResult<{ completed: number; errors: number; seconds: number; latencies: number[] }>(spawnNode([WORKER, file], { core }));
    }),
  );
  const latencies = Float64Array.from(results.flatMap((r) => r.latencies)).sort();
  return {
    rps: results.reduce((n, r) => n + r.completed / r.seconds, 0),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors: results.reduce((n, r) => n + r.errors, 0),
  };
}
