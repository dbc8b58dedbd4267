import * as grpc from "@grpc/grpc-js";
import { GrpcCode } from "../errors.js";
import type { ClientCertificate, RequestHeaders } from "../pipeline/context.js";
import type { Method, Pipeline } from "../pipeline/pipeline.js";
import { statusDetails } from "../transports/status.js";
import { XFCC_HEADER } from "../tls/forwarded.js";
import { GATEWAY_KEY_HEADER, GATEWAY_PEER_HEADER } from "./loopback_peer.js";
import type { Route } from "./routes.js";

/** One call the gateway makes for an HTTP request: the transcoded request and the headers that become metadata. */
export interface UpstreamCall {
  route: Route;
  /** The request message, protobuf-encoded. */
  request: Uint8Array;
  /** Request headers as metadata, in order, repeated names repeated (already filtered and checked, see gateway/headers.ts). */
  headers: ReadonlyArray<readonly [string, string]>;
  /** Epoch ms. */
  deadline: number;
  /** The HTTP client going away: the call is then cancelled, as Envoy resets the upstream stream. */
  hangup: Hangup;
  peer: string;
  /** The HTTP client's TLS certificate; in-process only (over loopback it stays behind, as with Envoy without x-forwarded-client-cert). */
  clientCertificate?: ClientCertificate;
}

/**
 * The HTTP client going away, as a callback rather than an AbortSignal (an
 * EventTarget per request costs the hot path more than this whole object):
 * `onHangup` sets what cancels the call (run at once if it already happened),
 * undefined clears it.
 */
export interface Hangup {
  readonly happened: boolean;
  onHangup(cancel: (() => void) | undefined): void;
}

/** A Hangup its owner triggers (`hangUp`, once). */
export class ClientHangup implements Hangup {
  happened = false;
  private cancel: (() => void) | undefined;
  onHangup(cancel: (() => void) | undefined): void {
    this.cancel = cancel;
    if (this.happened) cancel?.();
  }
  readonly hangUp = (): void => {
    if (this.happened) return;
    this.happened = true;
    this.cancel?.();
  };
}

/** What came back: a gRPC status, the headers it carried and, when OK, the response. */
export interface UpstreamReply {
  code: number;
  message: string;
  /** `grpc-status-details-bin`: a google.rpc.Status with typed details. */
  statusDetails?: Uint8Array;
  /** Initial metadata (OK), or the trailers of a trailers-only error: they become response headers. */
  headers: Record<string, string | string[]>;
  /** OK: the protobuf-encoded response. */
  body?: Uint8Array;
  /** OK, when the route's response_body is an HttpBody and the upstream has it at hand: its bytes, unencoded. */
  httpBody?: { contentType: string; data: Uint8Array };
}

/** Where transcoded calls go: the service in this process, or a real gRPC connection (what Envoy has). */
export interface Upstream {
  unary(call: UpstreamCall): Promise<UpstreamReply>;
  /**
   * A server-streaming call: each response, protobuf-encoded, goes to
   * `onMessage` (whose promise is back-pressure); resolves with the final
   * status (headers of a failure before any message included).
   */
  stream(call: UpstreamCall, onMessage: (message: Uint8Array) => Promise<void>): Promise<UpstreamReply>;
  close(): void;
}

/**
 * In-process: the gateway calls the pipeline directly, no HTTP/2 hop. The
 * request is decoded with the generated codec (as grpc-js would) and the
 * outcome encoded the same way, so the HTTP contract is the loopback one.
 */
export function inProcessUpstream(methods: ReadonlyMap<string, Method>, pipeline: Pipeline): Upstream {
  return {
    async unary(call) {
      const method = methods.get(call.route.grpcPath);
      if (!method || method.stream) return { code: GrpcCode.UNIMPLEMENTED, message: `${call.route.grpcPath} is not served`, headers: {} };
      const request = method.decode(call.request);
      const { ctx, cancel } = pipeline.context({ method: method.path, requestHeaders: joinedValues(call.headers), deadline: call.deadline, peer: call.peer, clientCertificate: call.clientCertificate });
      call.hangup.onHangup(cancel);
      const outcome = await pipeline.unary(method, request, ctx);
      call.hangup.onHangup(undefined);
      if (!outcome.ok) {
        const { failure } = outcome;
        return { code: failure.code, message: failure.message, statusDetails: statusDetails(failure), headers: failure.headers };
      }
      const headers: Record<string, string> = ctx.httpStatus === 200 ? { ...ctx.responseHeaders } : { ...ctx.responseHeaders, "x-http-code": String(ctx.httpStatus) };
      const field = call.route.httpBodyResponseField;
      const httpBody = field ? ((outcome.response as Record<string, unknown>)[field.localName] as UpstreamReply["httpBody"]) : undefined;
      return httpBody ? { code: GrpcCode.OK, message: "", headers, httpBody } : { code: GrpcCode.OK, message: "", headers, body: method.encode(outcome.response) };
    },
    async stream(call, onMessage) {
      const method = methods.get(call.route.grpcPath);
      if (!method || !method.stream) return { code: GrpcCode.UNIMPLEMENTED, message: `${call.route.grpcPath} is not served`, headers: {} };
      const { ctx, cancel } = pipeline.context({ method: method.path, requestHeaders: joinedValues(call.headers), deadline: call.deadline, peer: call.peer, clientCertificate: call.clientCertificate });
      call.hangup.onHangup(cancel);
      const outcome = await pipeline.stream(method, method.decode(call.request), ctx, (response) => onMessage(method.encode(response)));
      call.hangup.onHangup(undefined);
      if (outcome.ok) return { code: GrpcCode.OK, message: "", headers: {} };
      const { failure } = outcome;
      return { code: failure.code, message: failure.message, statusDetails: statusDetails(failure), headers: failure.headers };
    },
    close() {},
  };
}

/**
 * Header lookup as over gRPC, where grpc-js joins a name's values: every line
 * of a name, in order, joined with ", " (RFC 9110 §5.3). Not the first line
 * alone: behind a proxy that adds its own x-forwarded-for line, the first is
 * the caller's to write, and its last hop would be whatever the caller chose.
 */
function joinedValues(headers: ReadonlyArray<readonly [string, string]>): RequestHeaders {
  return {
    get(name) {
      let joined: string | undefined;
      for (const [n, v] of headers) if (n === name) joined = joined === undefined ? v : `${joined}, ${v}`;
      return joined;
    },
  };
}

const identity = (b: Buffer) => b;

/**
 * Loopback: a real HTTP/2 connection to the gRPC listener, one shared channel
 * as Envoy's cluster has (`--gateway-upstream loopback`): the same bytes, the
 * same failure modes as behind Envoy.
 */
export function loopbackUpstream(target: string, maxResponseBytes: number, gatewayKey?: string): Upstream {
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": maxResponseBytes });
  /**
   * The call's headers as metadata, and who the HTTP caller was, vouched for
   * by the key (src/gateway/loopback_peer.ts): every call arrives from this
   * process's own address, so the service judges the caller's address (its
   * throttling source, whether its XFCC header comes from a trusted proxy)
   * by that. Without a key nothing vouches for the caller, and an XFCC header
   * does not go on at all: else anyone could write one and be believed
   * wherever 127.0.0.1 is trusted.
   */
  const metadataOf = (call: UpstreamCall): grpc.Metadata => {
    const md = new grpc.Metadata();
    const vouched = gatewayKey !== undefined && call.peer !== "";
    for (const [name, value] of call.headers) if (vouched || name !== XFCC_HEADER) md.add(name, value);
    if (vouched) {
      md.set(GATEWAY_PEER_HEADER, call.peer);
      md.set(GATEWAY_KEY_HEADER, gatewayKey);
    }
    return md;
  };
  return {
    unary(call) {
      return new Promise((resolve) => {
        const md = metadataOf(call);
        let initial: grpc.Metadata | undefined;
        let done = false;
        const request = Buffer.from(call.request.buffer, call.request.byteOffset, call.request.byteLength);
        const pending = client.makeUnaryRequest(call.route.grpcPath, identity, identity, request, md, { deadline: call.deadline }, (err, out) => {
          done = true;
          if (err) {
            const raw = err.metadata?.get("grpc-status-details-bin")[0];
            resolve({ code: err.code, message: err.details ?? "", statusDetails: raw instanceof Buffer ? raw : undefined, headers: textHeaders(initial ?? err.metadata) });
          } else resolve({ code: GrpcCode.OK, message: "", headers: textHeaders(initial), body: out! });
        });
        pending.on("metadata", (m: grpc.Metadata) => {
          initial = m;
        });
        call.hangup.onHangup(() => {
          if (!done) pending.cancel();
        });
      });
    },
    stream(call, onMessage) {
      return new Promise((resolve) => {
        const md = metadataOf(call);
        const request = Buffer.from(call.request.buffer, call.request.byteOffset, call.request.byteLength);
        const stream = client.makeServerStreamRequest(call.route.grpcPath, identity, identity, request, md, { deadline: call.deadline });
        let initial: grpc.Metadata | undefined;
        stream.on("metadata", (m: grpc.Metadata) => (initial = m));
        stream.on("data", (message: Buffer) => {
          stream.pause();
          void onMessage(message).finally(() => stream.resume());
        });
        stream.on("error", () => {}); // the status below says it all
        stream.on("status", (status: grpc.StatusObject) => {
          const raw = status.metadata?.get("grpc-status-details-bin")[0];
          resolve({ code: status.code, message: status.details ?? "", statusDetails: raw instanceof Buffer ? raw : undefined, headers: textHeaders(initial ?? status.metadata) });
        });
        call.hangup.onHangup(() => stream.cancel());
      });
    },
    close: () => client.close(),
  };
}

/** Text metadata as header values (every value of a repeated key); binary `-bin` entries are not headers. */
function textHeaders(md: grpc.Metadata | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!md) return out;
  for (const name of Object.keys(md.getMap())) {
    if (name.endsWith("-bin")) continue;
    const all = md.get(name).map(String);
    out[name] = all.length === 1 ? all[0]! : all;
  }
  return out;
}
