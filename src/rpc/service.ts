import type * as grpc from "@grpc/grpc-js";
import type { MethodRule } from "../pipeline/access.js";
import type { CallContext, StreamHandler, UnaryHandler } from "../pipeline/context.js";
import { UndecodableRequest, type Method } from "../pipeline/pipeline.js";

/** A generated service's handlers, as plain functions: `(request, ctx) => response` (or a stream of them). */
export type Handlers<S> = {
  [K in keyof S as string extends K ? never : K]: S[K] extends grpc.handleUnaryCall<infer Req, infer Res>
    ? UnaryHandler<Req, Res>
    : S[K] extends grpc.handleServerStreamingCall<infer Req, infer Res>
      ? StreamHandler<Req, Res>
      : never;
};

interface GeneratedMethod {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(value: Buffer): unknown;
  responseSerialize(value: any): Buffer;
}

/** A service's generated definition bound to its handlers. */
export interface ServiceBinding {
  definition: Record<string, GeneratedMethod>;
  handlers: Record<string, UnaryHandler | StreamHandler>;
  renderError?: (err: unknown, ctx: CallContext) => unknown;
}

export function bindService<S>(
  definition: Record<keyof S, GeneratedMethod> & grpc.ServiceDefinition,
  handlers: Handlers<S>,
  options: { renderError?: (err: unknown, ctx: CallContext) => unknown } = {},
): ServiceBinding {
  return { definition, handlers: handlers as unknown as ServiceBinding["handlers"], renderError: options.renderError };
}

/**
 * The method table the pipeline and both transports serve: every method of
 * every bound service, with its access rule (from the proto options), its
 * handler and the generated codecs. A method without a handler or a rule fails start-up.
 */
export function buildMethods(bindings: ServiceBinding[], rules: ReadonlyMap<string, MethodRule>): Map<string, Method> {
  const methods = new Map<string, Method>();
  for (const binding of bindings) {
    for (const [name, def] of Object.entries(binding.definition)) {
      const handler = binding.handlers[name];
      const rule = rules.get(def.path);
      if (!handler) throw new Error(`${def.path} has no handler`);
      if (!rule) throw new Error(`${def.path} has no access rule`);
      if (def.requestStream) throw new Error(`${def.path}: client streaming is not served`);
      methods.set(def.path, {
        path: def.path,
        rule,
        stream: def.responseStream,
        handler,
        decode: (bytes) => {
          try {
            return def.requestDeserialize(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          } catch (err) {
            return new UndecodableRequest(err);
          }
        },
        encode: (response) => def.responseSerialize(response),
        renderError: binding.renderError,
      });
    }
  }
  return methods;
}
