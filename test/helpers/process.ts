// `authz` as a real process (bin/authz.js), as an operator runs it: the CLI
// suite and the replica suite start, watch and stop it through these.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export const BIN = new URL("../../bin/authz.js", import.meta.url).pathname;

/** Every process started here; `killAll` ends those a failing test left running. */
const children = new Set<ChildProcess>();

export function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

export interface Running {
  proc: ChildProcess;
  /** stderr lines so far (JSON log lines and the admin banner); keeps filling. */
  stderr: string[];
  /** JSON log lines parsed so far; keeps filling. */
  logs: Array<Record<string, unknown> & { msg: string }>;
  grpcPort: number;
  httpPort: number | undefined;
  exited: Promise<number | null>;
  /** Resolves with the first log line (past or future) with this `msg`. */
  logged(msg: string): Promise<Record<string, unknown>>;
}

export interface ServeOptions {
  env?: Record<string, string>;
  /** Node flags before the entry point (e.g. `--import` a fault injector). */
  nodeArgs?: string[];
}

/**
 * Starts `authz serve` with `args` and resolves once it is ready: after "http
 * listening", or after "grpc listening" when the gateway is off.
 */
export function serve(args: string[], options: ServeOptions = {}): Promise<Running> {
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, "serve", ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.add(proc);
  const stderr: string[] = [];
  const logs: Running["logs"] = [];
  const waiters: Array<{ msg: string; resolve: (line: Record<string, unknown>) => void }> = [];
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const gatewayOff = args.includes("--no-gateway") || options.env?.AUTHZ_GATEWAY === "false";
  const running: Running = {
    proc,
    stderr,
    logs,
    grpcPort: 0,
    httpPort: undefined,
    exited,
    logged: (msg) => {
      const seen = logs.find((l) => l.msg === msg);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ msg, resolve }));
    },
  };
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      stderr.push(line);
      if (!line.startsWith("{")) return;
      const parsed = JSON.parse(line) as Running["logs"][number];
      logs.push(parsed);
      for (const w of waiters.filter((w) => w.msg === parsed.msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
      if (parsed.msg === "grpc listening") {
        running.grpcPort = parsed.port as number;
        if (gatewayOff) resolve(running);
      }
      if (parsed.msg === "http listening") {
        running.httpPort = parsed.port as number;
        resolve(running);
      }
    });
    exited.then((code) => reject(new Error(`authz exited with ${code}: ${stderr.join("\n")}`)));
  });
}

/** Runs a one-shot CLI command (or a serve that is expected to fail); resolves its exit code and output. */
export function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (d: Buffer) => (stdout += d));
  proc.stderr!.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve) => proc.on("exit", (code) => resolve({ code, stdout, stderr })));
}

/** SIGTERM, then the exit code. */
export async function stop(r: Running): Promise<number | null> {
  r.proc.kill("SIGTERM");
  return r.exited;
}

/** The admin credentials of a first-start banner, if these stderr lines have one. */
export function banner(stderr: string[]): { id: string; secret: string } | undefined {
  const text = stderr.join("\n");
  const id = /AUTHZ_ADMIN_CLIENT_ID=(\S+)/.exec(text)?.[1];
  const secret = /AUTHZ_ADMIN_CLIENT_SECRET=(\S+)/.exec(text)?.[1];
  return id && secret ? { id, secret } : undefined;
}
