CREATE TABLE licenses (
    id                  TEXT PRIMARY KEY,
    subscription_id     TEXT NOT NULL REFERENCES subscriptions (id),
    seq                 BIGINT NOT NULL,
    kid                 TEXT NOT NULL,
    reason              TEXT NOT NULL,
    plan                TEXT NOT NULL,
    seats               BIGINT NOT NULL,
    previous_user_count BIGINT NOT NULL,
    trueup_quantity     BIGINT NOT NULL,
    starts_at           DATE NOT NULL,
    expires_at          DATE NOT NULL,
    trial               BOOLEAN NOT NULL,
    file                TEXT NOT NULL,
    issued_at           TIMESTAMPTZ NOT NULL,
    UNIQUE (subscription_id, seq)
);
CREATE TABLE instances (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    instance_id     TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    version         TEXT NOT NULL,
    activated_at    TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subscription_id, instance_id)
);
CREATE TABLE usage_pings (
    id              TEXT PRIMARY KEY,
    instance_id     TEXT NOT NULL,
    subscription_id TEXT,
    payload         TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL
);
CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    detail       TEXT NOT NULL,
    remote_addr  TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id);
CREATE TABLE emails (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    attachment_name TEXT NOT NULL,
    attachment      TEXT NOT NULL,
    customer_id     TEXT,
    status          TEXT NOT NULL,
    error           TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX emails_customer ON emails (customer_id);
CREATE TABLE reconciliations (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    quarter_end     DATE NOT NULL,
    kind            TEXT NOT NULL,
    invoice_id      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subscription_id, quarter_end, kind)
);
ALTER TABLE customers ADD COLUMN credit_hold BOOLEAN NOT NULL DEFAULT FALSE;
