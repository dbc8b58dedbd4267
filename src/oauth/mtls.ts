/**
 * RFC 8705 (OAuth 2.0 Mutual-TLS Client Authentication and Certificate-Bound
 * Access Tokens): the certificate logic, independent of any transport. The
 * caller hands over the client certificate as it got it — from the TLS socket
 * (`getPeerCertificate(true).raw`) or from a trusted proxy's
 * `x-forwarded-client-cert` header ({@link parseXfcc}) — and this module
 *
 * - computes the `x5t#S256` confirmation thumbprint (§3.1),
 * - validates the chain to the configured trust anchors for
 *   `tls_client_auth` (§2.1),
 * - matches the registered subject metadata against the certificate (§2.1.2),
 * - matches the certificate against a client's registered JWKS for
 *   `self_signed_tls_client_auth` (§2.2).
 *
 * Nothing here logs, and no error text or return value carries certificate
 * contents: a problem text only names the metadata field at fault.
 *
 * @module
 */
export * from "./mtls/certificates.js";
export * from "./mtls/self_signed.js";
export * from "../domain/tls_client_auth.js";
export * from "../tls/xfcc.js";
