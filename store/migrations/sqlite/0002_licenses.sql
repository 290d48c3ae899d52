CREATE TABLE licenses (
    id                  TEXT PRIMARY KEY,
    subscription_id     TEXT NOT NULL REFERENCES subscriptions (id),
    seq                 INTEGER NOT NULL,
    kid                 TEXT NOT NULL,
    reason              TEXT NOT NULL,
    plan                TEXT NOT NULL,
    seats               INTEGER NOT NULL,
    previous_user_count INTEGER NOT NULL,
    trueup_quantity     INTEGER NOT NULL,
    starts_at           DATE NOT NULL,
    expires_at          DATE NOT NULL,
    trial               INTEGER NOT NULL,
    file                TEXT NOT NULL,
    issued_at           TIMESTAMP NOT NULL,
    UNIQUE (subscription_id, seq)
);
CREATE TABLE instances (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    instance_id     TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    version         TEXT NOT NULL,
    activated_at    TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (subscription_id, instance_id)
);
CREATE TABLE usage_pings (
    id              TEXT PRIMARY KEY,
    instance_id     TEXT NOT NULL,
    subscription_id TEXT,
    payload         TEXT NOT NULL,
    received_at     TIMESTAMP NOT NULL
);
CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    at           TIMESTAMP NOT NULL,
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
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX emails_customer ON emails (customer_id);
CREATE TABLE reconciliations (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    quarter_end     DATE NOT NULL,
    kind            TEXT NOT NULL,
    invoice_id      TEXT,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (subscription_id, quarter_end, kind)
);
ALTER TABLE customers ADD COLUMN credit_hold INTEGER NOT NULL DEFAULT 0;
