import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { CLIENT_ID } from "./domain/constants.js";

/**
 * The service's configuration: one documented defaults object, overridden by
 * flags and environment variables in main.ts, validated once at start-up and
 * then frozen. Durations are in seconds.
 */
export interface Config {
  /** SQLite file; created with its directory on first start. `:memory:` for tests. Env AUTHZ_DATA_FILE. */
  dataFile: string;
  /**
   * PostgreSQL instead of the SQLite file, for several replicas:
   * `postgres://user:password@host:5432/db` (node-postgres connection string).
   * Env AUTHZ_DATABASE_URL. Empty: SQLite at dataFile.
   */
  databaseUrl: string;
  /**
   * Replica processes on this node sharing the listening ports and the store
   * (`auto`: one per core). Env AUTHZ_WORKERS.
   */
  workers: number | "auto";
  /** host:port the gRPC server binds. Port 0 picks a free port. Env AUTHZ_GRPC_ADDRESS. */
  grpcAddress: string;
  /** host:port of the embedded HTTP gateway. Env AUTHZ_HTTP_ADDRESS. */
  httpAddress: string;
  /** Run the embedded HTTP gateway (off for Envoy deployments). Env AUTHZ_GATEWAY=false to disable. */
  gateway: boolean;
  /**
   * host:port of a listener serving only the web console, for Envoy
   * deployments (Envoy routes /console/ there); empty: none. The embedded
   * gateway serves the console at /console/ anyway. Env AUTHZ_CONSOLE_ADDRESS.
   */
  consoleAddress: string;
  /**
   * host:port of the operations listener: Prometheus `/metrics`, `/healthz`
   * (liveness) and `/readyz` (readiness), off the public ports. Empty: none, and no call is counted.
   * Env AUTHZ_OPS_ADDRESS. With --workers N the supervising process serves it,
   * metrics summed over the replicas.
   */
  opsAddress: string;
  /** The `iss` of issued tokens and the base of the metadata endpoints. Env AUTHZ_ISSUER. Defaults to http://<httpAddress>. */
  issuer: string;
  /** Longest a graceful shutdown waits for in-flight calls before cancelling them, 0..3600. */
  shutdownGraceSeconds: number;
  /** Log level: `debug`, `info`, `warn`, `error`. Env AUTHZ_LOG_LEVEL. */
  logLevel: LogLevel;
  /** Serve RFC 7591 dynamic client registration at /oauth/register. Off by default. Env AUTHZ_REGISTRATION=true. */
  registrationEnabled: boolean;
  /** When set, registration requires `Authorization: Bearer <this>` (RFC 7591 §3). Env AUTHZ_REGISTRATION_TOKEN. */
  registrationInitialAccessToken: string;
  /**
   * Key-encryption key (AES-256-GCM) sealing the signing keys' private parts at
   * rest: base64url of 32 bytes (43 characters; `openssl rand 32 | basenc --base64url`).
   * Env AUTHZ_KEY_ENCRYPTION_KEY. Empty: the file `authz.kek` beside the data
   * file, created (mode 0600) on first start; for `:memory:` a random key per
   * process. Keep it out of database backups, and keep it: without it the
   * stored signing keys cannot be opened and start-up fails.
   */
  keyEncryptionKey: string;
  /**
   * How long a rotated-in signing key is published in the JWKS before it signs,
   * so relying parties' JWKS caches learn it first. Must be >= jwksMaxAgeSeconds.
   * (The first key of each algorithm, on first start, signs at once.)
   */
  keyPublishLeadSeconds: number;
  /** Cache-Control max-age of the JWKS response (`public, max-age=<n>`). At most keyPublishLeadSeconds. */
  jwksMaxAgeSeconds: number;
  /** Admin client created on first start (env AUTHZ_ADMIN_CLIENT_ID); generated when empty. */
  adminClientId: string;
  /** Its secret (env AUTHZ_ADMIN_CLIENT_SECRET, at least 32 characters); generated and printed once when empty. */
  adminClientSecret: string;
  /**
   * How the embedded gateway reaches the service: `in-process` (the default:
   * it calls the same pipeline directly, no HTTP/2 hop) or `loopback` (a real
   * gRPC connection to the gRPC listener, exactly what Envoy has). Env AUTHZ_GATEWAY_UPSTREAM.
   */
  gatewayUpstream: "in-process" | "loopback";

  // --- Limits. Every bound the service enforces on callers is here.
  /** Longest a unary call may run on the server, whatever the caller's deadline (DEADLINE_EXCEEDED after), ms. */
  maxUnaryCallMs: number;
  /** HTTP/2 streams one gRPC connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  grpcMaxConcurrentStreams: number;
  /** Open gRPC connections at most. */
  grpcMaxConnections: number;
  /** A gRPC connection must send the HTTP/2 preface within this long, ms. */
  grpcHandshakeTimeoutMs: number;
  /** A gRPC connection without calls is closed (GOAWAY) after this long, ms. */
  grpcMaxConnectionIdleMs: number;
  /** A gRPC connection is asked to go away after this long (so clients rebalance over replicas), ms ... */
  grpcMaxConnectionAgeMs: number;
  /** ... and is closed this long after that, calls still open or not, ms. */
  grpcMaxConnectionAgeGraceMs: number;
  /** Whole HTTP request headers must arrive within this long (slowloris bound), ms. */
  httpHeadersTimeoutMs: number;
  /** A whole HTTP request must arrive within this long, ms. */
  httpRequestTimeoutMs: number;
  /** An idle HTTP keep-alive connection is closed after this long (above a load balancer's 60 s), ms. */
  httpKeepAliveTimeoutMs: number;
  /** Open HTTP connections at most. */
  httpMaxConnections: number;
  /** Leeway for clock skew on private_key_jwt assertions' exp/nbf/iat (RFC 7523 §3), s. */
  assertionClockToleranceSeconds: number;
  /** Signing keys one algorithm may have published at once (active, pending, retired); RotateKeys beyond is refused. */
  maxPublishedKeysPerAlg: number;
  /** Serve registration without an initial access token (anyone may register). Explicit opt-in. Env AUTHZ_REGISTRATION_OPEN=true. */
  registrationOpen: boolean;
  /** Registrations per minute the deployment accepts (a token bucket, burst the same; each replica its share, see replicaCount); more is 429. */
  registrationRatePerMinute: number;
  /** How often a replica reads the change feed without a wake-up hint, ms (PostgreSQL NOTIFY wakes it sooner). */
  changeFeedPollMs: number;
  /** How long changes stay in the feed, s: a revocation watch may resume from a cursor this old. */
  changeFeedRetentionSeconds: number;
  /** A store call is abandoned (UNAVAILABLE) after this long: a SQLite writer waiting for another process's lock, a PostgreSQL query, ms. */
  storeTimeoutMs: number;
  /** PostgreSQL connections per replica. */
  postgresPoolSize: number;
  /** A revocation watch stream with nothing to say sends a heartbeat this often, s (well inside watchers' staleness bound). */
  watchHeartbeatSeconds: number;
  /**
   * Memory for the hot-path lookup caches (clients, grants, API servers), in
   * bytes (estimated); least recently used entries are evicted past it. A
   * budget smaller than the live set makes the caches thrash (rotating over
   * more keys than fit, an LRU hits nothing): watch the hit ratio metric. By
   * the estimates (~1.7 KB a client, ~0.9 KB a grant, ~1.8 KB an API server)
   * the default keeps about 120,000 clients, 170,000 grants and 85,000 API
   * servers.
   */
  lookupCacheMaxBytes: number;

  // --- Rate limits. Rates and bursts are for the whole deployment: each replica
  // enforces its share (rate / replicaCount, burst / replicaCount rounded up).
  /**
   * Replica processes sharing the limits below (every node's `--workers`
   * counted). 0: this node's workers (1 without --workers). Env AUTHZ_REPLICA_COUNT.
   */
  replicaCount: number;
  /**
   * Token requests per second one client may make (token endpoint and
   * TokenService.IssueToken), after it authenticated; more is 429 slow_down
   * with Retry-After / RESOURCE_EXHAUSTED with RetryInfo. 0: unlimited. A
   * client's metadata `authz.rate_limit_per_second` (and
   * `authz.rate_limit_burst`) overrides it. Env AUTHZ_TOKEN_RATE_PER_SECOND.
   */
  tokenRatePerSecond: number;
  /** Token requests one client may make at once above that rate (the bucket size). Env AUTHZ_TOKEN_RATE_BURST. */
  tokenRateBurst: number;
  /**
   * Failed client authentications per minute allowed per client_id and per
   * source address (each its own bucket, burst authFailureBurst). A source over
   * it is refused (slow_down) before its credentials are checked; a failure for
   * a client_id over it refuses that source too. Successes never count. 0: off.
   */
  authFailuresPerMinute: number;
  /** Failed client authentications allowed at once per client_id and per source address. */
  authFailureBurst: number;
  /**
   * Request header naming the caller's address for the per-source limits,
   * its last comma-separated value (`x-forwarded-for` behind a proxy that
   * appends the peer, e.g. Envoy with use_remote_address). Empty: the
   * connection's peer address. Env AUTHZ_CLIENT_ADDRESS_HEADER.
   */
  clientAddressHeader: string;
  /** Buckets each limit (per-client tokens, failures by client_id, by source) keeps at most; least recently used go first (~200 bytes each). */
  rateLimitMaxEntries: number;

  // --- TLS (RFC 8446) and sender-constrained tokens (RFC 8705, RFC 9449).
  /**
   * PEM certificate chain and key: TLS on the gRPC, HTTP and console
   * listeners (TLS 1.2+, src/tls/source.ts), re-read when the files change.
   * Empty: plaintext. Env AUTHZ_TLS_CERT, AUTHZ_TLS_KEY.
   */
  tlsCertFile: string;
  tlsKeyFile: string;
  /**
   * PEM CA bundle: client certificates are requested (never required) and
   * `tls_client_auth` clients are verified against it (RFC 8705 §2.1). Also
   * without TLS here, for certificates a trusted proxy forwards.
   * Env AUTHZ_TLS_CLIENT_CA.
   */
  tlsClientCaFile: string;
  /** How often the TLS files are checked for changes, ms. */
  tlsReloadIntervalMs: number;
  /**
   * Addresses of proxies whose `x-forwarded-client-cert` (Envoy) is believed
   * as the caller's TLS client certificate; from anyone else the header is
   * ignored. Env AUTHZ_TRUSTED_PROXIES (comma-separated).
   */
  trustedProxies: readonly string[];
  /** A DPoP proof's `iat` may be this far from the server's clock, either way (RFC 9449 §11.1). */
  dpopProofWindowSeconds: number;
  /**
   * Require a server nonce in DPoP proofs (RFC 9449 §8): a proof without the
   * current one is answered `use_dpop_nonce` with a `DPoP-Nonce` header to
   * retry with. Nonces change every dpopProofWindowSeconds and are the same on
   * every replica. Env AUTHZ_DPOP_NONCE=true.
   */
  dpopNonce: boolean;

  // --- Operations.
  /** How often readiness probes the store, ms. */
  readinessProbeIntervalMs: number;
  /** A store probe slower than this counts as the store unreachable (not ready), ms. */
  readinessProbeTimeoutMs: number;
  /** API server ids that get their own value of the `api_server` metric label (the first seen); the rest are `other`. */
  metricsApiServerLabels: number;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

export const defaults: Readonly<Config> = Object.freeze({
  dataFile: "./data/authz.db",
  databaseUrl: "",
  workers: 1,
  grpcAddress: "127.0.0.1:50051",
  httpAddress: "127.0.0.1:8080",
  gateway: true,
  consoleAddress: "",
  opsAddress: "127.0.0.1:9464",
  issuer: "",
  shutdownGraceSeconds: 10, // 10 seconds
  logLevel: "info",
  registrationEnabled: false,
  registrationInitialAccessToken: "",
  keyEncryptionKey: "",
  keyPublishLeadSeconds: 600, // 10 minutes: twice the JWKS max-age
  jwksMaxAgeSeconds: 300, // 5 minutes
  adminClientId: "",
  adminClientSecret: "",
  gatewayUpstream: "in-process",
  maxUnaryCallMs: 15_000, // 15 seconds, as Envoy's route timeout
  grpcMaxConcurrentStreams: 100,
  grpcMaxConnections: 1_000,
  grpcHandshakeTimeoutMs: 10_000, // 10 seconds
  grpcMaxConnectionIdleMs: 300_000, // 5 minutes
  grpcMaxConnectionAgeMs: 1_800_000, // 30 minutes
  grpcMaxConnectionAgeGraceMs: 60_000, // 1 minute
  httpHeadersTimeoutMs: 10_000, // 10 seconds
  httpRequestTimeoutMs: 30_000, // 30 seconds
  httpKeepAliveTimeoutMs: 65_000, // 65 seconds
  httpMaxConnections: 10_000,
  assertionClockToleranceSeconds: 5,
  maxPublishedKeysPerAlg: 10,
  registrationOpen: false,
  registrationRatePerMinute: 30,
  lookupCacheMaxBytes: 536_870_912, // 512 MiB
  changeFeedPollMs: 200,
  changeFeedRetentionSeconds: 604_800, // 7 days
  storeTimeoutMs: 5_000, // 5 seconds
  postgresPoolSize: 10,
  watchHeartbeatSeconds: 15,
  replicaCount: 0, // this node's workers
  tokenRatePerSecond: 100,
  tokenRateBurst: 200,
  authFailuresPerMinute: 30,
  authFailureBurst: 20,
  clientAddressHeader: "",
  rateLimitMaxEntries: 50_000,
  tlsCertFile: "",
  tlsKeyFile: "",
  tlsClientCaFile: "",
  tlsReloadIntervalMs: 5_000, // 5 seconds
  trustedProxies: [],
  dpopProofWindowSeconds: 60,
  dpopNonce: false,
  readinessProbeIntervalMs: 5_000, // 5 seconds
  readinessProbeTimeoutMs: 2_000, // 2 seconds
  metricsApiServerLabels: 100,
});

/** Inclusive ranges of the numeric limits (integers). */
const LIMIT_RANGES: Partial<Record<keyof Config, readonly [number, number]>> = {
  maxUnaryCallMs: [100, 300_000],
  grpcMaxConcurrentStreams: [1, 10_000],
  grpcMaxConnections: [1, 1_000_000],
  grpcHandshakeTimeoutMs: [100, 120_000],
  grpcMaxConnectionIdleMs: [1_000, 86_400_000],
  grpcMaxConnectionAgeMs: [1_000, 2_147_483_647],
  grpcMaxConnectionAgeGraceMs: [0, 2_147_483_647],
  httpHeadersTimeoutMs: [100, 120_000],
  httpRequestTimeoutMs: [100, 600_000],
  httpKeepAliveTimeoutMs: [0, 600_000],
  httpMaxConnections: [1, 1_000_000],
  assertionClockToleranceSeconds: [0, 300],
  maxPublishedKeysPerAlg: [2, 100],
  registrationRatePerMinute: [1, 100_000],
  lookupCacheMaxBytes: [1_048_576, 17_179_869_184],
  changeFeedPollMs: [10, 60_000],
  changeFeedRetentionSeconds: [60, 31_536_000],
  storeTimeoutMs: [100, 120_000],
  postgresPoolSize: [1, 1_000],
  watchHeartbeatSeconds: [1, 300],
  replicaCount: [0, 10_000],
  tokenRatePerSecond: [0, 1_000_000],
  tokenRateBurst: [1, 1_000_000],
  authFailuresPerMinute: [0, 1_000_000],
  authFailureBurst: [1, 1_000_000],
  rateLimitMaxEntries: [100, 10_000_000],
  tlsReloadIntervalMs: [100, 3_600_000],
  dpopProofWindowSeconds: [1, 3_600],
  readinessProbeIntervalMs: [100, 600_000],
  readinessProbeTimeoutMs: [10, 120_000],
  metricsApiServerLabels: [0, 10_000],
};

/** Merges overrides over the defaults, validates, fills derived values and freezes. */
export function loadConfig(overrides: Partial<Config> = {}): Readonly<Config> {
  const config: Config = { ...defaults, ...dropUndefined(overrides) };
  if (!config.issuer) config.issuer = `${config.tlsCertFile ? "https" : "http"}://${config.httpAddress}`;
  const problems = [
    checkAddress("grpcAddress", config.grpcAddress),
    checkAddress("httpAddress", config.httpAddress),
    config.consoleAddress ? checkAddress("consoleAddress", config.consoleAddress) : undefined,
    config.opsAddress ? checkAddress("opsAddress", config.opsAddress) : undefined,
    !config.tlsCertFile === !config.tlsKeyFile ? undefined : "tlsCertFile and tlsKeyFile go together",
    config.trustedProxies.every((a) => isIP(a) !== 0) ? undefined : "trustedProxies must be IP addresses",
    config.clientAddressHeader === "" || /^[a-z0-9-]{1,64}$/.test(config.clientAddressHeader) ? undefined : "clientAddressHeader must be a lower-case header name",
    config.dataFile ? undefined : "dataFile must not be empty",
    !config.databaseUrl || /^postgres(ql)?:\/\//.test(config.databaseUrl) ? undefined : "databaseUrl must be a postgres:// URL",
    // Replicas on several machines must open the same sealed keys: the key comes from the environment, not a local file.
    !config.databaseUrl || config.keyEncryptionKey ? undefined : "databaseUrl needs keyEncryptionKey (AUTHZ_KEY_ENCRYPTION_KEY): every replica must hold the same key-encryption key",
    config.workers === "auto" || (Number.isInteger(config.workers) && config.workers >= 1 && config.workers <= 256) ? undefined : "workers must be 1..256 or auto",
    checkIssuer(config.issuer),
    // Bounded: setTimeout treats anything past 2^31 ms (about 24.8 days) as 1 ms, which would cancel calls at once.
    config.shutdownGraceSeconds >= 0 && config.shutdownGraceSeconds <= 3600 ? undefined : "shutdownGraceSeconds must be 0..3600",
    config.registrationInitialAccessToken && config.registrationInitialAccessToken.length < 32
      ? "registrationInitialAccessToken must be at least 32 characters"
      : undefined,
    // Anonymous registration is an explicit choice, never the result of forgetting the token.
    config.registrationEnabled && !config.registrationInitialAccessToken && !config.registrationOpen
      ? "registration without an initial access token is open to anyone: set registrationInitialAccessToken (AUTHZ_REGISTRATION_TOKEN), or registrationOpen (AUTHZ_REGISTRATION_OPEN=true) to mean it"
      : undefined,
    // Strict alphabet: Node's decoder skips characters it does not know, so a typo could still yield 32 bytes.
    config.keyEncryptionKey && !/^[A-Za-z0-9_-]{43}=?$/.test(config.keyEncryptionKey)
      ? "keyEncryptionKey must be base64url of exactly 32 bytes"
      : undefined,
    Number.isInteger(config.jwksMaxAgeSeconds) && config.jwksMaxAgeSeconds >= 0 ? undefined : "jwksMaxAgeSeconds must be an integer >= 0",
    Number.isInteger(config.keyPublishLeadSeconds) && config.keyPublishLeadSeconds >= config.jwksMaxAgeSeconds
      ? undefined
      : "keyPublishLeadSeconds must be >= jwksMaxAgeSeconds (caches must see a key before it signs)",
    config.adminClientId && !CLIENT_ID.test(config.adminClientId)
      ? "adminClientId must be 3..128 characters of A-Z a-z 0-9 . _ ~ -"
      : undefined,
    config.adminClientSecret && config.adminClientSecret.length < 32 ? "adminClientSecret must be at least 32 characters" : undefined,
    Boolean(config.adminClientId) === Boolean(config.adminClientSecret) ? undefined : "set both adminClientId and adminClientSecret, or neither",
    ["debug", "info", "warn", "error"].includes(config.logLevel) ? undefined : `logLevel must be debug, info, warn or error`,
    ["in-process", "loopback"].includes(config.gatewayUpstream) ? undefined : "gatewayUpstream must be in-process or loopback",
    config.httpHeadersTimeoutMs <= config.httpRequestTimeoutMs ? undefined : "httpHeadersTimeoutMs must be <= httpRequestTimeoutMs",
    ...Object.entries(LIMIT_RANGES).map(([key, [min, max]]) => {
      const value = config[key as keyof Config];
      return Number.isInteger(value) && (value as number) >= min && (value as number) <= max ? undefined : `${key} must be an integer ${min}..${max}`;
    }),
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new ConfigError(problems);
  if (config.replicaCount === 0) config.replicaCount = config.workers === "auto" ? availableParallelism() : config.workers;
  return Object.freeze(config);
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

function checkAddress(name: string, value: string): string | undefined {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) return `${name} must be host:port, got ${JSON.stringify(value)}`;
  return undefined;
}

function checkIssuer(value: string): string | undefined {
  try {
    const url = new URL(value);
    // RFC 8414 §2: the issuer is an https URL without query or fragment; plain
    // http is accepted for loopback development and tests.
    if (url.search || url.hash) return "issuer must have no query or fragment";
    if (url.protocol !== "https:" && url.protocol !== "http:") return "issuer must be an http(s) URL";
    return undefined;
  } catch {
    return `issuer must be an absolute URL, got ${JSON.stringify(value)}`;
  }
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
