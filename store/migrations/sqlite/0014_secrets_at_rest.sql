-- No one-time secret in plain text at rest (issue 9, item 2).
--
-- Idempotency records keep SHA-256(Idempotency-Key), hex, and their answer
-- sealed with a key derived from the raw Idempotency-Key (store/idempotency.go).
-- Answers stored in plain text before this migration (a purchase answer holds
-- the activation code) are deleted, as SQL cannot seal them: status_code -1
-- marks such a record, and a retry with its key is refused (422) rather than
-- run a second time. Requests still running
-- (status_code 0) keep their record.
-- fulfill_sha256_hex is registered by the store package (modernc SQLite).
UPDATE idempotency_keys SET key = fulfill_sha256_hex(key);
UPDATE idempotency_keys SET status_code = -1, response = '' WHERE status_code <> 0;

-- Emails that carry a one-time link (sign-in, reset, confirmation,
-- invitation) lose the link from their stored copy once sent. Earlier ones
-- are marked, and those already sent or failed lose their whole body, as
-- SQL cannot cut the link out of it here.
ALTER TABLE emails ADD COLUMN has_secret INTEGER NOT NULL DEFAULT 0;
UPDATE emails SET has_secret = 1 WHERE kind LIKE 'auth.%' OR kind = 'account.invitation';
UPDATE emails SET body = '[message removed after sending: it carried a one-time link]'
    WHERE has_secret = 1 AND status IN ('sent', 'failed');
