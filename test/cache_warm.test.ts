import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, expect, test } from "vitest";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

/**
 * Issue 12, item 5: lookup caches keep every live client, grant and API
 * server, so issuance costs the same whatever was asked for before. A replica
 * reads them all at start-up (in the background, within the cache budget):
 * the first token for every client is served from memory.
 */
let t: TestServer | undefined;
afterAll(async () => {
  await t?.cleanup();
  if (t) rmSync(dirname(t.dataFile), { recursive: true, force: true });
});

test("after a restart every client, grant and API server is in memory before it is asked for: first tokens load nothing", async () => {
  const first = await startTestServer();
  const apis = [await createApiServer(first), await createApiServer(first)];
  const fixtures: Array<{ clientId: string; secret: string; audience: string }> = [];
  for (let i = 0; i < 24; i++) {
    const { client, secret } = await createClient(first);
    const api = apis[i % 2]!;
    await grant(first, client.clientId, api.id, ["orders:read"]);
    fixtures.push({ clientId: client.clientId, secret, audience: api.identifier });
  }
  await first.stop();
  t = await startTestServer({ dataFile: first.dataFile, kek: first.kek, clock: first.clock, config: { adminClientId: first.adminClientId, adminClientSecret: first.adminClientSecret } });
  const { clients, grants, apiServers } = t.server.domain;
  const stats = () => ({ clients: clients.cacheStats(), grants: grants.cacheStats(), apiServers: apiServers.cacheStats() });
  const before = stats();
  expect(before.clients.entries).toBeGreaterThanOrEqual(25); // the 24 and the admin
  expect(before.grants.entries).toBeGreaterThanOrEqual(25);
  expect(before.apiServers.entries).toBeGreaterThanOrEqual(3); // the two and the management API server

  for (const f of fixtures) {
    const res = await fetch(`${t.httpUrl}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: f.clientId, client_secret: f.secret, audience: f.audience }).toString(),
    });
    expect(res.status).toBe(200);
  }
  const after = stats();
  expect(after.clients.misses).toBe(before.clients.misses);
  expect(after.grants.misses).toBe(before.grants.misses);
  expect(after.apiServers.misses).toBe(before.apiServers.misses);
  expect(after.clients.hits - before.clients.hits).toBeGreaterThanOrEqual(fixtures.length);
});
