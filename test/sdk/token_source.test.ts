// TokenSource: single flight, renewal before expiry with jitter, backoff,
// Retry-After / RetryInfo, never an expired token; the HTTP and gRPC
// transports; the fetch wrapper and the grpc-js interceptor.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Duration } from "../../sdk/src/gen/google/protobuf/duration.js";
import { RetryInfo } from "../../sdk/src/gen/google/rpc/error_details.js";
import { Status } from "../../sdk/src/gen/google/rpc/status.js";
import { IntrospectTokenResponse, TokenServiceService, type IssueTokenRequest, type IssueTokenResponse } from "../../sdk/src/gen/authz/v1/token.js";
import { TokenSource, TokenSourceError, type TokenRequest, type TokenResponse, type TokenTransport } from "../../sdk/src/index.js";
import { deferred, ManualClock } from "./helpers.js";

/** A transport answering from a script; records requests. */
class ScriptedTransport implements TokenTransport {
  readonly requests: TokenRequest[] = [];
  private n = 0;
  constructor(private readonly answer: (n: number, req: TokenRequest) => Promise<TokenResponse> | TokenResponse) {}
  async issue(req: TokenRequest): Promise<TokenResponse> {
    this.requests.push(req);
    return this.answer(++this.n, req);
  }
}

const ok = (n: number, expiresIn = 3600): TokenResponse => ({ accessToken: `tok-${n}`, expiresIn, scope: undefined });
const unavailable = (retryAfterMs?: number) => new TokenSourceError("ERR_TOKEN_ENDPOINT_UNAVAILABLE", "unavailable", { retryable: true, retryAfterMs });

function source(transport: TokenTransport, clock: ManualClock, extra: Partial<ConstructorParameters<typeof TokenSource>[0]> = {}) {
  return new TokenSource({ clientId: "cl_a", clientSecret: "secret-a", audience: "https://orders.test", transport, clock, random: () => 0, ...extra });
}

describe("single flight and caching", () => {
  it("50 concurrent callers -> 1 request, one token for all", async () => {
    const gate = deferred<TokenResponse>();
    const transport = new ScriptedTransport(() => gate.promise);
    const ts = source(transport, new ManualClock());
    const all = Promise.all(Array.from({ length: 50 }, () => ts.token()));
    gate.resolve(ok(1));
    expect(new Set(await all)).toEqual(new Set(["tok-1"]));
    expect(transport.requests).toHaveLength(1);
    expect(await ts.token()).toBe("tok-1");
    expect(transport.requests).toHaveLength(1);
  });

  it("one request in flight per (audience/resource, scope) key", async () => {
    const transport = new ScriptedTransport((n) => ok(n));
    const ts = source(transport, new ManualClock());
    await Promise.all([
      ts.token(),
      ts.token({ scope: "orders:read orders:write" }),
      ts.token({ scope: ["orders:write", "orders:read"] }), // same set, other order: same key
      ts.token({ resource: "https://billing.test" }),
      ts.token({ audience: "https://billing.test", scope: "b:read" }),
    ]);
    expect(transport.requests.map((r) => [r.audience, r.resource, r.scope])).toEqual([
      ["https://orders.test", undefined, undefined],
      ["https://orders.test", undefined, "orders:read orders:write"],
      [undefined, "https://billing.test", undefined],
      ["https://billing.test", undefined, "b:read"],
    ]);
  });
});

describe("renewal", () => {
  it("renews before expiry, with jitter, in the background while handing out the cached token", async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const gate = deferred<TokenResponse>();
    const transport = new ScriptedTransport((n) => (n === 1 ? ok(1) : gate.promise));
    // renewBefore 60 s + jitter up to 30 s; random 0.5 -> 15 s: renew at 3600 - 75 s.
    const ts = source(transport, clock, { random: () => 0.5 });
    expect(await ts.token()).toBe("tok-1");
    clock.t = start + (3600 - 75) * 1000 - 1;
    expect(await ts.token()).toBe("tok-1");
    expect(transport.requests).toHaveLength(1);
    clock.t = start + (3600 - 75) * 1000;
    expect(await ts.token()).toBe("tok-1"); // still valid: handed out at once
    expect(await ts.token()).toBe("tok-1");
    expect(transport.requests).toHaveLength(2); // one background renewal
    gate.resolve(ok(2));
    await gate.promise;
    await new Promise((r) => setImmediate(r));
    expect(await ts.token()).toBe("tok-2");
    expect(transport.requests).toHaveLength(2);
  });

  it("the jitter spreads renewals between 60 and 90 s before expiry", async () => {
    const renewAt = async (random: number) => {
      const clock = new ManualClock();
      const start = clock.now();
      const transport = new ScriptedTransport((n) => ok(n));
      const ts = source(transport, clock, { random: () => random });
      await ts.token();
      for (let s = 3600 - 95; s <= 3600; s++) {
        clock.t = start + s * 1000;
        await ts.token();
        if (transport.requests.length > 1) return 3600 - s;
      }
      return undefined;
    };
    expect(await renewAt(0)).toBe(60);
    expect(await renewAt(0.5)).toBe(75);
    expect(await renewAt(1)).toBe(90);
  });

  it("short lifetimes renew at half-life at the latest", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport((n) => ok(n, 60));
    const ts = source(transport, clock);
    await ts.token();
    clock.advance(29_999);
    await ts.token();
    expect(transport.requests).toHaveLength(1);
    clock.advance(1);
    await ts.token();
    expect(transport.requests).toHaveLength(2);
  });
});

describe("retries", () => {
  it("backs off exponentially on UNAVAILABLE, within maxAttempts", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport((n) => {
      if (n < 4) throw unavailable();
      return ok(n);
    });
    const ts = source(transport, clock, { retry: { maxAttempts: 4, initialDelayMs: 200, multiplier: 2, maxDelayMs: 5_000 } });
    expect(await ts.token()).toBe("tok-4");
    expect(clock.sleeps).toEqual([200, 400, 800]);
  });

  it("gives up after maxAttempts with a typed, retryable error; jitter shortens delays", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport(() => {
      throw unavailable();
    });
    const ts = source(transport, clock, { random: () => 1, retry: { maxAttempts: 3, initialDelayMs: 1000, jitter: 0.2 } });
    const err = (await ts.token().catch((e) => e)) as TokenSourceError;
    expect(err).toBeInstanceOf(TokenSourceError);
    expect(err.code).toBe("ERR_TOKEN_ENDPOINT_UNAVAILABLE");
    expect(err.retryable).toBe(true);
    expect(transport.requests).toHaveLength(3);
    expect(clock.sleeps).toEqual([800, 1600]);
  });

  it("honours the server's retry delay when longer than the backoff", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport((n) => {
      if (n === 1) throw unavailable(3_000);
      if (n === 2) throw unavailable(10); // shorter than the backoff: the backoff wins
      return ok(n);
    });
    const ts = source(transport, clock);
    expect(await ts.token()).toBe("tok-3");
    expect(clock.sleeps).toEqual([3_000, 400]);
  });

  it("a Retry-After beyond maxRetryAfterMs fails at once", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport(() => {
      throw unavailable(120_000);
    });
    const ts = source(transport, clock);
    const err = (await ts.token().catch((e) => e)) as TokenSourceError;
    expect(err.retryAfterMs).toBe(120_000);
    expect(transport.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it("does not retry a refusal (invalid_client)", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport(() => {
      throw new TokenSourceError("ERR_TOKEN_REQUEST_REFUSED", "refused", { oauthError: "invalid_client", httpStatus: 401 });
    });
    const ts = source(transport, clock);
    const err = (await ts.token().catch((e) => e)) as TokenSourceError;
    expect(err.code).toBe("ERR_TOKEN_REQUEST_REFUSED");
    expect(err.oauthError).toBe("invalid_client");
    expect(transport.requests).toHaveLength(1);
  });

  it("a refusal is answered from memory for 5 s: 50 calls with a revoked secret send one request, then one more after the hold", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport(() => {
      throw new TokenSourceError("ERR_TOKEN_REQUEST_REFUSED", "refused", { oauthError: "invalid_client", httpStatus: 401 });
    });
    const ts = source(transport, clock);
    for (let i = 0; i < 50; i++) await expect(ts.token()).rejects.toMatchObject({ code: "ERR_TOKEN_REQUEST_REFUSED", oauthError: "invalid_client" });
    expect(transport.requests).toHaveLength(1);
    clock.advance(5_000);
    await expect(ts.token()).rejects.toMatchObject({ code: "ERR_TOKEN_REQUEST_REFUSED" });
    expect(transport.requests).toHaveLength(2);
  });
});

describe("never an expired token", () => {
  it("serves the cached token while renewal fails, then fails with a typed error once it expired", async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const transport = new ScriptedTransport((n) => {
      if (n === 1) return ok(1, 120);
      throw unavailable();
    });
    const ts = source(transport, clock, { retry: { maxAttempts: 2 } });
    expect(await ts.token()).toBe("tok-1");
    clock.t = start + 70_000; // renewal window (renew at 60 s for a 120 s token)
    expect(await ts.token()).toBe("tok-1");
    clock.t = start + 115_000; // within minValidity (5 s) of expiry: not handed out any more
    const err = (await ts.token().catch((e) => e)) as TokenSourceError;
    expect(err).toBeInstanceOf(TokenSourceError);
    expect(err.code).toBe("ERR_TOKEN_ENDPOINT_UNAVAILABLE");
    clock.t = start + 200_000;
    await expect(ts.token()).rejects.toBeInstanceOf(TokenSourceError);
  });

  it("close() makes later calls fail", async () => {
    const ts = source(new ScriptedTransport((n) => ok(n)), new ManualClock());
    await ts.token();
    ts.close();
    await expect(ts.token()).rejects.toMatchObject({ code: "ERR_TOKEN_SOURCE_CLOSED" });
  });
});

describe("HTTP transport", () => {
  type Call = { url: string; init: RequestInit };
  function httpSource(answers: Array<() => Response>, clock = new ManualClock(), extra = {}) {
    const calls: Call[] = [];
    let i = 0;
    const fetch = async (input: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(input), init: init ?? {} });
      return answers[Math.min(i++, answers.length - 1)]!();
    };
    const ts = new TokenSource({
      issuer: "https://auth.test/",
      clientId: "cl a",
      clientSecret: "s:cret",
      audience: "https://orders.test",
      scope: "orders:read",
      fetch,
      clock,
      random: () => 0,
      ...extra,
    });
    return { ts, calls, clock };
  }
  const tokenResponse = () => Response.json({ access_token: "tok-http", token_type: "Bearer", expires_in: 3600, scope: "orders:read" });

  it("POSTs a form to <issuer>/oauth/token with client_secret_basic", async () => {
    const { ts, calls } = httpSource([tokenResponse]);
    expect(await ts.token()).toBe("tok-http");
    expect(calls[0]!.url).toBe("https://auth.test/oauth/token");
    const headers = new Headers(calls[0]!.init.headers);
    expect(headers.get("authorization")).toBe(`Basic ${Buffer.from("cl+a:s%3Acret").toString("base64")}`);
    expect(headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(String(calls[0]!.init.body)))).toEqual({
      grant_type: "client_credentials",
      audience: "https://orders.test",
      scope: "orders:read",
    });
  });

  it("resource instead of audience", async () => {
    const { ts, calls } = httpSource([tokenResponse], new ManualClock(), { audience: undefined, resource: "https://orders.test/" });
    await ts.token();
    expect(new URLSearchParams(String(calls[0]!.init.body)).get("resource")).toBe("https://orders.test/");
    expect(new URLSearchParams(String(calls[0]!.init.body)).has("audience")).toBe(false);
  });

  it("retries 503 and 429 honouring Retry-After (seconds)", async () => {
    const { ts, calls, clock } = httpSource([
      () => new Response("busy", { status: 503, headers: { "retry-after": "3" } }),
      () => new Response("slow down", { status: 429, headers: { "retry-after": "1" } }),
      tokenResponse,
    ]);
    expect(await ts.token()).toBe("tok-http");
    expect(calls).toHaveLength(3);
    expect(clock.sleeps).toEqual([3_000, 1_000]);
  });

  it("a 401 invalid_client is refused at once, with the OAuth error and no secret in the message", async () => {
    const { ts, calls } = httpSource([() => Response.json({ error: "invalid_client", error_description: "nope" }, { status: 401 })]);
    const err = (await ts.token().catch((e) => e)) as TokenSourceError;
    expect(err.code).toBe("ERR_TOKEN_REQUEST_REFUSED");
    expect(err.oauthError).toBe("invalid_client");
    expect(err.httpStatus).toBe(401);
    expect(err.message).not.toContain("s:cret");
    expect(calls).toHaveLength(1);
  });

  it("a network failure is retried", async () => {
    let n = 0;
    const clock = new ManualClock();
    const ts = new TokenSource({
      issuer: "https://auth.test",
      clientId: "a",
      clientSecret: "b",
      audience: "x",
      clock,
      random: () => 0,
      fetch: async () => {
        if (++n === 1) throw new TypeError("fetch failed");
        return tokenResponse();
      },
    });
    expect(await ts.token()).toBe("tok-http");
    expect(clock.sleeps).toEqual([200]);
  });

  it("refuses a non-Bearer or malformed response", async () => {
    const { ts } = httpSource([() => Response.json({ access_token: "x", token_type: "mac" })]);
    await expect(ts.token()).rejects.toMatchObject({ code: "ERR_TOKEN_RESPONSE_INVALID" });
  });
});

describe("fetch wrapper", () => {
  it("adds the bearer header; a 401 invalid_token drops the token and retries once", async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport((n) => ok(n));
    const seen: Array<string | null> = [];
    let reject = true;
    const fetch = async (_input: string | URL | Request, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get("authorization"));
      if (reject) {
        reject = false;
        return new Response("", { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token", error_description="revoked"' } });
      }
      return new Response("ok");
    };
    const ts = source(transport, clock, { fetch });
    await ts.token();
    clock.advance(10_000); // older than the 5 s guard
    const res = await ts.fetch("https://orders.test/orders", { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(200);
    expect(seen).toEqual(["Bearer tok-1", "Bearer tok-2"]);
  });

  it("does not refetch tokens younger than a few seconds (a misconfigured API cannot drive issuance)", async () => {
    const transport = new ScriptedTransport((n) => ok(n));
    const fetch = async () => new Response("", { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' } });
    const ts = source(transport, new ManualClock(), { fetch });
    for (let i = 0; i < 5; i++) expect((await ts.fetch("https://orders.test/")).status).toBe(401);
    expect(transport.requests).toHaveLength(1);
  });
});

describe("gRPC transport and interceptor (against an in-test grpc-js server)", () => {
  let server: grpc.Server;
  let address: string;
  const plan: Array<(call: grpc.ServerUnaryCall<IssueTokenRequest, IssueTokenResponse>, cb: grpc.sendUnaryData<IssueTokenResponse>) => void> = [];
  const received: IssueTokenRequest[] = [];
  const authorizations: string[] = [];
  const issueAuthorizations: string[] = [];

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(TokenServiceService, {
      issueToken: (call: grpc.ServerUnaryCall<IssueTokenRequest, IssueTokenResponse>, cb: grpc.sendUnaryData<IssueTokenResponse>) => {
        received.push(call.request);
        issueAuthorizations.push(String(call.metadata.get("authorization")[0] ?? ""));
        const step = plan.shift();
        if (step) return step(call, cb);
        cb(null, { accessToken: `grpc-${received.length}`, tokenType: "Bearer", expiresIn: 3600, scope: call.request.scope, refreshToken: "" });
      },
      introspectToken: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        authorizations.push(String(call.metadata.get("authorization")[0] ?? ""));
        cb(null, IntrospectTokenResponse.fromPartial({ active: false }));
      },
      revokeToken: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => new Promise<void>((r) => server.tryShutdown(() => r())));

  function unavailableWith(md: Record<string, string | Buffer>) {
    return (_call: unknown, cb: grpc.sendUnaryData<IssueTokenResponse>) => {
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(md)) metadata.set(k, v);
      cb({ code: grpc.status.UNAVAILABLE, details: "draining", metadata });
    };
  }

  it("IssueToken with the secret as a field; retries UNAVAILABLE using RetryInfo, then retry-after", async () => {
    const retryInfo = RetryInfo.encode({ retryDelay: Duration.fromPartial({ seconds: 2, nanos: 500_000_000 }) }).finish();
    const status = Status.encode({
      code: grpc.status.UNAVAILABLE,
      message: "draining",
      details: [{ typeUrl: "type.googleapis.com/google.rpc.RetryInfo", value: Buffer.from(retryInfo) }],
    }).finish();
    plan.push(unavailableWith({ "grpc-status-details-bin": Buffer.from(status) }), unavailableWith({ "retry-after": "4" }));
    const clock = new ManualClock();
    const ts = new TokenSource({
      address,
      clientId: "cl_g",
      clientSecret: "sec",
      audience: "https://orders.test",
      scope: "orders:read",
      clock,
      random: () => 0,
    });
    const before = received.length;
    expect(await ts.token()).toBe(`grpc-${before + 3}`);
    expect(clock.sleeps).toEqual([2_500, 4_000]);
    const req = received.at(-1)!;
    expect(req.client).toMatchObject({ clientId: "cl_g", clientSecret: "sec" });
    expect(req).toMatchObject({ audience: "https://orders.test", scope: "orders:read", grantType: "client_credentials" });
    ts.close();
  });

  it("a refusal carries the ErrorInfo reason", async () => {
    const { ErrorInfo } = await import("../../sdk/src/gen/google/rpc/error_details.js");
    const info = ErrorInfo.encode({ reason: "invalid_client", domain: "authz", metadata: {} }).finish();
    const status = Status.encode({
      code: grpc.status.UNAUTHENTICATED,
      message: "bad",
      details: [{ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: Buffer.from(info) }],
    }).finish();
    plan.push((_c, cb) => {
      const metadata = new grpc.Metadata();
      metadata.set("grpc-status-details-bin", Buffer.from(status));
      cb({ code: grpc.status.UNAUTHENTICATED, details: "bad", metadata });
    });
    const ts = new TokenSource({ address, clientId: "cl_g", clientSecret: "sec", audience: "x", clock: new ManualClock() });
    await expect(ts.token()).rejects.toMatchObject({ code: "ERR_TOKEN_REQUEST_REFUSED", oauthError: "invalid_client", grpcCode: grpc.status.UNAUTHENTICATED });
    ts.close();
  });

  it("grpcInterceptor adds authorization on an insecure channel", async () => {
    const ts = new TokenSource({ address, clientId: "cl_g", clientSecret: "sec", audience: "urn:authz:management", clock: new ManualClock() });
    const { createAuthzClients } = await import("../../sdk/src/index.js");
    const authz = createAuthzClients({ address, token: ts });
    await authz.tokens.introspectToken({ token: "t" });
    expect(authorizations.at(-1)).toMatch(/^Bearer grpc-\d+$/);
    // Public RPCs never carry it.
    const n = received.length;
    await authz.tokens.issueToken({ client: { clientId: "x", clientSecret: "y" } });
    expect(received.length).toBe(n + 1);
    expect(issueAuthorizations.at(-1)).toBe("");
    authz.close();
    // Directly as a grpc-js client interceptor:
    const raw = new grpc.Client(address, grpc.credentials.createInsecure(), { interceptors: [ts.grpcInterceptor()] });
    await new Promise<void>((resolve, reject) =>
      raw.makeUnaryRequest(
        TokenServiceService.introspectToken.path,
        TokenServiceService.introspectToken.requestSerialize,
        TokenServiceService.introspectToken.responseDeserialize,
        { client: undefined, token: "t", tokenTypeHint: "" },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    expect(authorizations.at(-1)).toMatch(/^Bearer grpc-\d+$/);
    raw.close();
    ts.close();
  });

  it("a call fails locally (UNAUTHENTICATED, no secret in details) when no token can be had", async () => {
    plan.push((_c, cb) => cb({ code: grpc.status.PERMISSION_DENIED, details: "no" }));
    const ts = new TokenSource({ address, clientId: "cl_g", clientSecret: "super-secret", audience: "x", clock: new ManualClock() });
    const { createAuthzClients } = await import("../../sdk/src/index.js");
    const authz = createAuthzClients({ address, token: ts });
    const n = authorizations.length;
    const err = (await authz.tokens.introspectToken({ token: "t" }).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toContain("ERR_TOKEN_REQUEST_REFUSED");
    expect(err.details).not.toContain("super-secret");
    expect(authorizations.length).toBe(n); // never reached the server
    authz.close();
    ts.close();
  });
});
