/**
 * Promise-returning wrappers over ts-proto grpc-js service definitions:
 * requests are built with the message's `fromPartial` (so callers pass plain
 * partial objects), unary methods return promises, server-streaming methods
 * return the grpc-js stream (an async iterable).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";

/** A method of a ts-proto grpc-js service definition. */
export interface MethodDefinitionLike {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  requestSerialize(value: never): Buffer;
  responseDeserialize(value: Buffer): unknown;
}

/** The request message type of a method definition. */
export type RequestOf<D> = D extends { requestSerialize(value: infer R): Buffer } ? R : never;
/** The response message type of a method definition. */
export type ResponseOf<D> = D extends { responseDeserialize(value: Buffer): infer R } ? R : never;

type Builtin = Date | Function | Uint8Array | string | number | boolean | undefined;
/** Like ts-proto's `DeepPartial`: every field optional, recursively. */
export type DeepPartial<T> = T extends Builtin
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends ReadonlyArray<infer U>
      ? ReadonlyArray<DeepPartial<U>>
      : T extends { $case: string; value: unknown }
        ? { $case: T["$case"]; value?: DeepPartial<T["value"]> }
        : T extends {}
          ? { [K in keyof T]?: DeepPartial<T[K]> }
          : Partial<T>;

/** Per-call options of a promise client method. */
export interface RpcOptions {
  /** Extra request metadata. */
  metadata?: grpc.Metadata;
  /** Absolute deadline; wins over `timeoutMs`. */
  deadline?: grpc.Deadline;
  /** Deadline relative to now, ms (default: the client's `defaultTimeoutMs`, if any). */
  timeoutMs?: number;
  /** Cancels the call (CANCELLED) when it aborts. */
  signal?: AbortSignal;
}

/** The promise-returning client of a service definition `S`. */
export type PromiseClient<S> = {
  [K in keyof S]: S[K] extends { responseStream: true }
    ? (request?: DeepPartial<RequestOf<S[K]>>, options?: RpcOptions) => grpc.ClientReadableStream<ResponseOf<S[K]>>
    : (request?: DeepPartial<RequestOf<S[K]>>, options?: RpcOptions) => Promise<ResponseOf<S[K]>>;
};

/** For each method, the request message's `fromPartial` (the generated message constant). */
export type RequestBuilders<S> = {
  [K in keyof S]: { fromPartial(object: any): RequestOf<S[K]> };
};

/**
 * Builds a {@link PromiseClient} for one service over a grpc-js `Client`
 * (which may be shared by several services: the method path selects the RPC).
 * Failed unary calls reject with the grpc-js `ServiceError` (`code`,
 * `details`, `metadata`; see {@link rpcErrorDetails} for typed details).
 */
export function promiseClient<S extends Record<string, MethodDefinitionLike>>(
  client: grpc.Client,
  service: S,
  requests: RequestBuilders<S>,
  defaults: { timeoutMs?: number } = {},
): PromiseClient<S> {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(service)) {
    if (def.requestStream) continue; // authz has no client-streaming RPCs
    const build = requests[name as keyof S];
    const serialize = (value: unknown) => def.requestSerialize(value as never);
    const deserialize = (bytes: Buffer) => def.responseDeserialize(bytes);
    if (def.responseStream) {
      out[name] = (request: unknown = {}, options: RpcOptions = {}) => {
        const call = client.makeServerStreamRequest(
          def.path,
          serialize,
          deserialize,
          build.fromPartial(request),
          options.metadata ?? new grpc.Metadata(),
          callOptions(options, defaults),
        );
        const unbind = bindSignal(options.signal, call);
        call.once("close", unbind);
        return call;
      };
    } else {
      out[name] = (request: unknown = {}, options: RpcOptions = {}) =>
        new Promise((resolve, reject) => {
          let unbind = () => {};
          const call = client.makeUnaryRequest(
            def.path,
            serialize,
            deserialize,
            build.fromPartial(request),
            options.metadata ?? new grpc.Metadata(),
            callOptions(options, defaults),
            (err, res) => {
              unbind();
              if (err) reject(err);
              else resolve(res);
            },
          );
          unbind = bindSignal(options.signal, call);
        });
    }
  }
  return out as PromiseClient<S>;
}

function callOptions(options: RpcOptions, defaults: { timeoutMs?: number }): grpc.CallOptions {
  const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
  const deadline = options.deadline ?? (timeoutMs !== undefined ? Date.now() + timeoutMs : undefined);
  return deadline !== undefined ? { deadline } : {};
}

/** Cancels `call` when `signal` aborts; returns the function that detaches the listener. */
function bindSignal(signal: AbortSignal | undefined, call: { cancel(): void }): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    call.cancel();
    return () => {};
  }
  const onAbort = () => call.cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}
