import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canPin, jsonResult, spawnNode } from "./procs.js";
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

/** Whether h2load (Debian's nghttp2-client) is here; it drives gRPC far more cheaply than a grpc-js client. */
export const h2loadAvailable = spawnSync("h2load", ["--version"]).status === 0;

/**
 * gRPC load with h2load: one HTTP/2 connection carrying `concurrency` streams
 * (as a gRPC channel does), POSTing one length-prefixed message; latencies from
 * its per-request log. h2load sees HTTP status only, so the caller checks the
 * request is answered correctly before measuring.
 */
export async function h2Load(job: GrpcJob, scratchDir: string, core?: number): Promise<RunResult> {
  const data = join(scratchDir, `h2-${process.pid}.bin`);
  const logFile = join(scratchDir, `h2-${process.pid}.log`);
  const message = job.requests[0]!;
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  writeFileSync(data, frame);
  const args = [
    "-c", "1", "-m", String(job.concurrency), "-D", `${job.durationMs}ms`, `--warm-up-time=${job.warmupMs}ms`,
    "-d", data, "-H", "content-type: application/grpc", "-H", "te: trailers", `--log-file=${logFile}`,
    `http://${job.target}${job.path}`,
  ];
  const [cmd, ...rest] = canPin && core !== undefined ? ["taskset", "-c", String(core), "h2load", ...args] : ["h2load", ...args];
  const out = await new Promise<string>((resolve, reject) => {
    let text = "";
    const proc = spawn(cmd!, rest, { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout.on("data", (d: Buffer) => (text += d));
    proc.on("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`h2load exited ${code}: ${text.slice(-300)}`))));
  });
  // Requests still in flight when the -D timer stops are logged with status 0
  // (no response); they are neither errors nor latencies.
  const lines = readFileSync(logFile, "utf8").trim().split("\n").filter(Boolean).map((l) => l.split("\t"));
  rmSync(logFile, { force: true });
  const answered = lines.filter((l) => l[1] !== "0");
  const latencies = Float64Array.from(answered.map((l) => Number(l[2]) / 1000)).sort();
  const other = answered.map((l) => l[1]!).filter((status) => status !== "200");
  const statuses = other.length;
  if (statuses > 0) {
    const histogram = Object.entries(other.reduce<Record<string, number>>((h, s) => ((h[s] = (h[s] ?? 0) + 1), h), {}));
    process.stderr.write(`[bench] ${job.path} c=${job.concurrency}: non-200 responses ${histogram.map(([s, n]) => `${s}x${n}`).join(" ")}\n`);
  }
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  return { rps, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors: statuses };
}

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
