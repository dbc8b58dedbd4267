import type * as grpc from "@grpc/grpc-js";

type AsyncMethod<M> = M extends (
  request: infer Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: infer Res) => void,
) => grpc.ClientUnaryCall
  ? (request: Req, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>) => Promise<Res>
  : never;

/** A generated ts-proto grpc-js client with promise-returning unary methods. */
export type Promisified<C> = {
  [K in keyof C as AsyncMethod<C[K]> extends never ? never : K]: AsyncMethod<C[K]>;
};

/** Wraps a generated client so `await client.getApiServer({ id })` works; errors reject as grpc.ServiceError. */
export function promisify<C extends grpc.Client>(client: C): Promisified<C> & { raw: C } {
  return new Proxy(client as object, {
    get(target, prop) {
      if (prop === "raw") return target;
      const method = (target as Record<string | symbol, unknown>)[prop];
      if (typeof method !== "function") return method;
      return (request: unknown, metadata?: grpc.Metadata, options: Partial<grpc.CallOptions> = {}) =>
        new Promise((resolve, reject) => {
          const cb = (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res));
          if (metadata) method.call(target, request, metadata, options, cb);
          else method.call(target, request, cb);
        });
    },
  }) as Promisified<C> & { raw: C };
}
