import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

/** Whether `taskset` can pin processes (server on core 0, load on core 1). */
export const canPin = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

/** Spawns `node <args>`, pinned to `core` when possible. */
export function spawnNode(args: string[], options: { core?: number; env?: NodeJS.ProcessEnv; stdio?: "pipe" | "inherit" } = {}): ChildProcess {
  const node = [process.execPath, "--import", "tsx", ...args];
  const [cmd, ...rest] = canPin && options.core !== undefined ? ["taskset", "-c", String(options.core), ...node] : node;
  return spawn(cmd!, rest, { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
}

/** Resolves the first stdout/stderr line matching `pattern`; rejects if the process exits first. */
export function waitForLine(proc: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const onLine = (line: string) => {
      const m = pattern.exec(line);
      if (m) resolve(m);
    };
    const output: string[] = [];
    createInterface({ input: proc.stdout! }).on("line", (l) => (output.push(l), onLine(l)));
    createInterface({ input: proc.stderr! }).on("line", (l) => (output.push(l), onLine(l)));
    proc.once("exit", (code) => reject(new Error(`process exited (${code}) before ${pattern}: ${output.slice(-5).join(" | ")}`)));
  });
}

/** Collects a child's whole stdout and parses it as JSON when it exits 0. */
export function jsonResult<T>(proc: ChildProcess): Promise<T> {
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d));
  proc.stderr!.on("data", (d: Buffer) => (err += d));
  return new Promise((resolve, reject) =>
    proc.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`exit ${code}: ${err.slice(-500)}`)))),
  );
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

export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  await exited;
}
