-- The webhook delivery log keeps status and timing only: the answer's body
-- and the request headers may carry customer data, so they are not kept.
ALTER TABLE webhook_attempts DROP COLUMN response_excerpt;
ALTER TABLE webhook_attempts DROP COLUMN request_headers;
-- The purge job deletes expired rows in batches by these columns.
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
CREATE INDEX web_tokens_expires ON web_tokens (expires_at);
CREATE INDEX account_invitations_expires ON account_invitations (expires_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
