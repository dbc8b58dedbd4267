// A test double of RevocationService for the SDK's unit tests: a grpc-js
// server implementing the generated RevocationServiceService over an
// in-memory feed. Not the real server (that is being built in src/).
import * as grpc from "@grpc/grpc-js";
import {
  RevocationEvent,
  RevocationServiceService,
  type RevocationServiceServer,
  type WatchRevocationsRequest,
  type WatchRevocationsResponse,
} from "../../sdk/src/gen/authz/v1/revocation.js";
import type { DeepPartial } from "../../sdk/src/promise_client.js";

type Call = grpc.ServerWritableStream<WatchRevocationsRequest, WatchRevocationsResponse>;

export class RevocationDouble {
  /** Feed positions: event i has cursor `c<i+1>`; cursor `c0` is the start. */
  readonly feed: RevocationEvent[] = [];
  /** Every WatchRevocations request received, with its authorization header. */
  readonly requests: Array<{ cursor: string; audiences: string[]; authorization: string }> = [];
  /** Cursors older than this position are OUT_OF_RANGE. */
  retainedFrom = 0;
  /** Next connections answer with this status instead of streaming (then it clears). */
  refuseNext?: { code: grpc.status; details: string };
  private readonly open = new Set<{ call: Call; position: number }>();
  private server?: grpc.Server;
  address = "";

  async start(): Promise<this> {
    const server = new grpc.Server();
    const impl: RevocationServiceServer = { watchRevocations: (call) => this.watch(call) };
    server.addService(RevocationServiceService, impl);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  get connections(): number {
    return this.open.size;
  }

  /** Appends events; open streams get them as one message. */
  push(...events: DeepPartial<RevocationEvent>[]): void {
    const from = this.feed.length;
    this.feed.push(...events.map((e, i) => RevocationEvent.fromPartial({ id: `ev${from + i + 1}`, eventTime: new Date().toISOString(), ...e })));
    for (const o of this.open) this.flush(o);
  }

  /** A heartbeat (no events) to every open stream. */
  heartbeat(): void {
    for (const o of this.open) o.call.write({ events: [], cursor: `c${o.position}` });
  }

  /** Ends every open stream with an error status (the client must resume from its cursor). */
  drop(code = grpc.status.UNAVAILABLE): void {
    for (const o of this.open) {
      this.open.delete(o);
      o.call.emit("error", { code, details: "dropped by the test" });
    }
  }

  async stop(): Promise<void> {
    this.drop();
    await new Promise<void>((r) => this.server!.tryShutdown(() => r()));
  }

  private watch(call: Call): void {
    const { cursor, audiences } = call.request;
    this.requests.push({ cursor, audiences, authorization: String(call.metadata.get("authorization")[0] ?? "") });
    if (this.refuseNext) {
      const status = this.refuseNext;
      this.refuseNext = undefined;
      call.emit("error", status);
      return;
    }
    let position: number;
    if (cursor === "")
      position = this.feed.length; // the current end of the feed
    else {
      position = Number(cursor.slice(1));
      if (!/^c\d+$/.test(cursor) || position > this.feed.length) return void call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: "bad cursor" });
      if (position < this.retainedFrom) return void call.emit("error", { code: grpc.status.OUT_OF_RANGE, details: "cursor expired" });
    }
    const entry = { call, position };
    this.open.add(entry);
    call.on("cancelled", () => this.open.delete(entry));
    // Catch up, then a heartbeat so the client knows it is connected.
    this.flush(entry);
    call.write({ events: [], cursor: `c${entry.position}` });
  }

  private flush(o: { call: Call; position: number }): void {
    if (o.position >= this.feed.length) return;
    const events = this.feed.slice(o.position);
    o.position = this.feed.length;
    o.call.write({ events, cursor: `c${o.position}` });
  }
}
