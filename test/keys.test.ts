import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { createHmac, createPublicKey } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify, UnsecuredJWT, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SigningAlg } from "../gen/authz/v1/common.js";
import { KeyState, ListKeysResponse, RotateKeysRequest } from "../gen/authz/v1/key.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import { ManualClock } from "../src/clock.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { open } from "../src/tokens/key_crypto.js";
import { InvalidToken, KEY_RETAIN_SECONDS } from "../src/tokens/keys.js";
import { KEK_FILE_NAME, loadKek } from "../src/tokens/kek.js";
import { createApiServer, createClient, grant, oauthCall } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

const LEAD = 600;
const MAX_AGE = 300;
const ALGS = ["ES256", "RS256", "EdDSA"] as const;
const PB_ALG = { ES256: SigningAlg.SIGNING_ALG_ES256, RS256: SigningAlg.SIGNING_ALG_RS256, EdDSA: SigningAlg.SIGNING_ALG_EDDSA } as const;
/** Private JWK members of EC, RSA, OKP and oct keys (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ config: { keyPublishLeadSeconds: LEAD, jwksMaxAgeSeconds: MAX_AGE } });
});
afterAll(() => t.cleanup());

type Jwks = { keys: Array<JWK & { kid: string; alg: string }> };
const jwksOf = async (s: TestServer) => (await oauthCall(s.address, "getJwks")).json as Jwks;
const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
const nowSeconds = (s: TestServer) => Math.floor(s.clock.now() / 1000);

/** A client with access to a fresh API server signing with `alg`; returns a function issuing a token through the real endpoint. */
async function issuer(s: TestServer, alg: keyof typeof PB_ALG, tokenLifetimeSeconds = 3600) {
  const api = await createApiServer(s, { signingAlg: PB_ALG[alg], tokenLifetimeSeconds });
  const { client, secret } = await createClient(s);
  await grant(s, client.clientId, api.id, ["orders:read"]);
  return async () =>
    (await s.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }))).accessToken;
}

/** Verifies as an independent relying party would: jose against the published JWKS. */
async function relyingPartyVerify(s: TestServer, token: string) {
  return jwtVerify(token, createLocalJWKSet(await jwksOf(s)), { currentDate: new Date(s.clock.now()), typ: "at+jwt" });
}

const decodePayload = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number };
const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");

test("first start: one active key per algorithm, signing at once, published with public members only", async () => {
  const { keys } = await t.clients.keys.listKeys({});
  expect(keys.map((k) => k.alg).sort()).toEqual(Object.values(PB_ALG).sort());
  for (const k of keys) {
    expect(k.state).toBe(KeyState.KEY_STATE_ACTIVE);
    expect(k.activateTime).toBe(k.createTime); // no lead time for the very first key
    expect(k.retireTime).toBeUndefined();
    expect(k.expireTime).toBeUndefined();
  }

  const set = await jwksOf(t);
  expect(set.keys.map((k) => k.kid).sort()).toEqual(keys.map((k) => k.kid).sort());
  for (const jwk of set.keys) {
    expect(jwk.use).toBe("sig");
    for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
    // kid is the RFC 7638 thumbprint of the public key.
    expect(await calculateJwkThumbprint(jwk, "sha256")).toBe(jwk.kid);
  }
  const byAlg = Object.fromEntries(set.keys.map((k) => [k.alg, k]));
  expect(byAlg.ES256).toMatchObject({ kty: "EC", crv: "P-256" });
  expect(byAlg.RS256).toMatchObject({ kty: "RSA", e: "AQAB" });
  expect(Buffer.from(byAlg.RS256!.n!, "base64url").length * 8).toBe(2048);
  expect(byAlg.EdDSA).toMatchObject({ kty: "OKP", crv: "Ed25519" });
});

test("the JWKS is precomputed and served cacheable; the body is the domain's buffer", async () => {
  const first = t.server.domain.keys.jwks();
  expect(t.server.domain.keys.jwks().body).toBe(first.body); // same Buffer: not rebuilt per request
  expect(first.maxAge).toBe(MAX_AGE);
  const res = await oauthCall(t.address, "getJwks");
  expect(res.status).toBe(200);
  expect(res.headers["cache-control"]).toBe(`public, max-age=${MAX_AGE}`);
  expect(res.body).toBe(first.body.toString("utf8"));
});

describe.each(ALGS)("%s", (alg) => {
  test("a token from the token endpoint has header {alg, kid, typ: at+jwt} and verifies with jose against the JWKS and with verify()", async () => {
    const token = await (await issuer(t, alg))();
    const header = decodeProtectedHeader(token);
    expect(header).toEqual({ alg, kid: expect.any(String), typ: "at+jwt" });
    const active = (await t.clients.keys.listKeys({})).keys.find((k) => k.alg === PB_ALG[alg] && k.state === KeyState.KEY_STATE_ACTIVE);
    expect(header.kid).toBe(active!.kid);

    const rp = await relyingPartyVerify(t, token);
    const ours = await t.server.domain.keys.verify(token);
    expect(ours.payload).toEqual(rp.payload);
    expect(ours.protectedHeader).toEqual(header);
    expect((await t.server.domain.keys.verify(token, { algorithms: [alg] })).payload.jti).toBe(rp.payload.jti);
    // A caller may narrow the algorithms; the key's own is still required.
    const others = ALGS.filter((a) => a !== alg);
    await expect(t.server.domain.keys.verify(token, { algorithms: others })).rejects.toThrow(InvalidToken);
  });

  test("the domain signer: extra header members are kept, alg/kid/typ are always ours; exp is required and bounded", async () => {
    const signer = t.server.domain.keys.signer(alg);
    const exp = nowSeconds(t) + 60;
    const token = signer.sign({ sub: "x", exp }, { cty: "test", alg: "none", kid: "forged", typ: "JWT" });
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ cty: "test", alg, typ: "at+jwt" });
    expect(header.kid).not.toBe("forged");
    expect((await t.server.domain.keys.verify(token)).payload).toEqual({ sub: "x", exp });
    await relyingPartyVerify(t, token);

    expect(() => signer.sign({ sub: "x" })).toThrow(/exp/);
    // A token outliving its key's retention could stop verifying early: refused.
    expect(() => signer.sign({ sub: "x", exp: nowSeconds(t) + KEY_RETAIN_SECONDS + 1 })).toThrow(/exp/);
    expect(() => signer.sign({ sub: "x", exp: nowSeconds(t) + KEY_RETAIN_SECONDS })).not.toThrow();
  });
});

describe("verification pins the algorithm to the key named by kid", () => {
  let token: string;
  let kid: string;
  let body: string;
  let sig: string;
  beforeAll(async () => {
    token = await (await issuer(t, "RS256"))();
    kid = kidOf(token);
    [, body, sig] = token.split(".") as [string, string, string];
  });
  const refused = async (forged: string, reason?: RegExp) => {
    const err = await t.server.domain.keys.verify(forged).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidToken);
    if (reason) expect((err as InvalidToken).reason).toMatch(reason);
    // An independent relying party refuses it too.
    await expect(relyingPartyVerify(t, forged)).rejects.toThrow();
  };

  test("alg none is refused", async () => {
    await refused(new UnsecuredJWT(JSON.parse(Buffer.from(body, "base64url").toString())).encode());
    await refused(`${b64({ alg: "none", kid, typ: "at+jwt" })}.${body}.`);
  });

  test("a swapped alg is refused, including HS256 keyed with the RSA public key (the classic confusion attack)", async () => {
    await refused(`${b64({ alg: "PS256", kid, typ: "at+jwt" })}.${body}.${sig}`, /alg is not the key's/);
    await refused(`${b64({ alg: "ES256", kid, typ: "at+jwt" })}.${body}.${sig}`, /alg is not the key's/);
    const jwk = (await jwksOf(t)).keys.find((k) => k.kid === kid)!;
    const pem = createPublicKey({ key: jwk as never, format: "jwk" }).export({ format: "pem", type: "spki" });
    const input = `${b64({ alg: "HS256", kid, typ: "at+jwt" })}.${body}`;
    await refused(`${input}.${createHmac("sha256", pem).update(input).digest("base64url")}`, /alg is not the key's/);
  });

  test("an unknown or missing kid, a wrong typ, an altered payload and a malformed token are refused", async () => {
    await refused(`${b64({ alg: "RS256", kid: "unknown", typ: "at+jwt" })}.${body}.${sig}`, /unknown kid/);
    await refused(`${b64({ alg: "RS256", typ: "at+jwt" })}.${body}.${sig}`, /unknown kid/);
    await refused(`${b64({ alg: "RS256", kid, typ: "JWT" })}.${body}.${sig}`, /typ is not at\+jwt/);
    const claims = JSON.parse(Buffer.from(body, "base64url").toString()) as Record<string, unknown>;
    await refused(`${token.split(".")[0]}.${b64({ ...claims, scope: "orders:read orders:write" })}.${sig}`, /signature/);
    await expect(t.server.domain.keys.verify("not a token")).rejects.toThrow(InvalidToken);
    expect((await t.server.domain.keys.verify(token)).payload.sub).toBe(claims.sub); // the original still passes
  });

  test("an expired token is refused at the injected clock's time", async () => {
    const signer = t.server.domain.keys.signer("EdDSA");
    const short = signer.sign({ sub: "x", exp: nowSeconds(t) + 10 });
    await t.server.domain.keys.verify(short);
    (t.clock as ManualClock).advance(10);
    await expect(t.server.domain.keys.verify(short)).rejects.toThrow(/expired/);
  });
});

test("ListKeys and RotateKeys never return private material", async () => {
  const list = await t.clients.keys.listKeys({});
  const allowed = ["kid", "alg", "state", "createTime", "activateTime", "retireTime", "expireTime"];
  for (const k of list.keys) for (const field of Object.keys(k)) expect(allowed).toContain(field);
  const json = JSON.stringify(ListKeysResponse.toJSON(list));
  for (const member of PRIVATE_MEMBERS) expect(json).not.toContain(`"${member}"`);
  expect(json).not.toMatch(/PRIVATE KEY|sealed/i);
  const rotated = await t.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: SigningAlg.SIGNING_ALG_EDDSA }));
  for (const k of rotated.keys) for (const field of Object.keys(k)) expect(allowed).toContain(field);
});

test("a rotation generates its keys outside any store transaction: a write while an RSA key is generated is not held up, and a refused rotation generates nothing", async () => {
  const storedBefore = (await t.store.keys.all()).map((k) => k.kid).sort();
  const order: string[] = [];
  // RSA generation takes tens of milliseconds on the threadpool; SQLite transactions are serialised in the process.
  const generating = t.server.domain.keys.prepareRotation("RS256").then((prepared) => {
    order.push("generated");
    return prepared;
  });
  await t.store.transaction((tx) => tx.keys.all());
  order.push("written");
  const prepared = await generating;
  expect(order).toEqual(["written", "generated"]);
  expect(prepared.fresh.map((f) => f.alg)).toEqual(["RS256"]);
  expect((await t.store.keys.all()).map((k) => k.kid).sort()).toEqual(storedBefore); // prepared, not stored

  // EdDSA was rotated above and its key is pending: refused on this replica's view, before generating.
  await expect(t.server.domain.keys.prepareRotation("EdDSA")).rejects.toThrow(/already pending/);
});

describe("rotation end to end", () => {
  // Its own server and clock: this moves time by a month.
  let r: TestServer;
  beforeAll(async () => {
    r = await startTestServer({ config: { keyPublishLeadSeconds: LEAD, jwksMaxAgeSeconds: MAX_AGE } });
  });
  afterAll(() => r.cleanup());
  const clock = () => r.clock as ManualClock;
  const es256 = async () => (await r.clients.keys.listKeys({})).keys.filter((k) => k.alg === SigningAlg.SIGNING_ALG_ES256);

  test("published at once, signs after the lead time; the old key stays published until its last token expires, then is purged", async () => {
    const issue = await issuer(r, "ES256", KEY_RETAIN_SECONDS); // the longest lifetime an API server may set
    const before = await issue();
    const oldKid = kidOf(before);

    const { keys: created } = await r.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: SigningAlg.SIGNING_ALG_ES256 }));
    expect(created).toHaveLength(1);
    const fresh = created[0]!;
    expect(fresh.state).toBe(KeyState.KEY_STATE_PENDING);
    expect(Date.parse(fresh.activateTime!) - Date.parse(fresh.createTime!)).toBe(LEAD * 1000);
    const old = (await es256()).find((k) => k.kid === oldKid)!;
    expect(old.state).toBe(KeyState.KEY_STATE_ACTIVE);
    expect(old.retireTime).toBe(fresh.activateTime); // the hand-over is stored with the rotation
    expect(Date.parse(old.expireTime!) - Date.parse(old.retireTime!)).toBe(KEY_RETAIN_SECONDS * 1000);

    // Published at once (caches learn it), but the old key still signs.
    expect((await jwksOf(r)).keys.map((k) => k.kid)).toContain(fresh.kid);
    clock().advance(LEAD - 1);
    const last = await issue(); // the last token the old key signs, valid for the longest lifetime
    expect(kidOf(last)).toBe(oldKid);
    // The active key is listed first in the JWKS (for relying parties that take the first key of an alg).
    const firstEs256 = () => jwksOf(r).then((s) => s.keys.find((k) => k.alg === "ES256")!.kid);
    expect(await firstEs256()).toBe(oldKid);

    clock().advance(1);
    const after = await issue();
    expect(kidOf(after)).toBe(fresh.kid);
    const states = Object.fromEntries((await es256()).map((k) => [k.kid, k.state]));
    expect(states).toEqual({ [oldKid]: KeyState.KEY_STATE_RETIRED, [fresh.kid]: KeyState.KEY_STATE_ACTIVE });
    expect(await firstEs256()).toBe(fresh.kid); // the JWKS was rebuilt at the activation boundary

    // Old and new tokens verify for a relying party and for introspection's verify().
    for (const token of [before, last, after]) {
      await relyingPartyVerify(r, token);
      await r.server.domain.keys.verify(token);
    }

    // Two seconds before the old key expires, the last token it signed (issued a second
    // before the hand-over, for the longest lifetime) is still valid and verifiable.
    clock().advance(KEY_RETAIN_SECONDS - 2);
    expect(decodePayload(last).exp * 1000).toBeGreaterThan(r.clock.now());
    expect((await jwksOf(r)).keys.map((k) => k.kid)).toContain(oldKid);
    await relyingPartyVerify(r, last);
    expect((await r.server.domain.keys.verify(last)).payload.jti).toBeDefined();

    // At its expiry that token has expired too, and the key is gone: from the JWKS, ListKeys, verify() and the store.
    clock().advance(2);
    expect(decodePayload(last).exp * 1000).toBeLessThanOrEqual(r.clock.now());
    expect((await jwksOf(r)).keys.map((k) => k.kid)).not.toContain(oldKid);
    expect((await es256()).map((k) => k.kid)).toEqual([fresh.kid]);
    await expect(r.server.domain.keys.verify(last)).rejects.toThrow(/unknown kid/);
    // The store's copy goes with the periodic purge (background work, run here by hand).
    await r.server.domain.keys.purgeStore();
    expect((await r.store.keys.all()).map((k) => k.kid)).not.toContain(oldKid);
    const now = await issue();
    expect(kidOf(now)).toBe(fresh.kid);
    await relyingPartyVerify(r, now);
  });

  test("rotating again while a key is pending is refused and changes nothing; after it activates, the next rotation works: each key signs in turn", async () => {
    const issue = await issuer(r, "RS256");
    const k0 = kidOf(await issue());
    const k1 = (await r.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: SigningAlg.SIGNING_ALG_RS256 }))).keys[0]!.kid;
    clock().advance(LEAD / 2);
    const before = (await r.clients.keys.listKeys({})).keys;
    const again = await rpcError(r.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: SigningAlg.SIGNING_ALG_RS256 })));
    expect(again.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(again.details).toContain(k1);
    expect((await r.clients.keys.listKeys({})).keys).toEqual(before);
    expect(kidOf(await issue())).toBe(k0);
    clock().advance(LEAD / 2);
    expect(kidOf(await issue())).toBe(k1);
    const k2 = (await r.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: SigningAlg.SIGNING_ALG_RS256 }))).keys[0]!.kid;
    clock().advance(LEAD);
    expect(kidOf(await issue())).toBe(k2);
    const states = Object.fromEntries((await r.clients.keys.listKeys({})).keys.map((k) => [k.kid, k.state]));
    expect([states[k0], states[k1], states[k2]]).toEqual([KeyState.KEY_STATE_RETIRED, KeyState.KEY_STATE_RETIRED, KeyState.KEY_STATE_ACTIVE]);
  });

  test("rotating every algorithm at once is audited; an unknown algorithm is refused and changes nothing", async () => {
    const before = (await r.clients.keys.listKeys({})).keys;
    const bad = await rpcError(r.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: 42 as SigningAlg })));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/alg/);
    expect((await r.clients.keys.listKeys({})).keys).toEqual(before);

    const { keys: created } = await r.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({}));
    expect(created.map((k) => k.alg).sort()).toEqual(Object.values(PB_ALG).sort());
    expect(created.every((k) => k.state === KeyState.KEY_STATE_PENDING)).toBe(true);
    const { events } = await r.clients.audit.listAuditEvents({ pageSize: 1, pageToken: "", actor: "", resourceId: "" });
    expect(events[0]).toMatchObject({ method: "authz.v1.KeyService/RotateKeys", resourceType: "key", actor: r.adminClientId });
    expect(events[0]!.resourceId.split(" ").sort()).toEqual(created.map((k) => k.kid).sort());
  });

  test("the longest token lifetime an API server may have is the key retention", async () => {
    await createApiServer(r, { tokenLifetimeSeconds: KEY_RETAIN_SECONDS });
    expect((await rpcError(createApiServer(r, { tokenLifetimeSeconds: KEY_RETAIN_SECONDS + 1 }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("at rest", () => {
  test("the private key column is AES-256-GCM ciphertext bound to its kid, not plaintext", async () => {
    const rows = (await t.store.keys.all()).map((k) => ({ kid: k.kid, public_jwk: JSON.stringify(k.publicJwk), sealed_private_key: k.sealedPrivateKey }));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) {
      const text = row.sealed_private_key.toString("latin1");
      expect(text).not.toMatch(/"d"|"kty"|"crv"|PRIVATE KEY|MII/);
      const publicJwk = JSON.parse(row.public_jwk) as JWK;
      for (const member of PRIVATE_MEMBERS) expect(publicJwk).not.toHaveProperty(member);
      // It is the private key: the KEK opens it (with the kid as AAD) and it matches the public key.
      const privateJwk = JSON.parse(open(row.sealed_private_key, t.kek, row.kid).toString()) as JWK;
      expect(privateJwk.d).toBeDefined();
      expect(privateJwk.x ?? privateJwk.n).toBe(publicJwk.x ?? publicJwk.n);
      // The kid is bound as AAD: under another kid, or another KEK, it does not open.
      expect(() => open(row.sealed_private_key, t.kek, rows.find((o) => o.kid !== row.kid)!.kid)).toThrow();
      expect(() => open(row.sealed_private_key, Buffer.alloc(32, 1), row.kid)).toThrow();
    }
  });
});

describe("restart and the key-encryption key file", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "authz-keys-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the KEK file is created with mode 0600 beside the data file and reused; a restart keeps the keys; a wrong KEK fails start-up clearly", async () => {
    const dataFile = join(dir, "restart", "authz.db");
    const kekFile = join(dir, "restart", KEK_FILE_NAME);
    const first = loadKek({ dataFile, keyEncryptionKey: "" }, false);
    expect(first).toMatchObject({ source: kekFile, created: true });
    expect(statSync(kekFile).mode & 0o777).toBe(0o600);
    expect(first.kek).toHaveLength(32);
    const reread = loadKek({ dataFile, keyEncryptionKey: "" }, false);
    expect(reread.created).toBe(false);
    expect(reread.kek.equals(first.kek)).toBe(true);

    const clock = new ManualClock();
    const a = await startTestServer({ dataFile, kek: first.kek, clock, store: "sqlite" });
    const kids = (await a.clients.keys.listKeys({})).keys.map((k) => k.kid).sort();
    const jwks = (await jwksOf(a)).keys;
    const token = await (await issuer(a, "EdDSA"))();
    const creds = { adminClientId: a.adminClientId, adminClientSecret: a.adminClientSecret };
    await a.stop();

    const b = await startTestServer({ dataFile, kek: loadKek({ dataFile, keyEncryptionKey: "" }, false).kek, clock, config: creds, store: "sqlite" });
    try {
      expect((await b.clients.keys.listKeys({})).keys.map((k) => k.kid).sort()).toEqual(kids);
      expect((await jwksOf(b)).keys).toEqual(jwks);
      await b.server.domain.keys.verify(token); // signed before the restart
      expect(kidOf(await (await issuer(b, "EdDSA"))())).toBe(kidOf(token));
    } finally {
      await b.stop();
    }

    writeFileSync(kekFile, Buffer.alloc(32, 7).toString("base64url"));
    const wrong = loadKek({ dataFile, keyEncryptionKey: "" }, false).kek;
    const err = await startTestServer({ dataFile, kek: wrong, clock, config: creds, store: "sqlite" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/cannot decrypt signing key .*wrong key-encryption key/);
    // Nothing was replaced: the keys are still there for the right KEK.
    const db = new Database(dataFile, { readonly: true });
    expect((db.prepare("SELECT kid FROM signing_keys").pluck().all() as string[]).sort()).toEqual(kids);
    db.close();
  });

  test("a sealed key moved to another row does not open (AAD = kid); a rewritten public_jwk is not what gets published", async () => {
    const s = await startTestServer({ store: "sqlite" }); // edits the table under the service
    const jwks = (await jwksOf(s)).keys;
    const creds = { adminClientId: s.adminClientId, adminClientSecret: s.adminClientSecret };
    await s.stop();
    const db = new Database(s.dataFile);
    const [es, rs] = ["ES256", "EdDSA"].map((alg) => db.prepare("SELECT kid, public_jwk FROM signing_keys WHERE alg = ?").get(alg) as { kid: string; public_jwk: string });
    // Someone with write access to the database (but not the KEK) publishes a key of their choice under our kid.
    db.prepare("UPDATE signing_keys SET public_jwk = ? WHERE kid = ?").run(rs!.public_jwk, es!.kid);
    db.close();
    const again = await startTestServer({ dataFile: s.dataFile, kek: s.kek, config: creds, store: "sqlite" });
    expect((await jwksOf(again)).keys).toEqual(jwks);
    await again.stop();

    const db2 = new Database(s.dataFile);
    const sealed = db2.prepare("SELECT sealed_private_key FROM signing_keys WHERE kid = ?").pluck().get(rs!.kid) as Buffer;
    db2.prepare("UPDATE signing_keys SET sealed_private_key = ? WHERE kid = ?").run(sealed, es!.kid);
    db2.close();
    await expect(startTestServer({ dataFile: s.dataFile, kek: s.kek, config: creds, store: "sqlite" })).rejects.toThrow(new RegExp(`cannot decrypt signing key ${es!.kid}`));
    await s.cleanup();
  });

  test("the KEK: the environment wins, :memory: gets a random one, a malformed file is refused", () => {
    const env = Buffer.alloc(32, 3).toString("base64url");
    const dataFile = join(dir, "env", "authz.db");
    expect(loadKek({ dataFile, keyEncryptionKey: env }, false)).toEqual({ kek: Buffer.alloc(32, 3), source: "environment", created: false });
    expect(() => statSync(join(dir, "env", KEK_FILE_NAME))).toThrow(); // no file written when the environment has the key
    const m1 = loadKek({ dataFile: ":memory:", keyEncryptionKey: "" }, false);
    const m2 = loadKek({ dataFile: ":memory:", keyEncryptionKey: "" }, false);
    expect(m1.source).toBe("ephemeral");
    expect(m1.kek).toHaveLength(32);
    expect(m1.kek.equals(m2.kek)).toBe(false);

    const bad = join(dir, "bad", "authz.db");
    loadKek({ dataFile: bad, keyEncryptionKey: "" }, false);
    writeFileSync(join(dir, "bad", KEK_FILE_NAME), "not a key!\n");
    expect(() => loadKek({ dataFile: bad, keyEncryptionKey: "" }, false)).toThrow(ConfigError);
  });
});

test("the hot path reads nothing from the store: with the table emptied behind its back, signing and verification still work", async () => {
  const s = await startTestServer({ store: "sqlite" }); // edits the table under the service
  try {
    const db = new Database(s.dataFile);
    db.prepare("DELETE FROM signing_keys").run();
    db.close();
    for (const alg of ALGS) {
      const token = s.server.domain.keys.signer(alg).sign({ sub: "x", exp: nowSeconds(s) + 60 });
      expect((await s.server.domain.keys.verify(token)).protectedHeader.alg).toBe(alg);
    }
  } finally {
    await s.cleanup();
  }
});

describe("configuration", () => {
  test("a publish lead time shorter than the JWKS cache lifetime is refused", async () => {
    expect(() => loadConfig({ keyPublishLeadSeconds: 60, jwksMaxAgeSeconds: 300 })).toThrow(/keyPublishLeadSeconds must be >= jwksMaxAgeSeconds/);
    await expect(startTestServer({ config: { keyPublishLeadSeconds: 60, jwksMaxAgeSeconds: 300 } })).rejects.toThrow(/keyPublishLeadSeconds must be >= jwksMaxAgeSeconds/);
    expect(loadConfig({ keyPublishLeadSeconds: 300, jwksMaxAgeSeconds: 300 }).keyPublishLeadSeconds).toBe(300);
    expect(() => loadConfig({ jwksMaxAgeSeconds: -1 })).toThrow(/jwksMaxAgeSeconds/);
  });

  test("defaults: JWKS max-age 300 s, lead time 600 s", () => {
    const c = loadConfig({});
    expect([c.jwksMaxAgeSeconds, c.keyPublishLeadSeconds]).toEqual([300, 600]);
  });

  test("the key-encryption key must be base64url of exactly 32 bytes", () => {
    const good = Buffer.alloc(32, 9).toString("base64url");
    expect(loadConfig({ keyEncryptionKey: good }).keyEncryptionKey).toBe(good);
    for (const bad of [Buffer.alloc(31).toString("base64url"), Buffer.alloc(33).toString("base64url"), good.slice(0, 42) + "!", `${good.slice(0, 20)}+${good.slice(21)}`]) {
      expect(() => loadConfig({ keyEncryptionKey: bad })).toThrow(/keyEncryptionKey must be base64url of exactly 32 bytes/);
    }
  });
});
