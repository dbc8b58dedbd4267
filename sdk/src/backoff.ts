/**
 * Exponential backoff with jitter, shared by the token source (retries) and
 * the revocation watch (reconnects).
 *
 * @module
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  initialDelayMs?: number;
  /** Upper bound of any delay, ms. */
  maxDelayMs?: number;
  /** Growth factor per attempt. */
  multiplier?: number;
  /**
   * Fraction of each delay that is random, 0..1: the delay is
   * `base * (1 - jitter * random())`. 0 gives the exact sequence.
   */
  jitter?: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry):
 * `min(maxDelayMs, initialDelayMs * multiplier^attempt)`, minus up to `jitter` of it.
 */
export function backoffDelay(attempt: number, options: Required<BackoffOptions>, random: () => number): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** Math.max(0, attempt));
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(base * (1 - jitter * random()));
}

/** Fills in defaults. */
export function backoffOptions(options: BackoffOptions | undefined, defaults: Required<BackoffOptions>): Required<BackoffOptions> {
  return {
    initialDelayMs: options?.initialDelayMs ?? defaults.initialDelayMs,
    maxDelayMs: options?.maxDelayMs ?? defaults.maxDelayMs,
    multiplier: options?.multiplier ?? defaults.multiplier,
    jitter: options?.jitter ?? defaults.jitter,
  };
}
