import { parseXfcc, presentedFromXfcc } from "./xfcc.js";
import type { ClientCertificate, RequestHeaders } from "../pipeline/context.js";

/** Envoy's header for the downstream client certificate (forward_client_cert_details: SANITIZE_SET). */
export const XFCC_HEADER = "x-forwarded-client-cert";

/**
 * The client certificate a trusted proxy forwarded, for the pipeline: only
 * when the call's connection comes from one of `trustedProxies` (exact
 * addresses; IPv4-mapped IPv6 counts as IPv4), since anyone else could write
 * the header. The proxy must set the header itself, replacing what the
 * caller sent (Envoy: SANITIZE_SET), and only it may reach the service.
 */
export function forwardedCertificates(trustedProxies: readonly string[]): ((peer: string, headers: RequestHeaders) => ClientCertificate | undefined) | undefined {
  if (trustedProxies.length === 0) return undefined;
  const trusted = new Set(trustedProxies.map(plainAddress));
  return (peer, headers) => {
    if (!trusted.has(plainAddress(peer))) return undefined;
    const header = headers.get(XFCC_HEADER);
    const element = header === undefined ? undefined : parseXfcc(header);
    const presented = element && presentedFromXfcc(element);
    return presented ? { der: presented.der, chain: presented.chain ?? [] } : undefined;
  };
}

function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
