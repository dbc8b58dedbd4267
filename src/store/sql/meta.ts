import type { MetaRepository } from "../../domain/ports.js";
import type { SqlExecutor } from "./executor.js";

export function metaRepository(q: SqlExecutor): MetaRepository {
  return {
    get: async (key) => (await q.get<{ value: string }>("SELECT value FROM meta WHERE key = ?", [key]))?.value,
    set: async (key, value) => void (await q.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])),
  };
}
