import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SigningAlg } from "../gen/authz/v1/common.js";
import { KeyState, RotateKeysRequest } from "../gen/authz/v1/key.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import type { ManualClock } from "../src/clock.js";
import { createApiServer, createClient, grant, oauthCall } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
const LEAD = 600;
beforeAll(async () => {
  t = await startTestServer({ config: { keyPublishLeadSeconds: LEAD, jwksMaxAgeSeconds: 300 } });
});
afterAll(() => t.cleanup());

const clock = () => t.clock as ManualClock;
const jwks = async () => (await oauthCall(t.address, "getJwks")).json as { keys: Array<Record<string, string>> };
const keys = () => t.server.domain.keys;

async function issuer(alg: SigningAlg) {
  const s = await createApiServer(t, { signingAlg: alg, tokenLifetimeSeconds: 3600 });
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, s.id, ["orders:read"]);
  return () => t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: s.identifier })).then((r) => r.accessToken);
}

test("first start: one active key per algorithm, all published with public members only", async () => {
  const { keys: listed } = await t.clients.keys.listKeys({});
  expect(listed.map((k) => k.alg).sort()).toEqual([SigningAlg.SIGNING_ALG_ES256, SigningAlg.SIGNING_ALG_RS256, SigningAlg.SIGNING_ALG_EDDSA].sort());
  expect(listed.every((k) => k.state === KeyState.KEY_STATE_ACTIVE)).toBe(true);
  const set = await jwks();
  expect(set.keys.map((k) => k.kid).sort()).toEqual(listed.map((k) => k.kid).sort());
  for (const k of set.keys) {
    expect(k.use).toBe("sig");
    for (const member of ["d", "p", "q", "dp", "dq", "qi", "k"]) expect(k[member]).toBeUndefined();
  }
});

describe("verification pins the algorithm to the key", () => {
  test("a token with a forged header (alg none, alg swapped, unknown kid) is refused", async () => {
    const token = await (await issuer(SigningAlg.SIGNING_ALG_ES256))();
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    const { kid } = decodeProtectedHeader(token);
    const none = new UnsecuredJWT(payload).encode();
    await expect(keys().verify(none)).rejects.toThrow();
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString("base64url");
    const [, body, sig] = token.split(".");
    await expect(keys().verify(`${header({ alg: "RS256", kid, typ: "at+jwt" })}.${body}.${sig}`)).rejects.toThrow();
    await expect(keys().verify(`${header({ alg: "HS256", kid, typ: "at+jwt" })}.${body}.${sig}`)).rejects.toThrow();
    await expect(keys().verify(`${header({ alg: "ES256", kid: "unknown", typ: "at+jwt" })}.${body}.${sig}`)).rejects.toThrow("unknown kid");
    await expect(keys().verify(`${header({ alg: "ES256", kid, typ: "JWT" })}.${body}.${sig}`)).rejects.toThrow();
    expect((await keys().verify(token)).jti).toBe(payload.jti);
  });
});

test("rotation end to end: published before it signs; old tokens verify until they expire; then the old key leaves", async () => {
  const issue = await issuer(SigningAlg.SIGNING_ALG_ES256);
  const before = await issue();
  const oldKid = decodeProtectedHeader(before).kid!;

  const { keys: created } = await t.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: SigningAlg.SIGNING_ALG_ES256 }));
  expect(created).toHaveLength(1);
  const newKid = created[0]!.kid;
  expect(created[0]).toMatchObject({ state: KeyState.KEY_STATE_PENDING });
  // Published at once, not yet signing.
  expect((await jwks()).keys.map((k) => k.kid)).toContain(newKid);
  expect(decodeProtectedHeader(await issue()).kid).toBe(oldKid);

  clock().advance(LEAD);
  const after = await issue();
  expect(decodeProtectedHeader(after).kid).toBe(newKid);
  const states = Object.fromEntries((await t.clients.keys.listKeys({})).keys.map((k) => [k.kid, k.state]));
  expect(states[oldKid]).toBe(KeyState.KEY_STATE_RETIRED);
  expect(states[newKid]).toBe(KeyState.KEY_STATE_ACTIVE);

  // The old token still verifies against the published set while it is valid.
  const set = createLocalJWKSet((await jwks()) as never);
  await jwtVerify(before, set, { currentDate: new Date(t.clock.now()) });
  await jwtVerify(after, set, { currentDate: new Date(t.clock.now()) });

  // Once the longest possible token lifetime has passed, the retired key is purged.
  clock().advance(2_592_000);
  expect((await jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
  await expect(keys().verify(before)).rejects.toThrow();
  expect((await t.clients.keys.listKeys({})).keys.map((k) => k.kid)).not.toContain(oldKid);
});

test("rotating all algorithms at once; an unknown algorithm is refused", async () => {
  const { keys: created } = await t.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({}));
  expect(created.map((k) => k.alg).sort()).toEqual([1, 2, 3]);
  expect((await rpcError(t.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: 42 as SigningAlg })))).code).toBe(grpc.status.INVALID_ARGUMENT);
});

test("private keys are sealed at rest; the JWKS response is cacheable", async () => {
  const db = new Database(t.dataFile, { readonly: true });
  const rows = db.prepare("SELECT kid, public_jwk, sealed_private_key FROM signing_keys").all() as Array<{ kid: string; public_jwk: string; sealed_private_key: Buffer }>;
  db.close();
  expect(rows.length).toBeGreaterThanOrEqual(3);
  for (const row of rows) {
    const text = row.sealed_private_key.toString("latin1");
    expect(text).not.toMatch(/"d"\s*:|"kty"|PRIVATE KEY/);
    expect(JSON.parse(row.public_jwk).d).toBeUndefined();
  }
  const res = await oauthCall(t.address, "getJwks");
  expect(res.headers["cache-control"]).toBe("public, max-age=300");
});

test("configuration refuses a publish lead time shorter than the JWKS cache lifetime", async () => {
  await expect(startTestServer({ config: { keyPublishLeadSeconds: 60, jwksMaxAgeSeconds: 300 } })).rejects.toThrow(/keyPublishLeadSeconds must be >= jwksMaxAgeSeconds/);
});
