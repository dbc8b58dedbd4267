import { RevocationServiceService, type RevocationEvent, type RevocationServiceServer, type WatchRevocationsResponse } from "../../gen/authz/v1/revocation.js";
import type { ChangeFeed } from "../domain/changes.js";
import { AUDIENCE } from "../domain/constants.js";
import { InvalidArgument, PermissionDenied } from "../domain/errors.js";
import type { Change, ChangeRepository } from "../domain/ports.js";
import { AuthzError, Unavailable } from "../errors.js";
import { audienceOf, eventsOf, type RevocationEventInfo } from "../oauth/revocation_events.js";
import { actorOf } from "./audited.js";
import { timestamp } from "./convert/time.js";
import { bindService } from "./service.js";

export interface RevocationWatchDeps {
  /** The feed's table: catching up from a cursor. */
  changes: Pick<ChangeRepository, "since" | "oldest" | "latest">;
  /** This replica's follower: changes as they are applied. */
  feed: Pick<ChangeFeed, "position" | "subscribe">;
  /** The API server identifiers a caller may see tokens of (as for introspection). */
  audiencesOf(caller: { clientId: string; scopes: readonly string[] }): Promise<Set<string>>;
  heartbeatMs: number;
  /** Aborted when this replica begins to shut down: streams end UNAVAILABLE, and the watcher resumes elsewhere from its cursor. */
  closing: AbortSignal;
}

/**
 * RevocationService.WatchRevocations: from the caller's cursor, every event
 * of the change feed about an API server the caller may see — first what is
 * stored after the cursor, then live as this replica applies changes (any
 * replica serves any watcher: they all follow the same feed). A message
 * carries the events of one change; a heartbeat (no events) carries the
 * cursor once the stored part is sent and then every `heartbeatMs`, so a
 * watcher knows where it stands and can tell a quiet stream from a dead one.
 */
export function revocationService(deps: RevocationWatchDeps) {
  return bindService<RevocationServiceServer>(RevocationServiceService, {
    watchRevocations: async (req, ctx, send) => {
      const caller = actorOf(ctx);
      // Read again at each heartbeat: access the caller loses ends its events. What it saw until then stays
      // visible one period more, so the deletion of an API server (its grants gone with it) still gets out.
      let visible = await deps.audiencesOf(caller);
      let lately = visible;
      const wanted = checkAudiences(req.audiences, visible);
      let position = req.cursor ? decodeCursor(req.cursor) : deps.feed.position();
      if (req.cursor) {
        const [oldest, latest] = await Promise.all([deps.changes.oldest(), deps.changes.latest()]);
        if (oldest > 0 && position < oldest - 1) throw new AuthzError("out_of_range", "the cursor is older than the change feed's retention; resynchronise (start without a cursor)");
        // Else the watch would wait for changes numbered past it and say nothing of every one before (another deployment's cursor, a store restored from a backup).
        if (position > latest) throw new AuthzError("out_of_range", "the cursor is ahead of the change feed; resynchronise (start without a cursor)");
      }
      const queue: Change[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = deps.feed.subscribe((changes) => {
        queue.push(...changes);
        wake?.();
      });
      const emit = async (change: Change) => {
        if (change.seq <= position) return;
        position = change.seq;
        const events = eventsOf(change).filter((e) => (visible.has(audienceOf(e)) || lately.has(audienceOf(e))) && (!wanted || wanted.has(audienceOf(e))));
        if (events.length > 0) await send(message(events.map(toPb), position));
      };
      try {
        // What was stored after the cursor (the live queue fills meanwhile; `emit` skips what it already sent).
        for (;;) {
          const batch = await deps.changes.since(position, 500);
          for (const change of batch) await emit(change);
          if (batch.length < 500) break;
        }
        // Caught up: say so at once with the cursor (a watcher that started without one learns where it stands).
        await send(message([], position));
        while (!ctx.signal.aborted) {
          if (deps.closing.aborted) throw new Unavailable("this replica is shutting down: the watch");
          if (queue.length === 0 && !(await quietFor(deps.heartbeatMs, [ctx.signal, deps.closing], (w) => (wake = w)))) {
            [lately, visible] = [visible, await deps.audiencesOf(caller)];
            await send(message([], position));
            continue;
          }
          while (queue.length > 0) await emit(queue.shift()!);
        }
      } finally {
        unsubscribe();
      }
    },
  });
}

/** Waits until woken (true), the heartbeat is due (false), or a signal aborts (true: the loop then ends). */
function quietFor(ms: number, signals: AbortSignal[], setWake: (wake: () => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (woken: boolean) => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", onAbort);
      resolve(woken);
    };
    const onAbort = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
    setWake(() => done(true));
  });
}

/** The `audiences` filter: each a valid identifier the caller may see. */
function checkAudiences(audiences: string[], visible: Set<string>): Set<string> | undefined {
  if (audiences.length === 0) return undefined;
  if (audiences.length > 100) throw new InvalidArgument([{ field: "audiences", description: "must have at most 100 entries" }]);
  audiences.forEach((a, i) => {
    if (!AUDIENCE.test(a)) throw new InvalidArgument([{ field: `audiences[${i}]`, description: "is not an API server identifier" }]);
  });
  const refused = audiences.find((a) => !visible.has(a));
  if (refused !== undefined) throw new PermissionDenied(`the caller has no access to API server ${JSON.stringify(refused)}`);
  return new Set(audiences);
}

/** Cursors are opaque to callers: the feed sequence, in base 36 behind a version letter. */
export function encodeCursor(seq: number): string {
  return `c${seq.toString(36)}`;
}

function decodeCursor(cursor: string): number {
  const m = /^c([0-9a-z]{1,11})$/.exec(cursor);
  const seq = m ? parseInt(m[1]!, 36) : NaN;
  if (!Number.isSafeInteger(seq)) throw new InvalidArgument([{ field: "cursor", description: "is not a cursor this service issued" }]);
  return seq;
}

function message(events: RevocationEvent[], position: number): WatchRevocationsResponse {
  return { events, cursor: encodeCursor(position) };
}

function toPb(e: RevocationEventInfo): RevocationEvent {
  return {
    id: e.id,
    eventType: e.eventType,
    eventTime: timestamp(e.eventTime),
    subject: { format: e.subject.format, jti: e.subject.jti ?? "", clientId: e.subject.clientId ?? "", audience: e.subject.audience ?? "" },
    tokensIssuedBefore: timestamp(e.tokensIssuedBefore),
    scopes: e.scopes ?? [],
    reason: e.reason,
    changeType: e.changeType ?? "",
  };
}
