import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createAuthzClients, TokenSource } from "../sdk/src/index.js";
import { MANAGEMENT_API_SERVER_ID, MANAGEMENT_AUDIENCE } from "../src/domain/constants.js";
import { createClient, grant } from "./helpers/oauth.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

/**
 * The management API over gRPC with a DPoP-bound token (RFC 9449 §7.1), as
 * the SDK sends one: `authorization: DPoP <token>` and a proof per call with
 * htm POST and htu `<issuer>/<package.Service>/<Method>`. Its own server:
 * the proofs' iat follows the real clock, which no other test here moves.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.cleanup());

test("over gRPC, the SDK's DPoP interceptor is served; the same token as Bearer, or with another call's proof, is UNAUTHENTICATED", async () => {
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, MANAGEMENT_API_SERVER_ID, ["clients:read"]);
  const source = new TokenSource({ address: t.address, issuer: t.config.issuer, clientId: client.clientId, clientSecret: secret, audience: MANAGEMENT_AUDIENCE, dpop: true });
  const api = createAuthzClients({ address: t.address, interceptors: [source.grpcInterceptor(undefined, { baseUrl: t.config.issuer })] });
  const token = await source.token();
  const asBearer = createAuthzClients({ address: t.address, token: async () => token });
  const otherCall = createAuthzClients({
    address: t.address,
    interceptors: [
      (options, next) =>
        new grpc.InterceptingCall(next(options), {
          start: (metadata, listener, proceed) => {
            void source.proofFor({ htm: "POST", htu: `${t.config.issuer}/authz.v1.ClientService/DeleteClient`, accessToken: token }).then((dpop) => {
              metadata.set("authorization", `DPoP ${token}`);
              metadata.set("dpop", dpop);
              proceed(metadata, listener);
            });
          },
        }),
    ],
  });
  try {
    expect((await api.clients.listClients({ pageSize: 1 })).clients).toHaveLength(1);
    expect((await api.clients.getClient({ clientId: client.clientId })).client?.clientId).toBe(client.clientId); // a fresh proof per call
    for (const refused of [asBearer, otherCall]) {
      const err = (await refused.clients.listClients({ pageSize: 1 }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(String(err.metadata.get("www-authenticate")[0])).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
    }
  } finally {
    for (const c of [api, asBearer, otherCall]) c.close();
    source.close();
  }
});
