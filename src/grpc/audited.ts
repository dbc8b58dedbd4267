import type * as grpc from "@grpc/grpc-js";
import type { Audit } from "../domain/audit.js";
import { actorOf } from "./access.js";

/**
 * Wraps a synchronous write handler so the change and its audit event commit
 * in one transaction: a refused or failed write leaves neither.
 */
export function audited<Req, Res>(
  audit: Audit,
  resourceType: string,
  resourceIdOf: (request: Req, response: Res) => string,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res,
): (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res {
  return (request, call) =>
    audit.record({ actor: actorOf(call), method: call.getPath().slice(1), resourceType }, () => handler(request, call), (res) => resourceIdOf(request, res));
}
