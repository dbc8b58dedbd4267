import { describe, expect, test } from "vitest";
import { AuthzError, GrpcCode } from "../../../src/errors.js";
import { createLogger } from "../../../src/log.js";
import { headersOf, type CallContext } from "../../../src/pipeline/context.js";
import { createPipeline, UndecodableRequest, type Method } from "../../../src/pipeline/pipeline.js";

/** The transport-neutral call path on its own: a method table of one, a real logger writing to an array. */
function setUp(handler: Method["handler"], rule: Method["rule"] = { public: true }, maxUnaryCallMs = 150) {
  const lines: Array<Record<string, unknown>> = [];
  const pipeline = createPipeline({
    verify: async (token) => (token === "good" ? { clientId: "cl_op", scopes: ["clients:read"] } : undefined),
    logger: createLogger("info", (l) => lines.push(JSON.parse(l))),
    maxUnaryCallMs,
  });
  const method: Method = { path: "/test.v1.T/Call", rule, stream: false, handler, decode: (b) => b, encode: () => new Uint8Array() };
  const call = (request: unknown = {}, headers: Record<string, string> = {}, deadline = Number.POSITIVE_INFINITY) => {
    const { ctx, cancel } = pipeline.context({ method: method.path, requestHeaders: headersOf(headers), deadline, peer: "127.0.0.1" });
    return { outcome: pipeline.unary(method, request, ctx), cancel, ctx };
  };
  return { call, lines };
}

describe("the pipeline", () => {
  test("a handler that never finishes is DEADLINE_EXCEEDED after the server's bound, whatever the caller's deadline", async () => {
    const { call, lines } = setUp(() => new Promise(() => {}));
    const started = Date.now();
    const outcome = await call().outcome;
    expect(outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.DEADLINE_EXCEEDED } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(lines).toEqual([expect.objectContaining({ msg: "rpc", method: "/test.v1.T/Call", code: "DEADLINE_EXCEEDED" })]);
  });

  test("the caller's shorter deadline wins", async () => {
    const { call } = setUp(() => new Promise(() => {}), { public: true }, 60_000);
    expect(await call({}, {}, Date.now() + 50).outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.DEADLINE_EXCEEDED } });
  });

  test("a caller that went away is CANCELLED, logged once, even though the handler then succeeded", async () => {
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const { call, lines } = setUp(() => new Promise((resolve) => ((release = () => resolve({ fine: true })), started())));
    const c = call();
    await running;
    c.cancel();
    release();
    expect(await c.outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.CANCELLED } });
    expect(lines.map((l) => l.code)).toEqual(["CANCELLED"]);
  });

  test("access: no token UNAUTHENTICATED with a Bearer challenge; a token without the permission PERMISSION_DENIED naming it; the right one reaches the handler with the principal", async () => {
    const seen: unknown[] = [];
    const { call } = setUp((_req: unknown, ctx: CallContext) => (seen.push(ctx.principal), { ok: 1 }), { public: false, permission: "clients:write" });
    expect(await call().outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.UNAUTHENTICATED, headers: { "www-authenticate": 'Bearer realm="authz"' } } });
    expect(await call({}, { authorization: "Bearer nope" }).outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.UNAUTHENTICATED } });
    const denied = await call({}, { authorization: "Bearer good" }).outcome;
    expect(denied).toMatchObject({ ok: false, failure: { code: GrpcCode.PERMISSION_DENIED, reasonMetadata: { permission: "clients:write" } } });
    expect(seen).toEqual([]);
    const { call: readCall } = setUp((_req: unknown, ctx: CallContext) => (seen.push(ctx.principal), { ok: 1 }), { public: false, permission: "clients:read" });
    expect(await readCall({}, { authorization: "Bearer good" }).outcome).toEqual({ ok: true, response: { ok: 1 } });
    expect(seen).toEqual([{ clientId: "cl_op", scopes: ["clients:read"] }]);
  });

  test("one error table: a domain error keeps its kind and message; anything else is INTERNAL with fixed text, its cause only in the log", async () => {
    const { call: domainCall } = setUp(() => {
      throw new AuthzError("failed_precondition", "not now");
    });
    expect(await domainCall().outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.FAILED_PRECONDITION, message: "not now" } });
    const { call, lines } = setUp(() => {
      throw new TypeError("secret detail");
    });
    expect(await call().outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.INTERNAL, message: "internal error" } });
    expect(lines.find((l) => l.msg === "handler fault")).toMatchObject({ level: "error", error: "TypeError", detail: "secret detail" });
  });

  test("a request that did not decode is INVALID_ARGUMENT, not INTERNAL, and never reaches the handler", async () => {
    let reached = false;
    const { call } = setUp(() => ((reached = true), {}));
    expect(await call(new UndecodableRequest(new Error("recursion"))).outcome).toMatchObject({ ok: false, failure: { code: GrpcCode.INVALID_ARGUMENT } });
    expect(reached).toBe(false);
  });
});
