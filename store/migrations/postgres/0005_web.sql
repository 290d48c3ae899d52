-- Customer portal and admin console: people who sign in, their sessions,
-- one-time email links, the billing accounts they manage and EULA acceptances.
CREATE TABLE web_users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE, -- lower-cased
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,        -- argon2id, PHC string; '' for none
    role          TEXT NOT NULL CHECK (role IN ('customer', 'admin', 'support', 'read_only')),
    confirmed_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE TABLE web_user_customers (
    user_id     TEXT NOT NULL REFERENCES web_users (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, customer_id)
);
CREATE INDEX web_user_customers_customer ON web_user_customers (customer_id);
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,       -- SHA-256 of the cookie value
    user_id     TEXT NOT NULL REFERENCES web_users (id),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    remote_addr TEXT NOT NULL,
    flash       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE TABLE web_tokens (
    hash       TEXT PRIMARY KEY,        -- SHA-256 of the emailed token
    user_id    TEXT NOT NULL REFERENCES web_users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('confirm', 'signin', 'reset')),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE TABLE eula_acceptances (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    user_id     TEXT NOT NULL REFERENCES web_users (id),
    version     TEXT NOT NULL,
    accepted_at TIMESTAMPTZ NOT NULL,
    remote_addr TEXT NOT NULL
);
CREATE INDEX eula_acceptances_customer ON eula_acceptances (customer_id);
CREATE INDEX customers_company ON customers (company);
