import { timingSafeEqual } from "node:crypto";
import type { RequestHeaders } from "../pipeline/context.js";

/**
 * How the loopback gateway tells the service who its HTTP caller was: every
 * loopback call reaches gRPC from 127.0.0.1, so without this every HTTP
 * caller would share one throttling source (and one proxy trust decision).
 * The address goes in `x-authz-gateway-peer`, vouched for by
 * `x-authz-gateway-key`: a random key this deployment's processes share
 * (the supervisor hands it to its workers), which no caller knows, so a
 * caller writing the headers itself is not believed.
 */
export const GATEWAY_PEER_HEADER = "x-authz-gateway-peer";
export const GATEWAY_KEY_HEADER = "x-authz-gateway-key";

/** The HTTP caller's address the loopback gateway vouched for, or undefined (not vouched: the connection's peer counts). */
export function gatewayPeerReader(key: string): (headers: RequestHeaders) => string | undefined {
  const expected = Buffer.from(key);
  return (headers) => {
    const presented = headers.get(GATEWAY_KEY_HEADER);
    if (presented === undefined) return undefined;
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected) ? headers.get(GATEWAY_PEER_HEADER) : undefined;
  };
}
