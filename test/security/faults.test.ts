import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateApiServerRequest } from "../../gen/authz/v1/api_server.js";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";
import { createLogger } from "../../src/log.js";
import { basic, createApiServer, createClient, grant } from "../helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "../helpers/server.js";

/** Store faults are 503 / UNAVAILABLE for what needs the store, never 401, 500 or a crash (issue 10, item 12). */
let t: TestServer;
const logs: Array<Record<string, unknown>> = [];
const waiting: Array<{ msg: string; resolve: () => void }> = [];
beforeAll(async () => {
  t = await startTestServer({
    store: "sqlite", // breaks the SQLite file under the service (PostgreSQL outages: test/replicas)
    logger: createLogger("info", (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      logs.push(parsed);
      for (const w of waiting.filter((w) => w.msg === parsed.msg)) w.resolve();
    }),
  });
});
afterAll(() => t.cleanup());

/** Resolves when a log line with this message has been (or is) written. */
function logged(msg: string): Promise<void> {
  if (logs.some((l) => l.msg === msg)) return Promise.resolve();
  return new Promise((resolve) => waiting.push({ msg, resolve }));
}

async function fixture() {
  const api = await createApiServer(t);
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, api.id, ["orders:read"]);
  const issue = () => t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }));
  await issue(); // the client, its grant and the API server are in memory now
  return { api, client, secret, issue };
}

describe("disk full", () => {
  test("a write that needs room is UNAVAILABLE, not INTERNAL; issuance goes on from memory", async () => {
    const f = await fixture();
    const db = t.sqlite!;
    db.exec("CREATE TABLE filler (b BLOB)");
    db.pragma(`max_page_count = ${Number(db.pragma("page_count", { simple: true }))}`);
    try {
      for (;;) db.prepare("INSERT INTO filler VALUES (randomblob(4000))").run();
    } catch (err) {
      expect((err as { code: string }).code).toBe("SQLITE_FULL");
    }
    const permissions = Array.from({ length: 200 }, (_, i) => ({ value: `p${i}:${"x".repeat(240)}`, description: "" })); // ~50 KB: needs pages the file cannot have
    const full = await rpcError(t.clients.apiServers.createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "big", identifier: "https://full.example.com", permissions } })));
    expect(full.code).toBe(grpc.status.UNAVAILABLE);
    expect((await f.issue()).accessToken).toBeTruthy();
    db.exec("DROP TABLE filler");
    db.pragma("max_page_count = 1073741823");
  });

  test("when the store refuses every write, the usage counters are logged and kept, never crash the process, and are written once it accepts again", async () => {
    const f = await fixture();
    const db = t.sqlite!;
    db.pragma("query_only = ON"); // every write now fails (SQLITE_READONLY), as on a full disk
    for (let i = 0; i < 5; i++) expect((await f.issue()).accessToken).toBeTruthy();
    await logged("flush issuance counters failed");
    expect(logs.find((l) => l.msg === "flush issuance counters failed")).toMatchObject({ level: "error" });
    expect((await f.issue()).accessToken).toBeTruthy(); // alive and serving
    db.pragma("query_only = OFF");
    await t.server.domain.clients.flushUsage();
    const stored = db.prepare("SELECT tokens_issued FROM clients WHERE client_id = ?").pluck().get(f.client.clientId);
    expect(stored).toBe(7); // the first issue, five while writes failed, one after
  });
});

describe("the store gone", () => {
  test("what needs the store is 503 temporarily_unavailable with Retry-After (HTTP) or UNAVAILABLE (gRPC); what memory holds keeps working", async () => {
    const cached = await fixture();
    const { client: uncached, secret: uncachedSecret } = await createClient(t);
    // The cached client's grant is warm; the uncached client is not in memory.
    await t.store.close(); // both connections: the store is gone

    // Hot path: issuance for a client, grant and API server in memory.
    expect((await cached.issue()).accessToken).toBeTruthy();

    // A client not in memory: the store is needed, so 503 — never 401 invalid_client.
    const http = await fetch(`${t.httpUrl}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(uncached.clientId, uncachedSecret) },
      body: `grant_type=client_credentials&audience=${encodeURIComponent(cached.api.identifier)}`,
    });
    expect(http.status).toBe(503);
    expect(http.headers.get("retry-after")).toBe("1");
    expect(((await http.json()) as { error: string }).error).toBe("temporarily_unavailable");
    const typed = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: uncached.clientId, clientSecret: uncachedSecret }, audience: cached.api.identifier })));
    expect(typed.code).toBe(grpc.status.UNAVAILABLE);

    // A management write: UNAVAILABLE, and over HTTP 503 with a google.rpc.Status body.
    const write = await rpcError(t.clients.apiServers.createApiServer(CreateApiServerRequest.fromPartial({ apiServer: { name: "x", identifier: "https://down.example.com" } })));
    expect(write.code).toBe(grpc.status.UNAVAILABLE);
    const rest = await fetch(`${t.httpUrl}/v1/api-servers`, { method: "POST", headers: { authorization: `Bearer ${await t.adminToken()}`, "content-type": "application/json" }, body: JSON.stringify({ name: "x", identifier: "https://down.example.com" }) });
    expect(rest.status).toBe(503);
    expect(((await rest.json()) as { code: number }).code).toBe(14);

    // Revocation needs the store.
    const { accessToken } = await cached.issue();
    const revoked = await fetch(`${t.httpUrl}/oauth/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `token=${accessToken}&client_id=${cached.client.clientId}&client_secret=${cached.secret}` });
    expect(revoked.status).toBe(503);
    expect(((await revoked.json()) as { error: string }).error).toBe("temporarily_unavailable");
    // Nothing of it reached the process as a crash, and no call was logged as INTERNAL.
    expect(logs.filter((l) => l.msg === "rpc" && l.code === "INTERNAL")).toEqual([]);
  });
});
