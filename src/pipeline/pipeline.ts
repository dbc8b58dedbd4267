import { performance } from "node:perf_hooks";
import { AuthzError, Cancelled, DeadlineExceeded, GrpcCode, isFault } from "../errors.js";
import { errorFields, type Logger } from "../log.js";
import { authorize, type MethodRule, type VerifyManagementToken } from "./access.js";
import type { CallContext, RequestHeaders, StreamHandler, UnaryHandler } from "./context.js";
import { toFailure, type Failure } from "./failure.js";

/** One RPC as the pipeline serves it; built in src/rpc/ from the generated definitions. */
export interface Method {
  path: string;
  rule: MethodRule;
  /** Unary, or server streaming (`stream`). */
  stream: boolean;
  handler: UnaryHandler | StreamHandler;
  /** The request message from its protobuf bytes (an UndecodableRequest when they do not decode), and the response to them (the generated codecs). */
  decode(bytes: Uint8Array): unknown;
  encode(response: unknown): Uint8Array;
  /**
   * For HTTP-shaped RPCs (the OAuth endpoints): renders a failure as a
   * successful response carrying the RFC error body and status, so protocol
   * errors and faults alike reach HTTP callers RFC-shaped. The call is still
   * logged with the failure's code. Undefined: not renderable (a gRPC error).
   */
  renderError?(err: unknown, ctx: CallContext): unknown;
}

/**
 * A request whose bytes did not decode (malformed, or nested past the
 * decoder's recursion limit). Methods' `decode` returns it instead of
 * throwing, so the call fails as INVALID_ARGUMENT through the pipeline
 * (logged, counted) rather than as the transport's INTERNAL.
 */
export class UndecodableRequest {
  constructor(readonly cause: unknown) {}
}

function checkDecoded(request: unknown): void {
  if (request instanceof UndecodableRequest) {
    throw new AuthzError("invalid_argument", "the request message cannot be decoded (malformed, or nested too deeply)", { cause: request.cause });
  }
}

export type Outcome = { ok: true; response: unknown } | { ok: false; failure: Failure };

export interface PipelineDeps {
  verify: VerifyManagementToken;
  logger: Logger;
  /** Longest a unary call may run on the server, whatever the caller's deadline (ms). */
  maxUnaryCallMs: number;
}

const CODE_NAMES = Object.fromEntries(Object.entries(GrpcCode).map(([name, code]) => [code, name])) as Record<number, string>;

export interface CallInit {
  method: string;
  requestHeaders: RequestHeaders;
  /** The caller's deadline (epoch ms), Infinity for none. */
  deadline: number;
  peer: string;
}

/**
 * The transport-neutral call path, identical for grpc-js and the embedded
 * gateway: access, the handler under a deadline, the error table, one log line
 * per call. Transports make a context with `context()`, call `unary` or
 * `stream`, and encode the outcome; they hold no logic of their own.
 */
export function createPipeline(deps: PipelineDeps) {
  const { logger } = deps;

  function context(init: CallInit): { ctx: CallContext; cancel(): void } {
    const controller = new AbortController();
    const ctx: CallContext = {
      method: init.method,
      requestHeaders: init.requestHeaders,
      responseHeaders: {},
      httpStatus: 200,
      principal: undefined,
      deadline: init.deadline,
      signal: controller.signal,
      peer: init.peer,
    };
    return { ctx, cancel: () => controller.abort(new Cancelled()) };
  }

  function succeed(method: Method, start: number, response: unknown, ctx: CallContext): Outcome {
    // A call whose caller went away is CANCELLED, whatever the handler did after.
    if (ctx.signal.aborted && ctx.signal.reason instanceof Cancelled) return fail(method, start, ctx.signal.reason, ctx);
    log(method.path, start, GrpcCode.OK);
    return { ok: true, response };
  }

  function fail(method: Method, start: number, err: unknown, ctx: CallContext): Outcome {
    const cause = ctx.signal.aborted && ctx.signal.reason instanceof Cancelled ? ctx.signal.reason : err;
    const failure = toFailure(cause);
    log(method.path, start, failure.code);
    if (isFault(cause)) logger.error("handler fault", { method: method.path, ...errorFields(cause) });
    const rendered = failure.kind === "cancelled" ? undefined : method.renderError?.(cause, ctx);
    return rendered === undefined ? { ok: false, failure } : { ok: true, response: rendered };
  }

  function log(method: string, start: number, code: number): void {
    logger.info("rpc", { method, code: CODE_NAMES[code], ms: Math.round((performance.now() - start) * 100) / 100 });
  }

  async function unary(method: Method, request: unknown, ctx: CallContext): Promise<Outcome> {
    const start = performance.now();
    const deadline = Math.min(ctx.deadline, Date.now() + deps.maxUnaryCallMs);
    let timer: NodeJS.Timeout | undefined;
    try {
      await authorize(method.rule, ctx, deps.verify);
      checkDecoded(request);
      const work = Promise.resolve((method.handler as UnaryHandler)(request, ctx));
      const response = await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DeadlineExceeded()), Math.max(0, deadline - Date.now()));
        }),
      ]);
      return succeed(method, start, response, ctx);
    } catch (err) {
      return fail(method, start, err, ctx);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Server streaming: no server deadline (watch streams are long-lived); ends when the handler returns or the caller goes away. */
  async function stream(method: Method, request: unknown, ctx: CallContext, send: (response: unknown) => Promise<void>): Promise<Outcome> {
    const start = performance.now();
    try {
      await authorize(method.rule, ctx, deps.verify);
      checkDecoded(request);
      await (method.handler as StreamHandler)(request, ctx, send);
      return succeed(method, start, undefined, ctx);
    } catch (err) {
      return fail(method, start, err, ctx);
    }
  }

  return { context, unary, stream };
}

export type Pipeline = ReturnType<typeof createPipeline>;
