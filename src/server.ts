import * as grpc from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import { descriptorBytes, SERVICE_NAMES } from "./descriptor.js";
import { createApiServers } from "./domain/api_servers.js";
import { apiServerService } from "./grpc/api_server_service.js";
import { loggingInterceptor } from "./grpc/interceptors.js";
import type { Logger } from "./log.js";
import type { Store } from "./store/repositories.js";

export interface Deps {
  config: Readonly<Config>;
  store: Store;
  clock: Clock;
  logger: Logger;
}

export interface AuthzServer {
  grpc: grpc.Server;
  health: HealthImplementation;
  domain: Domain;
  /** Stops taking calls, lets in-flight ones finish (up to the grace period), then closes the store. */
  shutdown(): Promise<void>;
}

export type Domain = ReturnType<typeof createDomain>;

/** The domain services, each given only what it needs. */
function createDomain({ store, clock }: Deps) {
  return {
    apiServers: createApiServers({ store, clock }),
  };
}

/**
 * The composition root: wires store, domain, gRPC services, health and
 * reflection. Binds nothing; main.ts (or a test) binds with `bindGrpc`.
 */
export function createServer(deps: Deps): AuthzServer {
  const { config, logger } = deps;
  const domain = createDomain(deps);
  const server = new grpc.Server({
    interceptors: [loggingInterceptor(logger)],
    "grpc.max_receive_message_length": 1 << 20, // 1 MiB: no request here is larger
    "grpc.keepalive_permit_without_calls": 1,
  });
  const services = [apiServerService(domain.apiServers, logger)];
  for (const s of services) server.addService(s.definition, s.implementation as unknown as grpc.UntypedServiceImplementation);

  const health = new HealthImplementation({ "": "SERVING", ...Object.fromEntries(SERVICE_NAMES.map((n) => [n, "SERVING"])) });
  health.addToServer(server);
  new ReflectionService(loadFileDescriptorSetFromBuffer(descriptorBytes())).addToServer(server);

  let closing: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      health.setStatus("", "NOT_SERVING");
      const force = setTimeout(() => {
        logger.warn("shutdown grace period over; cancelling in-flight calls");
        server.forceShutdown();
      }, config.shutdownGraceSeconds * 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        deps.store.close();
        resolve();
      });
    });
    return closing;
  }

  return { grpc: server, health, domain, shutdown };
}

/** Binds the gRPC server (insecure: run it on loopback or behind Envoy/TLS); resolves the bound port. */
export function bindGrpc(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}
