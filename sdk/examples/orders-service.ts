// An example resource server: Express, tokens verified locally against authz's
// JWKS, revocations followed through the revocation watch (fail closed), and
// `orders:read` required on GET /orders.
//
//   AUTHZ_ISSUER=http://127.0.0.1:8080 AUTHZ_GRPC_ADDRESS=127.0.0.1:50051 \
//   ORDERS_AUDIENCE=https://orders.example.com \
//   ORDERS_CLIENT_ID=cl_... ORDERS_CLIENT_SECRET=... node dist/orders-service.js
//
// ORDERS_CLIENT_* is the resource server's own client: granted
// `tokens:introspect` on urn:authz:management (for the watch) and granted on
// the orders API server (to see its tokens' events).
import express from "express";
import { createVerifier, TokenSource, type FailMode } from "@authz/sdk";
import { expressAuth, requireScope } from "@authz/sdk/express";

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    console.error(`orders-service: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const issuer = env("AUTHZ_ISSUER");
const grpcAddress = env("AUTHZ_GRPC_ADDRESS");
const audience = env("ORDERS_AUDIENCE");
const failMode = env("AUTHZ_WATCH_FAIL_MODE", "closed") as FailMode;
const maxStaleSeconds = Number(env("AUTHZ_WATCH_MAX_STALE_SECONDS", "60"));

// The management token for the watch: client credentials of the resource server's own client.
const managementToken = new TokenSource({
  address: grpcAddress,
  clientId: env("ORDERS_CLIENT_ID"),
  clientSecret: env("ORDERS_CLIENT_SECRET"),
  audience: "urn:authz:management",
  scope: "tokens:introspect",
});

const verifier = createVerifier({
  issuer,
  audience,
  watch: {
    address: grpcAddress,
    token: managementToken,
    failMode,
    maxStaleSeconds,
    audiences: [audience],
    onError: (err) => console.error(`orders-service: revocation watch: ${err.code}${err.grpcCode !== undefined ? ` (gRPC ${err.grpcCode})` : ""}`),
  },
});

const app = express();

// Health, with the watch's state (no secrets in it).
app.get("/healthz", (_req, res) => {
  res.json({ ok: true, watch: verifier.watch?.status() });
});

app.get("/orders", expressAuth(verifier), requireScope("orders:read"), (req, res) => {
  res.json({ client: req.auth!.clientId, scopes: req.auth!.scopes, orders: [{ id: "o-1001", total: 42 }] });
});

const server = app.listen(Number(env("PORT", "3000")), env("HOST", "127.0.0.1"), () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  console.log(`orders-service listening on http://127.0.0.1:${port}`);
});

async function shutdown(): Promise<void> {
  server.close();
  await verifier.close();
  managementToken.close();
}
process.once("SIGTERM", () => void shutdown());
process.once("SIGINT", () => void shutdown());
