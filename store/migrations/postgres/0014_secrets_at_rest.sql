-- No one-time secret in plain text at rest (issue 9, item 2).
--
-- Idempotency records keep SHA-256(Idempotency-Key), hex, and their answer
-- sealed with a key derived from the raw Idempotency-Key (store/idempotency.go).
-- Answers stored in plain text before this migration (a purchase answer holds
-- the activation code) are deleted, as SQL cannot seal them: status_code -1
-- marks such a record, and a retry with its key is refused (422) rather than
-- run a second time. Requests still running
-- (status_code 0) keep their record.
-- sha256() is built into PostgreSQL 11 and later.
UPDATE idempotency_keys SET key = encode(sha256(convert_to(key, 'UTF8')), 'hex');
UPDATE idempotency_keys SET status_code = -1, response = '' WHERE status_code <> 0;

-- Emails that carry a one-time link (sign-in, reset, confirmation,
-- invitation) lose the link from their stored copy once sent. Earlier ones
-- are marked, and those already sent or failed lose their whole body, as
-- SQL cannot cut the link out of it here.
ALTER TABLE emails ADD COLUMN has_secret BOOLEAN NOT NULL DEFAULT false;
UPDATE emails SET has_secret = true WHERE kind LIKE 'auth.%' OR kind = 'account.invitation';
UPDATE emails SET body = '[message removed after sending: it carried a one-time link]'
    WHERE has_secret AND status IN ('sent', 'failed');
