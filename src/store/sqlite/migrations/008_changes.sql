-- The change feed: every write that changes what replicas hold in memory
-- (API servers, clients, grants, signing keys, revocations) appends one row
-- here in its own transaction. Replicas follow it by `seq`; writers are
-- serialised, so rows commit in `seq` order and a follower never skips one.
-- `detail` is JSON (e.g. a grant's client and API server, a revoked jti's
-- expiry). Rows older than the feed's retention are purged.
CREATE TABLE changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}',
  time INTEGER NOT NULL
);
CREATE INDEX changes_by_time ON changes(time);
