import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiServerServiceClient } from "../../gen/authz/v1/api_server.js";
import { ManualClock, type Clock } from "../../src/clock.js";
import { loadConfig, type Config } from "../../src/config.js";
import { silentLogger, type Logger } from "../../src/log.js";
import { promisify } from "../../src/sdk/promisify.js";
import { bindGrpc, createServer, type AuthzServer } from "../../src/server.js";
import { openSqliteStore } from "../../src/store/sqlite/index.js";

export interface TestServer {
  address: string;
  server: AuthzServer;
  clock: Clock;
  dataFile: string;
  clients: ReturnType<typeof makeClients>;
  /** Shuts down gracefully (store closed); the data file stays until `cleanup`. */
  stop(): Promise<void>;
  /** Stops and deletes the temporary directory. */
  cleanup(): Promise<void>;
}

export interface TestServerOptions {
  /** Reuse a data file (restart tests); a fresh temp file otherwise. */
  dataFile?: string;
  clock?: Clock;
  logger?: Logger;
  config?: Partial<Config>;
}

/** Starts the real server on an ephemeral loopback port over a real SQLite file. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = options.dataFile ? undefined : mkdtempSync(join(tmpdir(), "authz-test-"));
  const dataFile = options.dataFile ?? join(dir!, "authz.db");
  const config = loadConfig({ dataFile, grpcAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", shutdownGraceSeconds: 5, ...options.config });
  const clock = options.clock ?? new ManualClock(Date.now());
  const store = openSqliteStore(dataFile);
  const server = createServer({ config, store, clock, logger: options.logger ?? silentLogger });
  const port = await bindGrpc(server.grpc, config.grpcAddress);
  const address = `127.0.0.1:${port}`;
  const clients = makeClients(address);
  const stop = async () => {
    for (const c of Object.values(clients)) c.raw.close();
    await server.shutdown();
  };
  return {
    address,
    server,
    clock,
    dataFile,
    clients,
    stop,
    async cleanup() {
      await stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function makeClients(address: string) {
  const creds = grpc.credentials.createInsecure();
  return {
    apiServers: promisify(new ApiServerServiceClient(address, creds)),
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
