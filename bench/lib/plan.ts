// What a run measures and for how long: `--smoke` (CI, under a minute) or full.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canPin } from "./procs.js";

export interface Plan {
  smoke: boolean;
  /** API servers/clients/grants on the main server (half ES256, half RS256). */
  n: number;
  concurrency: number[];
  /** The concurrency the targets are evaluated at (16; the highest in a smoke run). */
  targetC: number;
  runs: number;
  /** HTTP cells: measured seconds per run after a `warmup`-second wrk run (wrk counts whole seconds; 0: no warm-up run). */
  seconds: number;
  warmup: number;
  /** gRPC cells: the same, in one load-generator process. */
  grpcSeconds: number;
  grpcWarmup: number;
  ceilingMs: number;
  /** Store-size scenario: stored clients/grants/API servers, small vs big. */
  storeSizes: [number, number];
  /** Management calls in flight while creating fixtures. */
  setupConcurrency: number;
  flood: { requests: number; httpIdBytes: number; grpcIdBytes: number };
  /** Later scenarios: changes measured for propagation/revocation latency; runs per A/B cell. */
  latencySamples: number;
  laterRuns: number;
}

const smoke = process.argv.includes("--smoke");

/**
 * `--only=matrix,store,flood,later` runs those phases alone (default: all);
 * `--later=<text>` only the later scenarios whose name contains it. For
 * re-measuring one thing; the README's figures come from whole runs.
 */
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
export const phaseSelected = (phase: "matrix" | "store" | "flood" | "later") => !only || only.includes(phase);
export const laterFilter = process.argv.find((a) => a.startsWith("--later="))?.slice("--later=".length) ?? "";
export const plan: Plan = smoke
  ? {
      smoke,
      n: 10,
      concurrency: [1, 4],
      targetC: 4,
      runs: 1,
      seconds: 1,
      warmup: 0, // smoke only: no HTTP warm-up run, to stay under a minute
      grpcSeconds: 0.5,
      grpcWarmup: 0.2,
      ceilingMs: 150,
      storeSizes: [50, 500],
      setupConcurrency: 32,
      flood: { requests: 400, httpIdBytes: 60 * 1024, grpcIdBytes: 1_000_000 },
      latencySamples: 5,
      laterRuns: 1,
    }
  : {
      smoke,
      n: 300,
      concurrency: [1, 16, 64],
      targetC: 16,
      runs: 3,
      seconds: 5,
      warmup: 1,
      grpcSeconds: 5,
      grpcWarmup: 1,
      ceilingMs: 1000,
      storeSizes: [300, 30_000],
      setupConcurrency: 32,
      flood: { requests: 4000, httpIdBytes: 60 * 1024, grpcIdBytes: 1_000_000 },
      latencySamples: 30,
      laterRuns: 2,
    };

/** Server, peer and ceiling processes on core 0; load generators on core 1. */
export const SERVER_CORE = canPin ? 0 : undefined;
export const LOAD_CORE = canPin ? 1 : undefined;

export const scratch = mkdtempSync(join(tmpdir(), "authz-bench-"));

export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
