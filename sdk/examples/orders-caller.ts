// An example caller: gets a client-credentials token for the orders API with a
// TokenSource (HTTP token endpoint, client_secret_basic) and calls GET /orders.
//
//   AUTHZ_ISSUER=http://127.0.0.1:8080 ORDERS_AUDIENCE=https://orders.example.com \
//   CALLER_CLIENT_ID=cl_... CALLER_CLIENT_SECRET=... ORDERS_URL=http://127.0.0.1:3000 \
//   node dist/orders-caller.js
import { TokenSource } from "@authz/sdk";

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    console.error(`orders-caller: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const orders = new TokenSource({
  issuer: env("AUTHZ_ISSUER"),
  clientId: env("CALLER_CLIENT_ID"),
  clientSecret: env("CALLER_CLIENT_SECRET"),
  audience: env("ORDERS_AUDIENCE"),
  // Every granted scope unless CALLER_SCOPE narrows it.
  scope: process.env.CALLER_SCOPE || undefined,
});

try {
  const res = await orders.fetch(`${env("ORDERS_URL")}/orders`);
  console.log(JSON.stringify({ status: res.status, body: await res.json() }));
  process.exitCode = res.ok ? 0 : 1;
} catch (err) {
  console.error(`orders-caller: ${(err as { code?: string }).code ?? (err as Error).name}`);
  process.exitCode = 1;
} finally {
  orders.close();
}
