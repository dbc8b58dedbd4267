// Verifier: each RFC 9068 §4 check failing on its own, algorithm pinning, the
// JWKS cache's refetch limits and outages, introspection.
import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, TokenVerificationError, type VerifierOptions } from "../../sdk/src/index.js";
import { AUDIENCE, claimsAt, FakeAuthServer, ISSUER, makeKey, ManualClock, rawJwt, sign, type TestKey } from "./helpers.js";

let es: TestKey;
let rs: TestKey;

beforeAll(async () => {
  es = await makeKey("ES256");
  rs = await makeKey("RS256");
});

function setup(overrides: Partial<VerifierOptions> = {}, server = new FakeAuthServer(es, rs)) {
  const clock = new ManualClock();
  const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: server.fetch, clock, ...overrides });
  return { clock, server, verifier };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TokenVerificationError);
    return (err as TokenVerificationError).code;
  }
  throw new Error("expected verification to fail");
}

describe("a valid token", () => {
  it("verifies and reports claims, scopes and client", async () => {
    const { clock, verifier } = setup();
    const token = await sign(es, claimsAt(clock.now()));
    const v = await verifier.verify(token);
    expect(v.clientId).toBe("cl_caller");
    expect(v.subject).toBe("cl_caller");
    expect(v.scopes).toEqual(["orders:read", "orders:write"]);
    expect(v.audience).toEqual([AUDIENCE]);
    expect(v.issuedAtMs).toBe(clock.now()); // from the jti, to the millisecond
    expect(v.introspected).toBe(false);
  });

  it("accepts typ application/at+jwt and aud arrays containing the audience", async () => {
    const { clock, verifier } = setup();
    await verifier.verify(await sign(es, claimsAt(clock.now()), { typ: "application/at+jwt" }));
    await verifier.verify(await sign(es, claimsAt(clock.now(), { aud: ["https://other.test", AUDIENCE] })));
  });

  it("verifyAuthorization reads the Bearer header", async () => {
    const { clock, verifier } = setup();
    const token = await sign(es, claimsAt(clock.now()));
    expect((await verifier.verifyAuthorization(`Bearer ${token}`)).clientId).toBe("cl_caller");
    expect(await codeOf(verifier.verifyAuthorization(undefined))).toBe("ERR_TOKEN_MISSING");
    expect(await codeOf(verifier.verifyAuthorization("Basic YTpi"))).toBe("ERR_TOKEN_MISSING");
    expect(await codeOf(verifier.verifyAuthorization("Bearer"))).toBe("ERR_TOKEN_MALFORMED");
    expect(await codeOf(verifier.verifyAuthorization("Bearer a b"))).toBe("ERR_TOKEN_MALFORMED");
  });
});

describe("each RFC 9068 check fails on its own", () => {
  it("typ", async () => {
    const { clock, verifier } = setup();
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now()), { typ: "JWT" })))).toBe("ERR_TOKEN_TYPE");
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now()), { typ: undefined })))).toBe("ERR_TOKEN_TYPE");
  });

  it("iss", async () => {
    const { clock, verifier } = setup();
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now(), { iss: "https://evil.test" }))))).toBe("ERR_TOKEN_ISSUER");
  });

  it("aud", async () => {
    const { clock, verifier } = setup();
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now(), { aud: "https://billing.test" }))))).toBe("ERR_TOKEN_AUDIENCE");
  });

  it("exp, with the tolerance", async () => {
    const { clock, verifier } = setup();
    const token = await sign(es, claimsAt(clock.now()));
    clock.advance(3600_000 + 4_000); // 4 s past exp: within the default 5 s
    await verifier.verify(token);
    clock.advance(1_000);
    expect(await codeOf(verifier.verify(token))).toBe("ERR_TOKEN_EXPIRED");
  });

  it("nbf, with the tolerance", async () => {
    const { clock, verifier } = setup();
    const nbfSoon = Math.floor(clock.now() / 1000) + 4;
    await verifier.verify(await sign(es, claimsAt(clock.now(), { nbf: nbfSoon })));
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now(), { nbf: nbfSoon + 60 }))))).toBe("ERR_TOKEN_NOT_YET_VALID");
  });

  it.each(["client_id", "jti", "iat", "exp", "sub"])("missing %s", async (claim) => {
    const { clock, verifier } = setup();
    const err = await verifier.verify(await sign(es, claimsAt(clock.now(), { [claim]: undefined }))).catch((e: TokenVerificationError) => e);
    expect(err).toBeInstanceOf(TokenVerificationError);
    expect((err as TokenVerificationError).code).toBe("ERR_TOKEN_CLAIM_MISSING");
    expect((err as TokenVerificationError).claim).toBe(claim);
  });

  it("a tampered signature", async () => {
    const { clock, verifier } = setup();
    const token = await sign(es, claimsAt(clock.now()));
    const [h, , s] = token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify(claimsAt(clock.now(), { scope: "orders:admin" }))).toString("base64url")}.${s}`;
    expect(await codeOf(verifier.verify(forged))).toBe("ERR_TOKEN_SIGNATURE");
  });

  it("a malformed token", async () => {
    const { verifier } = setup();
    expect(await codeOf(verifier.verify("not-a-jwt"))).toBe("ERR_TOKEN_MALFORMED");
    expect(await codeOf(verifier.verify("a.b.c"))).toBe("ERR_TOKEN_MALFORMED");
  });
});

describe("algorithms", () => {
  it("alg none is refused", async () => {
    const { clock, verifier, server } = setup();
    const token = rawJwt({ alg: "none", typ: "at+jwt", kid: es.kid }, claimsAt(clock.now()));
    expect(await codeOf(verifier.verify(token))).toBe("ERR_TOKEN_ALG");
    expect(server.calls).toEqual([]); // refused before any fetch
  });

  it("HS256 signed with the public key as the secret is refused", async () => {
    const { clock, verifier } = setup();
    for (const secret of [JSON.stringify(es.jwk), JSON.stringify(rs.jwk), rs.jwk.n!]) {
      const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "at+jwt", kid: es.kid })).toString("base64url");
      const payload = Buffer.from(JSON.stringify(claimsAt(clock.now()))).toString("base64url");
      const sig = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
      expect(await codeOf(verifier.verify(`${header}.${payload}.${sig}`))).toBe("ERR_TOKEN_ALG");
    }
  });

  it("none and HS* cannot even be configured", () => {
    expect(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE, algorithms: ["HS256"] })).toThrow(/HS256/);
    expect(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE, algorithms: ["none"] })).toThrow(/none/);
  });

  it("an algorithm that is not pinned is refused, though its key is in the JWKS", async () => {
    const { clock, verifier } = setup({ algorithms: ["ES256"] });
    await verifier.verify(await sign(es, claimsAt(clock.now())));
    expect(await codeOf(verifier.verify(await sign(rs, claimsAt(clock.now()))))).toBe("ERR_TOKEN_ALG");
  });

  it("without the option, the metadata's access_token_signing_alg_values_supported decides (HS* still never)", async () => {
    const server = new FakeAuthServer(es, rs);
    server.algs = ["ES256", "HS256"];
    const { clock, verifier } = setup({}, server);
    await verifier.verify(await sign(es, claimsAt(clock.now())));
    expect(await codeOf(verifier.verify(await sign(rs, claimsAt(clock.now()))))).toBe("ERR_TOKEN_ALG");
    expect(server.count("/.well-known/oauth-authorization-server")).toBe(1);
    expect(server.count("/keys/jwks.json")).toBe(1); // jwks_uri from the metadata
  });

  it("without a list in the metadata, each key's own alg decides (a key without alg accepts nothing)", async () => {
    const server = new FakeAuthServer(es, rs);
    server.algs = undefined;
    server.keys[0] = { ...es.jwk, alg: undefined }; // the ES256 key published without its alg
    const { clock, verifier } = setup({}, server);
    await verifier.verify(await sign(rs, claimsAt(clock.now())));
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now()))))).toBe("ERR_TOKEN_ALG");
  });

  it("a header alg that differs from the key's alg is refused", async () => {
    const eddsa = await makeKey("EdDSA");
    const server = new FakeAuthServer(es, rs, eddsa);
    // Publish the EdDSA key under alg ES256: the token's EdDSA header no longer matches its key.
    server.keys[2] = { ...eddsa.jwk, alg: "ES256" };
    const { clock, verifier } = setup({}, server);
    expect(await codeOf(verifier.verify(await sign(eddsa, claimsAt(clock.now()))))).toBe("ERR_TOKEN_ALG");
  });
});

describe("the JWKS cache", () => {
  it("an unknown kid refetches once; a second unknown kid within the interval does not; after it, again", async () => {
    const { clock, verifier, server } = setup({ algorithms: ["ES256"], jwksUri: `${ISSUER}/keys/jwks.json` });
    await verifier.verify(await sign(es, claimsAt(clock.now())));
    expect(server.count("/keys/jwks.json")).toBe(1);
    expect(server.count("oauth-authorization-server")).toBe(0); // algorithms and jwksUri given: no discovery

    const stranger = await makeKey("ES256", "unknown-1");
    expect(await codeOf(verifier.verify(await sign(stranger, claimsAt(clock.now()))))).toBe("ERR_TOKEN_KEY_UNKNOWN");
    expect(server.count("/keys/jwks.json")).toBe(2);

    clock.advance(10_000);
    const flood = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => codeOf(verifier.verify(await sign({ ...stranger, kid: `random-${i}` }, claimsAt(clock.now()))))),
    );
    expect(new Set(flood)).toEqual(new Set(["ERR_TOKEN_KEY_UNKNOWN"]));
    expect(server.count("/keys/jwks.json")).toBe(2);

    clock.advance(20_000); // 30 s after the refetch
    expect(await codeOf(verifier.verify(await sign({ ...stranger, kid: "unknown-2" }, claimsAt(clock.now()))))).toBe("ERR_TOKEN_KEY_UNKNOWN");
    expect(server.count("/keys/jwks.json")).toBe(3);
  });

  it("a key published after the first fetch is found by the refetch", async () => {
    const { clock, verifier, server } = setup({ algorithms: ["ES256"] });
    await verifier.verify(await sign(es, claimsAt(clock.now())));
    const rotated = await makeKey("ES256");
    server.keys.push(rotated.jwk);
    await verifier.verify(await sign(rotated, claimsAt(clock.now())));
    expect(server.count("/keys/jwks.json")).toBe(2);
  });

  it("many concurrent first verifications share one metadata and one JWKS fetch", async () => {
    const { clock, verifier, server } = setup();
    const token = await sign(es, claimsAt(clock.now()));
    await Promise.all(Array.from({ length: 25 }, () => verifier.verify(token)));
    expect(server.count("oauth-authorization-server")).toBe(1);
    expect(server.count("/keys/jwks.json")).toBe(1);
  });

  it("JWKS down -> ERR_JWKS_UNAVAILABLE (503), and retried only after the failure interval", async () => {
    const server = new FakeAuthServer(es);
    server.down = true;
    const { clock, verifier } = setup({}, server);
    const token = await sign(es, claimsAt(clock.now()));
    const err = (await verifier.verify(token).catch((e) => e)) as TokenVerificationError;
    expect(err.code).toBe("ERR_JWKS_UNAVAILABLE");
    expect(err.status).toBe(503);
    expect(await codeOf(verifier.verify(token))).toBe("ERR_JWKS_UNAVAILABLE");
    expect(server.count("/keys/jwks.json")).toBe(1);
    server.down = false;
    clock.advance(1_000);
    await verifier.verify(token);
    expect(server.count("/keys/jwks.json")).toBe(2);
  });

  it("metadata down -> ERR_JWKS_UNAVAILABLE", async () => {
    const server = new FakeAuthServer(es);
    server.metadataDown = true;
    const { clock, verifier } = setup({}, server);
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now()))))).toBe("ERR_JWKS_UNAVAILABLE");
  });

  it("a failed refetch on an unknown kid is ERR_JWKS_UNAVAILABLE; known keys keep working", async () => {
    const { clock, verifier, server } = setup({ algorithms: ["ES256"] });
    const token = await sign(es, claimsAt(clock.now()));
    await verifier.verify(token);
    server.down = true;
    const stranger = await makeKey("ES256");
    expect(await codeOf(verifier.verify(await sign(stranger, claimsAt(clock.now()))))).toBe("ERR_JWKS_UNAVAILABLE");
    await verifier.verify(token);
  });

  it("refreshes in the background after max-age, serving the cached keys meanwhile", async () => {
    const { clock, verifier, server } = setup({ algorithms: ["ES256"], jwksMaxAgeSeconds: 300 });
    const token = await sign(es, claimsAt(clock.now()));
    await verifier.verify(token);
    clock.advance(301_000);
    server.down = true;
    await verifier.verify(token); // stale keys still serve while the refresh fails
    expect(server.count("/keys/jwks.json")).toBe(2);
  });

  it("keys not refreshed for jwksMaxStaleSeconds stop verifying (a removed key must not stay trusted through an outage), until a refresh succeeds", async () => {
    const { clock, verifier, server } = setup({ algorithms: ["ES256"], jwksMaxAgeSeconds: 300, jwksMaxStaleSeconds: 3600 });
    const token = await sign(es, claimsAt(clock.now() + 3_601_000, { exp: Math.floor(clock.now() / 1000) + 86_400 }));
    await verifier.verify(await sign(es, claimsAt(clock.now())));
    server.down = true;
    clock.advance(3_601_000);
    expect(await codeOf(verifier.verify(token))).toBe("ERR_JWKS_UNAVAILABLE");
    const fetches = server.count("/keys/jwks.json");
    expect(await codeOf(verifier.verify(token))).toBe("ERR_JWKS_UNAVAILABLE");
    expect(server.count("/keys/jwks.json")).toBe(fetches); // no fetch per verification meanwhile
    server.down = false;
    clock.advance(2_000);
    await verifier.verify(token);
  });
});

describe("with a real HTTP JWKS endpoint (node:http, default fetch)", () => {
  let http: Server;
  let issuer: string;
  beforeAll(async () => {
    http = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url === "/.well-known/oauth-authorization-server") {
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/.well-known/jwks.json`, access_token_signing_alg_values_supported: ["ES256"] }));
      } else if (req.url === "/.well-known/jwks.json") res.end(JSON.stringify({ keys: [es.jwk] }));
      else res.writeHead(404).end("{}");
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => http.close(() => r())));

  it("discovers and verifies", async () => {
    const verifier = createVerifier({ issuer, audience: AUDIENCE });
    const v = await verifier.verify(await sign(es, claimsAt(Date.now(), { iss: issuer })));
    expect(v.clientId).toBe("cl_caller");
  });
});

describe("introspection", () => {
  it('mode "always": inactive -> ERR_TOKEN_REVOKED; active narrows scopes; down -> ERR_INTROSPECTION_UNAVAILABLE', async () => {
    let answer: { active: boolean; scope?: string } | Error = { active: true, scope: "orders:read" };
    const seen: string[] = [];
    const { clock, verifier } = setup({
      introspect: {
        clientId: "cl_rs",
        clientSecret: "s",
        transport: {
          async introspect(token) {
            seen.push(token);
            if (answer instanceof Error) throw new TokenVerificationError("ERR_INTROSPECTION_UNAVAILABLE", "down");
            return answer;
          },
        },
      },
    });
    const token = await sign(es, claimsAt(clock.now()));
    const v = await verifier.verify(token);
    expect(v.scopes).toEqual(["orders:read"]);
    expect(v.introspected).toBe(true);
    answer = { active: false };
    expect(await codeOf(verifier.verify(token))).toBe("ERR_TOKEN_REVOKED");
    answer = new Error("down");
    expect(await codeOf(verifier.verify(token))).toBe("ERR_INTROSPECTION_UNAVAILABLE");
    expect(seen).toHaveLength(3);
    // A locally invalid token is never sent to introspection.
    expect(await codeOf(verifier.verify(await sign(es, claimsAt(clock.now(), { aud: "x" }))))).toBe("ERR_TOKEN_AUDIENCE");
    expect(seen).toHaveLength(3);
  });

  it("over HTTP: POST <introspection_endpoint> with client_secret_basic", async () => {
    const server = new FakeAuthServer(es);
    const requests: Array<{ url: string; auth: string | null; body: string }> = [];
    const fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      if (url.endsWith("/oauth/introspect")) {
        requests.push({ url, auth: new Headers(init?.headers).get("authorization"), body: String(init?.body) });
        return Response.json({ active: true, scope: "orders:read orders:write", client_id: "cl_caller" });
      }
      return server.fetch(input);
    };
    const { clock, verifier } = setup({ fetch, introspect: { clientId: "cl_rs", clientSecret: "rs secret" } });
    const token = await sign(es, claimsAt(clock.now()));
    await verifier.verify(token);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.url).toBe(`${ISSUER}/oauth/introspect`);
    expect(requests[0]!.auth).toBe(`Basic ${Buffer.from("cl_rs:rs+secret").toString("base64")}`);
    expect(new URLSearchParams(requests[0]!.body).get("token")).toBe(token);
  });
});

describe("errors", () => {
  it("never carry the token", async () => {
    const { clock, verifier } = setup();
    const token = await sign(es, claimsAt(clock.now(), { iss: "https://evil.test" }));
    const err = (await verifier.verify(token).catch((e) => e)) as Error;
    expect(err.message).not.toContain(token);
    expect(JSON.stringify({ ...err, message: err.message })).not.toContain(token.split(".")[2]);
  });
});
