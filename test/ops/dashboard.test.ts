import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { scrape, startOps } from "./helpers.js";

/** envoy/grafana-dashboard.json only charts what the service exports. */
let t: TestServer;
let ops: Awaited<ReturnType<typeof startOps>>;
beforeAll(async () => {
  t = await startTestServer();
  ops = await startOps(t);
});
afterAll(async () => {
  await ops.close();
  await t.cleanup();
});

test("every metric the dashboard queries is one /metrics serves (declared, if it has no sample yet)", async () => {
  const dashboard = JSON.parse(readFileSync(new URL("../../envoy/grafana-dashboard.json", import.meta.url), "utf8")) as { panels: Array<{ targets?: Array<{ expr: string }> }>; templating: { list: Array<{ query?: unknown }> } };
  const exprs = [...dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr)), ...dashboard.templating.list.map((v) => JSON.stringify(v.query ?? ""))];
  const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:authz|process|nodejs)_[a-z0-9_]+)\s*\{/g)].map((m) => m[1]!)));
  expect(queried.size).toBeGreaterThan(15);
  await scrape(ops.url); // parses
  const text = await (await fetch(`${ops.url}/metrics`)).text();
  const declared = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])));
  expect([...queried].filter((name) => !declared.has(name))).toEqual([]);
});
