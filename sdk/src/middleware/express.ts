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

/**
 * Verifies `Authorization: Bearer <token>` and sets `req.auth` (also
 * `res.locals.auth`). No token: 401 `WWW-Authenticate: Bearer`; bad token:
 * 401 `Bearer error="invalid_token", error_description="..."`; watch down
 * (fail closed) or JWKS unavailable: 503.
 *
 * ```ts
 * app.use(expressAuth(verifier));
 * app.get("/orders", requireScope("orders:read"), handler);
 * ```
 */
export function expressAuth(verifier: Verifier, options: ExpressAuthOptions = {}): RequestHandler {
  return (req, res, next) => {
    verifier.verifyAuthorization(req.headers.authorization).then(
      (token) => {
        req.auth = token;
        res.locals.auth = token;
        next();
      },
      (err: unknown) => refuse(err, req, res, next, options),
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
