import { systemClock } from "../clock.js";
import { createCeiling, SYSTEM_ACTOR } from "../domain/ceiling.js";
import { createClients } from "../domain/clients.js";
import { ADMIN_CLIENT_KEY } from "../domain/bootstrap.js";
import { openSqliteStore } from "../store/sqlite/index.js";

/**
 * `authz admin reset-secret`: recovers a lost admin secret by rotating it
 * directly in the data file (no running service or token needed). The old
 * secret and every token issued with it stop working. Restart a running
 * service afterwards: it caches clients.
 */
export async function resetAdminSecret(dataFile: string, out: (text: string) => void): Promise<number> {
  const store = openSqliteStore(dataFile);
  try {
    const clientId = store.meta.get(ADMIN_CLIENT_KEY);
    if (!clientId || !store.clients.get(clientId)) {
      out(`no admin client in ${dataFile} (has the service been started on it?)\n`);
      return 1;
    }
    const { secret } = createClients({ store, clock: systemClock, ceiling: createCeiling(store), cacheMaxBytes: 1 << 20 }).rotateSecret(clientId, 0, SYSTEM_ACTOR);
    out(adminBanner("authz admin secret reset", clientId, secret));
    return 0;
  } finally {
    store.close();
  }
}

/** The one way admin credentials are shown: clearly marked, on stderr. */
export function adminBanner(title: string, clientId: string, secret: string): string {
  const line = "=".repeat(72);
  return `${line}\n${title} — shown once, store the secret now\n  AUTHZ_ADMIN_CLIENT_ID=${clientId}\n  AUTHZ_ADMIN_CLIENT_SECRET=${secret}\n${line}\n`;
}
