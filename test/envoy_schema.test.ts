// envoy/envoy.yaml against Envoy v1.34's own schema (third_party/envoy: the v3
// API as a descriptor set), since no Envoy binary runs here: a strict protobuf
// JSON parse of the whole Bootstrap, every typed_config Any resolved, catches a
// misspelled field, a wrong type or enum value, or an unknown @type anywhere —
// in sections the gateway parity test does not mirror (clusters, health
// checks, routes, listeners). The validate rules Envoy also enforces
// (required fields, ranges) are checked for the fields that carry them.
import { createFileRegistry, fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, test } from "vitest";

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(new URL("../third_party/envoy/envoy-api-v1.34.binpb", import.meta.url))));
const Bootstrap = registry.getMessage("envoy.config.bootstrap.v3.Bootstrap")!;
const yamlText = readFileSync(new URL("../envoy/envoy.yaml", import.meta.url), "utf8");

const parseStrict = (json: JsonValue) => fromJson(Bootstrap, json, { registry, ignoreUnknownFields: false });
const clone = (): any => parse(yamlText);

test("envoy/envoy.yaml is a valid envoy.config.bootstrap.v3.Bootstrap, strictly", () => {
  const bootstrap = parseStrict(clone()) as any;
  expect(bootstrap.staticResources.clusters.map((c: { name: string }) => c.name)).toEqual(["authz_grpc", "authz_console"]);
  // The Any payloads were resolved, not kept as opaque bytes of an unknown type.
  const hcm = bootstrap.staticResources.listeners[0].filterChains[0].filters[0].configType.value;
  expect(hcm.typeUrl).toBe("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
  expect(hcm.value.length).toBeGreaterThan(100);
});

describe("the check has teeth: a mutated copy is refused", () => {
  const hcmOf = (c: any) => c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const transcoderOf = (c: any) => hcmOf(c).http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.grpc_json_transcoder").typed_config;
  const mutations: Array<[string, (c: any) => void]> = [
    ["an unknown field in the transcoder", (c) => (transcoderOf(c).print_option = {})],
    ["a misspelled cluster field", (c) => (c.static_resources.clusters[0].conect_timeout = "1s")],
    ["a bad enum value", (c) => (c.static_resources.clusters[0].lb_policy = "ROUND_ROBBIN")],
    ["a misspelled @type", (c) => (hcmOf(c)["@type"] = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManagr")],
    ["a string for a UInt32Value", (c) => (transcoderOf(c).max_request_body_size = "big")],
    ["a bad duration", (c) => (c.static_resources.clusters[0].health_checks[0].interval = "2 seconds")],
    ["an unknown field in a per-route config", (c) => (hcmOf(c).route_config.virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.grpc_json_transcoder"].disable = true)],
  ];
  for (const [what, mutate] of mutations) {
    test(what, () => {
      const copy = clone();
      mutate(copy);
      expect(() => parseStrict(copy)).toThrow();
    });
  }
});

test("the fields Envoy's validation requires are set: ports in range, cluster names matching their load assignment, positive timeouts", () => {
  const config = clone();
  for (const cluster of config.static_resources.clusters) {
    expect(cluster.load_assignment.cluster_name).toBe(cluster.name);
    for (const e of cluster.load_assignment.endpoints.flatMap((x: any) => x.lb_endpoints)) {
      const port = e.endpoint.address.socket_address.port_value;
      expect(port > 0 && port <= 65535).toBe(true);
    }
    for (const h of cluster.health_checks) {
      expect(parseFloat(h.timeout)).toBeGreaterThan(0);
      expect(parseFloat(h.interval)).toBeGreaterThan(0);
      expect(h.unhealthy_threshold).toBeGreaterThan(0);
      expect(h.healthy_threshold).toBeGreaterThan(0);
    }
  }
  const routes = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  const names = new Set(config.static_resources.clusters.map((c: { name: string }) => c.name));
  for (const r of routes) expect(names.has(r.route.cluster), r.match.prefix).toBe(true);
});
