import { systemClock } from "../clock.js";
import { createCeiling, SYSTEM_ACTOR } from "../domain/ceiling.js";
import { createClients } from "../domain/clients.js";
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
    const clients = createClients({ store, clock: systemClock, ceiling: createCeiling(), cacheMaxBytes: 1 << 20 });
    const { secret } = await store.transaction((tx) => clients.rotateSecret(clientId, 0, SYSTEM_ACTOR, tx));
    out(adminBanner("authz admin secret reset", clientId, secret));
    return 0;
  } finally {
    await store.close();
  }
}

/** The one way admin credentials are shown: clearly marked, on stderr. */
export function adminBanner(title: string, clientId: string, secret: string): string {
  const line = "=".repeat(72);
  return `${line}\n${title} — shown once, store the secret now\n  AUTHZ_ADMIN_CLIENT_ID=${clientId}\n  AUTHZ_ADMIN_CLIENT_SECRET=${secret}\n${line}\n`;
}
