import { AuthzError, Unavailable } from "../errors.js";

/**
 * Wraps every method of a repository so that a store fault (disk full, I/O
 * error, lock timeout, connection closed) surfaces as `Unavailable` — 503
 * temporarily_unavailable / UNAVAILABLE with Retry-After at the edge — never as
 * a driver error that could be read as "not found" or "bad credentials".
 * `isFault` says which driver errors are faults of the store; anything else
 * (constraint violations the repository turns into domain outcomes, the
 * service's own errors, bugs) passes through unchanged.
 */
export function guarded<T extends object>(repository: T, isFault: (err: unknown) => boolean): T {
  const out: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(repository)) {
    out[name] =
      typeof member === "function"
        ? (...args: unknown[]) => {
            try {
              const result = (member as (...a: unknown[]) => unknown).apply(repository, args);
              return result instanceof Promise ? result.catch((err: unknown) => rethrow(err, isFault)) : result;
            } catch (err) {
              return rethrow(err, isFault);
            }
          }
        : member;
  }
  return out as T;
}

function rethrow(err: unknown, isFault: (err: unknown) => boolean): never {
  if (err instanceof AuthzError || !isFault(err)) throw err;
  throw new Unavailable("the store", err);
}
