// Ceiling process: a minimal grpc-js server with one unary method that returns
// an empty message (no encoding, no interceptors, no logging). Driven by
// h2load exactly as the authz server is, it shows what one core can do for a
// gRPC call before any application work.
import * as grpc from "@grpc/grpc-js";

/** The method path, from the harness (argv[2]). */
const EMPTY_PATH = process.argv[2] ?? "/bench.v1.Empty/Call";
const identity = (b: Buffer) => b;
const empty = Buffer.alloc(0);
const server = new grpc.Server();
server.addService(
  {
    Call: { path: EMPTY_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  } as grpc.ServiceDefinition,
  { Call: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, empty) },
);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`listening 127.0.0.1:${port}\n`);
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
