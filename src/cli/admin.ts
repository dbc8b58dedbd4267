import { systemClock } from "../clock.js";
import { createCeiling, SYSTEM_ACTOR } from "../domain/ceiling.js";
import { createClients, type ClientInput, type Clients } from "../domain/clients.js";
import { MANAGEMENT_API_SERVER_ID } from "../domain/constants.js";
import { createGrants, type Grants } from "../domain/grants.js";
import type { DomainTx } from "../domain/ports.js";
import { ADMIN_CLIENT_KEY } from "../domain/bootstrap.js";
import { defaults } from "../config.js";
import { silentLogger } from "../log.js";
import { openStore, type StoreOptions } from "../store/index.js";

/**
 * `authz admin reset-secret`: recovers a lost admin secret by rotating it
 * directly in the store (no running service or token needed). The old secret
 * and every token issued with it stop working; running replicas see the
 * change on the change feed.
 */
export async function resetAdminSecret(where: Pick<StoreOptions, "databaseUrl" | "dataFile">, out: (text: string) => void): Promise<number> {
  const store = await openStore({ ...where, storeTimeoutMs: defaults.storeTimeoutMs, postgresPoolSize: 1, logger: silentLogger });
  try {
    const clientId = await store.meta.get(ADMIN_CLIENT_KEY);
    if (!clientId || !(await store.clients.get(clientId))) {
      out(`no admin client in ${where.databaseUrl ? "the database" : where.dataFile} (has the service been started on it?)\n`);
      return 1;
    }
    const ceiling = createCeiling();
    const clients = createClients({ store, clock: systemClock, ceiling, cacheMaxBytes: 1 << 20 });
    const grants = createGrants({ store, clock: systemClock, ceiling, cacheMaxBytes: 1 << 20 });
    const { secret } = await store.transaction(async (tx) => {
      await restoreAdmin(clientId, clients, grants, tx);
      return clients.rotateSecret(clientId, 0, SYSTEM_ACTOR, tx);
    });
    out(adminBanner("authz admin secret reset", clientId, secret));
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * Whatever else kept the admin out goes too, so the new secret is enough:
 * enabled, client_secret_basic, the client_credentials grant type, no key,
 * certificate or binding it would need, and every management permission
 * (a grant with allow_all_scopes).
 */
async function restoreAdmin(clientId: string, clients: Clients, grants: Grants, tx: DomainTx): Promise<void> {
  const current = await clients.get(clientId, "client_id", tx);
  const input: ClientInput = {
    ...current,
    jwks: undefined,
    tokenEndpointAuthMethod: "client_secret_basic",
    grantTypes: [...new Set(["client_credentials", ...current.grantTypes])],
    disabled: false,
    tlsClientAuth: {},
    certificateBoundTokens: false,
    dpopBoundTokens: false,
  };
  const mask = ["jwks", "token_endpoint_auth_method", "grant_types", "disabled", "tls_client_auth_subject_dn", "tls_client_certificate_bound_access_tokens", "dpop_bound_access_tokens"];
  await clients.update(clientId, input, mask, "", SYSTEM_ACTOR, tx);
  const grant = await tx.grants.findByPair(clientId, MANAGEMENT_API_SERVER_ID);
  const all = { clientId, apiServerId: MANAGEMENT_API_SERVER_ID, scopes: [], allowAllScopes: true };
  if (!grant) await grants.create(all, SYSTEM_ACTOR, tx);
  else if (!grant.allowAllScopes) await grants.update(grant.id, all, ["scopes", "allow_all_scopes"], "", SYSTEM_ACTOR, tx);
}

/** The one way admin credentials are shown: clearly marked, on stderr. */
export function adminBanner(title: string, clientId: string, secret: string): string {
  const line = "=".repeat(72);
  return `${line}\n${title} — shown once, store the secret now\n  AUTHZ_ADMIN_CLIENT_ID=${clientId}\n  AUTHZ_ADMIN_CLIENT_SECRET=${secret}\n${line}\n`;
}
