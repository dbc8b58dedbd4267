import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import { toSeconds, type Clock } from "./clock.js";
import type { Config } from "./config.js";
import { descriptorRegistry, reflectionFiles, SERVICE_NAMES } from "./descriptor.js";
import { createApiServers } from "./domain/api_servers.js";
import { createAudit } from "./domain/audit.js";
import { createCeiling } from "./domain/ceiling.js";
import { bootstrapAdmin, type AdminCredentials } from "./domain/bootstrap.js";
import { createClients, type Client } from "./domain/clients.js";
import { MANAGEMENT_AUDIENCE } from "./domain/constants.js";
import { InvalidArgument } from "./domain/errors.js";
import { createGrants } from "./domain/grants.js";
import { sha256 } from "./domain/ids.js";
import { inProcessUpstream, type Upstream } from "./gateway/upstream.js";
import { errorFields, type Logger } from "./log.js";
import { activeAccessToken } from "./oauth/active_token.js";
import type { AuthenticatedClient } from "./oauth/client_auth.js";
import { oauthEndpoints } from "./oauth/endpoints.js";
import { InvalidClientMetadata } from "./oauth/errors.js";
import { serverMetadata } from "./oauth/metadata.js";
import type { OAuthDeps } from "./oauth/ports.js";
import type { RegistrationDeps } from "./oauth/registration.js";
import { accessTable, type VerifyManagementToken } from "./pipeline/access.js";
import { createPipeline } from "./pipeline/pipeline.js";
import { apiServerService } from "./rpc/api_servers.js";
import { auditService } from "./rpc/audit.js";
import { clientService } from "./rpc/clients.js";
import { grantService } from "./rpc/grants.js";
import { keyService } from "./rpc/keys.js";
import { oauthService } from "./rpc/oauth.js";
import { buildMethods } from "./rpc/service.js";
import { tokenService } from "./rpc/tokens.js";
import type { Store } from "./store/repositories.js";
import { TokenBucket } from "./token_bucket.js";
import { createKeys } from "./tokens/keys.js";
import { addServices } from "./transports/grpc.js";

export interface Deps {
  config: Readonly<Config>;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** 32-byte key-encryption key for signing keys at rest (see src/tokens/kek.ts). */
  kek: Buffer;
}

export interface AuthzServer {
  grpc: grpc.Server;
  health: HealthImplementation;
  domain: Domain;
  /** The embedded gateway's in-process upstream: the same pipeline the gRPC transport serves. */
  inProcess: Upstream;
  /** The admin credentials created by this start (first start only), to show once. */
  bootstrap: AdminCredentials | undefined;
  /** Stops taking calls, lets in-flight ones finish (up to the grace period), then closes the store. */
  shutdown(): Promise<void>;
}

export type Domain = Awaited<ReturnType<typeof createDomain>>;

/** How often expired revocations, refresh tokens and assertion ids are purged. */
const PURGE_INTERVAL_MS = 60_000;
/** How often issuance counters reach the store. */
const USAGE_FLUSH_MS = 1_000;

/**
 * Background work: runs `work` now and every `ms`; a failure (e.g. the disk
 * full) is logged and the timer goes on — it never reaches the process.
 */
function every(ms: number, what: string, work: () => unknown, logger: Logger): NodeJS.Timeout {
  background(what, work, logger);
  return setInterval(() => background(what, work, logger), ms).unref();
}

function background(what: string, work: () => unknown, logger: Logger): void {
  try {
    const result = work();
    if (result instanceof Promise) result.catch((err: unknown) => logger.error(`${what} failed`, errorFields(err)));
  } catch (err) {
    logger.error(`${what} failed`, errorFields(err));
  }
}

/** The domain services, each given only what it needs. */
async function createDomain({ store, clock, config, kek, logger }: Deps) {
  const ceiling = createCeiling(store);
  // The cache budget, shared: clients are the largest entries, grants the most numerous.
  const budget = config.lookupCacheMaxBytes;
  const grants = createGrants({ store, clock, ceiling, cacheMaxBytes: Math.floor(budget * 0.3) });
  const apiServers = createApiServers({ store, clock, cacheMaxBytes: Math.floor(budget * 0.2), onChange: (apiServerId) => grants.forget({ apiServerId }) });
  const clients = createClients({ store, clock, ceiling, cacheMaxBytes: Math.floor(budget * 0.5), onDelete: (clientId) => grants.forget({ clientId }) });
  const audit = createAudit({ store, clock });
  // Decrypts the stored signing keys once (a wrong KEK fails start-up here); the first start creates them.
  const keys = await createKeys({ store, clock, config, kek, logger });
  await keys.ensureInitialKeys();
  return { apiServers, clients, grants, audit, keys };
}

/** The narrow view of the domain the OAuth endpoints work with. */
function oauthDeps(domain: Domain, deps: Deps): OAuthDeps {
  const { clients, apiServers, grants, keys } = domain;
  const active = (c: Client | undefined): AuthenticatedClient | undefined => (c && !c.disabled ? c : undefined);
  return {
    clients: {
      authenticateSecret: clients.authenticateSecret,
      findForAssertion: (clientId) => active(clients.find(clientId)) as (Client & AuthenticatedClient) | undefined,
      consumeAssertionJti: deps.store.tokenState.consumeAssertionJti,
      findActive: (clientId) => active(clients.find(clientId)),
      recordIssuance: clients.recordIssuance,
    },
    apiServers: { findByAudience: apiServers.findByAudience, get: (id) => deps.store.apiServers.get(id) },
    resolveAccess: grants.resolveAccess,
    tokens: { sign: async (alg, claims) => keys.signer(alg).sign(claims), verify: async (token) => (await keys.verify(token)).payload },
    tokenState: deps.store.tokenState,
    issuer: deps.config.issuer,
    assertionClockToleranceSeconds: deps.config.assertionClockToleranceSeconds,
    now: () => deps.clock.now(),
  };
}

/** RFC 7591 registration on top of the client domain: dynamic clients, bad metadata as invalid_client_metadata (§3.2.2). */
function registrationDeps(domain: Domain, { config, clock }: Deps): RegistrationDeps {
  const quota = new TokenBucket(config.registrationRatePerMinute / 60, config.registrationRatePerMinute, clock);
  return {
    enabled: config.registrationEnabled,
    quota: () => quota.take(),
    initialAccessTokenHash: config.registrationInitialAccessToken ? sha256(config.registrationInitialAccessToken) : undefined,
    register: async (input) => {
      try {
        const { client, secret } = await domain.clients.create(
          { name: input.name, description: "", type: undefined, tokenEndpointAuthMethod: input.tokenEndpointAuthMethod, grantTypes: input.grantTypes, disabled: false, metadata: {}, jwks: input.jwks },
          { dynamic: true },
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
 * The composition root: wires store, domain, the pipeline, the gRPC transport
 * and the gateway's in-process upstream, health and reflection. Binds
 * nothing; main.ts (or a test) listens with `listenGrpc`.
 */
export async function createServer(deps: Deps): Promise<AuthzServer> {
  const { config, logger, store, clock } = deps;
  const domain = await createDomain(deps);
  const oauth = oauthDeps(domain, deps);

  const verify: VerifyManagementToken = async (token) => {
    const found = await activeAccessToken(token, oauth);
    if (!found || found.apiServer.identifier !== MANAGEMENT_AUDIENCE) return undefined;
    return { clientId: found.client.clientId, scopes: found.scopes };
  };
  const pipeline = createPipeline({ verify, logger, maxUnaryCallMs: config.maxUnaryCallMs });
  const { apiServers, clients, grants, audit, keys } = domain;
  const bindings = [
    apiServerService(apiServers, audit),
    clientService(clients, audit),
    grantService(grants, audit),
    keyService(keys, audit),
    auditService(audit),
    tokenService(oauth),
    oauthService(oauthEndpoints({ oauth, registration: registrationDeps(domain, deps), jwks: keys.jwks, metadata: serverMetadata(config.issuer, { registration: config.registrationEnabled }) })),
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
  addServices(server, bindings, methods, pipeline);
  const health = new HealthImplementation({ "": "SERVING", ...Object.fromEntries(SERVICE_NAMES.map((n) => [n, "SERVING"])) });
  health.addToServer(server);
  // Health is described too, so `grpcurl ... grpc.health.v1.Health/Check` works without a local proto.
  new ReflectionService({ ...reflectionFiles(), ...loadSync(healthProtoPath) }).addToServer(server);

  const bootstrap = await bootstrapAdmin({ store, clients, grants }, { clientId: config.adminClientId, clientSecret: config.adminClientSecret });
  const purge = () => store.tokenState.purgeExpired(toSeconds(clock.now()));
  const purgeTimer = every(PURGE_INTERVAL_MS, "purge expired token state", purge, logger);
  const usageTimer = every(USAGE_FLUSH_MS, "flush issuance counters", clients.flushUsage, logger);

  let closing: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      clearInterval(purgeTimer);
      clearInterval(usageTimer);
      // Every name a checker may ask about, not only "": a per-service check
      // (e.g. Envoy's with service_name) must also drain this instance.
      for (const name of ["", ...SERVICE_NAMES]) health.setStatus(name, "NOT_SERVING");
      const force = setTimeout(() => {
        logger.warn("shutdown grace period over; cancelling in-flight calls");
        server.forceShutdown();
      }, config.shutdownGraceSeconds * 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        background("flush issuance counters", clients.flushUsage, logger);
        store.close();
        resolve();
      });
    });
    return closing;
  }

  return { grpc: server, health, domain, inProcess: inProcessUpstream(methods, pipeline), bootstrap, shutdown };
}
