/** Latency samples (ms) -> percentile, with the nearest-rank method. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** One load run's result. */
export interface RunResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Repeated runs of one cell: rps as min/median/max; latencies from the median run. */
export interface Cell {
  rps: { min: number; median: number; max: number };
  p50: number;
  p99: number;
  errors: number;
  runs: RunResult[];
}

export function summarize(runs: RunResult[]): Cell {
  const byRps = [...runs].sort((a, b) => a.rps - b.rps);
  const mid = byRps[Math.floor((byRps.length - 1) / 2)]!;
  return {
    rps: { min: byRps[0]!.rps, median: median(runs.map((r) => r.rps)), max: byRps[byRps.length - 1]!.rps },
    p50: mid.p50,
    p99: mid.p99,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    runs,
  };
}
