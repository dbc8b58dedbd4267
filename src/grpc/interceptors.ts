import * as grpc from "@grpc/grpc-js";
import { performance } from "node:perf_hooks";
import type { Logger } from "../log.js";

/**
 * One structured line per call: method, status and duration. Request and
 * response contents (which may hold secrets and tokens) are never logged.
 */
export function loggingInterceptor(logger: Logger): grpc.ServerInterceptor {
  return (methodDescriptor, call) => {
    const start = performance.now();
    return new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        logger.info("rpc", {
          method: methodDescriptor.path,
          code: grpc.status[status.code] ?? status.code,
          ms: Math.round((performance.now() - start) * 100) / 100,
        });
        next(status);
      },
    });
  };
}
