import type { TLSSocket } from "node:tls";
import type { ClientCertificate } from "../pipeline/context.js";

/** Longest chain taken from a connection (leaf included): more is not a chain anyone needs. */
const MAX_CHAIN = 6;

/** The client certificate of a TLS connection (leaf, then the certificates it presented above it), DER; undefined when it sent none. */
export function certificateOf(socket: TLSSocket): ClientCertificate | undefined {
  const leaf = socket.getPeerCertificate(true);
  if (!leaf?.raw) return undefined;
  const chain: Buffer[] = [];
  let at = leaf.issuerCertificate;
  while (at?.raw && chain.length < MAX_CHAIN - 1 && !at.raw.equals(chain[chain.length - 1] ?? leaf.raw)) {
    chain.push(at.raw);
    if (at.issuerCertificate === at) break; // a self-signed root points at itself
    at = at.issuerCertificate;
  }
  return { der: leaf.raw, chain };
}

/**
 * Client certificates of the open gRPC connections, by the peer string
 * grpc-js reports for their calls (`address:port`): grpc-js shows a handler
 * only certificates that verified against a CA (getAuthContext), and
 * RFC 8705 §2.2 self-signed certificates do not, so the listener, which does
 * the TLS handshake itself, records each connection's certificate here.
 */
export class PeerCertificates {
  private readonly byPeer = new Map<string, ClientCertificate>();

  /** Records the certificate of a connection that finished its handshake, until it closes. */
  track(socket: TLSSocket): void {
    const cert = certificateOf(socket);
    const peer = peerOf(socket);
    if (!cert || !peer) return;
    this.byPeer.set(peer, cert);
    socket.once("close", () => {
      if (this.byPeer.get(peer) === cert) this.byPeer.delete(peer);
    });
  }

  /** The certificate of the connection a call came on (its grpc-js `getPeer()`). */
  of(peer: string): ClientCertificate | undefined {
    return this.byPeer.get(peer);
  }

  get size(): number {
    return this.byPeer.size;
  }
}

function peerOf(socket: TLSSocket): string | undefined {
  return socket.remoteAddress ? (socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress) : undefined;
}
