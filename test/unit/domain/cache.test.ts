import { describe, expect, test } from "vitest";
import { approximateSize, lookupCache } from "../../../src/domain/cache.js";

describe("lookupCache", () => {
  const make = (maxBytes: number, store: Map<string, string>) => {
    const loads: string[] = [];
    const cache = lookupCache(async (k) => (loads.push(k), store.get(k)), { maxBytes, sizeOf: approximateSize });
    return { cache, loads };
  };

  test("hits are served without loading; misses are loaded every time and never cached", async () => {
    const { cache, loads } = make(100_000, new Map([["a", "A"]]));
    expect(await cache.get("a")).toBe("A");
    expect(await cache.get("a")).toBe("A");
    expect(await cache.get("nope")).toBeUndefined();
    expect(await cache.get("nope")).toBeUndefined();
    expect(loads).toEqual(["a", "nope", "nope"]);
    expect(cache.stats().entries).toBe(1);
  });

  test("stays within its byte budget, evicting the least recently used first, one at a time", async () => {
    const store = new Map(Array.from({ length: 1000 }, (_, i) => [`k${i}`, "v".repeat(100)] as [string, string]));
    const { cache, loads } = make(5_000, store);
    for (let i = 0; i < 1000; i++) await cache.get(`k${i}`);
    const { entries, bytes } = cache.stats();
    expect(bytes).toBeLessThanOrEqual(5_000);
    expect(entries).toBeGreaterThan(5);
    // The newest survive; touching the oldest survivor keeps it over the next insertion.
    const survivors = Array.from({ length: 1000 }, (_, i) => `k${i}`).filter((k) => cache.peek(k) !== undefined);
    expect(survivors).toEqual(Array.from({ length: entries }, (_, i) => `k${1000 - entries + i}`));
    await cache.get(survivors[0]!);
    loads.length = 0;
    await cache.get("k0"); // loaded again: evicts the least recently used, which is now survivors[1]
    expect(cache.peek(survivors[0]!)).toBe("v".repeat(100));
    expect(cache.peek(survivors[1]!)).toBeUndefined();
    expect(loads).toEqual(["k0"]);
  });

  test("an entry larger than the whole budget is served but not kept; deleteWhere drops exactly what it selects", async () => {
    const store = new Map([
      ["big", "x".repeat(10_000)],
      ["a", "keep"],
      ["b", "drop"],
    ]);
    const { cache } = make(2_000, store);
    expect(await cache.get("big")).toHaveLength(10_000);
    expect(cache.stats().entries).toBe(0);
    await cache.get("a");
    await cache.get("b");
    cache.deleteWhere((_k, v) => v === "drop");
    expect([cache.peek("a"), cache.peek("b")]).toEqual(["keep", undefined]);
  });
  test("prime keeps values read since its epoch, within the budget, never evicting; an invalidation in between keeps none", async () => {
    const { cache, loads } = make(1_000, new Map([["a", "fresh"]]));
    expect(await cache.get("a")).toBe("fresh");
    const at = cache.epoch();
    expect(cache.prime([["a", "older read"], ["b", "B"]], at)).toBe("kept");
    expect([cache.peek("a"), cache.peek("b")]).toEqual(["fresh", "B"]); // a key already there is not overwritten
    const many = Array.from({ length: 50 }, (_, i) => [`k${i}`, "v".repeat(20)] as const);
    expect(cache.prime(many, cache.epoch())).toBe("full"); // the budget ran out: stop reading
    expect(cache.stats().bytes).toBeLessThanOrEqual(1_000);
    expect([cache.peek("a"), cache.peek("b")]).toEqual(["fresh", "B"]); // nothing evicted for it

    const before = cache.epoch();
    cache.delete("b"); // a change came in after the read began
    expect(cache.prime([["b", "stale"]], before)).toBe("stale");
    expect(cache.peek("b")).toBeUndefined();
    expect(loads).toEqual(["a"]);
  });
});
