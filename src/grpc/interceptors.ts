import * as grpc from "@grpc/grpc-js";
import { performance } from "node:perf_hooks";
import type { Logger } from "../log.js";

/**
 * One structured line per call: method, status and duration. Request and
 * response contents (which may hold secrets and tokens) are never logged.
 * A call the client cancels (or whose deadline passes, or whose connection
 * drops) never reaches sendStatus; it is logged as CANCELLED when it ends.
 */
export function loggingInterceptor(logger: Logger): grpc.ServerInterceptor {
  return (methodDescriptor, call) => {
    const start = performance.now();
    let logged = false;
    const log = (code: grpc.status) => {
      // grpc-js also reports a cancel after a normal status; the first event is the truth.
      if (logged) return;
      logged = true;
      logger.info("rpc", {
        method: methodDescriptor.path,
        code: grpc.status[code] ?? code,
        ms: Math.round((performance.now() - start) * 100) / 100,
      });
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({ onCancel: () => log(grpc.status.CANCELLED) });
      },
      sendStatus(status, next) {
        log(status.code);
        next(status);
      },
    });
  };
}
