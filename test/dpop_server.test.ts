import * as grpc from "@grpc/grpc-js";
import { calculateJwkThumbprint, decodeJwt } from "jose";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SenderConstraint } from "../gen/authz/v1/api_server.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import { createDpopProof, generateDpopKey } from "../sdk/src/dpop.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

/**
 * DPoP beyond the HTTP suite (issue 17): over gRPC (a proof in the `dpop`
 * metadata key, for the token endpoint's URL and POST), and server nonces
 * (RFC 9449 §8) on a server that requires them.
 */
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

describe("server nonces (dpopNonce)", () => {
  let n: TestServer;
  beforeAll(async () => {
    n = await startTestServer({ config: { dpopNonce: true } });
  });
  afterAll(() => n.cleanup());

  test("a proof without the nonce is 400 use_dpop_nonce with a DPoP-Nonce header; with it, the token is issued; openid-client retries by itself", async () => {
    const api = await createApiServer(n);
    const { client, secret } = await createClient(n);
    await grant(n, client.clientId, api.id, ["orders:read"]);
    const htu = `${n.config.issuer}/oauth/token`;
    const key = await generateDpopKey();
    const post = (dpop: string) =>
      fetch(`${n.httpUrl}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", dpop },
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: client.clientId, client_secret: secret, audience: api.identifier }),
      });
    const first = await post(await createDpopProof(key, { htm: "POST", htu }));
    expect(first.status).toBe(400);
    expect(((await first.json()) as { error: string }).error).toBe("use_dpop_nonce");
    const nonce = first.headers.get("dpop-nonce");
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const stale = await post(await createDpopProof(key, { htm: "POST", htu, nonce: "AAAAAAAAAAAAAAAAAAAAAA" }));
    expect([stale.status, stale.headers.get("dpop-nonce")]).toEqual([400, nonce]);
    const second = await post(await createDpopProof(key, { htm: "POST", htu, nonce: nonce! }));
    expect(second.status).toBe(200);
    expect(((await second.json()) as { token_type: string }).token_type).toBe("DPoP");

    const config = await oidc.discovery(new URL(n.httpUrl), client.clientId, secret, undefined, { algorithm: "oauth2", execute: [oidc.allowInsecureRequests] });
    const handle = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair("ES256"));
    // openid-client sees use_dpop_nonce, keeps the nonce and is expected to retry once (its documented behaviour).
    const tokens = await oidc.clientCredentialsGrant(config, { audience: api.identifier }, { DPoP: handle }).catch(async (err: unknown) => {
      if (!oidc.ResponseBodyError || !(err instanceof oidc.ResponseBodyError) || err.error !== "use_dpop_nonce") throw err;
      return oidc.clientCredentialsGrant(config, { audience: api.identifier }, { DPoP: handle });
    });
    expect(tokens.token_type).toBe("dpop");
  });
});
