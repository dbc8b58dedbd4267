import type * as grpc from "@grpc/grpc-js";
import { BadRequest, ErrorInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";

/** Decodes the google.rpc.Status carried in `grpc-status-details-bin`. */
export function statusOf(err: grpc.ServiceError): Status | undefined {
  const raw = err.metadata?.get("grpc-status-details-bin")[0];
  return raw ? Status.decode(raw as Buffer) : undefined;
}

/** The field violations of a google.rpc.BadRequest detail, as "field: description" pairs. */
export function violations(err: grpc.ServiceError): Array<{ field: string; description: string }> {
  const detail = statusOf(err)?.details.find((d) => d.typeUrl === "type.googleapis.com/google.rpc.BadRequest");
  return detail ? BadRequest.decode(detail.value).fieldViolations.map(({ field, description }) => ({ field, description })) : [];
}

export function violatedFields(err: grpc.ServiceError): string[] {
  return violations(err).map((v) => v.field);
}

/** The google.rpc.ErrorInfo reason (the RFC 6749 error code on TokenService errors). */
export function errorReason(err: grpc.ServiceError): string | undefined {
  const detail = statusOf(err)?.details.find((d) => d.typeUrl === "type.googleapis.com/google.rpc.ErrorInfo");
  return detail ? ErrorInfo.decode(detail.value).reason : undefined;
}
