import type { DomainStore } from "./ports.js";
import type { Clients } from "./clients.js";
import type { Grants } from "./grants.js";
import { SYSTEM_ACTOR } from "./ceiling.js";
import { MANAGEMENT_API_SERVER_ID } from "./constants.js";

export const ADMIN_CLIENT_KEY = "admin_client_id";

export interface AdminCredentials {
  clientId: string;
  clientSecret: string;
  /** True when they came from configuration (then they are not printed). */
  fromConfig: boolean;
}

/**
 * First start only (the store remembers it was done): creates the admin client
 * with every management permission. Returns the credentials so the caller can
 * show them once; later starts return undefined and never show them again.
 * Under the bootstrap lock: when N replicas start together on an empty store,
 * exactly one creates the admin (the others wait, then find it done).
 */
export async function bootstrapAdmin(
  deps: { store: Pick<DomainStore, "meta" | "transaction">; clients: Clients; grants: Grants },
  configured: { clientId: string; clientSecret: string },
): Promise<AdminCredentials | undefined> {
  const { store, clients, grants } = deps;
  if (await store.meta.get(ADMIN_CLIENT_KEY)) return undefined;
  return store.transaction(async (tx) => {
    await tx.lock("bootstrap");
    if (await tx.meta.get(ADMIN_CLIENT_KEY)) return undefined;
    const { client, secret } = await clients.create(
      { name: "admin", description: "Created on first start; holds every management permission.", type: undefined, tokenEndpointAuthMethod: "client_secret_basic", grantTypes: [], disabled: false, metadata: {}, jwks: undefined },
      tx,
      configured.clientId ? { clientId: configured.clientId, secret: configured.clientSecret } : {},
    );
    await grants.create({ clientId: client.clientId, apiServerId: MANAGEMENT_API_SERVER_ID, scopes: [], allowAllScopes: true }, SYSTEM_ACTOR, tx);
    await tx.meta.set(ADMIN_CLIENT_KEY, client.clientId);
    return { clientId: client.clientId, clientSecret: secret, fromConfig: Boolean(configured.clientId) };
  });
}
