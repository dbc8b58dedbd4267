/**
 * Errors of the management domain. Each maps to one gRPC status at the edge
 * (src/grpc/status.ts); the message is safe to show callers.
 */
export interface FieldViolation {
  /** Proto field path, e.g. `api_server.permissions[2].value`. */
  field: string;
  description: string;
}

export class DomainError extends Error {
  override name = "DomainError";
}

/** INVALID_ARGUMENT with a google.rpc.BadRequest listing every violation. */
export class InvalidArgument extends DomainError {
  override name = "InvalidArgument";
  constructor(readonly violations: FieldViolation[]) {
    super(violations.map((v) => `${v.field}: ${v.description}`).join("; "));
  }
}

export class NotFound extends DomainError {
  override name = "NotFound";
  constructor(resource: string, id: string) {
    super(`${resource} ${JSON.stringify(id)} not found`);
  }
}

export class AlreadyExists extends DomainError {
  override name = "AlreadyExists";
}

/** A stale etag: the resource changed since the caller read it. */
export class Aborted extends DomainError {
  override name = "Aborted";
}

/** The request is valid but the resource's state refuses it. */
export class FailedPrecondition extends DomainError {
  override name = "FailedPrecondition";
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
