/**
 * `RevocationWatch`: follows `RevocationService.WatchRevocations`, keeps the
 * cursor, applies events to a {@link RevocationView}, reconnects with the
 * cursor after errors, and knows when it is too stale to vouch for tokens.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { backoffDelay, backoffOptions, type BackoffOptions } from "./backoff.js";
import { tokenGetter, type TokenProvider } from "./bearer_interceptor.js";
import { systemClock, type Clock } from "./clock.js";
import { InvalidOptionsError, RevocationWatchError } from "./errors.js";
import type { FetchLike } from "./fetch.js";
import type { RevocationEvent, WatchRevocationsResponse } from "./gen/authz/v1/revocation.js";
import { RevocationView, type TokenFacts, type ViewVerdict } from "./revocation_view.js";
import { grpcWatchTransport, httpWatchTransport, type WatchStream, type WatchTransport } from "./watch_transport.js";

/** What verification does while the watch cannot vouch for a token. */
export type FailMode = "closed" | "open";

/** Options of {@link RevocationWatch}. */
export interface RevocationWatchOptions {
  /** gRPC address of authz (`RevocationService.WatchRevocations`). */
  address?: string;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Or the HTTP base URL (newline-delimited JSON at `/v1/revocations:watch`). */
  url?: string;
  fetch?: FetchLike;
  /** A custom transport (tests); wins over `address` and `url`. */
  transport?: WatchTransport;

  /**
   * A management token with `tokens:introspect`, e.g.
   * `new TokenSource({ ..., audience: "urn:authz:management", scope: "tokens:introspect" })`.
   * The resource server's client also needs a grant to its own API server.
   */
  token: TokenProvider;
  /**
   * `closed`: while no message arrived for `maxStaleSeconds`, verification
   * fails with `ERR_REVOCATION_WATCH_DOWN` (503). `open`: it passes on local
   * checks alone. Required: the choice is the operator's.
   */
  failMode: FailMode;
  /** The stream counts as down when no message (events or heartbeat) arrived for this long (default 60). */
  maxStaleSeconds?: number;
  /** Only events for these API server identifiers (default: every one the client may see). */
  audiences?: string[];
  /** Resume from a cursor saved earlier (see `onCursor`); default: the current end of the feed. */
  cursor?: string;
  /** Called with each new cursor (persist it to resume across restarts). */
  onCursor?: (cursor: string) => void;
  /** Called with each batch of events after they were applied. */
  onEvents?: (events: readonly RevocationEvent[]) => void;
  /** Called with every stream problem (the watch itself keeps reconnecting). */
  onError?: (error: RevocationWatchError) => void;
  /** Longest token lifetime of any API server (default 30 days): bounds how long entries are kept. */
  maxTokenLifetimeSeconds?: number;
  /** Cap on revoked-jti entries (default 100 000). */
  maxJtiEntries?: number;
  /** Reconnect backoff (default 250 ms doubling to 30 s, 50 % jitter). */
  reconnect?: BackoffOptions;
  clock?: Clock;
  random?: () => number;
}

/** What the watch says about a token. */
export type WatchVerdict = ViewVerdict | { status: "stale" };

/** The watch's state, for health endpoints. */
export interface RevocationWatchStatus {
  state: "idle" | "connecting" | "up" | "backoff" | "stopped";
  /** The last cursor received ("" before any). */
  cursor: string;
  /** When the last message arrived (ms), or undefined. */
  lastMessageAt: number | undefined;
  /** No message for `maxStaleSeconds`. */
  stale: boolean;
  /** The last stream problem since the last message, if any (code, and gRPC status code when there was one). */
  lastError: { code: string; grpcCode?: number } | undefined;
  /** Entry counts of the local view. */
  entries: ReturnType<RevocationView["size"]>;
}

const OUT_OF_RANGE = 11;
const UNAUTHENTICATED = 16;
const CANCELLED = 1;

/**
 * Follows the revocation feed. Create, `start()`, pass to `createVerifier({ watch })`
 * (or give the verifier the options and let it own the watch).
 *
 * Until the first message, and whenever no message arrived for
 * `maxStaleSeconds`, the staleness clock decides (it starts at `start()`). An
 * empty starting cursor means "from the current end of the feed": revocations
 * from before the start are not seen (persist the cursor with `onCursor` and
 * pass it back as `cursor`, or introspect, if that matters). An expired cursor
 * (OUT_OF_RANGE) restarts at the end and marks a gap: tokens issued before it
 * are `unknown` until they expire.
 */
export class RevocationWatch {
  /** The local view the events are applied to. */
  readonly view: RevocationView;
  readonly failMode: FailMode;
  private readonly transport: WatchTransport;
  private readonly getToken: () => Promise<string>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: Required<BackoffOptions>;
  private readonly maxStaleMs: number;
  private cursor: string;
  private state: RevocationWatchStatus["state"] = "idle";
  private startedAt = 0;
  private lastMessageAt?: number;
  private lastError?: { code: string; grpcCode?: number };
  private stream?: WatchStream;
  private loop?: Promise<void>;
  private stopper = new AbortController();
  private watchdog?: ReturnType<typeof setTimeout>;
  private resyncPending = false;
  /** Resumed from a saved cursor and not caught up yet: what happened since it is not in the view. */
  private catchingUp = false;
  private watchdogFired = false;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly options: RevocationWatchOptions) {
    if (options.failMode !== "closed" && options.failMode !== "open") throw new InvalidOptionsError('watch.failMode must be "closed" or "open"');
    if (!options.token) throw new InvalidOptionsError("watch.token is required (a management token with tokens:introspect)");
    if (options.transport) this.transport = options.transport;
    else if (options.address)
      this.transport = grpcWatchTransport({ address: options.address, credentials: options.credentials, channelOptions: options.channelOptions });
    else if (options.url) this.transport = httpWatchTransport({ url: options.url, fetch: options.fetch });
    else throw new InvalidOptionsError("watch needs address (gRPC), url (HTTP) or transport");
    this.failMode = options.failMode;
    this.getToken = tokenGetter(options.token);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = backoffOptions(options.reconnect, { initialDelayMs: 250, maxDelayMs: 30_000, multiplier: 2, jitter: 0.5 });
    this.maxStaleMs = (options.maxStaleSeconds ?? 60) * 1000;
    this.cursor = options.cursor ?? "";
    this.catchingUp = this.cursor !== "";
    this.view = new RevocationView({ maxTokenLifetimeSeconds: options.maxTokenLifetimeSeconds, maxEntries: options.maxJtiEntries });
  }

  /** Starts following the feed (idempotent). */
  start(): this {
    if (this.loop) return this;
    this.startedAt = this.clock.now();
    this.loop = this.run();
    return this;
  }

  /** Stops: cancels the stream, ends the loop, closes the transport. */
  async stop(): Promise<void> {
    this.state = "stopped";
    this.stopper.abort(new RevocationWatchError("ERR_WATCH_STREAM", "watch stopped"));
    this.stream?.cancel();
    if (this.watchdog) clearTimeout(this.watchdog);
    await this.loop;
    this.transport.close?.();
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Resolves `true` once the first message arrived, or `false` after `timeoutMs` (default 10 000). */
  ready(timeoutMs = 10_000): Promise<boolean> {
    if (this.lastMessageAt !== undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref?.();
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.lastMessageAt !== undefined);
      });
    });
  }

  /**
   * Whether no message arrived for `maxStaleSeconds` (counting from `start()`),
   * or, resumed from a saved cursor, the catch-up has not ended yet: until
   * then the view lacks what happened while this process was away.
   */
  isStale(now = this.clock.now()): boolean {
    return this.catchingUp || now - (this.lastMessageAt ?? this.startedAt) > this.maxStaleMs;
  }

  /** The verdict on a token: `stale` when the watch cannot vouch for anything, else the view's. */
  check(token: TokenFacts): WatchVerdict {
    const now = this.clock.now();
    const verdict = this.view.check(token, now);
    if (verdict.status === "revoked") return verdict; // a known revocation holds even when stale
    if (this.isStale(now)) return { status: "stale" };
    return verdict;
  }

  /** Current state, for health endpoints. */
  status(): RevocationWatchStatus {
    return {
      state: this.state,
      cursor: this.cursor,
      lastMessageAt: this.lastMessageAt,
      stale: this.isStale(),
      lastError: this.lastError,
      entries: this.view.size(),
    };
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopper.signal.aborted) {
      this.state = "connecting";
      let token: string;
      try {
        token = await this.getToken();
      } catch (err) {
        this.report(new RevocationWatchError("ERR_WATCH_TOKEN", "could not get a management token for the watch", { cause: err }));
        if (!(await this.pause(attempt++))) return;
        continue;
      }
      if (this.stopper.signal.aborted) return;
      try {
        const stream = this.transport.open({ cursor: this.cursor, audiences: this.options.audiences ?? [] }, token);
        this.stream = stream;
        this.armWatchdog();
        for await (const message of stream) {
          this.onMessage(message);
          attempt = 0;
        }
        if (!this.stopper.signal.aborted) this.report(new RevocationWatchError("ERR_WATCH_STREAM_ENDED", "the server ended the watch stream"));
      } catch (err) {
        if (this.stopper.signal.aborted) return;
        const code = (err as { code?: unknown }).code;
        const grpcCode = typeof code === "number" ? code : undefined;
        if (grpcCode === OUT_OF_RANGE) {
          // The cursor is older than the feed's retention: restart at the end, remember the gap.
          this.cursor = "";
          this.resyncPending = true;
          this.catchingUp = false; // nothing to catch up from: the gap marks what may be missing
          this.report(new RevocationWatchError("ERR_WATCH_CURSOR_EXPIRED", "the watch cursor is out of the feed's range (expired, or ahead of it); resynchronising", { grpcCode }));
        } else if (grpcCode !== CANCELLED || !this.watchdogFired) {
          if (grpcCode === UNAUTHENTICATED) this.dropToken(token);
          this.report(
            new RevocationWatchError("ERR_WATCH_STREAM", `the watch stream failed${grpcCode !== undefined ? ` (gRPC code ${grpcCode})` : ""}`, {
              grpcCode,
              cause: err,
            }),
          );
        }
      } finally {
        this.stream = undefined;
        this.watchdogFired = false;
      }
      if (!(await this.pause(attempt++))) return;
    }
  }

  /** Cancels a stream that went silent for `maxStaleSeconds` (a dead connection can look open). */
  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (!this.stream || this.stopper.signal.aborted) return;
      this.watchdogFired = true;
      this.report(new RevocationWatchError("ERR_WATCH_STALE", `no watch message for ${this.maxStaleMs / 1000} s; reconnecting`));
      this.stream.cancel();
    }, this.maxStaleMs);
    this.watchdog.unref?.();
  }

  private onMessage(message: WatchRevocationsResponse): void {
    const now = this.clock.now();
    if (this.resyncPending) {
      this.view.markGap(now);
      this.resyncPending = false;
    }
    for (const event of message.events) this.view.apply(event, now);
    // The first message without events comes once the stored part after the cursor is sent.
    if (message.events.length === 0) this.catchingUp = false;
    this.lastMessageAt = now;
    this.lastError = undefined;
    this.state = "up";
    this.armWatchdog();
    if (message.cursor && message.cursor !== this.cursor) {
      this.cursor = message.cursor;
      this.options.onCursor?.(message.cursor);
    }
    if (message.events.length) this.options.onEvents?.(message.events);
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Waits the backoff delay; false when stopped meanwhile. */
  private async pause(attempt: number): Promise<boolean> {
    if (this.stopper.signal.aborted) return false;
    this.state = "backoff";
    try {
      await this.clock.sleep(backoffDelay(attempt, this.backoff, this.random), this.stopper.signal);
      return !this.stopper.signal.aborted;
    } catch {
      return false;
    }
  }

  private dropToken(token: string): void {
    const source = this.options.token as { invalidate?: (target?: undefined, token?: string) => void };
    if (typeof source === "object" && typeof source.invalidate === "function") source.invalidate(undefined, token);
  }

  private report(error: RevocationWatchError): void {
    this.lastError = error.grpcCode === undefined ? { code: error.code } : { code: error.code, grpcCode: error.grpcCode };
    try {
      this.options.onError?.(error);
    } catch {
      // a throwing callback must not stop the watch
    }
  }
}
