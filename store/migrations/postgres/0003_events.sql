CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    customer_id  TEXT,
    payload      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_subject ON events (subject_id);
ALTER TABLE subscriptions ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
