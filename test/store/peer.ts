// A second replica for the store contract suite: its own process, its own
// store instance over the same database (SQLite: the same file; PostgreSQL:
// the same schema, its own pool). It reads one JSON request per line on stdin,
// runs them concurrently as they come, and answers one JSON line each on
// stdout. Started by harness.ts (`node --import tsx test/store/peer.ts`).
import { createInterface } from "node:readline";
import { AuthzError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import type { RefreshTokenRecord } from "../../src/oauth/ports.js";
import { openStore } from "../../src/store/index.js";
import { appendChange, lockedIncrement } from "./fixtures.js";

export interface PeerLocation {
  databaseUrl: string;
  dataFile: string;
  schema: string;
}

export interface PeerOps {
  /** `rotate` with the hashes base64 (JSON lines). */
  rotate(familyId: string, parent: string, at: number, child: (Omit<RefreshTokenRecord, "tokenHash"> & { tokenHash: string }) | undefined): Promise<boolean>;
  revokeFamily(familyId: string): Promise<void>;
  consume(clientId: string, jti: string, keepUntil: number): Promise<boolean>;
  recordIssuance(clientId: string, count: number, lastMs: number): Promise<void>;
  lockedIncrement(key: string): Promise<number>;
  appendChange(id: string): Promise<void>;
}

if (process.env.AUTHZ_STORE_PEER) {
  const at = JSON.parse(process.env.AUTHZ_STORE_PEER) as PeerLocation;
  const store = await openStore({
    databaseUrl: at.databaseUrl,
    dataFile: at.dataFile,
    postgresSchema: at.schema || undefined,
    storeTimeoutMs: 10_000,
    postgresPoolSize: 4,
    logger: silentLogger,
  });
  const ops: PeerOps = {
    rotate: (familyId, parent, at, child) => store.refreshTokens.rotate(familyId, Buffer.from(parent, "base64"), at, child && { ...child, tokenHash: Buffer.from(child.tokenHash, "base64") }),
    revokeFamily: (familyId) => store.refreshTokens.revokeFamily(familyId),
    consume: (clientId, jti, keepUntil) => store.assertionJtis.consume(clientId, jti, keepUntil),
    recordIssuance: (clientId, count, lastMs) => store.clients.recordIssuance(clientId, count, lastMs),
    lockedIncrement: (key) => lockedIncrement(store, key),
    appendChange: (id) => appendChange(store, id),
  };
  const pending = new Set<Promise<void>>();
  const answer = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const { id, op, args } = JSON.parse(line) as { id: number; op: keyof PeerOps; args: unknown[] };
    const work = (async () => {
      try {
        const value = await (ops[op] as (...a: unknown[]) => Promise<unknown>)(...args);
        answer({ id, value: value ?? null });
      } catch (err) {
        answer({ id, error: { name: (err as Error).name, kind: err instanceof AuthzError ? err.kind : undefined, message: (err as Error).message } });
      }
    })();
    pending.add(work);
    void work.finally(() => pending.delete(work));
  });
  // stdin closed: finish what is running, close the store, exit.
  lines.on("close", () => {
    void Promise.all(pending)
      .then(() => store.close())
      .then(() => process.exit(0));
  });
  answer({ ready: true });
}
