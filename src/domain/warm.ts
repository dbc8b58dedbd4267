import type { ListQuery } from "./listing.js";

/** Rows per warm-up read: small enough that a read never holds the store long. */
export const WARM_PAGE_SIZE = 500;

/**
 * What to do with a page read: keep going, stop (the cache is full, or an
 * invalidation came in between), or read the same page again (something the
 * rows depend on moved during the read).
 */
export type WarmStep = "next" | "stop" | "again";

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
  while (!stopped()) {
    const epoch = await before();
    const rows = await list({ terms: [], afterSeq, limit: WARM_PAGE_SIZE });
    if (rows.length === 0) return kept;
    const step = keep(rows, epoch);
    if (step === "stop") return kept;
    if (step === "again") continue;
    kept += rows.length;
    if (rows.length < WARM_PAGE_SIZE) return kept;
    afterSeq = rows[rows.length - 1]!.seq;
  }
  return kept;
}
