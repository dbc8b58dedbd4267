import * as grpc from "@grpc/grpc-js";
import { createHash, X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createPki, type Pki } from "../helpers/pki.js";
import { killAll, serve, stop, type Running } from "../helpers/process.js";

/** TLS on the gRPC and HTTP listeners (issue 17, item 1), through `authz serve` on real sockets. */
let pki: Pki;
let dir: string;
const servers: Running[] = [];
beforeAll(() => {
  pki = createPki();
  dir = mkdtempSync(join(tmpdir(), "authz-tls-"));
});
afterAll(async () => {
  for (const r of servers) await stop(r);
  killAll();
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function start(extra: string[] = [], env: Record<string, string> = {}): Promise<Running> {
  const r = await serve(["--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--ops-address", "", "--data-file", join(dir, `${Math.random().toString(36).slice(2)}.db`), ...extra], { env });
  servers.push(r);
  return r;
}

/** One HTTPS request trusting the test CA: status, body and the server certificate's SHA-256. */
function httpsGet(port: number, path: string, ca = pki.ca.cert): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path, ca, servername: "localhost", agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, body, fingerprint: createHash("sha256").update((res.socket as import("node:tls").TLSSocket).getPeerX509Certificate()!.raw).digest("hex") }));
    });
    req.on("error", reject);
    req.end();
  });
}

const SERVING = "SERVING";
/** grpc.health.v1 Check over the given credentials: SERVING, or the gRPC status name of the failure. */
function health(port: number, credentials: grpc.ChannelCredentials): Promise<string> {
  const client = new grpc.Client(`127.0.0.1:${port}`, credentials, { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" });
  return new Promise((resolve) => {
    client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 5_000 }, (err, res?: Buffer) => {
      client.close();
      resolve(err ? grpc.status[err.code] : res && res[0] === 0x08 && res[1] === 1 ? SERVING : `status ${res?.toString("hex")}`);
    });
  });
}

describe("--tls-cert / --tls-key", () => {
  let r: Running;
  let certPath: string;
  let keyPath: string;
  beforeAll(async () => {
    certPath = join(dir, "server.pem");
    keyPath = join(dir, "server.key");
    copyFileSync(pki.server.certPath, certPath);
    copyFileSync(pki.server.keyPath, keyPath);
    r = await start(["--tls-cert", certPath, "--tls-key", keyPath], { AUTHZ_TLS_RELOAD_INTERVAL_MS: "200" });
  });

  test("HTTPS on the HTTP listener, with an https issuer in the metadata", async () => {
    const res = await httpsGet(r.httpPort!, "/.well-known/oauth-authorization-server");
    expect(res.status).toBe(200);
    const metadata = JSON.parse(res.body) as { issuer: string; token_endpoint: string };
    expect(metadata.issuer).toBe(`https://127.0.0.1:0`);
    expect(metadata.token_endpoint).toMatch(/^https:\/\//);
  });

  test("gRPC over TLS (ALPN h2) with the CA as the trust root", async () => {
    expect(await health(r.grpcPort, grpc.credentials.createSsl(Buffer.from(pki.ca.cert)))).toBe(SERVING);
  });

  test("TLS 1.1 and older are refused; TLS 1.2 negotiates an ECDHE AEAD suite", async () => {
    const attempt = (options: { maxVersion?: "TLSv1.1" | "TLSv1.2"; minVersion?: "TLSv1" }) =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: "127.0.0.1", port: r.httpPort!, ca: pki.ca.cert, servername: "localhost", ...options }, () => {
          resolve(`${socket.getProtocol()} ${socket.getCipher().name}`);
          socket.end();
        });
        socket.on("error", (err: NodeJS.ErrnoException) => resolve(`refused ${err.code ?? err.message}`));
      });
    expect(await attempt({ minVersion: "TLSv1", maxVersion: "TLSv1.1" })).toMatch(/^refused/);
    expect(await attempt({ maxVersion: "TLSv1.2" })).toMatch(/^TLSv1\.2 ECDHE-ECDSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
  });

  test("plaintext clients fail cleanly on both listeners, and the service keeps serving", async () => {
    const plainHttp = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: "127.0.0.1", port: r.httpPort!, path: "/.well-known/jwks.json", agent: false }, (res) => resolve(`status ${res.statusCode}`));
      req.on("error", (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
      req.end();
    });
    expect(plainHttp).not.toMatch(/^status 200/);
    expect(await health(r.grpcPort, grpc.credentials.createInsecure())).toBe("UNAVAILABLE");
    expect(await health(r.grpcPort, grpc.credentials.createSsl(Buffer.from(pki.ca.cert)))).toBe(SERVING);
    expect(r.proc.exitCode).toBeNull();
  });

  test("a certificate rewritten in place is served to new connections without a restart", async () => {
    const before = await httpsGet(r.httpPort!, "/.well-known/jwks.json");
    const next = pki.ca.issueClient({ cn: "localhost", sanDns: ["localhost"], sanIp: ["127.0.0.1"], eku: ["serverAuth"] });
    const reloaded = r.logged("TLS certificate reloaded");
    copyFileSync(next.keyPath, keyPath);
    copyFileSync(next.certPath, certPath);
    await reloaded;
    const after = await httpsGet(r.httpPort!, "/.well-known/jwks.json");
    expect(after.fingerprint).toBe(createHash("sha256").update(new X509Certificate(next.cert).raw).digest("hex"));
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(await health(r.grpcPort, grpc.credentials.createSsl(Buffer.from(pki.ca.cert)))).toBe(SERVING);
  }, 30_000);
});

describe("TLS start-up checks", () => {
  test("a key that does not match the certificate, or a missing file, fails the start in one line", async () => {
    const other = pki.selfSigned("other");
    const mismatch = await serve(["--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--ops-address", "", "--data-file", join(dir, "x.db"), "--tls-cert", pki.server.certPath, "--tls-key", other.keyPath]).catch((err: Error) => err);
    expect(String(mismatch)).toMatch(/the TLS certificate and key do not load/);
    const missing = await serve(["--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--data-file", join(dir, "y.db"), "--tls-cert", join(dir, "nope.pem"), "--tls-key", pki.server.keyPath]).catch((err: Error) => err);
    expect(String(missing)).toMatch(/cannot read the TLS certificate .*nope\.pem: ENOENT/);
    const half = await serve(["--grpc-address", "127.0.0.1:0", "--data-file", join(dir, "z.db"), "--tls-cert", pki.server.certPath]).catch((err: Error) => err);
    expect(String(half)).toMatch(/tlsCertFile and tlsKeyFile go together/);
  });

  test("an http issuer on a non-loopback address is warned about; plaintext on loopback is not", async () => {
    const open = await start(["--http-address", "0.0.0.0:0"]);
    expect(open.logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("the issuer is http:// on a non-loopback address"))).toMatchObject({ level: "warn" });
    const local = await start();
    expect(local.logs.some((l) => typeof l.msg === "string" && l.msg.startsWith("the issuer is http://"))).toBe(false);
  });
});
