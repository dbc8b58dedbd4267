// Flood process (load core): `count` token requests that must be rejected,
// each with a distinct, large client_id, `concurrency` in flight; bounded in
// count and time. Prints {sent, statuses, seconds}.
// - http: POST /oauth/token, form body grant_type=client_credentials&
//   client_id=<idBytes>&client_secret=x (keep-alive connections).
// - grpc: IssueToken with client.clientId of idBytes (one channel).
import * as grpc from "@grpc/grpc-js";
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";

interface Args {
  mode: "http" | "grpc";
  /** http://127.0.0.1:port or 127.0.0.1:port */
  target: string;
  count: number;
  idBytes: number;
  concurrency: number;
  maxMs: number;
}
const args = JSON.parse(process.argv[2]!) as Args;
const statuses: Record<string, number> = {};
const count = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);
const distinct = (i: number) => `flood-${i}-${process.pid}-`;
setTimeout(() => {
  process.stderr.write("flood: time limit reached\n");
  process.exit(3);
}, args.maxMs).unref();

async function httpFlood(): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: args.concurrency });
  const url = new URL("/oauth/token", args.target);
  const filler = "a".repeat(args.idBytes);
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const prefix = distinct(i);
      const body = `grant_type=client_credentials&client_id=${prefix}${filler.slice(prefix.length)}&client_secret=x`;
      const req = request(url, { method: "POST", agent, timeout: 30_000, headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on("end", () => (count(String(res.statusCode)), resolve()));
        res.on("error", () => (count("response error"), resolve()));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => (count(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`), resolve()));
      req.end(body);
    });
  await pool(one);
  agent.destroy();
}

async function grpcFlood(): Promise<void> {
  const client = new grpc.Client(args.target, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": -1 });
  const template = Buffer.from(IssueTokenRequest.encode(IssueTokenRequest.fromPartial({ client: { clientId: "X".repeat(args.idBytes), clientSecret: "x" }, audience: "https://api.flood.bench.example.com" })).finish());
  const at = template.indexOf("XXXXXXXXXXXXXXXX");
  const identity = (b: Buffer) => b;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const message = Buffer.from(template);
      message.write(distinct(i), at, "latin1");
      client.makeUnaryRequest("/authz.v1.TokenService/IssueToken", identity, identity, message, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err) => {
        count(err ? grpc.status[err.code] ?? String(err.code) : "OK");
        resolve();
      });
    });
  await pool(one);
  client.close();
}

async function pool(one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: args.concurrency }, async () => {
      while (next < args.count) await one(next++);
    }),
  );
}

const start = performance.now();
await (args.mode === "http" ? httpFlood() : grpcFlood());
process.stdout.write(JSON.stringify({ sent: args.count, statuses, seconds: (performance.now() - start) / 1000 }));
