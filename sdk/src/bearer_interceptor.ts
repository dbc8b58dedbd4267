/**
 * A grpc-js client interceptor that adds `authorization: Bearer <token>`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { AuthzError } from "./errors.js";

/** Something that hands out access tokens: a {@link TokenSource} or a function. */
export type TokenProvider = { token(): Promise<string> } | (() => Promise<string>);

/** Options of {@link bearerInterceptor}. */
export interface BearerInterceptorOptions {
  /** Only calls whose method path (`/pkg.Service/Method`) passes get the header; default every call. */
  applies?: (methodPath: string) => boolean;
  /** Called with the token a call used when the call ended UNAUTHENTICATED (lets a token source drop it). */
  onUnauthenticated?: (token: string) => void;
}

/** Normalises a {@link TokenProvider} to a function. */
export function tokenGetter(provider: TokenProvider): () => Promise<string> {
  return typeof provider === "function" ? provider : () => provider.token();
}

/**
 * A grpc-js client interceptor adding `authorization: Bearer <token>` to each
 * call from a token provider. Unlike call credentials it also works on
 * insecure (loopback) channels, where grpc-js refuses call credentials.
 *
 * If no token can be had, the call fails locally without reaching the server:
 * UNAVAILABLE when the failure is retryable, UNAUTHENTICATED otherwise, with
 * the error's code (never the token) in the details.
 */
export function bearerInterceptor(provider: TokenProvider, options: BearerInterceptorOptions = {}): grpc.Interceptor {
  const get = tokenGetter(provider);
  return authorizationInterceptor(async () => {
    const token = await get();
    return { token, metadata: { authorization: `Bearer ${token}` } };
  }, options);
}

/**
 * The interceptor behind {@link bearerInterceptor}: `authorize(methodPath)`
 * gives the token of a call and the metadata to add (e.g. `authorization:
 * DPoP <token>` and a `dpop` proof).
 */
export function authorizationInterceptor(
  authorize: (methodPath: string) => Promise<{ token: string; metadata: Record<string, string> }>,
  options: BearerInterceptorOptions = {},
): grpc.Interceptor {
  return (callOptions, nextCall) => {
    const path = callOptions.method_definition.path;
    if (options.applies && !options.applies(path)) return new grpc.InterceptingCall(nextCall(callOptions));
    let used: string | undefined;
    return new grpc.InterceptingCall(nextCall(callOptions), {
      start(metadata, listener, next) {
        authorize(path).then(
          ({ token, metadata: added }) => {
            used = token;
            for (const [name, value] of Object.entries(added)) metadata.set(name, value);
            next(metadata, {
              onReceiveStatus(status, nextStatus) {
                if (status.code === grpc.status.UNAUTHENTICATED && used !== undefined) options.onUnauthenticated?.(used);
                nextStatus(status);
              },
            });
          },
          (err: unknown) => {
            const retryable = (err as { retryable?: unknown }).retryable === true;
            const code = err instanceof AuthzError ? err.code : "ERR_UNKNOWN";
            listener.onReceiveStatus?.({
              code: retryable ? grpc.status.UNAVAILABLE : grpc.status.UNAUTHENTICATED,
              details: `could not get an access token (${code})`,
              metadata: new grpc.Metadata(),
            });
          },
        );
      },
    });
  };
}
