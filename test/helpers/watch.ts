// A RevocationService.WatchRevocations stream over gRPC whose messages a test
// reads one at a time, each with a deadline (no sleeps: it waits on the stream).
import * as grpc from "@grpc/grpc-js";
import { RevocationServiceClient, WatchRevocationsRequest, type WatchRevocationsResponse } from "../../gen/authz/v1/revocation.js";
import { bearerInterceptor } from "../../sdk/src/index.js";

export const WATCH_DEADLINE_MS = 5_000;

export interface WatchReader {
  /** The next message, heartbeats included; rejects with the stream's error. */
  next(): Promise<WatchRevocationsResponse>;
  /** The next message that carries events (heartbeats skipped). */
  nextEvents(): Promise<WatchRevocationsResponse>;
  /** Reads until an event about this jti arrives (other events skipped). */
  untilJti(jti: string): Promise<WatchRevocationsResponse>;
  /** The error the stream ends with. */
  failure(): Promise<grpc.ServiceError>;
  close(): void;
}

export function openWatch(address: string, token: string, request: Partial<WatchRevocationsRequest> = {}, deadlineMs = WATCH_DEADLINE_MS): WatchReader {
  const client = new RevocationServiceClient(address, grpc.credentials.createInsecure(), { interceptors: [bearerInterceptor(async () => token)] });
  const call = client.watchRevocations(WatchRevocationsRequest.fromPartial(request));
  const messages: WatchRevocationsResponse[] = [];
  let failure: grpc.ServiceError | undefined;
  let ended = false;
  let notify: (() => void) | undefined;
  call.on("data", (m: WatchRevocationsResponse) => (messages.push(m), notify?.()));
  call.on("error", (err: grpc.ServiceError) => ((failure = err), notify?.()));
  call.on("end", () => ((ended = true), notify?.()));
  const waitFor = <T>(ready: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => ((notify = undefined), reject(new Error(`no ${what} on the watch of ${address} within ${deadlineMs} ms`))), deadlineMs);
      const check = () => {
        const value = ready();
        if (value === undefined) return void (notify = check);
        clearTimeout(timer);
        notify = undefined;
        resolve(value);
      };
      check();
    });
  const reader: WatchReader = {
    next: () =>
      waitFor<WatchRevocationsResponse | grpc.ServiceError>(() => messages.shift() ?? failure, "message").then((m) => {
        if (m instanceof Error) throw m;
        return m;
      }),
    async nextEvents() {
      for (;;) {
        const m = await reader.next();
        if (m.events.length > 0) return m;
      }
    },
    async untilJti(jti) {
      for (;;) {
        const m = await reader.nextEvents();
        if (m.events.some((e) => e.subject?.jti === jti)) return m;
      }
    },
    failure: () => waitFor(() => failure ?? (ended ? new Error("the stream ended OK") : undefined), "error").then((e) => e as grpc.ServiceError),
    close: () => (call.cancel(), client.close()),
  };
  return reader;
}
