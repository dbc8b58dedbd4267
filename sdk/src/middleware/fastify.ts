/**
 * Fastify: an `onRequest` hook / plugin verifying the bearer token and a
 * `requireScope(...scopes)` hook; refusals per RFC 6750 §3. Fastify is an
 * optional peer dependency, imported here as types only.
 *
 * @module
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { refusal, type ChallengeOptions } from "../challenge.js";
import { TokenVerificationError } from "../errors.js";
import { requestUrl, tlsPeerCertificate, type ClientCertificate } from "../presentation.js";
import { requireScopes } from "../scopes.js";
import type { Verifier, VerifiedToken } from "../verifier.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The verified access token, set by `fastifyAuth` / `authzFastifyPlugin`. */
    auth?: VerifiedToken;
  }
}

/** Options of the Fastify hooks. */
export interface FastifyAuthOptions extends ChallengeOptions {
  /**
   * The external base URL behind a proxy (e.g. `https://api.example.com`, plus
   * any path prefix the proxy strips): DPoP proofs' `htu` is checked against
   * `<baseUrl><request.url>`. Default `<request.protocol>://<Host><request.url>`.
   */
  baseUrl?: string;
  /**
   * The TLS client certificate of a request, for certificate-bound tokens.
   * Default: the peer certificate of the request's TLS socket.
   */
  clientCertificate?: (request: FastifyRequest) => ClientCertificate | undefined;
}

/** A Fastify async hook (usable as `onRequest` or `preHandler`, app-wide or per route). */
export type FastifyAuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

function refuse(err: unknown, reply: FastifyReply, options: FastifyAuthOptions): FastifyReply {
  const r = refusal(err, options);
  return reply
    .code(r.status)
    .headers({ ...r.headers, "cache-control": "no-store" })
    .send(r.body);
}

/**
 * An `onRequest` hook verifying `Authorization: Bearer` or `Authorization:
 * DPoP` with its `DPoP` proof (RFC 9449 §7.1), passing the TLS client
 * certificate for certificate-bound tokens (RFC 8705 §3), and setting
 * `request.auth`: `app.addHook("onRequest", fastifyAuth(verifier))`, or per
 * route `{ onRequest: [fastifyAuth(verifier), requireScope("orders:read")] }`.
 */
export function fastifyAuth(verifier: Verifier, options: FastifyAuthOptions = {}): FastifyAuthHook {
  const answer: FastifyAuthOptions = { dpopAlgs: verifier.dpopAlgorithms, ...options };
  return async (request, reply) => {
    try {
      request.auth = await verifier.verifyAuthorization(request.headers.authorization, {
        method: request.method,
        url: requestUrl(request.url, { baseUrl: options.baseUrl, protocol: protocolOf(request), host: request.headers.host }),
        dpop: request.headers.dpop,
        certificate: options.clientCertificate ? options.clientCertificate(request) : tlsPeerCertificate(request.raw.socket),
      });
    } catch (err) {
      return refuse(err, reply, answer); // an async hook that answered returns the reply
    }
    return undefined;
  };
}

/**
 * A hook requiring every one of `scopes` on the verified token: 403
 * `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."`, or 401
 * when no verified token is there. Put it after `fastifyAuth` (same or later hook).
 */
export function requireScope(...args: Array<string | FastifyAuthOptions>): FastifyAuthHook {
  const scopes = args.filter((a): a is string => typeof a === "string");
  const options = (args.find((a) => typeof a === "object") as FastifyAuthOptions | undefined) ?? {};
  return async (request, reply) => {
    if (reply.sent) return reply; // an earlier hook already refused
    try {
      if (!request.auth) throw new TokenVerificationError("ERR_TOKEN_MISSING", "no verified bearer token");
      requireScopes(request.auth, scopes);
    } catch (err) {
      return refuse(err, reply, options);
    }
    return undefined;
  };
}

/** Options of {@link authzFastifyPlugin}. */
export interface AuthzFastifyPluginOptions extends FastifyAuthOptions {
  verifier: Verifier;
}

/**
 * A plugin adding the {@link fastifyAuth} hook to every route of the instance
 * it is registered on (not encapsulated, like fastify-plugin):
 * `await app.register(authzFastifyPlugin, { verifier })`.
 */
export const authzFastifyPlugin: FastifyPluginAsync<AuthzFastifyPluginOptions> = Object.assign(
  async (app: FastifyInstance, options: AuthzFastifyPluginOptions) => {
    if (!app.hasRequestDecorator("auth")) app.decorateRequest("auth", undefined);
    app.addHook("onRequest", fastifyAuth(options.verifier, options));
  },
  { [Symbol.for("skip-override")]: true, [Symbol.for("fastify.display-name")]: "@authz/sdk" },
);

/** `request.protocol` (Fastify ≥ 4.x), else from the socket. */
function protocolOf(request: FastifyRequest): string {
  const protocol = (request as { protocol?: string }).protocol;
  if (protocol) return protocol;
  return (request.raw.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
}
