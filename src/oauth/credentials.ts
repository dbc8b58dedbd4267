import type { ClientCertificate } from "../pipeline/context.js";
import { InvalidClient, InvalidRequest } from "./errors.js";
import type { Params } from "./params.js";

/**
 * How a client proved (or claims) who it is, whatever the transport:
 * a secret (RFC 6749 §2.3.1, in the Authorization header or the request), a
 * JWT assertion (RFC 7523 §2.2), or nothing.
 */
export type PresentedCredential =
  | { method: "secret"; clientId: string; secret: string; viaHeader: boolean }
  | { method: "assertion"; clientId: string | undefined; assertionType: string; assertion: string }
  /** RFC 8705 §2: the TLS client certificate, with the client_id it is for (the request's `client_id`). */
  | { method: "tls"; clientId: string; certificate: ClientCertificate }
  | { method: "none"; clientId: string | undefined };

/** The credential fields a request may carry, from a form/JSON body or a typed message (empty = absent). */
export interface CredentialFields {
  clientId?: string;
  clientSecret?: string;
  clientAssertionType?: string;
  clientAssertion?: string;
}

/**
 * RFC 6749 §2.3: a client MUST NOT use more than one authentication method in
 * a request. `authorization` is the Authorization header (only `Basic` is client
 * authentication; another scheme is ignored here). A TLS client certificate
 * (`certificate`) is client authentication only when nothing else is
 * (RFC 8705 §2: the request then names its client with `client_id`): a secret
 * client that happens to connect with a certificate still authenticates with
 * its secret, and the certificate may still bind its tokens.
 */
export function presentedCredential(authorization: string | undefined, fields: CredentialFields, certificate?: ClientCertificate): PresentedCredential {
  const basic = parseBasic(authorization);
  const hasSecret = Boolean(fields.clientSecret);
  const hasAssertion = Boolean(fields.clientAssertion || fields.clientAssertionType);
  if (Number(basic !== undefined) + Number(hasSecret) + Number(hasAssertion) > 1) {
    throw new InvalidRequest("more than one client authentication method", "use exactly one client authentication method");
  }
  if (basic) {
    if (fields.clientId && fields.clientId !== basic.clientId) throw new InvalidRequest("client_id differs from Basic credentials", "client_id does not match the authenticated client");
    return { method: "secret", clientId: basic.clientId, secret: basic.secret, viaHeader: true };
  }
  if (hasSecret) {
    if (!fields.clientId) throw new InvalidClient("client_secret without client_id", false, "malformed_credentials");
    return { method: "secret", clientId: fields.clientId, secret: fields.clientSecret!, viaHeader: false };
  }
  if (hasAssertion) return { method: "assertion", clientId: fields.clientId || undefined, assertionType: fields.clientAssertionType ?? "", assertion: fields.clientAssertion ?? "" };
  if (certificate && fields.clientId) return { method: "tls", clientId: fields.clientId, certificate };
  return { method: "none", clientId: fields.clientId || undefined };
}

/** The credential fields of a form or JSON body. */
export function credentialFields(params: Params): CredentialFields {
  return {
    clientId: params.get("client_id"),
    clientSecret: params.get("client_secret"),
    clientAssertionType: params.get("client_assertion_type"),
    clientAssertion: params.get("client_assertion"),
  };
}

/** Longest Authorization header taken apart (Basic credentials are short; anything longer is refused unread). */
const MAX_BASIC_LENGTH = 1024;

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
export function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  if (!header || !/^Basic\b/i.test(header)) return undefined; // another scheme (e.g. Bearer) is not client authentication
  const m = header.length <= MAX_BASIC_LENGTH ? /^Basic[ \t]+([A-Za-z0-9+/=_-]+)[ \t]*$/i.exec(header) : null;
  if (!m) throw new InvalidClient("malformed Basic header", true, "malformed_credentials");
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new InvalidClient("Basic credentials without a colon", true, "malformed_credentials");
  try {
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
    };
  } catch {
    throw new InvalidClient("Basic credentials with broken percent-encoding", true, "malformed_credentials");
  }
}
