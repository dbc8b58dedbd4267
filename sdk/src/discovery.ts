/**
 * RFC 8414 authorization server metadata, fetched once and cached.
 *
 * @module
 */
import type { Clock } from "./clock.js";
import { TokenVerificationError } from "./errors.js";
import { fetchWithTimeout, trimSlash, type FetchLike } from "./fetch.js";

/** The members of the metadata the SDK uses. */
export interface ServerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  token_endpoint?: string;
  revocation_endpoint?: string;
  access_token_signing_alg_values_supported?: string[];
  [member: string]: unknown;
}

/** The RFC 8414 well-known URL of an issuer. */
export function metadataUrl(issuer: string): string {
  return `${trimSlash(issuer)}/.well-known/oauth-authorization-server`;
}

/**
 * Fetches `<issuer>/.well-known/oauth-authorization-server` on first use (one
 * request however many callers) and keeps it. A failure is remembered for
 * `failureRetryMs`, during which callers fail at once; the metadata's `issuer`
 * must equal the configured one (RFC 8414 §3.3).
 */
export class MetadataCache {
  private value?: ServerMetadata;
  private inflight?: Promise<ServerMetadata>;
  private failure?: { at: number; error: TokenVerificationError };

  constructor(
    private readonly issuer: string,
    private readonly options: { fetch: FetchLike; clock: Clock; timeoutMs: number; failureRetryMs: number },
  ) {}

  /** The metadata, or `ERR_JWKS_UNAVAILABLE` (keys cannot be found without it). */
  async get(): Promise<ServerMetadata> {
    if (this.value) return this.value;
    const { clock, failureRetryMs } = this.options;
    if (this.failure && clock.now() - this.failure.at < failureRetryMs && !this.inflight) throw this.failure.error;
    this.inflight ??= this.load().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** The metadata if already loaded. */
  peek(): ServerMetadata | undefined {
    return this.value;
  }

  private async load(): Promise<ServerMetadata> {
    try {
      const res = await fetchWithTimeout(this.options.fetch, metadataUrl(this.issuer), { headers: { accept: "application/json" } }, this.options.timeoutMs);
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        throw new Error(`HTTP ${res.status}`);
      }
      const body = (await res.json()) as ServerMetadata;
      if (typeof body !== "object" || body === null || body.issuer !== this.issuer) throw new Error("the metadata's issuer differs from the configured issuer");
      this.value = body;
      this.failure = undefined;
      return body;
    } catch (err) {
      const error = new TokenVerificationError("ERR_JWKS_UNAVAILABLE", "authorization server metadata unavailable", { cause: err });
      this.failure = { at: this.options.clock.now(), error };
      throw error;
    }
  }
}
