import { parseArgs } from "node:util";
import { systemClock } from "./clock.js";
import { ConfigError, defaults, loadConfig, type Config } from "./config.js";
import { createLogger } from "./log.js";
import { bindGrpc, createServer } from "./server.js";
import { openSqliteStore } from "./store/sqlite/index.js";

const HELP = `authz — OAuth 2.0 authorization service for machine-to-machine API access

Usage:
  authz serve [options]     start the gRPC server (and the HTTP gateway)
  authz --help

Options (each also read from the environment variable shown):
  --data-file PATH        SQLite file, or :memory:           AUTHZ_DATA_FILE     (default ${defaults.dataFile})
  --grpc-address H:P      gRPC listen address                AUTHZ_GRPC_ADDRESS  (default ${defaults.grpcAddress})
  --http-address H:P      HTTP gateway listen address        AUTHZ_HTTP_ADDRESS  (default ${defaults.httpAddress})
  --no-gateway            gRPC only (for Envoy deployments)  AUTHZ_GATEWAY=false
  --issuer URL            token issuer and metadata base     AUTHZ_ISSUER        (default http://<http-address>)
  --log-level LEVEL       debug, info, warn, error           AUTHZ_LOG_LEVEL     (default ${defaults.logLevel})
`;

/** Flags win over environment variables, which win over defaults. */
export function configFromArgs(args: string[], env: NodeJS.ProcessEnv): Partial<Config> {
  const { values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "data-file": { type: "string" },
      "grpc-address": { type: "string" },
      "http-address": { type: "string" },
      "no-gateway": { type: "boolean" },
      issuer: { type: "string" },
      "log-level": { type: "string" },
    },
  });
  return {
    dataFile: values["data-file"] ?? env.AUTHZ_DATA_FILE,
    grpcAddress: values["grpc-address"] ?? env.AUTHZ_GRPC_ADDRESS,
    httpAddress: values["http-address"] ?? env.AUTHZ_HTTP_ADDRESS,
    gateway: values["no-gateway"] ? false : env.AUTHZ_GATEWAY === undefined ? undefined : env.AUTHZ_GATEWAY !== "false",
    issuer: values.issuer ?? env.AUTHZ_ISSUER,
    logLevel: (values["log-level"] ?? env.AUTHZ_LOG_LEVEL) as Config["logLevel"] | undefined,
  };
}

async function serve(args: string[]): Promise<void> {
  const config = loadConfig(configFromArgs(args, process.env));
  const logger = createLogger(config.logLevel);
  const store = openSqliteStore(config.dataFile);
  const server = createServer({ config, store, clock: systemClock, logger });
  const port = await bindGrpc(server.grpc, config.grpcAddress);
  logger.info("grpc listening", { address: config.grpcAddress, port, dataFile: config.dataFile });

  const stop = (signal: string) => {
    logger.info("shutting down", { signal });
    server.shutdown().then(() => {
      logger.info("stopped");
      process.exit(0);
    });
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
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
  process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `authz: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
