import type { Change, ChangeKind, ChangeRepository } from "../../domain/ports.js";
import { LOCKS, type SqlExecutor, type SqlTransaction } from "./executor.js";

interface Row {
  seq: number;
  kind: string;
  id: string;
  detail: string;
  time: number;
}

/**
 * The change feed's table. `append` runs in the writer's transaction: it
 * takes the feed lock first (so changes commit in sequence order: a follower
 * reading `seq > n` can never see n+2 before n+1 commits) and wakes followers
 * at commit. Outside a transaction only the read side is usable.
 */
export function changeRepository(q: SqlExecutor, tx?: SqlTransaction): ChangeRepository {
  return {
    async append(change) {
      if (!tx) throw new Error("changes are appended in the transaction that made them");
      await tx.lock(LOCKS.changeFeed);
      await tx.run("INSERT INTO changes (kind, id, detail, time) VALUES (?, ?, ?, ?)", [change.kind, change.id, JSON.stringify(change.detail), change.time]);
      await tx.notifyChanges();
    },
    since: async (afterSeq, limit) => (await q.all<Row>("SELECT * FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", [afterSeq, limit])).map(fromRow),
    latest: async () => Number((await q.get<{ seq: number | null }>("SELECT max(seq) AS seq FROM changes"))?.seq ?? 0),
    oldest: async () => Number((await q.get<{ seq: number | null }>("SELECT min(seq) AS seq FROM changes"))?.seq ?? 0),
    purge: async (beforeMs) => (await q.run("DELETE FROM changes WHERE time < ? AND seq < (SELECT max(seq) FROM changes)", [beforeMs])).changes,
  };
}

function fromRow(r: Row): Change {
  return { seq: Number(r.seq), kind: r.kind as ChangeKind, id: r.id, detail: JSON.parse(r.detail) as Record<string, unknown>, time: Number(r.time) };
}
