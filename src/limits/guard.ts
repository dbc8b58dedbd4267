import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { CLIENT_ID } from "../domain/constants.js";
import { clientRateLimit } from "../domain/rate_limit_metadata.js";
import type { AuthenticatedClient } from "../oauth/client_auth.js";
import type { ClientGuard } from "../oauth/guard.js";
import { sourceKey } from "./address.js";
import { BucketMap } from "./buckets.js";

export type GuardConfig = Pick<Config, "replicaCount" | "tokenRatePerSecond" | "tokenRateBurst" | "authFailuresPerMinute" | "authFailureBurst" | "rateLimitMaxEntries">;

/**
 * The limits of the OAuth endpoints, per replica: every rate and burst in the
 * config is for the whole deployment, and each of the `replicaCount` replicas
 * enforces its share (rate / N; burst / N rounded up, at least 1). Nothing is
 * shared through the store, so a limit costs no round trip; with traffic
 * spread evenly the deployment enforces about the configured figure, and a
 * caller that reaches a single replica (one long-lived gRPC channel) gets 1/N
 * of it.
 *
 * - Token requests: a bucket per authenticated client (real client ids only),
 *   at the client's own metadata limit or the default.
 * - Failed client authentication: a bucket per client id named and one per
 *   source address (IPv6 by /64), filled by failures only. A source whose
 *   bucket is empty is refused before its credentials are checked; a failure
 *   naming a client id whose bucket is empty is refused and empties its
 *   source's bucket as well, so a guesser spread over many addresses loses
 *   one address per further guess for a while. A success takes nothing, so
 *   the holder of the secret is never refused unless it shares an address
 *   with the guesser.
 *
 * Each map keeps at most `rateLimitMaxEntries` buckets (least recently used
 * dropped: an evicted bucket is a full one), so a flood of random client ids
 * or addresses costs bounded memory.
 */
export function createClientGuard(config: GuardConfig, clock: Clock): ClientGuard & { stats(): { tokenBuckets: number; failureBuckets: number; sourceBuckets: number } } {
  const n = Math.max(1, config.replicaCount);
  const share = (burst: number) => Math.max(1, Math.ceil(burst / n));
  const tokens = new BucketMap(config.rateLimitMaxEntries, clock);
  const failures = new BucketMap(config.rateLimitMaxEntries, clock);
  const sources = new BucketMap(config.rateLimitMaxEntries, clock);
  const tokenRate = config.tokenRatePerSecond / n;
  const tokenBurst = share(config.tokenRateBurst);
  const failureRate = config.authFailuresPerMinute / 60 / n;
  const failureBurst = share(config.authFailureBurst);

  return {
    tokenWait(client: AuthenticatedClient): number {
      const own = clientRateLimit(client.metadata);
      return own ? tokens.take(client.clientId, own.ratePerSecond / n, share(own.burst)) : tokens.take(client.clientId, tokenRate, tokenBurst);
    },
    sourceWait(source: string): number {
      return source ? sources.wait(sourceKey(source), failureRate, failureBurst) : 0;
    },
    failed(clientId: string | undefined, source: string): number {
      const key = source ? sourceKey(source) : "";
      if (key) sources.take(key, failureRate, failureBurst);
      if (clientId === undefined || !CLIENT_ID.test(clientId)) return 0;
      const wait = failures.take(clientId, failureRate, failureBurst);
      if (wait === 0) return 0;
      return key ? Math.max(wait, sources.drain(key, failureRate, failureBurst)) : wait;
    },
    stats: () => ({ tokenBuckets: tokens.size, failureBuckets: failures.size, sourceBuckets: sources.size }),
  };
}
