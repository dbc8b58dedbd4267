import * as grpc from "@grpc/grpc-js";
import { calculateJwkThumbprint, decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SenderConstraint } from "../gen/authz/v1/api_server.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import { createDpopProof, generateDpopKey } from "../sdk/src/dpop.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

/** DPoP over gRPC (issue 17): a proof in the `dpop` metadata key, for the token endpoint's URL and POST. */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.cleanup());

async function fixture(apiFields = {}) {
  const api = await createApiServer(t, apiFields);
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, api.id, ["orders:read"]);
  return { api, request: IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }) };
}
const metadataWith = (proof: string) => {
  const md = new grpc.Metadata();
  md.set("dpop", proof);
  return md;
};

describe("IssueToken with a DPoP proof", () => {
  test("a valid proof binds the token (token_type DPoP, cnf.jkt); the same proof again is INVALID_ARGUMENT invalid_dpop_proof", async () => {
    const { request } = await fixture();
    const key = await generateDpopKey();
    const proof = await createDpopProof(key, { htm: "POST", htu: `${t.config.issuer}/oauth/token` });
    const res = await t.clients.tokens.issueToken(request, metadataWith(proof));
    expect(res.tokenType).toBe("DPoP");
    expect(decodeJwt(res.accessToken).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.publicJwk) });
    const replay = await rpcError(t.clients.tokens.issueToken(request, metadataWith(proof)));
    expect(replay.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(replay.details).toMatch(/DPoP/);
  });

  test("an API server with sender_constraint DPOP refuses a typed request without a proof", async () => {
    const { request } = await fixture({ senderConstraint: SenderConstraint.SENDER_CONSTRAINT_DPOP });
    expect((await rpcError(t.clients.tokens.issueToken(request))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});
