/**
 * Express middleware: `expressAuth(verifier)` verifies the bearer token,
 * `requireScope(...scopes)` checks scopes; refusals per RFC 6750 §3.
 * Express is an optional peer dependency, imported here as types only.
 *
 * @module
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { refusal, type ChallengeOptions } from "../challenge.js";
import { TokenVerificationError } from "../errors.js";
import { requestUrl, tlsPeerCertificate, type ClientCertificate } from "../presentation.js";
import { requireScopes } from "../scopes.js";
import type { Verifier, VerifiedToken } from "../verifier.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified access token, set by `expressAuth`. */
      auth?: VerifiedToken;
    }
  }
}

/** Options of {@link expressAuth} and {@link requireScope}. */
export interface ExpressAuthOptions extends ChallengeOptions {
  /** Called instead of the default answer (401/403/503 with `WWW-Authenticate` and a JSON body). */
  onRefused?: (err: unknown, req: Request, res: Response, next: NextFunction) => void;
  /**
   * The external base URL behind a proxy (e.g. `https://api.example.com`, plus
   * any path prefix the proxy strips): DPoP proofs' `htu` is checked against
   * `<baseUrl><req.originalUrl>`. Default `<req.protocol>://<Host><req.originalUrl>`.
   */
  baseUrl?: string;
  /**
   * The TLS client certificate of a request, for certificate-bound tokens.
   * Default: the peer certificate of the request's TLS socket; behind a
   * TLS-terminating proxy, read the one it forwards (after checking it came from the proxy).
   */
  clientCertificate?: (req: Request) => ClientCertificate | undefined;
}

/** Answers a refusal: status, `WWW-Authenticate` (401/403) or `Retry-After` (503), JSON body. */
function refuse(err: unknown, req: Request, res: Response, next: NextFunction, options: ExpressAuthOptions): void {
  if (options.onRefused) return options.onRefused(err, req, res, next);
  const r = refusal(err, options);
  res.status(r.status);
  for (const [name, value] of Object.entries(r.headers)) res.setHeader(name, value);
  res.setHeader("cache-control", "no-store");
  res.json(r.body);
}

/** What `verifyAuthorization` needs from an Express request. */
function presentation(req: Request, options: ExpressAuthOptions) {
  return {
    method: req.method,
    url: requestUrl(req.originalUrl ?? req.url, { baseUrl: options.baseUrl, protocol: req.protocol, host: req.get("host") }),
    dpop: req.headers.dpop,
    certificate: options.clientCertificate ? options.clientCertificate(req) : tlsPeerCertificate(req.socket),
  };
}

/**
 * Verifies `Authorization: Bearer <token>` or `Authorization: DPoP <token>`
 * with its `DPoP` proof (RFC 9449 §7.1), passes the TLS client certificate for
 * certificate-bound tokens (RFC 8705 §3), and sets `req.auth` (also
 * `res.locals.auth`). No token: 401 `WWW-Authenticate: Bearer`; bad token:
 * 401 `Bearer error="invalid_token", error_description="..."` (`DPoP ...,
 * algs="..."` for the DPoP scheme and proof errors); a DPoP-bound token sent
 * as Bearer: 401; watch down (fail closed) or JWKS unavailable: 503.
 *
 * ```ts
 * app.use(expressAuth(verifier));
 * app.get("/orders", requireScope("orders:read"), handler);
 * ```
 */
export function expressAuth(verifier: Verifier, options: ExpressAuthOptions = {}): RequestHandler {
  const answer: ExpressAuthOptions = { dpopAlgs: verifier.dpopAlgorithms, ...options };
  return (req, res, next) => {
    let request: ReturnType<typeof presentation>;
    try {
      request = presentation(req, options);
    } catch (err) {
      return refuse(err, req, res, next, answer);
    }
    verifier.verifyAuthorization(req.headers.authorization, request).then(
      (token) => {
        req.auth = token;
        res.locals.auth = token;
        next();
      },
      (err: unknown) => refuse(err, req, res, next, answer),
    );
  };
}

/**
 * Requires every one of `scopes` on the token `expressAuth` verified: 403
 * `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` without
 * them, 401 when no verified token is there (fail closed if `expressAuth` is
 * missing). Pass options as the last argument, e.g. `requireScope("a", { realm })`.
 */
export function requireScope(...args: Array<string | ExpressAuthOptions>): RequestHandler {
  const scopes = args.filter((a): a is string => typeof a === "string");
  const options = (args.find((a) => typeof a === "object") as ExpressAuthOptions | undefined) ?? {};
  return (req, res, next) => {
    try {
      const token = req.auth;
      if (!token) throw new TokenVerificationError("ERR_TOKEN_MISSING", "no verified bearer token");
      requireScopes(token, scopes);
      next();
    } catch (err) {
      refuse(err, req, res, next, options);
    }
  };
}

/** The verified token of a request behind {@link expressAuth}. */
export function expressAuthOf(req: Request): VerifiedToken | undefined {
  return req.auth;
}
