/**
 * A memoized lookup for the hot path (clients, grants, API servers by
 * audience): bounded in bytes (an estimate per entry), evicting one entry at
 * a time — never cleared wholesale, so its cost does not grow with the store.
 * Eviction is CLOCK (second chance), an approximation of least recently used:
 * a hit only marks its entry, and eviction moves marked entries to the back
 * instead of dropping them. Reordering the map on every hit (delete, set)
 * costs a large map more than the rest of a lookup: with 90,000 entries it
 * was 17% of introspection's CPU. Misses are not cached: a flood of unknown ids (which
 * callers choose) cannot fill it; every key was checked for shape first.
 * Concurrent misses of one key share one load; a load that was overtaken by
 * an invalidation (the change feed, a local write) is returned but not kept,
 * so a stale row never lingers.
 */
export function lookupCache<V>(load: (key: string) => Promise<V | undefined>, options: { maxBytes: number; sizeOf: (value: V) => number }) {
  const map = new Map<string, { value: V; bytes: number; used: boolean }>();
  const loading = new Map<string, Promise<V | undefined>>();
  let bytes = 0;
  let generation = 0;
  let hits = 0;
  let misses = 0;

  const entryBytes = (key: string, value: V) => key.length * 2 + options.sizeOf(value) + ENTRY_OVERHEAD;

  function remember(key: string, value: V): void {
    drop(key);
    const size = entryBytes(key, value);
    if (size > options.maxBytes) return;
    map.set(key, { value, bytes: size, used: false });
    bytes += size;
    // Map iteration is insertion order: the first entry is the oldest. A
    // marked one gets a second chance at the back (unmarked, so the loop
    // ends within two passes).
    for (const [oldest, entry] of map) {
      if (bytes <= options.maxBytes) break;
      map.delete(oldest);
      if (entry.used) {
        entry.used = false;
        map.set(oldest, entry);
      } else bytes -= entry.bytes;
    }
  }

  function drop(key: string): void {
    const entry = map.get(key);
    if (!entry) return;
    map.delete(key);
    bytes -= entry.bytes;
  }

  /** An invalidation: the entry goes, and loads under way are not kept. */
  function forget(key: string): void {
    generation++;
    loading.delete(key); // a get from now on loads afresh
    drop(key);
  }

  return {
    async get(key: string): Promise<V | undefined> {
      const entry = map.get(key);
      if (entry) {
        hits++;
        entry.used = true;
        return entry.value;
      }
      misses++;
      let pending = loading.get(key);
      if (!pending) {
        const at = generation;
        const started: Promise<V | undefined> = load(key)
          .then((value) => {
            if (value !== undefined && at === generation) remember(key, value);
            return value;
          })
          .finally(() => {
            if (loading.get(key) === started) loading.delete(key);
          });
        loading.set(key, (pending = started));
      }
      return pending;
    },
    /** The cached value only (no load), for in-place updates. */
    peek: (key: string): V | undefined => map.get(key)?.value,
    set: remember,
    delete: forget,
    /** Drops every entry `matches` selects (after a write that touches several, e.g. a cascade). */
    deleteWhere(matches: (key: string, value: V) => boolean): void {
      generation++;
      loading.clear();
      for (const [key, entry] of map) if (matches(key, entry.value)) drop(key);
    },
    /** The invalidation count now: taken before a warm-up read, handed to `prime`. */
    epoch: () => generation,
    /**
     * Warm-up: keeps values read from the store since `epoch` (absent keys
     * only) while they fit; never evicts. "stale": nothing kept, an
     * invalidation came in between (the read may be stale); "full": the
     * budget ran out, stop reading.
     */
    prime(entries: Iterable<readonly [string, V]>, epoch: number): "kept" | "stale" | "full" {
      if (epoch !== generation) return "stale";
      for (const [key, value] of entries) {
        if (map.has(key)) continue;
        const size = entryBytes(key, value);
        if (bytes + size > options.maxBytes) return "full";
        map.set(key, { value, bytes: size, used: false });
        bytes += size;
      }
      return "kept";
    },
    /** Size, and lookups answered from memory (hits) or not (misses, including unknown keys) since start. */
    stats: () => ({ entries: map.size, bytes, hits, misses }),
  };
}

/** Map entry and object headers, roughly (V8): counted so that many tiny entries still add up. */
const ENTRY_OVERHEAD = 96;

/** A rough byte size of a JSON-shaped value (UTF-16 strings, 8-byte numbers), for cache budgets. */
export function approximateSize(value: unknown): number {
  if (value === null || value === undefined) return 8;
  switch (typeof value) {
    case "string":
      return 16 + value.length * 2;
    case "number":
    case "boolean":
      return 8;
    case "object": {
      if (Buffer.isBuffer(value)) return 32 + value.length;
      let n = 32;
      if (Array.isArray(value)) for (const item of value) n += 8 + approximateSize(item);
      else for (const [k, v] of Object.entries(value)) n += 16 + k.length * 2 + approximateSize(v);
      return n;
    }
    default:
      return 8;
  }
}
