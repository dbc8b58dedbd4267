// Shared fixtures for the SDK's unit tests: a manual clock, signing keys, test
// tokens, an injected fetch serving metadata and JWKS, and a gRPC service
// behind the SDK's server interceptor.
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import * as grpc from "@grpc/grpc-js";
import type { Clock } from "../../sdk/src/clock.js";
import { KeyServiceService, ListKeysResponse, RotateKeysResponse } from "../../sdk/src/gen/authz/v1/key.js";

export const ISSUER = "https://auth.test";
export const AUDIENCE = "https://orders.test";

/** A clock tests move by hand. `sleep` records the delay and resolves at once (after moving time), unless `realSleep`. */
export class ManualClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(
    public t = Date.UTC(2030, 0, 1),
    private readonly realSleep = false,
  ) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (this.realSleep) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, Math.min(ms, 20));
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
    }
    this.t += ms;
    return Promise.resolve();
  }
}

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

let kidCounter = 0;
export async function makeKey(alg: "ES256" | "RS256" | "EdDSA" = "ES256", kid = `k${++kidCounter}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, jwk };
}

/** Claims of a valid token at `nowMs`, with authz's jti shape. */
export function claimsAt(nowMs: number, extra: JWTPayload = {}): JWTPayload {
  const iat = Math.floor(nowMs / 1000);
  return {
    iss: ISSUER,
    sub: "cl_caller",
    aud: AUDIENCE,
    client_id: "cl_caller",
    iat,
    exp: iat + 3600,
    jti: `${nowMs.toString(36)}.${Math.random().toString(36).slice(2)}`,
    scope: "orders:read orders:write",
    ...extra,
  };
}

/** Signs a test token; `header` overrides the protected header, claims set to `undefined` are dropped. */
export async function sign(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt", ...header } as { alg: string }).sign(key.privateKey);
}

/** An unsigned or hand-made compact JWT. */
export function rawJwt(header: object, payload: object, signature = ""): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64(header)}.${b64(payload)}.${signature}`;
}

/** An injected fetch serving `<issuer>` metadata and a JWKS, counting calls; `down` makes it fail. */
export class FakeAuthServer {
  keys: JWK[] = [];
  algs: string[] | undefined = ["ES256", "RS256", "EdDSA"];
  down = false;
  metadataDown = false;
  readonly calls: string[] = [];
  jwksUri = `${ISSUER}/keys/jwks.json`;

  constructor(...keys: TestKey[]) {
    this.keys = keys.map((k) => k.jwk);
  }

  count(path: string): number {
    return this.calls.filter((c) => c.endsWith(path)).length;
  }

  readonly fetch = async (input: string | URL | Request): Promise<Response> => {
    const url = String(input instanceof Request ? input.url : input);
    this.calls.push(url);
    if (url === `${ISSUER}/.well-known/oauth-authorization-server`) {
      if (this.metadataDown) throw new TypeError("fetch failed");
      const body: Record<string, unknown> = { issuer: ISSUER, jwks_uri: this.jwksUri, introspection_endpoint: `${ISSUER}/oauth/introspect` };
      if (this.algs) body.access_token_signing_alg_values_supported = this.algs;
      return Response.json(body);
    }
    if (url === this.jwksUri) {
      if (this.down) return new Response("unavailable", { status: 503 });
      return Response.json({ keys: this.keys });
    }
    return new Response("not found", { status: 404 });
  };
}

/** Waits until `cond()` holds (polling), failing after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A promise with its resolve/reject exposed. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A real grpc-js server on an ephemeral port serving KeyService behind
 * `interceptor` (the SDK's grpcServerAuth): ListKeys reports each call it
 * reaches to `onListKeys`, RotateKeys answers empty.
 */
export async function startKeyService(interceptor: grpc.ServerInterceptor, onListKeys: (call: grpc.ServerUnaryCall<unknown, unknown>) => void): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server({ interceptors: [interceptor] });
  server.addService(KeyServiceService, {
    listKeys: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<ListKeysResponse>) => {
      onListKeys(call);
      cb(null, ListKeysResponse.fromPartial({}));
    },
    rotateKeys: (_call: unknown, cb: grpc.sendUnaryData<RotateKeysResponse>) => cb(null, RotateKeysResponse.fromPartial({})),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server, address: `127.0.0.1:${port}` };
}

/** How a gRPC call ended: its status code and the `www-authenticate` challenge of a refusal (RFC 6750 §3 in trailing metadata). */
export async function grpcOutcome(run: () => Promise<unknown>): Promise<{ code: grpc.status; challenge: string | undefined }> {
  try {
    await run();
    return { code: grpc.status.OK, challenge: undefined };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, challenge: e.metadata?.get("www-authenticate")[0] as string | undefined };
  }
}

/** A watch transport whose stream never yields (until cancelled, as the WatchStream contract says): a watch that never hears anything. */
export const silentWatchTransport = {
  open() {
    let stop: (err: Error) => void = () => {};
    const pending = new Promise<IteratorResult<never>>((_, reject) => (stop = reject));
    return { [Symbol.asyncIterator]: () => ({ next: () => pending }), cancel: () => stop(new Error("cancelled")) };
  },
};
