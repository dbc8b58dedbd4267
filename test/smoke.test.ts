import * as grpc from "@grpc/grpc-js";
import { CreateApiServerRequest } from "../gen/authz/v1/api_server.js";
import { afterAll, beforeAll, expect, test } from "vitest";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.cleanup());

test("creates and reads an API server", async () => {
  const { apiServer } = await t.clients.apiServers.createApiServer(
    CreateApiServerRequest.fromPartial({
      apiServer: { name: "Orders", identifier: "https://orders.example.com", permissions: [{ value: "orders:read" }] },
    }),
  );
  expect(apiServer?.id).toMatch(/^as_[A-Za-z0-9_-]{22}$/);
  const got = await t.clients.apiServers.getApiServer({ id: apiServer!.id });
  expect(got.apiServer?.identifier).toBe("https://orders.example.com");
  const err = await rpcError(t.clients.apiServers.getApiServer({ id: "as_nope" }));
  expect(err.code).toBe(grpc.status.NOT_FOUND);
});
