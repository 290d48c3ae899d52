-- Issue 13, add-on usage and instances.
-- The add-on metrics an instance reported with a day's seat report (GitLab's
-- add_on_metrics: a JSON array of {add_on_type, purchased_seats,
-- assigned_seats}; a day's second report keeps each add-on's maximum).
ALTER TABLE seat_reports ADD COLUMN add_on_metrics TEXT NOT NULL DEFAULT '[]';
-- An instance's last reported counts (NULL until it reports them); when it
-- was deactivated (NULL: active); when its latest lapse without a sync was
-- announced as instance.stale (a sync after it starts a new lapse).
ALTER TABLE instances ADD COLUMN max_users BIGINT;
ALTER TABLE instances ADD COLUMN billable_users BIGINT;
ALTER TABLE instances ADD COLUMN deactivated_at TIMESTAMP;
ALTER TABLE instances ADD COLUMN stale_notified_at TIMESTAMP;
-- The most instances a plan's subscription may have active; 0 is unlimited.
ALTER TABLE plans ADD COLUMN max_instances INTEGER NOT NULL DEFAULT 0 CHECK (max_instances >= 0);
-- Staff-issued no-charge licenses (not for resale, proof of concept,
-- partner): the subscription carrying them is never invoiced and counts in
-- no KPI.
CREATE TABLE custom_licenses (
    subscription_id TEXT PRIMARY KEY REFERENCES subscriptions (id),
    kind            TEXT NOT NULL CHECK (kind IN ('nfr', 'poc', 'partner')),
    reason          TEXT NOT NULL,
    entitlements    TEXT NOT NULL DEFAULT '{}',
    issued_by       TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
