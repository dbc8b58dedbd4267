import * as grpc from "@grpc/grpc-js";
import { Any } from "../../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";
import { Aborted, AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound } from "../domain/errors.js";
import { OAuthError } from "../oauth/errors.js";

/** A gRPC error carrying a google.rpc.Status (with typed details) in `grpc-status-details-bin`. */
export class RpcError extends Error implements Partial<grpc.ServiceError> {
  override name = "RpcError";
  readonly metadata = new grpc.Metadata();
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    anyDetails: Any[] = [],
    extraMetadata: Record<string, string> = {},
  ) {
    super(details);
    const status = Status.encode({ code, message: details, details: anyDetails }).finish();
    this.metadata.set("grpc-status-details-bin", Buffer.from(status));
    for (const [k, v] of Object.entries(extraMetadata)) this.metadata.set(k, v);
  }
}

export function packBadRequest(violations: { field: string; description: string }[]): Any {
  return Any.fromPartial({
    typeUrl: "type.googleapis.com/google.rpc.BadRequest",
    value: Buffer.from(BadRequest.encode(BadRequest.fromPartial({ fieldViolations: violations })).finish()),
  });
}

export function packErrorInfo(reason: string, metadata: Record<string, string> = {}): Any {
  return Any.fromPartial({
    typeUrl: "type.googleapis.com/google.rpc.ErrorInfo",
    value: Buffer.from(ErrorInfo.encode({ reason, domain: "authz", metadata }).finish()),
  });
}

/**
 * The one mapping from thrown values to gRPC statuses. Domain errors carry safe
 * text; anything else is a fault: INTERNAL with fixed text (the cause is logged
 * by the caller, never sent).
 */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof OAuthError) {
    return new RpcError(oauthToGrpc(err), err.description, [packErrorInfo(err.error)], err.status === 401 ? { "www-authenticate": 'Basic realm="authz"' } : {});
  }
  if (err instanceof InvalidArgument) {
    return new RpcError(grpc.status.INVALID_ARGUMENT, err.message, [packBadRequest(err.violations)]);
  }
  if (err instanceof NotFound) return new RpcError(grpc.status.NOT_FOUND, err.message);
  if (err instanceof AlreadyExists) return new RpcError(grpc.status.ALREADY_EXISTS, err.message);
  if (err instanceof Aborted) return new RpcError(grpc.status.ABORTED, err.message);
  if (err instanceof FailedPrecondition) return new RpcError(grpc.status.FAILED_PRECONDITION, err.message);
  if (err instanceof DomainError) return new RpcError(grpc.status.INVALID_ARGUMENT, err.message);
  return new RpcError(grpc.status.INTERNAL, "internal error");
}

/**
 * OAuth error codes on typed RPCs: client authentication failures are
 * UNAUTHENTICATED, a client using a grant type it may not is PERMISSION_DENIED,
 * a disabled endpoint NOT_FOUND, a fault INTERNAL; every other protocol error
 * is the caller's request (INVALID_ARGUMENT).
 */
function oauthToGrpc(err: OAuthError): grpc.status {
  if (err.status === 401) return grpc.status.UNAUTHENTICATED;
  if (err.status === 404) return grpc.status.NOT_FOUND;
  if (err.status >= 500) return grpc.status.INTERNAL;
  if (err.error === "unauthorized_client") return grpc.status.PERMISSION_DENIED;
  return grpc.status.INVALID_ARGUMENT;
}

/** True for errors that mean the service itself failed (worth an error log line). */
export function isFault(err: unknown): boolean {
  return !(err instanceof DomainError) && !(err instanceof OAuthError && err.status < 500) && !(err instanceof RpcError && err.code !== grpc.status.INTERNAL);
}
