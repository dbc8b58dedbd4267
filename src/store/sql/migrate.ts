import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LOCKS, type SqlDatabase } from "./executor.js";

/**
 * Applies the dialect's pending `NNN_name.sql` migrations in order, all in one
 * transaction under the migrations lock: replicas starting together never
 * race (the second waits, then finds nothing to do), and a failed migration
 * leaves the schema as it was.
 */
export async function migrate(db: SqlDatabase, directory: string): Promise<string[]> {
  const files = readdirSync(directory)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  return db.transaction(async (tx) => {
    await tx.lock(LOCKS.migrations);
    await tx.run("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
    const applied = new Set((await tx.all<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => Number(r.version)));
    const done: string[] = [];
    for (const file of files) {
      const version = Number(file.slice(0, 3));
      if (applied.has(version)) continue;
      await tx.exec(readFileSync(join(directory, file), "utf8"));
      await tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [version, file, Date.now()]);
      done.push(file);
    }
    return done;
  });
}
