import type { ListQuery } from "./listing.js";

/** Rows per warm-up read: small enough that a read never holds the store long. */
export const WARM_PAGE_SIZE = 500;

/** Reads of one page overtaken by changes before it is skipped (left to load on demand), so steady writes cannot hold warm-up in a loop. */
const MAX_PAGE_READS = 3;

/**
 * What to do with a page read: keep going, stop (the cache is full, or an
 * invalidation came in between), or read the same page again (something the
 * rows depend on moved during the read).
 */
export type WarmStep = "next" | "stop" | "again";

/** The step for what a cache's `prime` answered. */
export function stepFor(primed: "kept" | "stale" | "full"): WarmStep {
  return primed === "kept" ? "next" : primed === "stale" ? "again" : "stop";
}

/**
 * Reads every row of a listing, page by page in `seq` order, handing each
 * page to `keep`, until `stopped` (shutdown). `before` runs before each read
 * (it takes the cache's epoch for the staleness check, and may wait).
 * Resolves with the rows kept.
 */
export async function warmFrom<T extends { seq: number }, E>(
  list: (query: ListQuery) => Promise<T[]>,
  before: () => E | Promise<E>,
  keep: (rows: T[], epoch: E) => WarmStep,
  stopped: () => boolean = () => false,
): Promise<number> {
  let afterSeq = 0;
  let kept = 0;
  let reads = 0;
  while (!stopped()) {
    const epoch = await before();
    const rows = await list({ terms: [], afterSeq, limit: WARM_PAGE_SIZE });
    if (rows.length === 0) return kept;
    const step = keep(rows, epoch);
    if (step === "stop") return kept;
    if (step === "again" && ++reads < MAX_PAGE_READS) continue;
    if (step === "next") kept += rows.length;
    reads = 0;
    if (rows.length < WARM_PAGE_SIZE) return kept;
    afterSeq = rows[rows.length - 1]!.seq;
  }
  return kept;
}
