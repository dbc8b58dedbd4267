import * as grpc from "@grpc/grpc-js";
import { fromBinary, toJsonString, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import type { TranscoderSettings } from "./settings.js";

/** gRPC status -> HTTP status, as Envoy's grpcToHttpStatus (from the Google API design guide). */
const HTTP_STATUS: Record<number, number> = {
  [grpc.status.OK]: 200,
  [grpc.status.CANCELLED]: 499,
  [grpc.status.UNKNOWN]: 500,
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.FAILED_PRECONDITION]: 400,
  [grpc.status.ABORTED]: 409,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.UNIMPLEMENTED]: 501,
  [grpc.status.INTERNAL]: 500,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DATA_LOSS]: 500,
  [grpc.status.UNAUTHENTICATED]: 401,
};

export function httpStatusOf(code: number): number {
  return HTTP_STATUS[code] ?? 500;
}

/** Metadata that is transport detail, never an HTTP response header. */
export function isResponseHeader(name: string): boolean {
  return !name.startsWith("grpc-") && !name.endsWith("-bin") && name !== "content-type" && name !== "date" && name !== "x-http-code";
}

export function printOptions(settings: TranscoderSettings, registry: FileRegistry) {
  return {
    useProtoFieldName: settings.printOptions.preserveProtoFieldNames,
    alwaysEmitImplicit: settings.printOptions.alwaysPrintPrimitiveFields,
    enumAsInteger: settings.printOptions.alwaysPrintEnumsAsInts,
    prettySpaces: settings.printOptions.addWhitespace ? 2 : 0,
    registry,
  };
}

/**
 * The google.rpc.Status JSON of a gRPC error (convert_grpc_status): from
 * `grpc-status-details-bin` when present (with typed details such as
 * BadRequest rendered through the registry), else code + message.
 */
export function statusBody(err: grpc.ServiceError, registry: FileRegistry, options: ReturnType<typeof printOptions>): string {
  const status = registry.getMessage("google.rpc.Status") as DescMessage;
  const raw = err.metadata?.get("grpc-status-details-bin")[0];
  if (raw instanceof Buffer) {
    try {
      return toJsonString(status, fromBinary(status, raw), options);
    } catch {
      // fall through to the plain form
    }
  }
  return JSON.stringify({ code: err.code, message: err.details ?? "", details: [] });
}
