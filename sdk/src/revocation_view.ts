/**
 * The local view of revocation events (from `RevocationService.WatchRevocations`):
 * what makes which tokens inactive or narrows their scopes, bounded in memory.
 *
 * @module
 */
import type { RevocationEvent } from "./gen/authz/v1/revocation.js";
import { jtiIssuedAtMs } from "./issued_at.js";

/** CAEP event type URIs the view understands. */
export const CAEP_EVENT_TYPES = {
  /** Tokens of the subject issued before `tokens_issued_before` are inactive. */
  sessionRevoked: "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
  /** The client's credential was revoked or the client deleted: same effect. */
  credentialChange: "https://schemas.openid.net/secevent/caep/event-type/credential-change",
  /** Tokens of the subject keep only `scopes`. */
  tokenClaimsChange: "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
} as const;

/** What the view needs to know about a verified token. */
export interface TokenFacts {
  jti: string;
  clientId: string;
  audience: readonly string[];
  /** Issuance time, ms (from the jti when it is authz's, else iat * 1000). */
  issuedAtMs: number;
  /** `exp * 1000`. */
  expiresAtMs: number;
  scopes: readonly string[];
}

/** The view's verdict on a token. */
export type ViewVerdict =
  | { status: "active"; scopes: string[] }
  | { status: "revoked"; reason: string }
  /** Issued before a resync gap: events about it may have been lost. */
  | { status: "unknown"; scopes: string[] };

/** Options of {@link RevocationView}. */
export interface RevocationViewOptions {
  /**
   * The longest token lifetime any API server has (default 30 days, authz's
   * maximum): an entry is dropped once every token it can concern has expired.
   */
  maxTokenLifetimeSeconds?: number;
  /** Cap on revoked-jti entries (default 100 000; the oldest go first). The same cap applies to each other kind of entry. */
  maxEntries?: number;
}

interface Cutoff {
  /** Tokens issued strictly before this (ms) are inactive. */
  before: number;
  reason: string;
  /** Drop after this (ms). */
  until: number;
  /** Tokens issued before this (ms) may be concerned: what a gap must cover if the entry is evicted. */
  since: number;
}

interface ScopeLimit {
  before: number;
  scopes: ReadonlySet<string>;
  until: number;
  since: number;
}

/** Extra time kept beyond the computed horizons, for clock skew between authz and here. */
const SKEW_MS = 60_000;
/** Scope limits kept per subject. */
const MAX_LIMITS_PER_SUBJECT = 16;
/** How often expired entries are swept. */
const PRUNE_EVERY_MS = 60_000;

/** Milliseconds of an RFC 3339 timestamp (ts-proto gives Timestamps as ISO strings), or undefined. */
function ms(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Applies revocation events and answers, per token, whether it is still
 * active and with which scopes. Subjects: `jwt_id` (one `jti`), `client`,
 * `client_audience`, `audience`; session-revoked and credential-change make
 * matching tokens issued before `tokens_issued_before` inactive (a `jwt_id`
 * one regardless of time); token-claims-change intersects their scopes with
 * `scopes`. Memory is bounded: entries live only as long as a token they
 * concern can (`maxTokenLifetimeSeconds`), and each kind is capped.
 */
export class RevocationView {
  private readonly jtis = new Map<string, Cutoff>();
  private readonly clients = new Map<string, Cutoff>();
  private readonly clientAudiences = new Map<string, Cutoff>();
  private readonly audiences = new Map<string, Cutoff>();
  private readonly limits = new Map<string, ScopeLimit[]>();
  private gapBefore?: number;
  private gapUntil = 0;
  private lastPrune = 0;
  private readonly lifetimeMs: number;
  private readonly maxEntries: number;
  /** Events ignored because their type or subject format is unknown (forward compatibility). */
  ignored = 0;

  constructor(options: RevocationViewOptions = {}) {
    this.lifetimeMs = (options.maxTokenLifetimeSeconds ?? 30 * 86_400) * 1000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 100_000);
  }

  /** Applies one event received at `now` (ms). */
  apply(event: RevocationEvent, now: number): void {
    this.pruneIfDue(now);
    const subject = event.subject;
    const cutoff = ms(event.tokensIssuedBefore) ?? ms(event.eventTime) ?? now;
    const until = cutoff + this.lifetimeMs + SKEW_MS;
    const reason = event.reason || "revoked";
    const key = subject ? subjectKey(subject.format, subject) : undefined;
    if (!subject || key === undefined) {
      this.ignored++;
      return;
    }
    switch (event.eventType) {
      case CAEP_EVENT_TYPES.sessionRevoked:
      case CAEP_EVENT_TYPES.credentialChange: {
        if (subject.format === "jwt_id") {
          // One token: revoked whatever its time; kept until it must have expired.
          const issued = jtiIssuedAtMs(subject.jti) ?? Math.min(now, cutoff);
          this.put(this.jtis, subject.jti, { before: Number.POSITIVE_INFINITY, reason, until: issued + this.lifetimeMs + SKEW_MS, since: issued + 1 });
        } else {
          const map = subject.format === "client" ? this.clients : subject.format === "audience" ? this.audiences : this.clientAudiences;
          const id = key.slice(key.indexOf(":") + 1);
          const previous = map.get(id);
          if (!previous || previous.before < cutoff) this.put(map, id, { before: cutoff, reason, until, since: cutoff });
        }
        return;
      }
      case CAEP_EVENT_TYPES.tokenClaimsChange: {
        const list = this.limits.get(key) ?? [];
        list.push({ before: event.tokensIssuedBefore || event.eventTime ? cutoff : Number.POSITIVE_INFINITY, scopes: new Set(event.scopes), until, since: Math.min(now, cutoff) });
        // Over the cap, the two oldest become one that narrows at least as much as both (never a scope back).
        if (list.length > MAX_LIMITS_PER_SUBJECT) list.unshift(mergeLimits(list.shift()!, list.shift()!));
        this.limits.delete(key); // re-insert: most recent last, for the cap
        this.limits.set(key, list);
        while (this.limits.size > this.maxEntries) this.evictOldest(this.limits, (l) => Math.max(...l.map((x) => x.since)));
        return;
      }
      default:
        this.ignored++;
    }
  }

  /**
   * Marks a resynchronisation at `at` (ms): the cursor had expired, so events
   * before it may be lost; tokens issued before `at` get `unknown`.
   */
  markGap(at: number): void {
    this.gapBefore = Math.max(this.gapBefore ?? 0, at);
    this.gapUntil = this.gapBefore + this.lifetimeMs + SKEW_MS;
  }

  /** The verdict on one token at `now` (ms). */
  check(token: TokenFacts, now: number): ViewVerdict {
    this.pruneIfDue(now);
    const jti = this.jtis.get(token.jti);
    if (jti) {
      jti.until = Math.min(jti.until, token.expiresAtMs + SKEW_MS); // now we know when it expires
      return { status: "revoked", reason: jti.reason };
    }
    const t = token.issuedAtMs;
    const client = this.clients.get(token.clientId);
    if (client && t < client.before) return { status: "revoked", reason: client.reason };
    for (const aud of token.audience) {
      const a = this.audiences.get(aud);
      if (a && t < a.before) return { status: "revoked", reason: a.reason };
      const ca = this.clientAudiences.get(`${token.clientId}\n${aud}`);
      if (ca && t < ca.before) return { status: "revoked", reason: ca.reason };
    }
    let scopes = [...token.scopes];
    const keys = [`j:${token.jti}`, `c:${token.clientId}`, ...token.audience.flatMap((aud) => [`a:${aud}`, `ca:${token.clientId}\n${aud}`])];
    for (const key of keys) {
      for (const limit of this.limits.get(key) ?? []) if (t < limit.before) scopes = scopes.filter((s) => limit.scopes.has(s));
    }
    if (this.gapBefore !== undefined && t < this.gapBefore && now < this.gapUntil) return { status: "unknown", scopes };
    return { status: "active", scopes };
  }

  /** Entry counts (for status pages and tests). */
  size(): { jtis: number; clients: number; clientAudiences: number; audiences: number; scopeLimits: number } {
    return {
      jtis: this.jtis.size,
      clients: this.clients.size,
      clientAudiences: this.clientAudiences.size,
      audiences: this.audiences.size,
      scopeLimits: this.limits.size,
    };
  }

  /** Drops every entry whose tokens have all expired by `now`. */
  prune(now: number): void {
    this.lastPrune = now;
    for (const map of [this.jtis, this.clients, this.clientAudiences, this.audiences]) for (const [k, v] of map) if (v.until <= now) map.delete(k);
    for (const [k, list] of this.limits) {
      const kept = list.filter((l) => l.until > now);
      if (kept.length) this.limits.set(k, kept);
      else this.limits.delete(k);
    }
    if (this.gapBefore !== undefined && this.gapUntil <= now) this.gapBefore = undefined;
  }

  private pruneIfDue(now: number): void {
    if (now - this.lastPrune >= PRUNE_EVERY_MS) this.prune(now);
  }

  private put(map: Map<string, Cutoff>, key: string, value: Cutoff): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > this.maxEntries) this.evictOldest(map, (c) => c.since);
  }

  /**
   * Drops the oldest entry of a full map, never silently: the tokens it
   * concerned become `unknown` (a gap: introspected, or refused when failing
   * closed), not active again — else a flood of revocations anyone with a
   * grant can make would push out the one that mattered.
   */
  private evictOldest<V>(map: Map<string, V>, since: (value: V) => number): void {
    const [key, value] = map.entries().next().value as [string, V];
    map.delete(key);
    this.markGap(since(value));
  }
}

/** One scope limit standing for two: the later cutoff, the scopes both allow, kept as long as either. */
function mergeLimits(a: ScopeLimit, b: ScopeLimit): ScopeLimit {
  return { before: Math.max(a.before, b.before), scopes: new Set([...a.scopes].filter((s) => b.scopes.has(s))), until: Math.max(a.until, b.until), since: Math.max(a.since, b.since) };
}

/** A map key for a subject, or undefined for an unknown or incomplete one. */
function subjectKey(format: string, s: { jti: string; clientId: string; audience: string }): string | undefined {
  switch (format) {
    case "jwt_id":
      return s.jti ? `j:${s.jti}` : undefined;
    case "client":
      return s.clientId ? `c:${s.clientId}` : undefined;
    case "client_audience":
      return s.clientId && s.audience ? `ca:${s.clientId}\n${s.audience}` : undefined;
    case "audience":
      return s.audience ? `a:${s.audience}` : undefined;
    default:
      return undefined;
  }
}
