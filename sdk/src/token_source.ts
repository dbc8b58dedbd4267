/**
 * `TokenSource`: client-credentials tokens for services that call APIs,
 * cached, renewed before expiry, one request in flight per target.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { backoffDelay, backoffOptions, type BackoffOptions } from "./backoff.js";
import { authorizationInterceptor } from "./bearer_interceptor.js";
import { systemClock, type Clock } from "./clock.js";
import { createDpopProof, generateEs256DpopKeySync, type DpopKey } from "./dpop.js";
import { InvalidOptionsError, TokenSourceError } from "./errors.js";
import { trimSlash, type FetchLike } from "./fetch.js";
import { grpcTokenTransport, httpTokenTransport, type TokenResponse, type TokenTransport } from "./token_transport.js";

/** What a token is for. Per-call targets override the source's defaults. */
export interface TokenTarget {
  /** The API server identifier (Auth0 style `audience`). */
  audience?: string;
  /** RFC 8707 `resource` (an absolute URI); alternative to `audience`. */
  resource?: string;
  /** Scopes to ask for (space-separated or a list); absent: every granted scope. */
  scope?: string | readonly string[];
}

/** Retry policy for failed token requests (UNAVAILABLE / 503 / 429 / network errors). */
export interface TokenRetryOptions extends BackoffOptions {
  /** Attempts per renewal, including the first (default 4). */
  maxAttempts?: number;
  /** A server-requested delay longer than this fails the renewal at once instead of waiting (default 30 000 ms). */
  maxRetryAfterMs?: number;
}

/** Options of {@link TokenSource}. */
export interface TokenSourceOptions extends TokenTarget {
  clientId: string;
  clientSecret: string;

  /** gRPC address of authz: tokens through `TokenService.IssueToken`. */
  address?: string;
  /** gRPC channel credentials (default insecure). */
  credentials?: grpc.ChannelCredentials;
  /** gRPC channel options. */
  channelOptions?: grpc.ChannelOptions;

  /** The issuer: tokens through `POST <issuer>/oauth/token` (used when no `address` is given). */
  issuer?: string;
  /** Token endpoint URL, instead of `<issuer>/oauth/token`. */
  tokenEndpoint?: string;
  /** HTTP client authentication (default `client_secret_basic`). */
  authMethod?: "client_secret_basic" | "client_secret_post";
  /** `fetch` for the HTTP transport and for {@link TokenSource.fetch} (default `globalThis.fetch`). */
  fetch?: FetchLike;

  /** A custom transport (tests, other protocols); wins over `address` and `issuer`. */
  transport?: TokenTransport;

  /** Renew this long before expiry (default 60 s, at most half the lifetime). */
  renewBeforeSeconds?: number;
  /** Renew up to this much earlier still, at random, so replicas spread out (default 30 s, at most a quarter of the lifetime). */
  renewJitterSeconds?: number;
  /** A cached token is only handed out while it stays valid this long (default 5 s, at most a quarter of the lifetime). */
  minValiditySeconds?: number;
  /** Timeout of one token request (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Retries (default 4 attempts, 200 ms doubling up to 5 s, 20 % jitter). */
  retry?: TokenRetryOptions;

  /**
   * DPoP-bound tokens (RFC 9449): the key to bind them to, or `true` to
   * generate an ES256 key once for this source. Every token request then
   * carries a fresh proof (HTTP: `DPoP` header for the token endpoint URL;
   * gRPC: `dpop` metadata for `<issuer>/oauth/token`, so `issuer` or
   * `tokenEndpoint` is needed with `address`), and a `Bearer` answer is refused.
   */
  dpop?: DpopKey | true;

  /** Injected clock (tests). */
  clock?: Clock;
  /** Injected randomness in [0, 1) for jitter (tests). */
  random?: () => number;
}

/** What a DPoP proof is for: the request's method and URL (RFC 9449 §4.2). */
export interface DpopProofTarget {
  htm: string;
  htu: string;
  /** The access token sent with the request (hashed into `ath`); give it when calling a resource server. */
  accessToken?: string;
  /** A `DPoP-Nonce` the server sent (RFC 9449 §8, §9). */
  nonce?: string;
}

/** Options of {@link TokenSource.grpcInterceptor}. */
export interface GrpcInterceptorOptions {
  /**
   * For DPoP-bound tokens: the server's base URL (e.g. `https://orders.example.com`);
   * each call's proof has `htm` POST and `htu` `<baseUrl>/<package.Service>/<Method>`,
   * which `grpcServerAuth` checks. Required when the source has a DPoP key.
   */
  baseUrl?: string;
}

interface Cached {
  token: string;
  obtainedAt: number;
  renewAt: number;
  usableUntil: number;
  expiresAt: number;
}

interface Entry {
  request: { audience?: string; resource?: string; scope?: string };
  cached?: Cached;
  inflight?: Promise<Cached>;
  failedAt?: number;
  /** The last failure, when it was a refusal (bad credentials, a disabled client...): answered again without asking until REFUSAL_HOLD_MS after `failedAt`. */
  refused?: TokenSourceError;
}

/**
 * How long a refusal is answered from memory: a service calling `token()` per
 * request with a revoked secret sends one token request per this, not one per
 * request (the server would throttle it as a guesser).
 */
const REFUSAL_HOLD_MS = 5_000;

/** Automatic invalidation (after a 401 / UNAUTHENTICATED) ignores tokens younger than this, so a misconfigured API cannot make every request fetch a token. */
const AUTO_INVALIDATE_MIN_AGE_MS = 5_000;
/** Without `expires_in` or a readable JWT `exp`, assume this lifetime. */
const FALLBACK_LIFETIME_S = 60;

/**
 * Gets client-credentials tokens from authz and caches them. Ask on every
 * request (`await source.token()`); authz sees about one issuance per token
 * lifetime per (target, scope):
 *
 * - one request in flight per (audience/resource, scope) however many callers;
 * - renewed in the background from `renewBeforeSeconds` (+ jitter) before
 *   expiry, while the cached token is still handed out;
 * - bounded retries with exponential backoff on UNAVAILABLE / 503 / 429 and
 *   network errors, honouring RetryInfo / `retry-after` / `Retry-After`;
 * - never an expired token: when renewal fails after the cached token expired,
 *   `token()` rejects with a {@link TokenSourceError}.
 *
 * ```ts
 * const orders = new TokenSource({ issuer: "https://auth.example.com", clientId, clientSecret, audience: "https://orders.example.com" });
 * const res = await orders.fetch("https://orders.example.com/orders");
 * ```
 */
export class TokenSource {
  private readonly transport: TokenTransport;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly fetchImpl: FetchLike;
  private readonly entries = new Map<string, Entry>();
  private readonly retry: Required<BackoffOptions> & { maxAttempts: number; maxRetryAfterMs: number };
  private closed = false;
  /** The key DPoP-bound tokens of this source are bound to (RFC 9449); undefined without the `dpop` option. */
  readonly dpopKey: DpopKey | undefined;
  /** The token endpoint's latest `DPoP-Nonce` (RFC 9449 §8), put in the next proofs. */
  private dpopNonce: string | undefined;

  constructor(private readonly options: TokenSourceOptions) {
    if (!options.clientId || !options.clientSecret) throw new InvalidOptionsError("TokenSource needs clientId and clientSecret");
    this.dpopKey = options.dpop === true ? generateEs256DpopKeySync() : options.dpop;
    if (options.transport) this.transport = options.transport;
    else if (options.address) {
      const tokenEndpoint = options.tokenEndpoint ?? (options.issuer ? `${trimSlash(options.issuer)}/oauth/token` : undefined);
      if (this.dpopKey && !tokenEndpoint) throw new InvalidOptionsError("DPoP over gRPC needs issuer or tokenEndpoint (the proofs' htu is <issuer>/oauth/token)");
      this.transport = grpcTokenTransport({ address: options.address, credentials: options.credentials, channelOptions: options.channelOptions, tokenEndpoint });
    } else if (options.issuer || options.tokenEndpoint) {
      this.transport = httpTokenTransport({
        issuer: options.issuer,
        tokenEndpoint: options.tokenEndpoint,
        authMethod: options.authMethod,
        fetch: options.fetch,
      });
    } else throw new InvalidOptionsError("TokenSource needs address (gRPC), issuer or tokenEndpoint (HTTP), or transport");
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.retry = {
      ...backoffOptions(options.retry, { initialDelayMs: 200, maxDelayMs: 5_000, multiplier: 2, jitter: 0.2 }),
      maxAttempts: Math.max(1, options.retry?.maxAttempts ?? 4),
      maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 30_000,
    };
  }

  /**
   * An access token for the target (the source's defaults unless given).
   * Resolves at once from the cache while the token is fresh; rejects with a
   * {@link TokenSourceError} when no unexpired token can be had.
   */
  async token(target?: TokenTarget): Promise<string> {
    if (this.closed) throw new TokenSourceError("ERR_TOKEN_SOURCE_CLOSED", "the token source is closed");
    const entry = this.entry(target);
    const now = this.clock.now();
    const cached = entry.cached;
    if (cached && now < cached.renewAt) return cached.token;
    if (!(cached && now < cached.usableUntil) && entry.refused && now - entry.failedAt! < REFUSAL_HOLD_MS && !entry.inflight) throw entry.refused;
    if (cached && now < cached.usableUntil) {
      // Renewal window: hand out the cached token, renew in the background
      // (not again right after a failed attempt: the retries already backed off).
      const coolingDown = entry.failedAt !== undefined && now - entry.failedAt < this.retry.maxDelayMs;
      if (!entry.inflight && !coolingDown) this.renew(entry).catch(() => {});
      return cached.token;
    }
    return (await this.renew(entry)).token;
  }

  /**
   * Drops the cached token for the target (or every target) so the next call
   * gets a new one. With `token`, only if that is still the cached token.
   */
  invalidate(target?: TokenTarget, token?: string): void {
    if (!target) {
      if (token === undefined) for (const e of this.entries.values()) e.cached = undefined;
      else for (const e of this.entries.values()) if (e.cached?.token === token) e.cached = undefined;
      return;
    }
    const entry = this.entries.get(this.keyOf(this.resolve(target)));
    if (entry?.cached && (token === undefined || entry.cached.token === token)) entry.cached = undefined;
  }

  /**
   * A grpc-js client interceptor adding `authorization: Bearer <token>` to
   * every call (works on insecure channels). A call answered UNAUTHENTICATED
   * drops the token it used (if older than a few seconds) so the next call
   * gets a new one.
   */
  grpcInterceptor(target?: TokenTarget, options: GrpcInterceptorOptions = {}): grpc.Interceptor {
    if (this.dpopKey && !options.baseUrl) throw new InvalidOptionsError("grpcInterceptor of a DPoP token source needs baseUrl (the proofs' htu)");
    return authorizationInterceptor(
      async (path): Promise<{ token: string; metadata: Record<string, string> }> => {
        const token = await this.token(target);
        if (!this.dpopKey) return { token, metadata: { authorization: `Bearer ${token}` } };
        const dpop = await this.proofFor({ htm: "POST", htu: `${trimSlash(options.baseUrl!)}${path}`, accessToken: token });
        return { token, metadata: { authorization: `DPoP ${token}`, dpop } };
      },
      { onUnauthenticated: (token) => this.autoInvalidate(target, token) },
    );
  }

  /**
   * A fresh DPoP proof (RFC 9449 §4.2) signed by {@link dpopKey}, e.g. for a
   * request to a resource server: `{ htm, htu, accessToken }` (`ath` binds it
   * to the token). Throws `ERR_INVALID_OPTIONS` without a DPoP key.
   */
  async proofFor(target: DpopProofTarget): Promise<string> {
    if (!this.dpopKey) throw new InvalidOptionsError("this token source has no DPoP key (option dpop)");
    return createDpopProof(this.dpopKey, { ...target, now: () => this.clock.now() });
  }

  /**
   * Headers authorizing one request to a resource server: `{ authorization:
   * "Bearer <token>" }`, or with a DPoP key `{ authorization: "DPoP <token>",
   * dpop: <proof for method and url, with ath> }` (RFC 9449 §7.1). Make them
   * for every request: a proof is single use.
   */
  async authorizationHeaders(method: string, url: string | URL, target?: TokenTarget): Promise<{ authorization: string; dpop?: string }> {
    return (await this.authorize(method, url, target)).headers;
  }

  private async authorize(method: string, url: string | URL, target?: TokenTarget): Promise<{ token: string; headers: { authorization: string; dpop?: string } }> {
    const token = await this.token(target);
    if (!this.dpopKey) return { token, headers: { authorization: `Bearer ${token}` } };
    const dpop = await this.proofFor({ htm: method.toUpperCase(), htu: String(url), accessToken: token });
    return { token, headers: { authorization: `DPoP ${token}`, dpop } };
  }

  /**
   * `fetch` with `authorization: Bearer <token>` (with a DPoP key:
   * `authorization: DPoP <token>` and a fresh `DPoP` proof for the request's
   * method and URL). A 401 with `error="invalid_token"` (e.g. a revoked token)
   * drops the token and retries once with a new one, when the body can be sent again.
   */
  async fetch(input: string | URL | Request, init: RequestInit = {}, target?: TokenTarget): Promise<Response> {
    const method = init.method ?? (input instanceof Request ? input.method : "GET");
    const url = input instanceof Request ? input.url : String(input);
    const send = async () => {
      const { token, headers: auth } = await this.authorize(method, url, target);
      const headers = new Headers(input instanceof Request && init.headers === undefined ? input.headers : init.headers);
      for (const [name, value] of Object.entries(auth)) headers.set(name, value);
      return { token, res: await this.fetchImpl(input, { ...init, headers }) };
    };
    const first = await send();
    const challenge = first.res.headers.get("www-authenticate") ?? "";
    if (first.res.status === 401 && /error="?invalid_token/i.test(challenge) && replayable(input, init) && this.autoInvalidate(target, first.token)) {
      await first.res.body?.cancel().catch(() => {});
      return (await send()).res;
    }
    return first.res;
  }

  /** Stops the source: later `token()` calls reject; the transport's connections close. */
  close(): void {
    this.closed = true;
    this.transport.close?.();
  }

  private autoInvalidate(target: TokenTarget | undefined, token: string): boolean {
    const entry = this.entries.get(this.keyOf(this.resolve(target)));
    const cached = entry?.cached;
    if (!cached || cached.token !== token || this.clock.now() - cached.obtainedAt < AUTO_INVALIDATE_MIN_AGE_MS) return false;
    entry.cached = undefined;
    return true;
  }

  private renew(entry: Entry): Promise<Cached> {
    entry.inflight ??= this.issueWithRetries(entry)
      .then(
        (cached) => {
          entry.cached = cached;
          entry.failedAt = undefined;
          entry.refused = undefined;
          return cached;
        },
        (err: unknown) => {
          entry.failedAt = this.clock.now();
          entry.refused = err instanceof TokenSourceError && err.code === "ERR_TOKEN_REQUEST_REFUSED" ? err : undefined;
          throw err;
        },
      )
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  private async issueWithRetries(entry: Entry): Promise<Cached> {
    const { clientId, clientSecret } = this.options;
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    const key = this.dpopKey;
    // A fresh proof per attempt (each is single use at the token endpoint), with the server's latest nonce if it asks for one.
    const dpopProof = key ? (htm: string, htu: string) => createDpopProof(key, { htm, htu, now: () => this.clock.now(), nonce: this.dpopNonce }) : undefined;
    let nonceRetried = false;
    for (let attempt = 0; ; attempt++) {
      const startedAt = this.clock.now();
      try {
        const res = await this.transport.issue({ clientId, clientSecret, ...entry.request, ...(dpopProof ? { dpopProof } : {}) }, { timeoutMs });
        if (res.dpopNonce) this.dpopNonce = res.dpopNonce;
        return this.toCached(res, startedAt);
      } catch (err) {
        const error = asTokenSourceError(err);
        // RFC 9449 §8: the server wants its nonce in the proof; once per issuance, at once (no backoff: nothing is wrong).
        if (key && error.oauthError === "use_dpop_nonce" && error.dpopNonce && !nonceRetried) {
          this.dpopNonce = error.dpopNonce;
          nonceRetried = true;
          attempt--;
          continue;
        }
        if (!error.retryable || attempt + 1 >= this.retry.maxAttempts || this.closed) throw error;
        let delay = backoffDelay(attempt, this.retry, this.random);
        if (error.retryAfterMs !== undefined) {
          if (error.retryAfterMs > this.retry.maxRetryAfterMs) throw error;
          delay = Math.max(delay, error.retryAfterMs);
        }
        await this.clock.sleep(delay);
      }
    }
  }

  private toCached(res: TokenResponse, startedAt: number): Cached {
    // RFC 9449 §5: a Bearer answer to a DPoP request means the server did not bind the token; never use it as if it were.
    const type = res.tokenType?.toLowerCase();
    if (type !== undefined && type !== (this.dpopKey ? "dpop" : "bearer")) {
      throw new TokenSourceError("ERR_TOKEN_RESPONSE_INVALID", this.dpopKey ? "the token endpoint did not issue a DPoP-bound token" : "the token endpoint issued an unrequested DPoP token");
    }
    const lifetimeMs = lifetimeSeconds(res) * 1000;
    // Expiry counts from when the request was sent: never later than the server's.
    const expiresAt = startedAt + lifetimeMs;
    const early = Math.min((this.options.renewBeforeSeconds ?? 60) * 1000, lifetimeMs / 2);
    const jitter = this.random() * Math.min((this.options.renewJitterSeconds ?? 30) * 1000, lifetimeMs / 4);
    const margin = Math.min((this.options.minValiditySeconds ?? 5) * 1000, lifetimeMs / 4);
    return { token: res.accessToken, obtainedAt: this.clock.now(), expiresAt, renewAt: expiresAt - early - jitter, usableUntil: expiresAt - margin };
  }

  private entry(target: TokenTarget | undefined): Entry {
    const request = this.resolve(target);
    const key = this.keyOf(request);
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { request }));
    return entry;
  }

  private resolve(target: TokenTarget | undefined): Entry["request"] {
    const explicit = target && (target.audience !== undefined || target.resource !== undefined);
    const audience = explicit ? target.audience : this.options.audience;
    const resource = explicit ? target.resource : this.options.resource;
    const scope = normaliseScope(target?.scope ?? this.options.scope);
    return { audience: audience || undefined, resource: resource || undefined, scope: scope || undefined };
  }

  private keyOf(r: Entry["request"]): string {
    return `${r.audience ?? ""}\n${r.resource ?? ""}\n${r.scope ?? ""}`;
  }
}

/** Scopes as one space-separated string, deduplicated and sorted (the cache key). */
function normaliseScope(scope: string | readonly string[] | undefined): string {
  if (scope === undefined) return "";
  const list = typeof scope === "string" ? scope.split(/\s+/) : scope;
  return [...new Set(list.filter(Boolean))].sort().join(" ");
}

/** `expires_in`, else the JWT's own `exp - iat`, else a short fallback. */
function lifetimeSeconds(res: TokenResponse): number {
  if (res.expiresIn !== undefined && res.expiresIn > 0) return res.expiresIn;
  try {
    const { exp, iat } = decodeJwt(res.accessToken);
    if (typeof exp === "number" && typeof iat === "number" && exp > iat) return exp - iat;
  } catch {
    // not a JWT: opaque tokens get the fallback
  }
  return FALLBACK_LIFETIME_S;
}

function asTokenSourceError(err: unknown): TokenSourceError {
  if (err instanceof TokenSourceError) return err;
  return new TokenSourceError("ERR_TOKEN_ENDPOINT_UNAVAILABLE", `token request failed (${(err as Error)?.name ?? "error"})`, { retryable: true, cause: err });
}

/** Whether a request can be sent a second time (no one-shot stream body). */
function replayable(input: string | URL | Request, init: RequestInit): boolean {
  if (input instanceof Request && input.body !== null && init.body === undefined) return false;
  const body = init.body;
  return (
    body === undefined ||
    body === null ||
    typeof body === "string" ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}
