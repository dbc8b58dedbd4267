/**
 * A client's own token-endpoint limit, in its `metadata` map (the Client
 * message has no field for it, and metadata is already stored, cached with
 * the client on the hot path, edited by every management surface and spread
 * to every replica by the change feed): requests per second (a decimal
 * number, 0 for no limit) and burst (a whole number; by default twice the
 * rate, at least 1). The `authz.` key prefix is the service's: other keys
 * under it are refused, so a typo is not silently ignored.
 */
export const RATE_LIMIT_PER_SECOND_KEY = "authz.rate_limit_per_second";
export const RATE_LIMIT_BURST_KEY = "authz.rate_limit_burst";
const RESERVED_PREFIX = "authz.";
const MAX_RATE = 1_000_000;

export interface ClientRateLimit {
  ratePerSecond: number;
  burst: number;
}

/** The client's own limit from its metadata, or undefined to use the default (also for values that do not parse: validated on write). */
export function clientRateLimit(metadata: Readonly<Record<string, string>> | undefined): ClientRateLimit | undefined {
  const rate = metadata?.[RATE_LIMIT_PER_SECOND_KEY];
  if (rate === undefined || !RATE.test(rate)) return undefined;
  const ratePerSecond = Number(rate);
  const burstText = metadata![RATE_LIMIT_BURST_KEY];
  const burst = burstText !== undefined && BURST.test(burstText) ? Number(burstText) : Math.max(1, Math.ceil(ratePerSecond * 2));
  return ratePerSecond <= MAX_RATE && burst >= 1 && burst <= MAX_RATE ? { ratePerSecond, burst } : undefined;
}

const RATE = /^\d{1,7}(\.\d{1,6})?$/;
const BURST = /^\d{1,7}$/;

/** Problems with the reserved keys of a metadata map (empty when none), for the client's field violations. */
export function rateLimitMetadataProblems(metadata: Readonly<Record<string, string>>): Array<{ key: string; problem: string }> {
  const out: Array<{ key: string; problem: string }> = [];
  for (const [key, value] of Object.entries(metadata)) {
    if (!key.startsWith(RESERVED_PREFIX)) continue;
    if (key === RATE_LIMIT_PER_SECOND_KEY) {
      if (!RATE.test(value) || Number(value) > MAX_RATE) out.push({ key, problem: `must be a number of requests per second, 0..${MAX_RATE} (0: no limit)` });
    } else if (key === RATE_LIMIT_BURST_KEY) {
      if (!BURST.test(value) || Number(value) < 1 || Number(value) > MAX_RATE) out.push({ key, problem: `must be a whole number 1..${MAX_RATE}` });
      else if (metadata[RATE_LIMIT_PER_SECOND_KEY] === undefined) out.push({ key, problem: `needs ${RATE_LIMIT_PER_SECOND_KEY} as well` });
    } else {
      out.push({ key, problem: `is not a known key: ${RESERVED_PREFIX}* is reserved (${RATE_LIMIT_PER_SECOND_KEY}, ${RATE_LIMIT_BURST_KEY})` });
    }
  }
  return out;
}
