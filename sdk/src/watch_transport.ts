/**
 * How the revocation watch opens its stream: gRPC
 * `RevocationService.WatchRevocations` (server streaming) or HTTP
 * `GET <url>/v1/revocations:watch` (newline-delimited JSON).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { RevocationServiceService, WatchRevocationsRequest, WatchRevocationsResponse } from "./gen/authz/v1/revocation.js";
import { trimSlash, type FetchLike } from "./fetch.js";

/** An open watch stream: messages in feed order; ends or throws when the stream does. */
export interface WatchStream extends AsyncIterable<WatchRevocationsResponse> {
  /** Ends the stream from this side. */
  cancel(): void;
}

/**
 * Opens watch streams. A failed stream throws an error with a numeric gRPC
 * `code` where known (OUT_OF_RANGE = 11 means the cursor expired).
 */
export interface WatchTransport {
  open(request: WatchRevocationsRequest, token: string): WatchStream;
  close?(): void;
}

/** The watch over gRPC. */
export function grpcWatchTransport(options: { address: string; credentials?: grpc.ChannelCredentials; channelOptions?: grpc.ChannelOptions }): WatchTransport {
  const client = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions ?? {});
  const def = RevocationServiceService.watchRevocations;
  return {
    open(request, token) {
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      const call = client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, request, metadata, {});
      return {
        [Symbol.asyncIterator]: () => call[Symbol.asyncIterator]() as AsyncIterator<WatchRevocationsResponse>,
        cancel: () => call.cancel(),
      };
    },
    close: () => client.close(),
  };
}

/** An HTTP watch failure, with the gRPC code from a google.rpc.Status body when there is one. */
class HttpWatchError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

/**
 * The watch over HTTP: `GET <url>/v1/revocations:watch?cursor=...&audiences=...`
 * with the bearer token, one JSON message per line (`{"result": ...}`
 * envelopes and error lines as grpc-gateway writes them are understood too).
 */
export function httpWatchTransport(options: { url: string; fetch?: FetchLike }): WatchTransport {
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return {
    open(request, token) {
      const controller = new AbortController();
      const query = new URLSearchParams();
      if (request.cursor) query.set("cursor", request.cursor);
      for (const a of request.audiences) query.append("audiences", a);
      const url = `${trimSlash(options.url)}/v1/revocations:watch${query.size ? `?${query}` : ""}`;
      async function* messages(): AsyncGenerator<WatchRevocationsResponse> {
        const res = await fetchImpl(url, {
          headers: { authorization: `Bearer ${token}`, accept: "application/x-ndjson, application/json" },
          signal: controller.signal,
        });
        if (res.status !== 200 || !res.body) {
          let code: number | undefined;
          try {
            const body = (await res.json()) as { code?: unknown };
            if (typeof body.code === "number") code = body.code;
          } catch {
            // not a Status body
          }
          throw new HttpWatchError(`watch refused (HTTP ${res.status})`, code);
        }
        const decoder = new TextDecoder();
        let buffered = "";
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line) yield parseLine(line);
          }
        }
        if (buffered.trim()) yield parseLine(buffered.trim());
      }
      const iterable = messages();
      return { [Symbol.asyncIterator]: () => iterable, cancel: () => controller.abort() };
    },
  };
}

function parseLine(line: string): WatchRevocationsResponse {
  const obj = JSON.parse(line) as { result?: unknown; error?: { code?: unknown; message?: unknown } };
  if (obj.error) throw new HttpWatchError("watch stream error", typeof obj.error.code === "number" ? obj.error.code : undefined);
  return WatchRevocationsResponse.fromJSON(obj.result ?? obj);
}
