// The peer: node-oidc-provider configured for client credentials with JWT
// access tokens for a resource indicator (same algorithm as ours, in-memory
// adapter), N clients with client_secret_basic.
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const { port, clients, alg } = JSON.parse(process.argv[2]!) as { port: number; clients: Array<{ id: string; secret: string }>; alg: "ES256" | "RS256" };
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair(alg, { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), alg, use: "sig", kid: `peer-${alg}` };

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.id,
    client_secret: c.secret,
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: alg, // its only key (no ID tokens are issued here)
  })),
  jwks: { keys: [signingKey] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: (_ctx: unknown, resourceIndicator: string) => ({
        scope: "orders:read orders:write",
        audience: resourceIndicator,
        accessTokenTTL: 3600,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg } },
      }),
    },
  },
});
provider.listen(port, "127.0.0.1", () => process.stdout.write(`peer listening ${issuer}\n`));
