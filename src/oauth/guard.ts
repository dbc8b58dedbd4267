import type { AuthenticatedClient } from "./client_auth.js";

/**
 * Why a client authentication failed: a fixed set (a metric label), never
 * request data. Unknown client, wrong or expired secret and disabled client
 * are one reason, as they are one answer.
 */
export type ClientAuthFailure =
  | "no_credentials"
  | "malformed_credentials"
  | "bad_credentials"
  | "method_mismatch"
  | "assertion_invalid"
  | "assertion_replayed"
  | "certificate_invalid"
  | "bearer_invalid";

/**
 * Per-client rate limits and failed-authentication throttling, as the OAuth
 * endpoints apply them (src/limits/ implements it over the injected clock).
 * Each answers 0 to go ahead, or the whole seconds to wait (Retry-After).
 */
export interface ClientGuard {
  /** Before a source's credentials are checked: a source over its failure budget is refused unchecked. */
  sourceWait(source: string): number;
  /**
   * Counts a failed client authentication against the client id it named
   * (undefined: none) and its source; > 0 when the client id is over its
   * failure budget (the source is then refused for a while too).
   */
  failed(clientId: string | undefined, source: string): number;
  /** Before a token request of an authenticated client is served: its token-endpoint rate. */
  tokenWait(client: AuthenticatedClient): number;
}

/**
 * What only the OAuth endpoints know, for metrics (src/ops/metrics.ts; the
 * pipeline counts every call's outcome). Cheap, synchronous.
 */
export interface OAuthTelemetry {
  /** A token was issued for this API server (an id that exists in the store). */
  tokenIssued(apiServerId: string): void;
  /** An introspection was answered (`active` or not). */
  introspected(active: boolean): void;
}
