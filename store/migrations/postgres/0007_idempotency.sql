ALTER TABLE idempotency_keys ADD COLUMN seed TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN locked_at TIMESTAMPTZ;
