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

test("the cluster is HTTP/2, health-checked over gRPC, on the service's default gRPC port", () => {
  const cluster = envoy.static_resources.clusters[0];
  const endpoint = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  expect(`${endpoint.address}:${endpoint.port_value}`).toBe(defaults.grpcAddress);
  expect(cluster.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options).toEqual({});
  expect(cluster.health_checks[0].grpc_health_check).toEqual({});
});

test("docker compose mounts the gateway's own descriptor file where Envoy reads it, and runs the service gRPC-only on the cluster's port", () => {
  const compose = parse(readFileSync(new URL("../envoy/docker-compose.yaml", import.meta.url), "utf8"));
  const envoyDir = fileURLToPath(new URL("../envoy/", import.meta.url));
  const mount = (compose.services.envoy.volumes as string[]).map((v) => v.split(":")).find(([, inside]) => inside === transcoderSettings.protoDescriptor);
  expect(mount, "descriptor mount").toBeDefined();
  expect(resolve(envoyDir, mount![0]!)).toBe(DESCRIPTOR_PATH);
  expect(compose.services.envoy.image).toMatch(/^envoyproxy\/envoy:v\d+\.\d+\.\d+$/);
  const command = compose.services.authz.command as string[];
  expect(command).toContain("--no-gateway");
  const cluster = envoy.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  expect(command[command.indexOf("--grpc-address") + 1]).toBe(`${cluster.address}:${cluster.port_value}`);
});

test("the image's default command serves gRPC only, on the cluster's port", () => {
  const dockerfile = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");
  const cmd = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)![1]!) as string[];
  const cluster = envoy.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  expect(cmd).toContain("--no-gateway");
  expect(cmd[cmd.indexOf("--grpc-address") + 1]).toBe(`0.0.0.0:${cluster.port_value}`);
});
