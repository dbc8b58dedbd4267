import type { Logger } from "../log.js";
import type { Change, ChangeRepository } from "./ports.js";

export interface ChangeFeedOptions {
  changes: ChangeRepository;
  /** A wake-up hint from the store (PostgreSQL NOTIFY); optional: polling alone is correct, just slower. */
  notified?: (listener: () => void) => () => void;
  /** How often the feed is read without a hint, ms. */
  pollMs: number;
  /** Applies one change to this replica's memory (caches, key ring, revocations). May be retried: it must be idempotent. */
  apply: (change: Change) => void | Promise<void>;
  logger: Logger;
  /** Changes read per query. */
  batch?: number;
}

/**
 * Follows the change feed. The table is the truth: a replica reads every
 * change with a higher sequence than the last one it applied, whether a
 * notification woke it, its timer did, or it wrote the change itself (after
 * each local write `catchUp` runs before the caller is answered, so a write is
 * seen at once by the replica that made it). A replica that missed
 * notifications or lost its connection simply reads from where it was.
 * A change whose application fails is retried on the next read, not skipped.
 */
export function createChangeFeed(options: ChangeFeedOptions) {
  const { changes, logger } = options;
  const batch = options.batch ?? 500;
  let position = 0;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let lastRead = 0;
  let failing = false;
  const subscribers = new Set<(changes: Change[]) => void>();

  async function read(): Promise<void> {
    for (;;) {
      const found = await changes.since(position, batch);
      for (const change of found) {
        await options.apply(change);
        position = change.seq;
        for (const s of subscribers) s([change]);
      }
      if (found.length < batch) break;
    }
    lastRead = Date.now();
    if (failing) logger.info("change feed caught up again", { position });
    failing = false;
  }

  /** Reads and applies everything new; concurrent callers share one read, and a call during a read causes one more. */
  function catchUp(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await read();
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  function background(): void {
    catchUp().catch((err: unknown) => {
      if (!failing) logger.warn("change feed read failed; retrying", { error: (err as Error).name, detail: (err as Error).message });
      failing = true;
    });
  }

  return {
    /** Starts after the current end of the feed (what is already stored is loaded by the caches themselves). */
    async start(): Promise<void> {
      position = await changes.latest();
      lastRead = Date.now();
      unsubscribe = options.notified?.(background);
      timer = setInterval(background, options.pollMs).unref();
    },
    catchUp,
    stop(): void {
      clearInterval(timer);
      unsubscribe?.();
    },
    /** The sequence of the last change applied. */
    position: () => position,
    /** Time since the feed was last read in full (ms): how far behind this replica may be. */
    lagMs: () => Date.now() - lastRead,
    /** Listens to changes as they are applied, in order (the revocation watch). */
    subscribe(listener: (changes: Change[]) => void): () => void {
      subscribers.add(listener);
      return () => subscribers.delete(listener);
    },
  };
}

export type ChangeFeed = ReturnType<typeof createChangeFeed>;
