// gRPC load generators, each in its own process on the load core:
// - h2grpc (bench/tools/h2grpc.c, built here with cc): one HTTP/2 connection,
//   c streams, rotating request messages; the default for rotating fixtures.
// - h2load (nghttp2-client): one connection, c streams, one replayed body.
// - grpc-js worker processes: the fallback when neither is here (they cap the
//   figures on a 2-core machine).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { log, scratch } from "./plan.js";
import { canPin, jsonResult, spawnCmd, spawnNode } from "./procs.js";
import { percentile, type RunResult } from "./stats.js";

export interface GrpcJob {
  /** 127.0.0.1:port */
  target: string;
  path: string;
  /** Encoded request messages, rotated per call (h2load sends the first only). */
  requests: Buffer[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** A response with a shorter message is an error (1: any non-empty message; 0: an empty message is fine). */
  minMessageBytes?: number;
}

export type GrpcTool = "h2grpc" | "h2load" | "grpc-js";

export const h2loadAvailable = spawnSync("h2load", ["--version"]).status === 0;

const H2GRPC = join(scratch, "h2grpc");
export const h2grpcAvailable = (() => {
  const src = new URL("../tools/h2grpc.c", import.meta.url).pathname;
  const r = spawnSync("cc", ["-O2", "-o", H2GRPC, src], { encoding: "utf8" });
  if (r.status !== 0) log(`h2grpc not built (${r.error?.message ?? r.stderr.trim().slice(0, 200)}); rotating gRPC load falls back to ${h2loadAvailable ? "h2load (one body)" : "grpc-js workers"}`);
  return r.status === 0;
})();

/** The tool used for rotating fixtures. */
export const rotatingTool: GrpcTool = h2grpcAvailable ? "h2grpc" : h2loadAvailable ? "h2load" : "grpc-js";

export function grpcFrames(messages: Buffer[]): Buffer {
  return Buffer.concat(
    messages.flatMap((m) => {
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(m.length, 1);
      return [prefix, m];
    }),
  );
}

let seq = 0;

export function grpcLoad(job: GrpcJob, core: number | undefined, tool: GrpcTool = rotatingTool): Promise<RunResult> {
  if (tool === "h2grpc") return h2grpcLoad(job, core);
  if (tool === "h2load") return h2Load(job, core);
  return workerLoad(job, core);
}

/** h2grpc: rotating messages; warm-up and measured window in one process. */
async function h2grpcLoad(job: GrpcJob, core?: number): Promise<RunResult> {
  const file = join(scratch, `h2grpc-${++seq}.bin`);
  writeFileSync(file, grpcFrames(job.requests));
  const [host, port] = job.target.split(":");
  try {
    const args = [host!, port!, job.path, file, String(job.concurrency), String(job.warmupMs), String(job.durationMs), String(job.minMessageBytes ?? 1)];
    const r = await jsonResult<{ rps: number; p50: number; p99: number; errors: number; resets: number }>(spawnCmd(H2GRPC, args, { core }), job.warmupMs + job.durationMs + 60_000);
    return { rps: r.rps, p50: r.p50, p99: r.p99, errors: r.errors };
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * h2load: one connection carrying c streams, POSTing one length-prefixed
 * message; latencies from its per-request log. It sees HTTP status only, so
 * the caller checks the request is answered correctly before measuring.
 */
export async function h2Load(job: GrpcJob, core?: number): Promise<RunResult> {
  const data = join(scratch, `h2-${++seq}.bin`);
  const logFile = join(scratch, `h2-${seq}.log`);
  writeFileSync(data, grpcFrames([job.requests[0]!]));
  const args = [
    "-c", "1", "-m", String(job.concurrency), "-D", `${job.durationMs}ms`, `--warm-up-time=${job.warmupMs}ms`,
    "-d", data, "-H", "content-type: application/grpc", "-H", "te: trailers", `--log-file=${logFile}`,
    `http://${job.target}${job.path}`,
  ];
  const [cmd, ...rest] = canPin && core !== undefined ? ["taskset", "-c", String(core), "h2load", ...args] : ["h2load", ...args];
  const out = await new Promise<string>((resolve, reject) => {
    let text = "";
    const proc = spawn(cmd!, rest, { stdio: ["ignore", "pipe", "pipe"] });
    const guard = setTimeout(() => proc.kill("SIGKILL"), job.warmupMs + job.durationMs + 60_000);
    proc.stdout.on("data", (d: Buffer) => (text += d));
    proc.on("exit", (code) => {
      clearTimeout(guard);
      if (code === 0) resolve(text);
      else reject(new Error(`h2load exited ${code}: ${text.slice(-300)}`));
    });
  });
  // Requests still in flight when the -D timer stops are logged with status 0
  // (no response); they are neither errors nor latencies.
  const lines = readFileSync(logFile, "utf8").trim().split("\n").filter(Boolean).map((l) => l.split("\t"));
  rmSync(logFile, { force: true });
  rmSync(data, { force: true });
  const answered = lines.filter((l) => l[1] !== "0");
  const latencies = Float64Array.from(answered.map((l) => Number(l[2]) / 1000)).sort();
  const other = answered.map((l) => l[1]!).filter((status) => status !== "200");
  if (other.length > 0) {
    const histogram = Object.entries(other.reduce<Record<string, number>>((h, s) => ((h[s] = (h[s] ?? 0) + 1), h), {}));
    log(`${job.path} c=${job.concurrency}: non-200 responses ${histogram.map(([s, n]) => `${s}x${n}`).join(" ")}`);
  }
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  return { rps, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors: other.length };
}

const WORKER = new URL("../procs/grpc_worker.ts", import.meta.url).pathname;

/** Closed-loop gRPC load from grpc-js worker processes on the load core (2 workers above concurrency 1). */
async function workerLoad(job: GrpcJob, core?: number): Promise<RunResult> {
  const workers = job.concurrency > 1 ? 2 : 1;
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const file = join(scratch, `grpc-job-${++seq}-${w}.json`);
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
