/**
 * A memoized lookup for the token endpoint's hot path (clients, grants, API
 * servers by audience): misses are cached too (as null), writes invalidate by
 * key or clear, and the map is reset past `max` entries to bound memory.
 */
export function lookupCache<V>(load: (key: string) => V | undefined, max = 10_000) {
  const map = new Map<string, V | null>();
  return {
    get(key: string): V | undefined {
      let value = map.get(key);
      if (value === undefined) {
        value = load(key) ?? null;
        if (map.size >= max) map.clear();
        map.set(key, value);
      }
      return value ?? undefined;
    },
    /** The cached value only (no load), for in-place updates. */
    peek: (key: string): V | undefined => map.get(key) ?? undefined,
    set: (key: string, value: V) => void map.set(key, value),
    delete: (key: string) => void map.delete(key),
    clear: () => map.clear(),
  };
}
