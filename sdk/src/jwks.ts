/**
 * The JWKS cache of a verifier: keys fetched once, refreshed after
 * `maxAgeMs` in the background, refetched on an unknown `kid` at most once per
 * `refetchIntervalMs` (so tokens with random kids cannot make it hammer the
 * JWKS endpoint).
 *
 * @module
 */
import { importJWK, type CryptoKey, type JWK } from "jose";
import type { Clock } from "./clock.js";
import { TokenVerificationError } from "./errors.js";
import { fetchWithTimeout, type FetchLike } from "./fetch.js";

/** Options of {@link JwksCache}. */
export interface JwksCacheOptions {
  /** The JWKS URL (resolved lazily, e.g. from the metadata). */
  uri: () => Promise<string>;
  fetch: FetchLike;
  clock: Clock;
  /** At most one unknown-kid refetch per this interval. */
  refetchIntervalMs: number;
  /** Refresh in the background once the keys are this old. */
  maxAgeMs: number;
  /** After a failed fetch, wait this long before the next attempt. */
  failureRetryMs: number;
  /**
   * Keys not refreshed successfully for this long are no longer used: a key
   * authz removed (rotated out after a compromise) must not stay trusted for
   * as long as its JWKS is unreachable.
   */
  maxStaleMs: number;
  timeoutMs: number;
}

/** A signing key of the set, pinned to its algorithm. */
export interface SigningKey {
  kid: string;
  /** The `alg` member of the JWK, if it has one. */
  alg: string | undefined;
  jwk: JWK;
}

/** Cached JWKS with rate-limited refetching. */
export class JwksCache {
  private keys?: Map<string, SigningKey>;
  private fetchedAt = 0;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastKidRefetchAt = Number.NEGATIVE_INFINITY;
  private lastFailure?: TokenVerificationError;
  private inflight?: Promise<void>;
  private readonly imported = new Map<string, CryptoKey | Uint8Array>();

  constructor(private readonly options: JwksCacheOptions) {}

  /**
   * The key for `kid`. Unknown kid: one refetch if none happened within
   * `refetchIntervalMs`, else `ERR_TOKEN_KEY_UNKNOWN` at once. No usable JWKS
   * at all: `ERR_JWKS_UNAVAILABLE`.
   */
  async get(kid: string): Promise<SigningKey> {
    const { clock } = this.options;
    if (!this.keys) {
      if (!this.inflight && this.lastFailure && clock.now() - this.lastAttemptAt < this.options.failureRetryMs) throw this.lastFailure;
      await this.refresh();
    } else if (clock.now() - this.fetchedAt >= this.options.maxAgeMs && !this.inflight && clock.now() - this.lastAttemptAt >= this.options.failureRetryMs) {
      this.refresh().catch(() => {}); // stale-while-revalidate: keep using the old keys meanwhile
    }
    if (clock.now() - this.fetchedAt >= this.options.maxStaleMs) {
      // One attempt per failureRetryMs, as above: an outage must not turn every verification into a fetch.
      if (this.inflight || clock.now() - this.lastAttemptAt >= this.options.failureRetryMs) await this.refresh().catch(() => {});
      if (clock.now() - this.fetchedAt >= this.options.maxStaleMs) throw new TokenVerificationError("ERR_JWKS_UNAVAILABLE", "the JWKS could not be refreshed for too long", { cause: this.lastFailure });
    }
    let key = this.keys!.get(kid);
    if (key) return key;
    if (this.inflight) {
      await this.inflight.catch(() => {});
    } else if (clock.now() - this.lastKidRefetchAt >= this.options.refetchIntervalMs) {
      this.lastKidRefetchAt = clock.now();
      await this.refresh().catch(() => {});
    }
    key = this.keys!.get(kid);
    if (key) return key;
    if (this.lastFailure && this.lastAttemptAt >= this.fetchedAt) {
      throw new TokenVerificationError("ERR_JWKS_UNAVAILABLE", "the JWKS could not be refreshed", { cause: this.lastFailure });
    }
    throw new TokenVerificationError("ERR_TOKEN_KEY_UNKNOWN", "no key of the JWKS has the token's kid");
  }

  /** Imports (and caches) the key for `alg`; a key that cannot do `alg` is `ERR_TOKEN_ALG`. */
  async importKey(key: SigningKey, alg: string): Promise<CryptoKey | Uint8Array> {
    const id = `${key.kid}\n${alg}`;
    let k = this.imported.get(id);
    if (!k) {
      try {
        k = await importJWK({ ...key.jwk, alg }, alg);
      } catch (err) {
        throw new TokenVerificationError("ERR_TOKEN_ALG", "the token's alg does not fit its key", { cause: err });
      }
      this.imported.set(id, k);
    }
    return k;
  }

  /** Fetches the set now (single flight). */
  private refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async load(): Promise<void> {
    const { clock } = this.options;
    this.lastAttemptAt = clock.now();
    try {
      const res = await fetchWithTimeout(this.options.fetch, await this.options.uri(), { headers: { accept: "application/json" } }, this.options.timeoutMs);
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        throw new Error(`HTTP ${res.status}`);
      }
      const body = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(body?.keys)) throw new Error("not a JWK Set");
      const keys = new Map<string, SigningKey>();
      for (const jwk of body.keys as JWK[]) {
        if (typeof jwk !== "object" || jwk === null || typeof jwk.kid !== "string") continue;
        if (jwk.use !== undefined && jwk.use !== "sig") continue;
        if ("d" in jwk || jwk.kty === "oct") continue; // private or symmetric material is never a verification key
        keys.set(jwk.kid, { kid: jwk.kid, alg: typeof jwk.alg === "string" ? jwk.alg : undefined, jwk });
      }
      this.keys = keys;
      this.fetchedAt = clock.now();
      this.lastFailure = undefined;
      this.imported.clear();
    } catch (err) {
      this.lastFailure =
        err instanceof TokenVerificationError ? err : new TokenVerificationError("ERR_JWKS_UNAVAILABLE", "the JWKS is unavailable", { cause: err });
      throw this.lastFailure;
    }
  }
}
