-- The change feed (see the SQLite migration). Appends take an advisory
-- transaction lock first, so rows commit in `seq` order.
CREATE TABLE changes (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}',
  time BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes(time);
