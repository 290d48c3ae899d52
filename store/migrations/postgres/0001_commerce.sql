CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('self_managed', 'saas')),
    term_months BIGINT NOT NULL CHECK (term_months > 0),
    current     BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (code, version)
);
CREATE TABLE plan_prices (
    plan_id     TEXT NOT NULL REFERENCES plans (id),
    currency    TEXT NOT NULL,
    unit_amount BIGINT NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (plan_id, currency)
);
CREATE TABLE addons (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    recurring   BOOLEAN NOT NULL,
    term_months BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE addon_prices (
    addon_code  TEXT NOT NULL REFERENCES addons (code),
    currency    TEXT NOT NULL,
    unit_amount BIGINT NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (addon_code, currency)
);
CREATE TABLE customers (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    company       TEXT NOT NULL,
    address       TEXT NOT NULL,
    city          TEXT NOT NULL,
    postal_code   TEXT NOT NULL,
    country       TEXT NOT NULL,
    tax_id        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    contact_name  TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    billing_name  TEXT NOT NULL,
    billing_email TEXT NOT NULL,
    credit        BIGINT NOT NULL DEFAULT 0 CHECK (credit >= 0),
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX customers_email ON customers (email);
CREATE TABLE subscriptions (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL REFERENCES customers (id),
    plan_id             TEXT NOT NULL REFERENCES plans (id),
    state               TEXT NOT NULL CHECK (state IN ('active', 'past_due', 'canceled', 'expired')),
    trial               BOOLEAN NOT NULL,
    seats               BIGINT NOT NULL CHECK (seats > 0),
    starts_on           DATE NOT NULL,
    ends_on             DATE NOT NULL,
    auto_renew          BOOLEAN NOT NULL,
    currency            TEXT NOT NULL,
    unit_amount         BIGINT NOT NULL,
    payment_method      TEXT NOT NULL,
    seat_reconciliation BOOLEAN NOT NULL,
    cancel_reason       TEXT NOT NULL DEFAULT '',
    version             BIGINT NOT NULL,
    license_id          TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    CHECK (ends_on > starts_on)
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
CREATE INDEX subscriptions_due ON subscriptions (ends_on, state);
CREATE TABLE subscription_versions (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    version         BIGINT NOT NULL,
    action          TEXT NOT NULL,
    plan_id         TEXT NOT NULL,
    seats           BIGINT NOT NULL,
    state           TEXT NOT NULL,
    starts_on       DATE NOT NULL,
    ends_on         DATE NOT NULL,
    auto_renew      BOOLEAN NOT NULL,
    invoice_id      TEXT,
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subscription_id, version)
);
CREATE TABLE activation_codes (
    code_hash       TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    active          BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX activation_codes_subscription ON activation_codes (subscription_id);
CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO sequences (name, value) VALUES ('invoice', 0);
CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    subscription_id TEXT REFERENCES subscriptions (id),
    status          TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency        TEXT NOT NULL,
    subtotal        BIGINT NOT NULL,
    tax             BIGINT NOT NULL,
    total           BIGINT NOT NULL CHECK (total >= 0),
    amount_paid     BIGINT NOT NULL,
    tax_rate_bp     BIGINT NOT NULL,
    reverse_charge  BOOLEAN NOT NULL,
    tax_note        TEXT NOT NULL,
    issued_on       DATE NOT NULL,
    due_on          DATE NOT NULL,
    paid_at         TIMESTAMPTZ,
    payment_method  TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    CHECK (total = subtotal + tax)
);
CREATE INDEX invoices_customer ON invoices (customer_id);
CREATE INDEX invoices_subscription ON invoices (subscription_id);
CREATE TABLE invoice_lines (
    invoice_id   TEXT NOT NULL REFERENCES invoices (id),
    position     BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    description  TEXT NOT NULL,
    quantity     BIGINT NOT NULL,
    unit_amount  BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    period_start DATE NOT NULL,
    period_end   DATE NOT NULL,
    proration    BOOLEAN NOT NULL,
    PRIMARY KEY (invoice_id, position)
);
CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    invoice_id   TEXT NOT NULL REFERENCES invoices (id),
    provider     TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    failure_code TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX payments_invoice ON payments (invoice_id);
CREATE TABLE seat_reports (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    date            DATE NOT NULL,
    source          TEXT NOT NULL,
    max_users       BIGINT NOT NULL CHECK (max_users >= 0),
    billable_users  BIGINT NOT NULL CHECK (billable_users >= 0),
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subscription_id, date, source)
);
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE idempotency_keys (
    token_id     TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code  BIGINT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (token_id, key)
);
