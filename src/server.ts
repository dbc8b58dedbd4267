import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import { toSeconds, type Clock } from "./clock.js";
import type { Config } from "./config.js";
import { descriptorRegistry, reflectionFiles, SERVICE_NAMES } from "./descriptor.js";
import { createApiServers } from "./domain/api_servers.js";
import { createAudit } from "./domain/audit.js";
import { bootstrapAdmin, type AdminCredentials } from "./domain/bootstrap.js";
import { createCeiling } from "./domain/ceiling.js";
import { createChangeFeed } from "./domain/changes.js";
import { createClients, type Client } from "./domain/clients.js";
import { MANAGEMENT_AUDIENCE } from "./domain/constants.js";
import { InvalidArgument } from "./domain/errors.js";
import { createGrants } from "./domain/grants.js";
import { sha256 } from "./domain/ids.js";
import type { Change } from "./domain/ports.js";
import { gatewayPeerReader } from "./gateway/loopback_peer.js";
import { inProcessUpstream, type Upstream } from "./gateway/upstream.js";
import { createClientGuard } from "./limits/guard.js";
import { errorFields, type Logger } from "./log.js";
import { managementPrincipal } from "./oauth/resource_access.js";
import type { AuthenticatedClient } from "./oauth/client_auth.js";
import { oauthEndpoints } from "./oauth/endpoints.js";
import type { ClientGuard } from "./oauth/guard.js";
import { InvalidClientMetadata } from "./oauth/errors.js";
import { INTROSPECT_MANAGEMENT_PERMISSION } from "./oauth/introspection.js";
import { serverMetadata } from "./oauth/metadata.js";
import type { OAuthDeps } from "./oauth/ports.js";
import type { RegistrationDeps } from "./oauth/registration.js";
import { createRevocationView } from "./oauth/revocations.js";
import { accessTable, type VerifyManagementToken } from "./pipeline/access.js";
import { createPipeline } from "./pipeline/pipeline.js";
import { createOperations, type Operations } from "./ops/index.js";
import { instrumentStore } from "./ops/store.js";
import { apiServerService } from "./rpc/api_servers.js";
import { auditService } from "./rpc/audit.js";
import { clientService } from "./rpc/clients.js";
import { grantService } from "./rpc/grants.js";
import { keyService } from "./rpc/keys.js";
import { oauthService } from "./rpc/oauth.js";
import { buildMethods } from "./rpc/service.js";
import { revocationService } from "./rpc/revocations.js";
import { tokenService } from "./rpc/tokens.js";
import type { Store, StoreTx } from "./store/index.js";
import { TokenBucket } from "./token_bucket.js";
import { createKeys } from "./tokens/keys.js";
import { addServices } from "./transports/grpc.js";
import { forwardedCertificates } from "./tls/forwarded.js";
import { parsePemBundle } from "./oauth/mtls/certificates.js";
import { dpopNonces } from "./oauth/dpop_nonce.js";
import type { X509Certificate } from "node:crypto";
import { PeerCertificates } from "./tls/peers.js";

export interface Deps {
  config: Readonly<Config>;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** 32-byte key-encryption key for signing keys at rest (see src/tokens/kek.ts). */
  kek: Buffer;
  /** The client CA bundle (PEM) RFC 8705 tls_client_auth certificates must chain to; its current text (files reload). None: tls_client_auth fails. */
  clientCa?: () => string;
  /** Metrics registry and readiness (src/ops/); made here when not given. */
  operations?: Operations;
  /** The key the loopback gateway vouches for its HTTP callers' addresses with (src/gateway/loopback_peer.ts); none: nobody is believed. */
  gatewayKey?: string;
}

export interface AuthzServer {
  grpc: grpc.Server;
  health: HealthImplementation;
  domain: Domain;
  /** The embedded gateway's in-process upstream: the same pipeline the gRPC transport serves. */
  inProcess: Upstream;
  /** This replica's follower of the change feed. */
  feed: ReturnType<typeof createChangeFeed>;
  /** A write outside any RPC (first-start tasks, tests): committed, then the feed read, as for RPC writes. */
  transaction: Store["transaction"];
  /** The admin credentials created by this start (first start only), to show once. */
  bootstrap: AdminCredentials | undefined;
  /** Metrics (the registry /metrics serves) and readiness (/readyz, the gRPC health service). */
  operations: Operations;
  /** Client certificates of TLS gRPC connections, filled by the listener (listenGrpc's `tls.certificates`). */
  peerCertificates: PeerCertificates;
  /** The per-client and failed-authentication limits (src/limits/guard.ts). */
  guard: ClientGuard & { stats(): { tokenBuckets: number; failureBuckets: number; sourceBuckets: number } };
  /** Settles when the start-up cache warm-up has read what it will (a failure is logged, never thrown). */
  warmed: Promise<void>;
  /** Not ready (readiness, gRPC health) from now on, as shutdown begins; shutdown does it too. */
  drain(): void;
  /** Stops taking calls, lets in-flight ones finish (up to the grace period), then closes the store. */
  shutdown(): Promise<void>;
}

export type Domain = Awaited<ReturnType<typeof createDomain>>;

/** How often expired revocations, refresh tokens, assertion ids, signing keys and old changes are purged. */
const PURGE_INTERVAL_MS = 60_000;
/** How often issuance counters reach the store. */
const USAGE_FLUSH_MS = 1_000;

/**
 * Background work: runs `work` now and every `ms`; a failure (e.g. the disk
 * full, the database down) is logged and the timer goes on — it never reaches
 * the process.
 */
function every(ms: number, what: string, work: () => unknown, logger: Logger): NodeJS.Timeout {
  background(what, work, logger);
  return setInterval(() => background(what, work, logger), ms).unref();
}

function background(what: string, work: () => unknown, logger: Logger): Promise<void> {
  return Promise.resolve()
    .then(work)
    .then(
      () => {},
      (err: unknown) => logger.error(`${what} failed`, errorFields(err)),
    );
}

/**
 * The domain services, each given only what it needs. `writes` is the store
 * whose transactions, once committed, have this replica read the change feed
 * before the caller hears back: a write is in force here at once.
 */
async function createDomain(deps: Deps, writes: Store) {
  const { store, clock, config, kek, logger } = deps;
  const ceiling = createCeiling();
  // The cache budget, split by what a deployment holds: clients and API
  // servers are the largest entries (~1.7 and ~1.8 KB), grants the most
  // numerous (~0.9 KB, and a resource server's introspection grants too).
  const budget = config.lookupCacheMaxBytes;
  const grants = createGrants({ store, clock, ceiling, cacheMaxBytes: Math.floor(budget * 0.3) });
  const apiServers = createApiServers({ store, clock, cacheMaxBytes: Math.floor(budget * 0.3) });
  const clients = createClients({ store: { ...store, transaction: writes.transaction }, clock, ceiling, cacheMaxBytes: Math.floor(budget * 0.4) });
  const audit = createAudit({ store: writes, clock });
  // Decrypts the stored signing keys (a wrong KEK fails start-up here); the first start creates them.
  const keys = await createKeys({ store: writes, clock, config, kek, logger });
  const revocations = createRevocationView();
  for (const { jti, expiresAt } of await store.revokedTokens.live(toSeconds(clock.now()))) revocations.add(jti, expiresAt);
  return { apiServers, clients, grants, audit, keys, revocations };
}

/**
 * One change from the feed, applied to this replica's memory: the caches drop
 * what it touched, the key ring reloads, a revocation joins the view.
 * Idempotent, as the feed may deliver a change again after a failure.
 */
async function applyChange(domain: Domain, change: Change): Promise<void> {
  const d = change.detail;
  switch (change.kind) {
    case "api_server":
      // A new API server has nothing cached (misses are not); cached grants
      // change with their API server only when it goes or drops scopes
      // (the cascade and the strip rewrite grant rows).
      if (d.created) return;
      domain.apiServers.invalidate(change.id, [...((d.audiences as string[]) ?? []), ...((d.previous as string[]) ?? [])]);
      if (d.deleted || d.removedScopes) domain.grants.invalidate({ apiServerId: change.id });
      return;
    case "client":
      domain.clients.invalidate(change.id);
      if (d.deleted) domain.grants.invalidate({ clientId: change.id });
      return;
    case "grant":
      domain.grants.invalidate({ clientId: d.clientId as string, apiServerId: d.apiServerId as string });
      return;
    case "key":
      return domain.keys.load();
    case "revocation":
      domain.revocations.add(change.id, d.expiresAt as number);
      return;
  }
}

/**
 * The API server identifiers whose tokens a caller may see, by the
 * introspection rule: those it has access to itself (a grant, or dynamic
 * access for a dynamic client); the management API server only with
 * tokens:introspect_management.
 */
async function visibleAudiences(store: Store, domain: Domain, caller: { clientId: string; scopes: readonly string[] }): Promise<Set<string>> {
  const all = { terms: [], afterSeq: 0, limit: Number.MAX_SAFE_INTEGER };
  const out = new Set<string>();
  for (const grant of await store.grants.list(all, { clientId: caller.clientId, apiServerId: "" })) {
    const server = await store.apiServers.get(grant.apiServerId);
    if (server) out.add(server.identifier);
  }
  if ((await domain.clients.find(caller.clientId))?.dynamic) for (const s of await store.apiServers.list(all)) if (s.dynamicClientAccess) out.add(s.identifier);
  if (!caller.scopes.includes(INTROSPECT_MANAGEMENT_PERMISSION)) out.delete(MANAGEMENT_AUDIENCE);
  return out;
}

/** The client CA as certificates, parsed again only when its text changes. */
function trustAnchors(pem: (() => string) | undefined): () => readonly X509Certificate[] {
  let parsedFrom = "";
  let anchors: readonly X509Certificate[] = [];
  return () => {
    const text = pem?.() ?? "";
    if (text !== parsedFrom) {
      parsedFrom = text;
      anchors = (text && parsePemBundle(text)) || [];
    }
    return anchors;
  };
}

/** The narrow view of the domain the OAuth endpoints work with. */
function oauthDeps(domain: Domain, deps: Deps, writes: Store, observed: Pick<OAuthDeps, "guard" | "telemetry">): OAuthDeps {
  const { clients, apiServers, grants, keys, revocations } = domain;
  const { store } = deps;
  const active = (c: Client | undefined): AuthenticatedClient | undefined => (c && !c.disabled ? c : undefined);
  return {
    clients: {
      authenticateSecret: clients.authenticateSecret,
      findForAssertion: async (clientId) => active(await clients.find(clientId)) as (Client & AuthenticatedClient) | undefined,
      consumeAssertionJti: (clientId, jti, keepUntil) => store.assertionJtis.consume(clientId, jti, keepUntil),
      findActive: async (clientId) => active(await clients.find(clientId)),
      recordIssuance: clients.recordIssuance,
    },
    apiServers: { findByAudience: apiServers.findByAudience, get: (id) => store.apiServers.get(id) },
    resolveAccess: grants.resolveAccess,
    tokens: { sign: async (alg, claims) => keys.signer(alg).sign(claims), verify: async (token) => (await keys.verify(token)).payload },
    refreshTokens: store.refreshTokens,
    revocations: {
      isRevoked: revocations.isRevoked,
      revoke: (jti, expiresAt, about) =>
        writes.transaction(async (tx: StoreTx) => {
          await tx.revokedTokens.insert(jti, expiresAt);
          await tx.changes.append({ kind: "revocation", id: jti, time: deps.clock.now(), detail: { expiresAt, clientId: about.clientId, audience: about.audience } });
        }),
    },
    issuer: deps.config.issuer,
    assertionClockToleranceSeconds: deps.config.assertionClockToleranceSeconds,
    now: () => deps.clock.now(),
    // DPoP proof jtis share the assertion jti table, keyed by the proof key's thumbprint (never a client id).
    dpop: {
      windowSeconds: deps.config.dpopProofWindowSeconds,
      consumeJti: (jkt, jti, keepUntil) => store.assertionJtis.consume(`dpop:${jkt}`, jti, keepUntil),
      nonce: deps.config.dpopNonce ? dpopNonces(deps.kek, deps.config.dpopProofWindowSeconds, () => deps.clock.now()) : undefined,
    },
    clientCa: trustAnchors(deps.clientCa),
    ...observed,
  };
}

/** RFC 7591 registration on top of the client domain: dynamic clients, bad metadata as invalid_client_metadata (§3.2.2). */
function registrationDeps(domain: Domain, { config, clock }: Deps, writes: Store): RegistrationDeps {
  // The quota is the deployment's: each replica takes its share (src/limits/guard.ts).
  const replicas = Math.max(1, config.replicaCount);
  const quota = new TokenBucket(config.registrationRatePerMinute / 60 / replicas, Math.max(1, Math.ceil(config.registrationRatePerMinute / replicas)), clock);
  return {
    enabled: config.registrationEnabled,
    quota: () => quota.take(),
    initialAccessTokenHash: config.registrationInitialAccessToken ? sha256(config.registrationInitialAccessToken) : undefined,
    register: async (input) => {
      try {
        const { client, secret } = await writes.transaction((tx) =>
          domain.clients.create(
            { name: input.name, description: "", type: undefined, tokenEndpointAuthMethod: input.tokenEndpointAuthMethod, grantTypes: input.grantTypes, disabled: false, metadata: {}, jwks: input.jwks, tlsClientAuth: input.tlsClientAuth, certificateBoundTokens: input.certificateBoundTokens, dpopBoundTokens: input.dpopBoundTokens },
            tx,
            { dynamic: true },
          ),
        );
        return { clientId: client.clientId, clientSecret: secret, createTime: client.createTime };
      } catch (err) {
        if (err instanceof InvalidArgument) throw new InvalidClientMetadata(err.message, "the client metadata is invalid: " + err.violations.map((v) => v.field).join(", "));
        throw err;
      }
    },
    now: () => clock.now(),
  };
}

/**
 * The composition root: wires store, domain, change feed, the pipeline, the
 * gRPC transport and the gateway's in-process upstream, health and
 * reflection. Binds nothing; main.ts (or a test) listens with `listenGrpc`.
 */
export async function createServer(given: Deps): Promise<AuthzServer> {
  const operations = given.operations ?? createOperations(given.config);
  const { metrics, readiness } = operations;
  // Without an operations listener nobody reads the counters: calls count nothing (the "off" of the benchmark's observability scenario).
  const counting = given.config.opsAddress !== "";
  // Every store call timed (and traced under a call's span).
  const deps: Deps = { ...given, store: instrumentStore(given.store, metrics.storeCall) };
  const { config, logger, store, clock } = deps;
  // The feed position comes first: whatever commits while the state below loads is read after it (applying a change twice is harmless).
  let domain: Domain | undefined;
  const feed = createChangeFeed({ changes: store.changes, notified: store.notified, pollMs: config.changeFeedPollMs, apply: (change) => applyChange(domain!, change), logger });
  const writes: Store = {
    ...store,
    async transaction(fn) {
      const result = await store.transaction(fn);
      await feed.catchUp().catch((err: unknown) => logger.warn("change feed read after a write failed; the next read catches up", errorFields(err)));
      return result;
    },
  };
  await feed.start();
  domain = await createDomain(deps, writes);
  await domain.keys.ensureInitialKeys();
  await feed.catchUp();
  const guard = createClientGuard(config, clock);
  const oauth = oauthDeps(domain, deps, writes, { guard, telemetry: counting ? metrics.oauth : undefined });

  const verify: VerifyManagementToken = (token, presented) => managementPrincipal(token, presented, oauth);
  const pipeline = createPipeline({ verify, logger, maxUnaryCallMs: config.maxUnaryCallMs, observer: counting ? metrics.observer : undefined, clientAddressHeader: config.clientAddressHeader, forwardedCertificate: forwardedCertificates(config.trustedProxies), gatewayPeer: given.gatewayKey ? gatewayPeerReader(given.gatewayKey) : undefined });
  // Aborted as shutdown begins: long-lived streams end at once rather than hold the grace period.
  const stopping = new AbortController();
  const { apiServers, clients, grants, audit, keys, revocations } = domain;
  const bindings = [
    apiServerService(apiServers, audit),
    clientService(clients, audit),
    grantService(grants, audit),
    keyService(keys, audit),
    auditService(audit),
    tokenService(oauth),
    oauthService(oauthEndpoints({ oauth, registration: registrationDeps(domain, deps, writes), jwks: keys.jwks, metadata: serverMetadata(config.issuer, { registration: config.registrationEnabled, mtls: config.tlsClientCaFile !== "" }) })),
    revocationService({ changes: store.changes, feed, audiencesOf: (caller) => visibleAudiences(store, domain!, caller), heartbeatMs: config.watchHeartbeatSeconds * 1000, closing: stopping.signal }),
  ];
  const methods = buildMethods(bindings, accessTable(descriptorRegistry(), SERVICE_NAMES));

  const server = new grpc.Server({
    "grpc.max_receive_message_length": 1 << 20, // 1 MiB: no request here is larger
    "grpc.max_concurrent_streams": config.grpcMaxConcurrentStreams,
    "grpc.max_connection_idle_ms": config.grpcMaxConnectionIdleMs,
    "grpc.max_connection_age_ms": config.grpcMaxConnectionAgeMs,
    "grpc.max_connection_age_grace_ms": config.grpcMaxConnectionAgeGraceMs,
    "grpc.keepalive_permit_without_calls": 1,
  });
  // Client certificates of the gRPC listener's TLS connections (main.ts passes this to listenGrpc).
  const peerCertificates = new PeerCertificates();
  addServices(server, bindings, methods, pipeline, peerCertificates);
  const health = new HealthImplementation({ "": "SERVING", ...Object.fromEntries(SERVICE_NAMES.map((n) => [n, "SERVING"])) });
  health.addToServer(server);
  // Health is described too, so `grpcurl ... grpc.health.v1.Health/Check` works without a local proto.
  new ReflectionService({ ...reflectionFiles(), ...loadSync(healthProtoPath) }).addToServer(server);

  const bootstrap = await bootstrapAdmin({ store: writes, clients, grants }, { clientId: config.adminClientId, clientSecret: config.adminClientSecret });
  const purge = async () => {
    const now = clock.now();
    revocations.purge(toSeconds(now));
    await store.purgeExpired(toSeconds(now));
    await store.changes.purge(now - config.changeFeedRetentionSeconds * 1000);
    await keys.purgeStore();
  };
  const purgeTimer = every(PURGE_INTERVAL_MS, "purge expired state", purge, logger);
  const usageTimer = every(USAGE_FLUSH_MS, "flush issuance counters", clients.flushUsage, logger);
  // Every live client, grant and API server in memory from the start, while
  // the cache budget lasts, read in the background (the feed already runs, so
  // nothing read here can outlive a change): a lookup's cost then does not
  // depend on the store's size or on what was asked for before.
  const stopped = () => stopping.signal.aborted;
  const warming = background(
    "cache warm-up",
    async () => {
      const started = Date.now();
      const [warmClients, warmGrants, warmApiServers] = await Promise.all([clients.warm(stopped), grants.warm(stopped), apiServers.warm(stopped)]);
      logger.info("caches warmed", { clients: warmClients, grants: warmGrants, apiServers: warmApiServers, ms: Date.now() - started });
    },
    logger,
  );

  metrics.watch({
    caches: { clients: clients.cacheStats, grants: grants.cacheStats, api_servers: apiServers.cacheStats },
    feed,
    keys: () => keys.list(),
    limits: guard.stats,
    now: () => clock.now(),
  });
  // Ready once built (migrations ran, keys loaded, the feed caught up) and while
  // the store answers a transaction (what following the feed and every write
  // need) within the probe timeout. The gRPC health service follows it, so
  // Envoy's health checks take a replica out while it is not ready.
  const servingAs = (ready: boolean) => {
    for (const name of ["", ...SERVICE_NAMES]) health.setStatus(name, ready ? "SERVING" : "NOT_SERVING");
    metrics.setReady(ready);
  };
  await readiness.started({
    probe: () => store.transaction((tx) => tx.changes.latest()),
    intervalMs: config.readinessProbeIntervalMs,
    timeoutMs: config.readinessProbeTimeoutMs,
    logger,
    onChange: servingAs,
  });

  /**
   * Not ready from now on, on /readyz and the gRPC health service alike (every
   * name a checker may ask about, not only "": a per-service check, e.g.
   * Envoy's with service_name, must drain this instance too). Called as
   * shutdown begins, before the listeners finish draining.
   */
  function drain(): void {
    readiness.stop();
    for (const name of ["", ...SERVICE_NAMES]) health.setStatus(name, "NOT_SERVING");
  }

  let closing: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      stopping.abort();
      drain();
      clearInterval(purgeTimer);
      clearInterval(usageTimer);
      feed.stop();
      const force = setTimeout(() => {
        logger.warn("shutdown grace period over; cancelling in-flight calls");
        server.forceShutdown();
      }, config.shutdownGraceSeconds * 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        void background("flush issuance counters", clients.flushUsage, logger)
          .then(() => warming)
          .then(() => store.close())
          .catch((err: unknown) => logger.error("closing the store failed", errorFields(err)))
          .then(() => resolve());
      });
    });
    return closing;
  }

  return { grpc: server, health, domain, inProcess: inProcessUpstream(methods, pipeline), feed, transaction: writes.transaction, bootstrap, operations, guard, peerCertificates, warmed: warming, drain, shutdown };
}
