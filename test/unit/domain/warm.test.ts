import { describe, expect, test } from "vitest";
import type { ListQuery } from "../../../src/domain/listing.js";
import { WARM_PAGE_SIZE, warmFrom, type WarmStep } from "../../../src/domain/warm.js";

/** A listing of `n` rows with seq 1..n, recording the cursor of every read. */
function listing(n: number) {
  const reads: number[] = [];
  const list = async (q: ListQuery) => {
    reads.push(q.afterSeq);
    return Array.from({ length: Math.max(0, Math.min(q.limit, n - q.afterSeq)) }, (_, i) => ({ seq: q.afterSeq + i + 1 }));
  };
  return { list, reads };
}

describe("warmFrom", () => {
  test("reads every page in seq order and counts the rows kept", async () => {
    const { list, reads } = listing(WARM_PAGE_SIZE * 2 + 7);
    expect(await warmFrom(list, () => 0, () => "next")).toBe(WARM_PAGE_SIZE * 2 + 7);
    expect(reads).toEqual([0, WARM_PAGE_SIZE, WARM_PAGE_SIZE * 2]);
  });

  test("a page overtaken by a change is read again, and skipped after three reads; stop ends it; so does shutdown", async () => {
    const { list, reads } = listing(WARM_PAGE_SIZE * 2);
    const steps: WarmStep[] = ["again", "next", "again", "again", "again"];
    expect(await warmFrom(list, () => 0, () => steps.shift() ?? "next")).toBe(WARM_PAGE_SIZE); // the second page was never kept
    expect(reads).toEqual([0, 0, WARM_PAGE_SIZE, WARM_PAGE_SIZE, WARM_PAGE_SIZE, WARM_PAGE_SIZE * 2]); // and the (empty) next

    const stopping = listing(WARM_PAGE_SIZE * 3);
    expect(await warmFrom(stopping.list, () => 0, () => "stop")).toBe(0);
    expect(stopping.reads).toEqual([0]);
    let pages = 0;
    expect(await warmFrom(stopping.list, () => pages++, () => "next", () => pages >= 2)).toBe(WARM_PAGE_SIZE * 2);
  });
});
