import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { expect, test } from "vitest";
import { defaults } from "../src/config.js";
import { DESCRIPTOR_PATH, descriptorRegistry } from "../src/descriptor.js";
import { transcoderSettings, UPSTREAM_TIMEOUT_MS } from "../src/gateway/settings.js";

/** Envoy's transcoder config and the embedded gateway's settings must not drift apart. */
const envoy = parse(readFileSync(new URL("../envoy/envoy.yaml", import.meta.url), "utf8"));
const filters = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters as Array<{ name: string; typed_config: any }>;
const transcoder = filters.find((f) => f.name === "envoy.filters.http.grpc_json_transcoder")!.typed_config;

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value;
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), snakeKeys(v)]));
}

test("transcoder settings equal the gateway's, key by key", () => {
  const { services, protoDescriptor, ...rest } = transcoderSettings;
  const { "@type": _type, services: envoyServices, proto_descriptor, ...envoyRest } = transcoder;
  expect(envoyRest).toEqual(snakeKeys(rest));
  expect(envoyServices).toEqual([...services]);
  expect(proto_descriptor).toBe(protoDescriptor);
});

test("every authz.v1 service in the descriptor is transcoded", () => {
  const inDescriptor = [...descriptorRegistry()].filter((d) => d.kind === "service" && d.typeName.startsWith("authz.v1.")).map((d) => d.typeName as string);
  expect([...transcoder.services].sort()).toEqual(inDescriptor.sort());
});

test("the Lua filter runs before the transcoder and rewrites :status from x-http-code", () => {
  const names = filters.map((f) => f.name);
  expect(names.indexOf("envoy.filters.http.lua")).toBeLessThan(names.indexOf("envoy.filters.http.grpc_json_transcoder"));
  expect(names[names.length - 1]).toBe("envoy.filters.http.router");
  const lua = filters.find((f) => f.name === "envoy.filters.http.lua")!.typed_config.default_source_code.inline_string as string;
  expect(lua).toContain('h:replace(":status", code)');
  expect(lua).toContain('h:remove("x-http-code")');
});

test("the route timeout equals the gateway's upstream deadline", () => {
  const routes = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  const authz = routes.find((r: { match: { prefix: string } }) => r.match.prefix === "/authz.v1.");
  expect(authz.route.timeout).toBe(`${UPSTREAM_TIMEOUT_MS / 1000}s`);
});

const clusters = envoy.static_resources.clusters as Array<any>;
const clusterNamed = (name: string) => clusters.find((c) => c.name === name);
const endpointOf = (cluster: any) => cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address as { address: string; port_value: number };
const compose = parse(readFileSync(new URL("../envoy/docker-compose.yaml", import.meta.url), "utf8"));
const flag = (command: string[], name: string) => command[command.indexOf(name) + 1];

test("the gRPC cluster is HTTP/2, health-checked over gRPC, every replica of the compose service on the service's default gRPC port", () => {
  const cluster = clusterNamed("authz_grpc");
  expect(cluster.type).toBe("STRICT_DNS");
  const endpoint = endpointOf(cluster);
  expect(endpoint.address).toBe("authz");
  expect(compose.services[endpoint.address]).toBeDefined();
  expect(endpoint.port_value).toBe(Number(defaults.grpcAddress.split(":")[1]));
  expect(cluster.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options).toEqual({});
  expect(cluster.health_checks[0].grpc_health_check).toEqual({});
});

test("docker compose: replicas on one PostgreSQL, gRPC only on the cluster's port, the console on the console cluster's port, Envoy with the gateway's descriptor", () => {
  const envoyDir = fileURLToPath(new URL("../envoy/", import.meta.url));
  const mount = (compose.services.envoy.volumes as string[]).map((v) => v.split(":")).find(([, inside]) => inside === transcoderSettings.protoDescriptor);
  expect(mount, "descriptor mount").toBeDefined();
  expect(resolve(envoyDir, mount![0]!)).toBe(DESCRIPTOR_PATH);
  expect(compose.services.envoy.image).toMatch(/^envoyproxy\/envoy:v\d+\.\d+\.\d+$/);
  const authz = compose.services.authz;
  expect(authz.deploy.replicas).toBeGreaterThanOrEqual(2);
  expect(authz.environment.AUTHZ_DATABASE_URL).toMatch(/^postgres:\/\/authz:.*@postgres:5432\/authz$/);
  expect(authz.environment.AUTHZ_KEY_ENCRYPTION_KEY).toMatch(/:\?/); // required, never defaulted
  const command = authz.command as string[];
  expect(command).toContain("--no-gateway");
  expect(flag(command, "--grpc-address")).toBe(`0.0.0.0:${endpointOf(clusterNamed("authz_grpc")).port_value}`);
  expect(flag(command, "--console-address")).toBe(`0.0.0.0:${endpointOf(clusterNamed("authz_console")).port_value}`);
});

test("/console is routed to the console cluster with the transcoder disabled, ahead of every API route", () => {
  const routes = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  expect(routes[0].match).toEqual({ prefix: "/console" });
  expect(routes[0].route.cluster).toBe("authz_console");
  expect(routes[0].typed_per_filter_config["envoy.filters.http.grpc_json_transcoder"]).toEqual({ "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true });
});

test("the image's default command serves gRPC only, on the cluster's port", () => {
  const dockerfile = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");
  const cmd = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)![1]!) as string[];
  expect(cmd).toContain("--no-gateway");
  expect(flag(cmd, "--grpc-address")).toBe(`0.0.0.0:${endpointOf(clusterNamed("authz_grpc")).port_value}`);
});
