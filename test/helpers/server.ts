import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiServerServiceClient } from "../../gen/authz/v1/api_server.js";
import { AuditServiceClient } from "../../gen/authz/v1/audit.js";
import { ClientServiceClient } from "../../gen/authz/v1/client.js";
import { GrantServiceClient } from "../../gen/authz/v1/grant.js";
import { KeyServiceClient } from "../../gen/authz/v1/key.js";
import { IssueTokenRequest, TokenServiceClient } from "../../gen/authz/v1/token.js";
import { ManualClock, type Clock } from "../../src/clock.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createGateway, httpLimits, type GatewayOptions } from "../../src/gateway/index.js";
import { loopbackUpstream } from "../../src/gateway/upstream.js";
import { silentLogger, type Logger } from "../../src/log.js";
import { reservePort } from "./ports.js";
import { promisify } from "./promisify.js";
import { bearerInterceptor } from "../../sdk/src/index.js";
import { createServer, type AuthzServer } from "../../src/server.js";
import { listenGrpc } from "../../src/transports/grpc.js";
import { createHash } from "node:crypto";
import { MIGRATIONS, openStore, storeOn, type Store } from "../../src/store/index.js";
import { migrate } from "../../src/store/sql/migrate.js";
import { openSqlite, type Db } from "../../src/store/sqlite/database.js";

export interface TestServer {
  address: string;
  server: AuthzServer;
  /** The store under the server. */
  store: Store;
  /** SQLite's write connection, when the store is SQLite (tests that break it on purpose). */
  sqlite: Db | undefined;
  clock: Clock;
  dataFile: string;
  config: Readonly<Config>;
  /** The key-encryption key (reuse it to restart on the same data file). */
  kek: Buffer;
  adminClientId: string;
  adminClientSecret: string;
  /** A management token of the admin client (all permissions); cached, renewed after clock moves. */
  adminToken(renew?: boolean): Promise<string>;
  /** Base URL of the embedded HTTP gateway in front of this server. */
  httpUrl: string;
  /** Generated clients; management ones send the admin token automatically. */
  clients: ReturnType<typeof makeClients>;
  /** Shuts down gracefully (store closed); the data file stays until `cleanup`. */
  stop(): Promise<void>;
  /** Stops and deletes the temporary directory. */
  cleanup(): Promise<void>;
}

export interface TestServerOptions {
  /** Reuse a data file (restart tests); a fresh temp file otherwise. */
  dataFile?: string;
  kek?: Buffer;
  clock?: Clock;
  logger?: Logger;
  config?: Partial<Config>;
  /** Static routes for the embedded gateway (e.g. the web console), see GatewayOptions.staticRoutes. */
  staticRoutes?: GatewayOptions["staticRoutes"];
  /** `sqlite` for tests that edit the SQLite file under the service; default: PostgreSQL when AUTHZ_TEST_DATABASE_URL is set. */
  store?: "sqlite";
}

/**
 * The store a test server runs on: a real SQLite file, or, with
 * AUTHZ_TEST_DATABASE_URL set, a real PostgreSQL database in a schema of its
 * own (named after the data file, so a restart test finds its data again).
 */
export async function openTestStore(dataFile: string, kind?: "sqlite"): Promise<{ store: Store; sqlite: Db | undefined; databaseUrl: string; schema: string }> {
  const databaseUrl = kind === "sqlite" ? "" : (process.env.AUTHZ_TEST_DATABASE_URL ?? "");
  if (databaseUrl) {
    const schema = `t_${createHash("sha256").update(dataFile).digest("hex").slice(0, 20)}`;
    const store = await openStore({ databaseUrl, dataFile, storeTimeoutMs: 5_000, postgresPoolSize: 4, postgresSchema: schema, logger: silentLogger });
    return { store, sqlite: undefined, databaseUrl, schema };
  }
  const db = openSqlite(dataFile, { busyTimeoutMs: 5_000 });
  await migrate(db, MIGRATIONS.sqlite);
  return { store: storeOn(db), sqlite: db.writer, databaseUrl: "", schema: "" };
}

/** Starts the real server on an ephemeral loopback port over a real store (SQLite file, or PostgreSQL). */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = options.dataFile ? undefined : mkdtempSync(join(tmpdir(), "authz-test-"));
  const dataFile = options.dataFile ?? join(dir!, "authz.db");
  const adminClientId = options.config?.adminClientId ?? `admin-${randomBytes(6).toString("hex")}`;
  const adminClientSecret = options.config?.adminClientSecret ?? randomBytes(32).toString("base64url");
  const { store, sqlite, databaseUrl } = await openTestStore(dataFile, options.store);
  // The HTTP port is bound (and held) before the server is built so the issuer
  // can be the gateway's real URL (RFC 8414 discovery checks that they match).
  const { port: httpPort, handle: httpHandle } = await reservePort();
  const kek = options.kek ?? randomBytes(32);
  const config = loadConfig({
    dataFile,
    ...(databaseUrl ? { databaseUrl, keyEncryptionKey: kek.toString("base64url") } : {}),
    grpcAddress: "127.0.0.1:0",
    httpAddress: `127.0.0.1:${httpPort}`,
    shutdownGraceSeconds: 5,
    adminClientId,
    adminClientSecret,
    ...options.config,
  });
  const clock = options.clock ?? new ManualClock(Date.now());
  // The HTTP suites run with both upstreams (AUTHZ_TEST_GATEWAY_UPSTREAM=loopback for the second run).
  const upstreamKind = options.config?.gatewayUpstream ?? (process.env.AUTHZ_TEST_GATEWAY_UPSTREAM === "loopback" ? "loopback" : "in-process");
  const gatewayKey = upstreamKind === "loopback" ? randomBytes(32).toString("base64url") : undefined;
  const server = await createServer({ config, store, clock, logger: options.logger ?? silentLogger, kek, gatewayKey }).catch(async (err: unknown) => {
    httpHandle.close();
    await store.close();
    throw err;
  });
  await server.warmed; // tests start from a settled cache: what they create next is not in it
  const listener = await listenGrpc(server.grpc, config.grpcAddress, { maxConnections: config.grpcMaxConnections, handshakeTimeoutMs: config.grpcHandshakeTimeoutMs });
  const address = `127.0.0.1:${listener.port}`;
  const upstream = upstreamKind === "loopback" ? loopbackUpstream(address, 2 << 20, gatewayKey) : server.inProcess;
  const gateway = createGateway({ upstream, logger: options.logger ?? silentLogger, staticRoutes: options.staticRoutes, limits: httpLimits(config), onRefused: server.operations.metrics.httpRefused });
  await new Promise<void>((resolve) => gateway.server.listen(httpHandle, resolve));
  const httpUrl = `http://127.0.0.1:${httpPort}`;

  const tokens = promisify(new TokenServiceClient(address, grpc.credentials.createInsecure()));
  let cached: { token: string; at: number } | undefined;
  const adminToken = async (renew = false) => {
    // Renew when forced or when the (manual) clock moved past half the 1 h lifetime.
    if (!cached || renew || clock.now() - cached.at > 1_800_000) {
      const res = await tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: adminClientId, clientSecret: adminClientSecret }, audience: "urn:authz:management" }));
      cached = { token: res.accessToken, at: clock.now() };
    }
    return cached.token;
  };
  const clients = makeClients(address, tokens, () => adminToken());
  const stop = async () => {
    for (const c of Object.values(clients)) c.raw.close();
    listener.close();
    await gateway.close();
    await server.shutdown();
  };
  return {
    address,
    server,
    store,
    sqlite,
    clock,
    dataFile,
    config,
    kek,
    adminClientId,
    adminClientSecret,
    adminToken,
    httpUrl,
    clients,
    stop,
    async cleanup() {
      await stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function makeClients(address: string, tokens: ReturnType<typeof promisify<TokenServiceClient>>, token: () => Promise<string>) {
  const creds = grpc.credentials.createInsecure();
  const managed = { interceptors: [bearerInterceptor(token)] };
  return {
    apiServers: promisify(new ApiServerServiceClient(address, creds, managed)),
    clients: promisify(new ClientServiceClient(address, creds, managed)),
    grants: promisify(new GrantServiceClient(address, creds, managed)),
    keys: promisify(new KeyServiceClient(address, creds, managed)),
    audit: promisify(new AuditServiceClient(address, creds, managed)),
    tokens,
  };
}

/** Runs `fn` expecting a gRPC error; returns it for assertions. */
export async function rpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}
