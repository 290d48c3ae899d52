-- A charge in atomic phases: phase 1 records the intent here (what phase 3
-- will store, and the provider's idempotency key), phase 2 calls the
-- provider outside any transaction, phase 3 records the outcome. A pending
-- row is a charge whose outcome is not yet known: a retry of the request, or
-- the completer job, asks the provider again with the same key.
CREATE TABLE payment_attempts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'declined')),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    subscription_id TEXT NOT NULL,
    invoice_id      TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    payment_method  TEXT NOT NULL,
    provider_key    TEXT NOT NULL UNIQUE,
    credit_reserved BIGINT NOT NULL CHECK (credit_reserved >= 0),
    intent          TEXT NOT NULL,
    provider_ref    TEXT NOT NULL DEFAULT '',
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
CREATE INDEX payment_attempts_state ON payment_attempts (state, created_at);
CREATE INDEX payment_attempts_subscription ON payment_attempts (subscription_id, state);
CREATE INDEX payment_attempts_invoice ON payment_attempts (invoice_id, state);
-- How far a request with an Idempotency-Key got: 'started' until its first
-- transaction records an intent; a retry resumes from there.
ALTER TABLE idempotency_keys ADD COLUMN recovery_point TEXT NOT NULL DEFAULT 'started';
