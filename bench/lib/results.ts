// Everything one run records: cells (repeated load runs), ceilings, derived
// limits and the scenario blocks; written as JSON and printed by report.ts.
import { log, plan } from "./plan.js";
import { summarize, type Cell, type RunResult } from "./stats.js";

export interface StoreSizeRow {
  scenario: string;
  c: number;
  small: Cell;
  big: Cell;
  /** big/small median req/s. */
  ratio: number;
}

export interface FloodPhase {
  transport: "http" | "grpc";
  requests: number;
  idBytes: number;
  statuses: Record<string, number>;
  seconds: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  growthMiB: number;
}

export interface LaterResult {
  /** "pending: <why>" when not wired (the server lacks the flag), else "measured" or "failed: <why>". */
  status: string;
  data?: unknown;
}

export const record = {
  cells: {} as Record<string, Cell>,
  ceilings: {} as Record<string, number>,
  /** name (e.g. "L_grpc ES256 c=16") -> req/s. */
  limits: {} as Record<string, number>,
  storeSize: [] as StoreSizeRow[],
  flood: [] as FloodPhase[],
  later: {} as Record<string, LaterResult>,
  notes: [] as string[],
  loadGenerators: {} as Record<string, string>,
  /** Cell kind -> the kind it is compared with in the ratio column (store size, later comparisons). */
  baselines: {} as Record<string, string>,
};

export const cellName = (kind: string, c: number) => `${kind} c=${c}`;
export const cell = (kind: string, c: number): Cell | undefined => record.cells[cellName(kind, c)];

export function logCell(name: string, cell: Cell): void {
  log(`${name}: ${Math.round(cell.rps.median)} req/s, p50 ${cell.p50.toFixed(2)} ms, p99 ${cell.p99.toFixed(2)} ms${cell.errors ? `, ${cell.errors} errors` : ""}`);
}

/** `plan.runs` runs of one cell, recorded under `kind c=<c>`. */
export async function measure(kind: string, c: number, run: () => Promise<RunResult>, runs = plan.runs): Promise<Cell> {
  const results: RunResult[] = [];
  for (let i = 0; i < runs; i++) results.push(await run());
  const summary = summarize(results);
  const name = cellName(kind, c);
  record.cells[name] = summary;
  logCell(name, summary);
  return summary;
}
