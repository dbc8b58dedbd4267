// Child processes: spawn (pinned to a core when taskset works), wait for a
// readiness line, collect JSON output, stop, read RSS. Every process started
// here is remembered by pid and stopped by pid when the harness exits.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

/** Whether `taskset` can pin processes (server on core 0, load on core 1). */
export const canPin = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

/** Stops every child this harness started that is still running (the safety net at the end of a run). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stopProcess(p, 5000)));
}

/** Spawns `cmd args`, pinned to `core` when possible (taskset execs, so the pid is the command's). */
export function spawnCmd(cmd: string, args: string[], options: { core?: number; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const [c, ...rest] = canPin && options.core !== undefined ? ["taskset", "-c", String(options.core), cmd, ...args] : [cmd, ...args];
  const proc = spawn(c!, rest, { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
  return proc;
}

/** Spawns `node --import tsx <args>` (TypeScript entry points); `BENCH_NODE_FLAGS` (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, which NODE_OPTIONS refuses) goes to each, to profile a scenario. */
export function spawnNode(args: string[], options: { core?: number; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const extra = process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? [];
  return spawnCmd(process.execPath, [...extra, "--import", "tsx", ...args], options);
}

/**
 * Resolves the first stdout/stderr line matching `pattern`; rejects if the
 * process exits first or after `timeoutMs`. After the match the output is
 * still drained (a full pipe would block the child) but no longer split into
 * lines: a server logging a line per request must not cost the harness CPU.
 */
export function waitForLine(proc: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const output: string[] = [];
    const readers = [createInterface({ input: proc.stdout! }), createInterface({ input: proc.stderr! })];
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${output.slice(-5).join(" | ")}`)), timeoutMs);
    const onLine = (line: string) => {
      output.push(line);
      if (output.length > 20) output.shift();
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        for (const r of readers) r.close();
        proc.stdout!.resume();
        proc.stderr!.resume();
        resolve(m);
      }
    };
    for (const r of readers) r.on("line", onLine);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before ${pattern}: ${output.slice(-5).join(" | ")}`));
    });
  });
}

/** Collects a child's whole stdout and parses it as JSON when it exits 0. */
export function jsonResult<T>(proc: ChildProcess, timeoutMs = 600_000): Promise<T> {
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d));
  proc.stderr!.on("data", (d: Buffer) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`exit ${code ?? signal}: ${(err || out).slice(-500)}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`not JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(proc: ChildProcess, graceMs = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resident set size of a process in bytes (VmRSS in /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100;

/** CPU seconds a process has used, user and system (utime and stime in /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
