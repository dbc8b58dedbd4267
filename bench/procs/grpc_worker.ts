// A gRPC load generator process: closed-loop unary calls over one channel,
// bytes in/out (no message encoding in the measured loop), latencies recorded.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

interface Job {
  target: string;
  path: string;
  /** base64 request bodies, rotated per call. */
  requests: string[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

const job = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Job;
const requests = job.requests.map((r) => Buffer.from(r, "base64"));
const client = new grpc.Client(job.target, grpc.credentials.createInsecure());
const identity = (b: Buffer) => b;
let next = 0;
let measuring = false;
let stopped = false;
let completed = 0;
let errors = 0;
const latencies: number[] = [];

function call(): Promise<void> {
  const body = requests[next++ % requests.length]!;
  const start = performance.now();
  return new Promise((resolve) =>
    client.makeUnaryRequest(job.path, identity, identity, body, (err) => {
      if (measuring) {
        latencies.push(performance.now() - start);
        completed++;
        if (err) errors++;
      }
      resolve();
    }),
  );
}

async function loop(): Promise<void> {
  while (!stopped) await call();
}

const loops = Array.from({ length: job.concurrency }, loop);
setTimeout(() => {
  measuring = true;
  const began = performance.now();
  setTimeout(() => {
    stopped = true;
    measuring = false;
    const seconds = (performance.now() - began) / 1000;
    Promise.all(loops).then(() => {
      client.close();
      process.stdout.write(JSON.stringify({ completed, errors, seconds, latencies }));
    });
  }, job.durationMs);
}, job.warmupMs);
