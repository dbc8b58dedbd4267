import { AuthzError, type FieldViolation } from "../errors.js";

/**
 * Errors of the management domain, each one kind of the error table
 * (src/errors.ts); the message is safe to show callers.
 */
export type { FieldViolation };

/** INVALID_ARGUMENT with a google.rpc.BadRequest listing every violation. */
export class InvalidArgument extends AuthzError {
  override name = "InvalidArgument";
  constructor(violations: FieldViolation[]) {
    super("invalid_argument", violations.map((v) => `${v.field}: ${v.description}`).join("; "), { violations });
  }
}

export class NotFound extends AuthzError {
  override name = "NotFound";
  constructor(resource: string, id: string) {
    super("not_found", `${resource} ${JSON.stringify(id)} not found`);
  }
}

export class AlreadyExists extends AuthzError {
  override name = "AlreadyExists";
  constructor(message: string) {
    super("already_exists", message);
  }
}

/** A stale etag: the resource changed since the caller read it. */
export class Aborted extends AuthzError {
  override name = "Aborted";
  constructor(message: string) {
    super("aborted", message);
  }
}

/** The request is valid but the resource's state refuses it. */
export class FailedPrecondition extends AuthzError {
  override name = "FailedPrecondition";
  constructor(message: string) {
    super("failed_precondition", message);
  }
}

/**
 * The caller is authenticated but may not do this. `permission` names what it
 * lacks (sent as google.rpc.ErrorInfo metadata, so a console can explain it).
 */
export class PermissionDenied extends AuthzError {
  override name = "PermissionDenied";
  constructor(message: string, permission?: string) {
    super("permission_denied", message, { reason: "PERMISSION_DENIED", reasonMetadata: permission ? { permission } : {} });
  }
}

/** Collects violations so a request reports all of them at once. */
export class Violations {
  private readonly list: FieldViolation[] = [];
  add(field: string, description: string): void {
    this.list.push({ field, description });
  }
  get size(): number {
    return this.list.length;
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new InvalidArgument(this.list);
  }
}
