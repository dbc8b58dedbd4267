import type { Server as HttpServer } from "node:http";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { adminBanner, resetAdminSecret } from "./cli/admin.js";
import { MANAGEMENT_HELP, MANAGEMENT_RESOURCES, runManagementCommand, UsageError } from "./cli/management.js";
import { systemClock } from "./clock.js";
import { ConfigError, defaults, loadConfig, type Config } from "./config.js";
import { createConsoleRoutes, createConsoleServer } from "./console/serve.js";
import { createGateway, httpLimits, type Gateway } from "./gateway/index.js";
import { loopbackUpstream } from "./gateway/upstream.js";
import { transcoderSettings } from "./gateway/settings.js";
import { createLogger, errorFields, type Logger } from "./log.js";
import { shareWithSupervisor, supervisorOpsSource } from "./ops/cluster.js";
import { createOperations } from "./ops/index.js";
import { createOpsServer, type OpsSource } from "./ops/server.js";
import { startTracing } from "./otel.js";
import { loadTls, TlsConfigError } from "./tls/source.js";
import { createServer } from "./server.js";
import { GATEWAY_KEY_ENV, isPrimary, superviseWorkers, workerCount } from "./cli/workers.js";
import { openStore, type Store } from "./store/index.js";
import { loadKek } from "./tokens/kek.js";
import { listenGrpc, splitAddress, type GrpcListener } from "./transports/grpc.js";

const HELP = `authz — OAuth 2.0 authorization service for machine-to-machine API access

Usage:
  authz serve [options]              start the gRPC server (and the HTTP gateway)
  authz admin reset-secret [--data-file PATH | --database-url URL]
                                     rotate the admin client's secret in the store and print it
  authz api-servers|clients|grants ... operator commands (see below)
  authz --help

Serve options (each also read from the environment variable shown):
  --data-file PATH        SQLite file, or :memory:           AUTHZ_DATA_FILE     (default ${defaults.dataFile})
  --database-url URL      PostgreSQL instead (replicas)      AUTHZ_DATABASE_URL  (postgres://user:pass@host:5432/db)
  --workers N|auto        replica processes on this node     AUTHZ_WORKERS       (default ${defaults.workers})
  --grpc-address H:P      gRPC listen address                AUTHZ_GRPC_ADDRESS  (default ${defaults.grpcAddress})
  --http-address H:P      HTTP gateway listen address        AUTHZ_HTTP_ADDRESS  (default ${defaults.httpAddress})
  --no-gateway            gRPC only (for Envoy deployments)  AUTHZ_GATEWAY=false
  --console-address H:P   serve only the web console there (behind Envoy)  AUTHZ_CONSOLE_ADDRESS (default: none;
                          the HTTP gateway serves it at /console/ anyway)
  --ops-address H:P       /metrics, /healthz, /readyz ("": none)  AUTHZ_OPS_ADDRESS (default ${defaults.opsAddress})
  --replica-count N       replicas sharing the rate limits   AUTHZ_REPLICA_COUNT (default: this node's workers)
                          token requests per client per second  AUTHZ_TOKEN_RATE_PER_SECOND (default ${defaults.tokenRatePerSecond}; 0: no limit)
                          ... and at once (burst)            AUTHZ_TOKEN_RATE_BURST (default ${defaults.tokenRateBurst})
                          caller's address header behind a proxy  AUTHZ_CLIENT_ADDRESS_HEADER (e.g. x-forwarded-for; default: the peer)
  --tls-cert FILE, --tls-key FILE  TLS on every listener (PEM; reloaded on change)  AUTHZ_TLS_CERT, AUTHZ_TLS_KEY (default: plaintext)
  --tls-client-ca FILE    request client certificates (RFC 8705 mTLS) and verify them against this CA  AUTHZ_TLS_CLIENT_CA
  --trusted-proxies IPS   believe x-forwarded-client-cert from these addresses  AUTHZ_TRUSTED_PROXIES (comma-separated)
  --gateway-upstream U    in-process | loopback              AUTHZ_GATEWAY_UPSTREAM (default ${defaults.gatewayUpstream})
  --issuer URL            token issuer and metadata base     AUTHZ_ISSUER        (default http://<http-address>)
  --log-level LEVEL       debug, info, warn, error           AUTHZ_LOG_LEVEL     (default ${defaults.logLevel})
  --key-publish-lead-seconds N  publish rotated keys this long before they sign  AUTHZ_KEY_PUBLISH_LEAD_SECONDS (default ${defaults.keyPublishLeadSeconds})
  --jwks-max-age-seconds N      JWKS Cache-Control max-age         AUTHZ_JWKS_MAX_AGE_SECONDS (default ${defaults.jwksMaxAgeSeconds})
  --registration          enable RFC 7591 registration       AUTHZ_REGISTRATION=true
  --registration-open     ... without an initial access token (anyone may register)  AUTHZ_REGISTRATION_OPEN=true
                          initial access token for it        AUTHZ_REGISTRATION_TOKEN
                          signing-key encryption key         AUTHZ_KEY_ENCRYPTION_KEY (default: authz.kek beside the data file)
                          first-start admin credentials      AUTHZ_ADMIN_CLIENT_ID, AUTHZ_ADMIN_CLIENT_SECRET
                          require DPoP server nonces (RFC 9449 §8)  AUTHZ_DPOP_NONCE=true
                          trace export (OTLP/HTTP)           OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ...

${MANAGEMENT_HELP}`;

/** Flags win over environment variables, which win over defaults. */
export function configFromArgs(args: string[], env: NodeJS.ProcessEnv): Partial<Config> {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      "data-file": { type: "string" },
      "database-url": { type: "string" },
      workers: { type: "string" },
      "grpc-address": { type: "string" },
      "http-address": { type: "string" },
      "no-gateway": { type: "boolean" },
      "console-address": { type: "string" },
      "ops-address": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-client-ca": { type: "string" },
      "trusted-proxies": { type: "string" },
      "replica-count": { type: "string" },
      "gateway-upstream": { type: "string" },
      "key-publish-lead-seconds": { type: "string" },
      "jwks-max-age-seconds": { type: "string" },
      issuer: { type: "string" },
      "log-level": { type: "string" },
      registration: { type: "boolean" },
      "registration-open": { type: "boolean" },
    },
  });
  return {
    dataFile: values["data-file"] ?? env.AUTHZ_DATA_FILE,
    databaseUrl: values["database-url"] ?? env.AUTHZ_DATABASE_URL,
    workers: workersOf(values.workers ?? env.AUTHZ_WORKERS),
    grpcAddress: values["grpc-address"] ?? env.AUTHZ_GRPC_ADDRESS,
    httpAddress: values["http-address"] ?? env.AUTHZ_HTTP_ADDRESS,
    gateway: values["no-gateway"] ? false : envBool(env, "AUTHZ_GATEWAY"),
    consoleAddress: values["console-address"] ?? env.AUTHZ_CONSOLE_ADDRESS,
    opsAddress: values["ops-address"] ?? env.AUTHZ_OPS_ADDRESS,
    tlsCertFile: values["tls-cert"] ?? env.AUTHZ_TLS_CERT,
    tlsKeyFile: values["tls-key"] ?? env.AUTHZ_TLS_KEY,
    tlsClientCaFile: values["tls-client-ca"] ?? env.AUTHZ_TLS_CLIENT_CA,
    tlsReloadIntervalMs: envNumber(env.AUTHZ_TLS_RELOAD_INTERVAL_MS),
    dpopNonce: envBool(env, "AUTHZ_DPOP_NONCE"),
    trustedProxies: list(values["trusted-proxies"] ?? env.AUTHZ_TRUSTED_PROXIES),
    replicaCount: envNumber(values["replica-count"] ?? env.AUTHZ_REPLICA_COUNT),
    tokenRatePerSecond: envNumber(env.AUTHZ_TOKEN_RATE_PER_SECOND),
    tokenRateBurst: envNumber(env.AUTHZ_TOKEN_RATE_BURST),
    clientAddressHeader: env.AUTHZ_CLIENT_ADDRESS_HEADER,
    gatewayUpstream: (values["gateway-upstream"] ?? env.AUTHZ_GATEWAY_UPSTREAM) as Config["gatewayUpstream"] | undefined,
    keyPublishLeadSeconds: envNumber(values["key-publish-lead-seconds"] ?? env.AUTHZ_KEY_PUBLISH_LEAD_SECONDS),
    jwksMaxAgeSeconds: envNumber(values["jwks-max-age-seconds"] ?? env.AUTHZ_JWKS_MAX_AGE_SECONDS),
    issuer: values.issuer ?? env.AUTHZ_ISSUER,
    logLevel: (values["log-level"] ?? env.AUTHZ_LOG_LEVEL) as Config["logLevel"] | undefined,
    registrationEnabled: values.registration ? true : envBool(env, "AUTHZ_REGISTRATION"),
    registrationInitialAccessToken: env.AUTHZ_REGISTRATION_TOKEN,
    registrationOpen: values["registration-open"] ? true : envBool(env, "AUTHZ_REGISTRATION_OPEN"),
    keyEncryptionKey: env.AUTHZ_KEY_ENCRYPTION_KEY,
    adminClientId: env.AUTHZ_ADMIN_CLIENT_ID,
    adminClientSecret: env.AUTHZ_ADMIN_CLIENT_SECRET,
  };
}

function workersOf(value: string | undefined): Config["workers"] | undefined {
  return value === "auto" ? "auto" : envNumber(value);
}

/** A whole number given as text (unset: the default); anything else becomes NaN, which the config check names. */
function envNumber(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

/** `true` or `false` (unset: the default). Anything else is refused rather than guessed: AUTHZ_GATEWAY=0 must not mean "on". */
/** A comma-separated list; undefined when not given. */
function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(",").map((v) => v.trim()).filter(Boolean);
}

function envBool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  if (value === "true" || value === "false") return value === "true";
  throw new ConfigError([`${name} must be true or false, got ${JSON.stringify(value)}`]);
}

async function serve(args: string[]): Promise<void> {
  const config = loadConfig(configFromArgs(args, process.env));
  const logger = createLogger(config.logLevel);
  // Registered before anything starts. A stray rejection is logged (name,
  // message, a few frames; never request data) and the service keeps serving;
  // after an uncaught exception the state is unknown, so log it and exit 1.
  process.on("unhandledRejection", (err) => logger.error("unhandled rejection", errorFields(err)));
  process.on("uncaughtException", (err) => {
    logger.error("uncaught exception; exiting", errorFields(err));
    logger.flush();
    process.exit(1);
  });
  const workers = workerCount(config.workers);
  if (workers > 1 && isPrimary()) {
    // Migrations and the key-encryption key file once, before the replicas start on them.
    const store = await openConfiguredStore(config, logger);
    try {
      await keyEncryptionKey(config, store, logger);
    } finally {
      await store.close();
    }
    // The ops listener is the supervisor's: the replicas' metrics summed, ready when all are.
    if (config.opsAddress) await listenOps(supervisorOpsSource(workers), config.opsAddress, logger);
    return superviseWorkers(workers, logger, (code) => {
      logger.flush();
      process.exit(code);
    });
  }
  // TLS files first: a certificate that does not load fails the start in one line, before anything opens.
  const tlsFiles = config.tlsCertFile || config.tlsClientCaFile ? loadTls({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.tlsClientCaFile }, config.tlsReloadIntervalMs, logger) : undefined;
  // The listeners' TLS; a client CA alone serves certificates forwarded by a trusted proxy.
  const tls = config.tlsCertFile ? tlsFiles : undefined;
  warnIfPlainIssuer(config, logger);
  const operations = createOperations(config);
  if (!isPrimary()) shareWithSupervisor(operations);
  const traces = await startTracing(process.env, logger);
  const store = await openConfiguredStore(config, logger);
  let kek;
  try {
    kek = await keyEncryptionKey(config, store, logger);
  } catch (err) {
    await store.close();
    throw err;
  }
  // Once the store is open and migrated (a start that fails before stays one
  // line), before the server is built: /readyz says `starting` while keys load
  // and the change feed catches up, then follows the store.
  if (isPrimary() && config.opsAddress) {
    const { metrics: { registry }, readiness } = operations;
    await listenOps({ metrics: async () => ({ body: await registry.metrics(), contentType: registry.contentType }), readiness: () => ({ ready: readiness.ready(), state: readiness.state() }) }, config.opsAddress, logger);
  }
  // The loopback gateway's key (src/gateway/loopback_peer.ts): the supervisor's, shared by its replicas, or this process's own.
  const gatewayKey = config.gatewayUpstream === "loopback" ? (process.env[GATEWAY_KEY_ENV] ?? randomBytes(32).toString("base64url")) : undefined;
  const server = await createServer({ config, store, clock: systemClock, logger, kek: kek.kek, operations, clientCa: tlsFiles && (() => tlsFiles.clientCa()), gatewayKey });
  const source = kek.source;
  if (server.bootstrap && !server.bootstrap.fromConfig) {
    process.stderr.write(adminBanner("authz admin client created", server.bootstrap.clientId, server.bootstrap.clientSecret));
  } else if (server.bootstrap) {
    logger.info("admin client created from AUTHZ_ADMIN_CLIENT_ID", { clientId: server.bootstrap.clientId });
  }
  let gateway: Gateway | undefined;
  let listener: GrpcListener | undefined;
  let consoleServer: HttpServer | undefined;
  // Signal handlers go in before the "listening" lines announce readiness: a
  // SIGTERM right after them must find a handler, not the default (instant death).
  let stopping = false;
  const stop = (signal: string) => {
    // A second signal (an impatient supervisor, Ctrl-C twice) must not start a
    // second shutdown; the grace period already bounds the first.
    if (stopping) return logger.info("already shutting down", { signal });
    stopping = true;
    logger.info("shutting down", { signal });
    server.drain(); // balancers see "stopping" at once, while the listeners still drain
    listener?.close();
    consoleServer?.close();
    (gateway?.close() ?? Promise.resolve())
      .then(() => server.shutdown())
      .then(() => traces?.shutdown())
      .then(() => tlsFiles?.close())
      .then(
        () => {
          logger.info("stopped");
          logger.flush();
          process.exit(0);
        },
        (err: unknown) => {
          logger.error("shutdown failed", errorFields(err));
          logger.flush();
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  try {
    listener = await listenGrpc(server.grpc, config.grpcAddress, {
      maxConnections: config.grpcMaxConnections,
      handshakeTimeoutMs: config.grpcHandshakeTimeoutMs,
      tls: tls && { source: tls, certificates: server.peerCertificates },
    }).catch((err: Error) => {
      throw new ListenError(`cannot listen on ${config.grpcAddress} (gRPC): ${err.message}`);
    });
    const port = listener.port;
    logger.info("grpc listening", { address: config.grpcAddress, port, ...(config.databaseUrl ? { store: "postgres" } : { dataFile: config.dataFile }), keyEncryptionKey: source, issuer: config.issuer });
    if (config.gateway) {
      // In-process by default; loopback reaches gRPC over a real connection, as Envoy would over its cluster.
      const host = splitAddress(config.grpcAddress).host;
      const upstream =
        config.gatewayUpstream === "loopback"
          ? loopbackUpstream(`${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host}:${port}`, transcoderSettings.maxResponseBodySize * 2, gatewayKey)
          : server.inProcess;
      gateway = createGateway({ upstream, logger, limits: httpLimits(config), staticRoutes: createConsoleRoutes(), tls, onRefused: server.operations.metrics.httpRefused });
      const http = splitAddress(config.httpAddress);
      await new Promise<void>((resolve, reject) => gateway!.server.once("error", reject).listen(http.port, http.host, resolve)).catch((err: Error) => {
        throw new ListenError(`cannot listen on ${config.httpAddress} (HTTP): ${err.message}`);
      });
      const bound = gateway.server.address();
      logger.info("http listening", { address: config.httpAddress, port: typeof bound === "object" && bound ? bound.port : http.port, upstream: config.gatewayUpstream });
    }
    if (config.consoleAddress) {
      consoleServer = createConsoleServer();
      const at = splitAddress(config.consoleAddress);
      await new Promise<void>((resolve, reject) => consoleServer!.once("error", reject).listen(at.port, at.host, resolve)).catch((err: Error) => {
        throw new ListenError(`cannot listen on ${config.consoleAddress} (console): ${err.message}`);
      });
      const bound = consoleServer.address();
      logger.info("console listening", { address: config.consoleAddress, port: typeof bound === "object" && bound ? bound.port : at.port });
    }
  } catch (err) {
    // A port in use must not leave the other listener (and the store) open
    // with nobody to stop them: the process would neither serve nor exit.
    listener?.close();
    consoleServer?.close();
    await gateway?.close();
    await server.shutdown();
    throw err;
  }
}

/**
 * Binds the operations listener. A port it cannot have is logged as an error
 * and the service goes on without it: the ops port must not take token
 * issuance down, and an orchestrator probing /readyz sees the replica as not
 * ready anyway.
 */
async function listenOps(source: OpsSource, address: string, logger: Logger): Promise<void> {
  const server = createOpsServer(source, logger);
  const at = splitAddress(address);
  try {
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(at.port, at.host, resolve));
    server.unref();
    const bound = server.address();
    logger.info("ops listening", { address, port: typeof bound === "object" && bound ? bound.port : at.port });
  } catch (err) {
    logger.error("cannot listen on the ops address; serving without /metrics, /healthz and /readyz", { address, detail: (err as Error).message });
  }
}

function openConfiguredStore(config: Config, logger: ReturnType<typeof createLogger>): Promise<Store> {
  return openStore({ databaseUrl: config.databaseUrl, dataFile: config.dataFile, storeTimeoutMs: config.storeTimeoutMs, postgresPoolSize: config.postgresPoolSize, logger });
}

/** The key-encryption key (src/tokens/kek.ts): created only for a store without sealed keys. */
async function keyEncryptionKey(config: Config, store: Store, logger: ReturnType<typeof createLogger>) {
  const kek = loadKek(config, (await store.keys.all()).length > 0);
  if (kek.created && kek.source !== "ephemeral") logger.warn("created a key-encryption key file; back it up apart from the database (without it the signing keys cannot be opened)", { file: kek.source });
  return kek;
}

/** A listener could not bind (port in use, no permission, bad host): the message says which. */
/**
 * RFC 8414 §2 wants an https issuer; plain http is for loopback development.
 * Served to other machines over http, tokens and secrets cross the network
 * in the clear: say so at start (TLS here, or TLS at a proxy with an https
 * --issuer, silences it).
 */
function warnIfPlainIssuer(config: Config, logger: Logger): void {
  if (!config.issuer.startsWith("http://")) return;
  const { host } = splitAddress(config.httpAddress);
  if (!isLoopback(host)) logger.warn("the issuer is http:// on a non-loopback address: credentials and tokens travel in the clear; use --tls-cert/--tls-key, or TLS at a proxy with an https --issuer", { issuer: config.issuer, address: config.httpAddress });
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

class ListenError extends Error {
  override name = "ListenError";
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || rest.includes("--help")) {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === "serve") {
    await serve(rest);
    return -1; // keep running
  }
  if (command === "admin" && rest[0] === "reset-secret") {
    const { values } = parseArgs({ args: rest.slice(1), options: { "data-file": { type: "string" }, "database-url": { type: "string" } } });
    const where = { dataFile: values["data-file"] ?? process.env.AUTHZ_DATA_FILE ?? defaults.dataFile, databaseUrl: values["database-url"] ?? process.env.AUTHZ_DATABASE_URL ?? "" };
    return resetAdminSecret(where, (t) => process.stderr.write(t));
  }
  if ((MANAGEMENT_RESOURCES as readonly string[]).includes(command)) {
    return runManagementCommand(command, rest, process.env, (t) => process.stdout.write(t));
  }
  process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof ConfigError || err instanceof UsageError || err instanceof ListenError || err instanceof TlsConfigError || (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION";
    const grpcError = typeof (err as { code?: unknown }).code === "number" ? `${(err as { details?: string }).details}` : undefined;
    process.stderr.write(known ? `authz: ${(err as Error).message}\n` : grpcError ? `authz: ${grpcError}\n` : `authz: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
