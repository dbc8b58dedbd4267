import * as grpc from "@grpc/grpc-js";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateApiServerRequest } from "../../gen/authz/v1/api_server.js";
import { TokenEndpointAuthMethod } from "../../gen/authz/v1/client.js";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";
import type { ManualClock } from "../../src/clock.js";
import { createLogger } from "../../src/log.js";
import { JWT_BEARER_ASSERTION } from "../../src/oauth/client_auth.js";
import { createApiServer, createClient, grant } from "../helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
const logs: Array<Record<string, unknown>> = [];
beforeAll(async () => {
  t = await startTestServer({ logger: createLogger("debug", (l) => logs.push(JSON.parse(l))) });
});
afterAll(() => t.cleanup());
const clock = () => t.clock as ManualClock;
const nowSeconds = () => Math.floor(t.clock.now() / 1000);

describe("private_key_jwt assertions (issue 10, item 13)", () => {
  async function assertionClient() {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const api = await createApiServer(t);
    const { client } = await createClient(t, { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT, jwks: { keys: [{ ...(await exportJWK(publicKey)), alg: "ES256" }] } });
    await grant(t, client.clientId, api.id, ["orders:read"]);
    const sign = (jti: string, exp: number) => new SignJWT({ jti }).setProtectedHeader({ alg: "ES256" }).setIssuer(client.clientId).setSubject(client.clientId).setAudience(t.config.issuer).setIssuedAt(nowSeconds()).setExpirationTime(exp).sign(privateKey);
    const issue = async (assertion: string) => t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientAssertionType: JWT_BEARER_ASSERTION, clientAssertion: assertion }, audience: api.identifier }));
    return { sign, issue };
  }

  test("an assertion expired past the small leeway (5 s) is refused", async () => {
    const c = await assertionClient();
    expect((await rpcError(c.issue(await c.sign("late", nowSeconds() - 6)))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await c.issue(await c.sign("in-leeway", nowSeconds() - 2))).accessToken).toBeTruthy();
  });

  test("a used jti is kept as long as the assertion could be accepted: no purge reopens it for replay", async () => {
    const c = await assertionClient();
    const assertion = await c.sign("once", nowSeconds() + 10);
    await c.issue(assertion);
    clock().advance(12); // past exp, inside the leeway: the assertion itself would still pass
    await t.store.purgeExpired(nowSeconds());
    expect((await rpcError(c.issue(assertion))).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  test("an empty jti is refused (RFC 7523 §3: a unique identifier)", async () => {
    const c = await assertionClient();
    expect((await rpcError(c.issue(await c.sign("", nowSeconds() + 30)))).code).toBe(grpc.status.UNAUTHENTICATED);
  });
});

describe("smaller holes (item 16)", () => {
  test("the reserved urn:authz: prefix is compared case-insensitively, for identifiers and audiences", async () => {
    for (const apiServer of [
      { name: "x", identifier: "URN:AUTHZ:management2" },
      { name: "x", identifier: "https://ok.example.com/upper", audiences: ["Urn:Authz:x"] },
    ]) {
      const err = await rpcError(t.clients.apiServers.createApiServer(CreateApiServerRequest.fromPartial({ apiServer })));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toContain("namespace is reserved");
    }
  });

  test("a refresh-token family expires at its first token's lifetime: refreshing does not extend it", async () => {
    const api = await createApiServer(t, { allowOfflineAccess: true, refreshTokenLifetimeSeconds: 600 });
    const { client, secret } = await createClient(t, { grantTypes: ["client_credentials", "refresh_token"] });
    await grant(t, client.clientId, api.id, ["orders:read"]);
    const auth = { clientId: client.clientId, clientSecret: secret };
    const first = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: auth, audience: api.identifier }));
    clock().advance(400);
    const second = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: auth, grantType: "refresh_token", refreshToken: first.refreshToken }));
    expect(second.refreshToken).toMatch(/^rt_/);
    clock().advance(300); // 700 s after the family began: past its 600 s
    const late = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: auth, grantType: "refresh_token", refreshToken: second.refreshToken })));
    expect(late.code).toBe(grpc.status.INVALID_ARGUMENT); // invalid_grant
  });

  test("an HTTP client that goes away mid-request is no error-level fault", async () => {
    const url = new URL(t.httpUrl);
    const socket = connect(Number(url.port), url.hostname);
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("POST /oauth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\ngrant_type=client");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.destroy();
    await closed;
    // The server has seen the close once a later request on a fresh connection is answered.
    expect((await fetch(`${t.httpUrl}/.well-known/jwks.json`)).status).toBe(200);
    expect(logs.filter((l) => l.level === "error")).toEqual([]);
  });
});
