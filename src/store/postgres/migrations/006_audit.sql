CREATE TABLE audit_events (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  time BIGINT NOT NULL,
  actor TEXT NOT NULL,
  method TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  result TEXT NOT NULL
);
CREATE INDEX audit_events_by_actor ON audit_events(actor, seq);
CREATE INDEX audit_events_by_resource ON audit_events(resource_id, seq);
CREATE INDEX audit_events_by_time ON audit_events(time);
