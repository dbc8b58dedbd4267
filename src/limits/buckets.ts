import type { Clock } from "../clock.js";

/**
 * Token buckets by key (a client id, a source address), bounded in entries:
 * least recently used buckets go first once `maxEntries` are held, and a
 * bucket that has refilled holds nothing worth keeping (an absent key is a
 * full bucket), so a flood of distinct keys costs a bounded map whose
 * evictions only ever forgive. O(1) per call, no timers: time comes from the
 * injected clock. Rates are per second; a rate of 0 is no limit.
 */
export class BucketMap {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly clock: Clock,
  ) {}

  /** Spends one token: 0, or the whole seconds until one is back (Retry-After). */
  take(key: string, rate: number, burst: number): number {
    if (rate <= 0) return 0;
    const b = this.refilled(key, rate, burst);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return waitFor(b.tokens, rate);
  }

  /** The whole seconds until a token is there, spending nothing (0: one is). */
  wait(key: string, rate: number, burst: number): number {
    if (rate <= 0) return 0;
    const b = this.buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(burst, b.tokens + ((this.clock.now() - b.last) / 1000) * rate);
    return tokens >= 1 ? 0 : waitFor(tokens, rate);
  }

  /** Empties the bucket: the next token comes after 1/rate s. Returns that wait. */
  drain(key: string, rate: number, burst: number): number {
    if (rate <= 0) return 0;
    const b = this.refilled(key, rate, burst);
    b.tokens = Math.min(b.tokens, 0);
    return waitFor(b.tokens, rate);
  }

  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string, rate: number, burst: number): { tokens: number; last: number } {
    const now = this.clock.now();
    let b = this.buckets.get(key);
    if (b) {
      // Most recently used moves to the end (Map order is insertion order).
      this.buckets.delete(key);
      b.tokens = Math.min(burst, b.tokens + ((now - b.last) / 1000) * rate);
      b.last = now;
    } else {
      b = { tokens: burst, last: now };
      if (this.buckets.size >= this.maxEntries) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, b);
    return b;
  }
}

function waitFor(tokens: number, rate: number): number {
  return Math.max(1, Math.ceil((1 - tokens) / rate));
}
