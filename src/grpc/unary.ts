import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log.js";
import { errorFields } from "../log.js";
import { isFault, toRpcError } from "./status.js";

/**
 * Adapts an async handler to grpc-js's callback API, so handler bodies are
 * "decode, call the domain, encode" and simply throw. Errors are mapped once
 * here (src/grpc/status.ts); faults are logged without request data.
 */
export function unary<Req, Res>(
  logger: Logger,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (response) => callback(null, response),
        (err: unknown) => {
          if (isFault(err)) logger.error("handler fault", { method: call.getPath(), ...errorFields(err) });
          callback(toRpcError(err) as unknown as grpc.ServiceError);
        },
      );
  };
}
