-- Customer portal, second part: invitations to manage a billing account,
-- saved payment methods, support requests with their messages and ratings,
-- and staff impersonation on a session.
CREATE TABLE account_invitations (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    email       TEXT NOT NULL,          -- lower-cased
    token_hash  TEXT NOT NULL UNIQUE,   -- SHA-256 of the emailed token
    invited_by  TEXT NOT NULL REFERENCES web_users (id),
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    accepted_by TEXT REFERENCES web_users (id)
);
CREATE INDEX account_invitations_customer ON account_invitations (customer_id);
CREATE TABLE payment_methods (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    provider_id TEXT NOT NULL,          -- the payment provider's id of the card
    label       TEXT NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (customer_id, provider_id)
);
CREATE TABLE support_requests (
    id              TEXT PRIMARY KEY,
    number          INTEGER NOT NULL UNIQUE,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    subscription_id TEXT REFERENCES subscriptions (id),
    user_id         TEXT NOT NULL REFERENCES web_users (id),
    category        TEXT NOT NULL CHECK (category IN ('license_error', 'resend_license', 'eula', 'billing', 'other')),
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'solved')),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    solved_at       TIMESTAMP,
    satisfied       INTEGER,            -- the customer's rating, once solved
    rating_comment  TEXT NOT NULL DEFAULT '',
    rated_at        TIMESTAMP
);
CREATE INDEX support_requests_customer ON support_requests (customer_id);
CREATE INDEX support_requests_state ON support_requests (state, created_at);
CREATE INDEX support_requests_rated ON support_requests (rated_at);
CREATE TABLE support_messages (
    id         TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES support_requests (id),
    user_id    TEXT NOT NULL REFERENCES web_users (id),
    staff      INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX support_messages_request ON support_messages (request_id, created_at);
-- A staff member acting as a customer: the customer's id, '' otherwise.
ALTER TABLE web_sessions ADD COLUMN acting_as TEXT NOT NULL DEFAULT '';
