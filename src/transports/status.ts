import { Any } from "../../gen/google/protobuf/any.js";
import { Duration } from "../../gen/google/protobuf/duration.js";
import { BadRequest, ErrorInfo, RetryInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";
import type { Failure } from "../pipeline/failure.js";

/**
 * A failure as the google.rpc.Status that travels in `grpc-status-details-bin`
 * (and that the gateway and Envoy's convert_grpc_status render as JSON), with
 * its typed details: BadRequest field violations, ErrorInfo (a stable reason;
 * for OAuth errors the RFC error code), RetryInfo.
 */
export function statusDetails(failure: Failure): Buffer {
  const details: Any[] = [];
  if (failure.violations.length > 0) details.push(pack("google.rpc.BadRequest", BadRequest.encode(BadRequest.fromPartial({ fieldViolations: failure.violations })).finish()));
  if (failure.reason) details.push(pack("google.rpc.ErrorInfo", ErrorInfo.encode({ reason: failure.reason, domain: "authz", metadata: failure.reasonMetadata }).finish()));
  if (failure.retryAfterSeconds !== undefined) {
    details.push(pack("google.rpc.RetryInfo", RetryInfo.encode({ retryDelay: Duration.fromPartial({ seconds: failure.retryAfterSeconds }) }).finish()));
  }
  return Buffer.from(Status.encode({ code: failure.code, message: failure.message, details }).finish());
}

function pack(typeName: string, value: Uint8Array): Any {
  return Any.fromPartial({ typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) });
}
