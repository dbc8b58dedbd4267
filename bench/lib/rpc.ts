// Promise-returning unary calls through the generated service definitions in
// gen/ (path + codecs), over one plain grpc.Client per target.
import * as grpc from "@grpc/grpc-js";

export interface UnaryDef<Req, Res> {
  path: string;
  requestSerialize(value: Req): Buffer;
  responseDeserialize(value: Buffer): Res;
}

export function channel(target: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new grpc.Client(target, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": -1, ...options });
}

export function unary<Req, Res>(client: grpc.Client, def: UnaryDef<Req, Res>, request: Req, metadata = new grpc.Metadata(), timeoutMs = 30_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, metadata, { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res!),
    );
  });
}

export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}
