import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";
import { createLogger, silentLogger } from "../../src/log.js";
import { createReadiness } from "../../src/ops/readiness.js";
import { createApiServer, createClient, grant } from "../helpers/oauth.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { healthStatus, scrape, series, startOps } from "./helpers.js";

/** Readiness on /readyz and the gRPC health service (issue 15, item 4). */
let t: TestServer;
let ops: Awaited<ReturnType<typeof startOps>>;
const logs: Array<Record<string, unknown>> = [];
beforeAll(async () => {
  // SQLite: the test makes the store refuse (PostgreSQL outages: test/replicas).
  t = await startTestServer({ store: "sqlite", logger: createLogger("debug", (line) => logs.push(JSON.parse(line) as Record<string, unknown>)) });
  ops = await startOps(t);
});
afterAll(async () => {
  await ops.close();
  await t.cleanup();
});

const SERVING = 1;
const NOT_SERVING = 2;
const readyz = async () => {
  const res = await fetch(`${ops.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string } };
};

describe("readiness follows the store", () => {
  test("ready once started; not ready (503, health NOT_SERVING for every service name, authz_ready 0) while the store refuses; ready again once it answers", async () => {
    expect(await readyz()).toEqual({ status: 200, body: { status: "ready" } });
    expect(await healthStatus(t.address)).toBe(SERVING);
    expect((await fetch(`${ops.url}/healthz`)).status).toBe(200);

    const api = await createApiServer(t);
    const { client, secret } = await createClient(t);
    await grant(t, client.clientId, api.id, ["orders:read"]);
    const issue = () => t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }));
    await issue();

    t.sqlite!.pragma("query_only = ON"); // the store refuses every write transaction, as a read-only or failing disk would
    expect(await t.server.operations.readiness.check()).toBe("store_unreachable");
    expect(await readyz()).toEqual({ status: 503, body: { status: "store_unreachable" } });
    expect(await healthStatus(t.address)).toBe(NOT_SERVING);
    expect(await healthStatus(t.address, "authz.v1.TokenService")).toBe(NOT_SERVING);
    expect((await scrape(ops.url)).get(series("authz_ready"))).toBe(0);
    expect((await fetch(`${ops.url}/healthz`)).status).toBe(200); // alive all the same
    expect(logs.some((l) => l.msg === "not ready: the store does not answer" && l.level === "warn")).toBe(true);
    // What memory holds is still served to whoever still calls.
    expect((await issue()).accessToken).toBeTruthy();

    t.sqlite!.pragma("query_only = OFF");
    expect(await t.server.operations.readiness.check()).toBe("ready");
    expect(await readyz()).toEqual({ status: 200, body: { status: "ready" } });
    expect(await healthStatus(t.address)).toBe(SERVING);
    expect(await healthStatus(t.address, "authz.v1.TokenService")).toBe(SERVING);
    expect((await scrape(ops.url)).get(series("authz_ready"))).toBe(1);
    expect(logs.some((l) => l.msg === "ready again: the store answers")).toBe(true);
  });

  test("a store that does not answer within the probe timeout is unreachable too", async () => {
    const readiness = createReadiness();
    let answer: (() => void) | undefined;
    const changes: boolean[] = [];
    await readiness.started({ probe: () => Promise.resolve(), intervalMs: 600_000, timeoutMs: 20, logger: silentLogger, onChange: (ready) => changes.push(ready) });
    expect(readiness.state()).toBe("ready");
    const hung = new Promise<void>((resolve) => (answer = resolve));
    const slow = createReadiness();
    await slow.started({ probe: () => hung, intervalMs: 600_000, timeoutMs: 20, logger: silentLogger, onChange: () => {} });
    expect(slow.state()).toBe("store_unreachable");
    answer!();
    slow.stop();
    readiness.stop();
    expect(changes).toEqual([true, false]);
  });
});

describe("readiness before start and after shutdown", () => {
  test("starting until the server is built; stopping (503, NOT_SERVING) from the moment shutdown begins", async () => {
    expect(createReadiness().state()).toBe("starting");
    expect(createReadiness().ready()).toBe(false);
    const other = await startTestServer();
    const otherOps = await startOps(other);
    try {
      expect((await fetch(`${otherOps.url}/readyz`)).status).toBe(200);
      const stopping = other.server.shutdown();
      expect(other.server.operations.readiness.state()).toBe("stopping");
      expect(await (await fetch(`${otherOps.url}/readyz`)).json()).toEqual({ status: "stopping" });
      await stopping;
      // The store is closed now; a probe does not bring it back.
      expect(await other.server.operations.readiness.check()).toBe("stopping");
    } finally {
      await otherOps.close();
      await other.cleanup();
    }
  });
});
