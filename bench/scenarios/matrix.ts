// The main matrix: every server-side process (ceiling servers, authz, the
// peers) is up at once on the server core, idle except while it is measured,
// and the cells are measured round-robin: for each concurrency, run 1 of every
// cell, then run 2 of every cell, ... So drift from other load on the machine
// (other engineers' tests) is spread over all cells alike, and the ratios
// between cells of one run hold even when absolute figures are noisy. The
// crypto ceilings are sampled at the start of each concurrency block (median;
// once in a smoke run).
import { log, plan } from "../lib/plan.js";
import { cellName, logCell, record } from "../lib/results.js";
import { median, summarize, type RunResult } from "../lib/stats.js";
import { cryptoCeilings } from "./ceilings.js";

export interface CellSpec {
  kind: string;
  /** One run at concurrency c. */
  run(c: number): Promise<RunResult>;
}

export async function runMatrix(specs: CellSpec[], cs = plan.concurrency): Promise<void> {
  const runs = new Map<string, RunResult[]>();
  const crypto: Array<Record<string, number>> = [];
  for (const c of cs) {
    if (!plan.smoke || crypto.length === 0) crypto.push(await cryptoCeilings());
    for (let r = 0; r < plan.runs; r++) {
      log(`round c=${c} run ${r + 1}/${plan.runs}`);
      for (const s of specs) {
        const name = cellName(s.kind, c);
        try {
          runs.set(name, [...(runs.get(name) ?? []), await s.run(c)]);
        } catch (err) {
          // One failed run (a load generator dying, say) costs that run, not the matrix.
          const msg = `${name} run ${r + 1} failed: ${((err as Error).message ?? String(err)).split("\n")[0]!.slice(0, 200)}`;
          record.notes.push(msg);
          log(msg);
        }
      }
    }
  }
  // Recorded grouped by scenario, then concurrency.
  for (const s of specs) {
    for (const c of cs) {
      const name = cellName(s.kind, c);
      if (!runs.get(name)?.length) continue;
      const cell = summarize(runs.get(name)!);
      record.cells[name] = cell;
      logCell(name, cell);
    }
  }
  for (const key of Object.keys(crypto[0] ?? {})) record.ceilings[key] = median(crypto.map((c) => c[key]!));
  if (crypto.length > 1) record.notes.push(`crypto ceilings: median of ${crypto.length} samples, one at the start of each concurrency block`);
}
