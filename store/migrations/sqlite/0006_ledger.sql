CREATE TABLE ledger_transactions (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    reference_type TEXT NOT NULL,
    reference_id   TEXT NOT NULL,
    currency       TEXT NOT NULL,
    memo           TEXT NOT NULL,
    effective_on   DATE NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX ledger_transactions_ref ON ledger_transactions (reference_type, reference_id);
CREATE TABLE ledger_entries (
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    position       INTEGER NOT NULL,
    account        TEXT NOT NULL,
    customer_id    TEXT,
    invoice_id     TEXT,
    amount         INTEGER NOT NULL,
    PRIMARY KEY (transaction_id, position)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account, customer_id);
-- Posted entries are never changed: corrections are new transactions.
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger transactions are immutable'); END;
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger transactions are immutable'); END;
ALTER TABLE invoices ADD COLUMN amount_credited INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN net_revenue INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN recognized INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN period_start DATE;
ALTER TABLE invoices ADD COLUMN period_end DATE;
CREATE TABLE credit_notes (
    id          TEXT PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    invoice_id  TEXT NOT NULL REFERENCES invoices (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    currency    TEXT NOT NULL,
    subtotal    INTEGER NOT NULL,
    tax         INTEGER NOT NULL,
    total       INTEGER NOT NULL CHECK (total > 0),
    method      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    issued_on   DATE NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);
INSERT INTO sequences (name, value) VALUES ('credit_note', 0);
CREATE TABLE dunning (
    invoice_id      TEXT PRIMARY KEY REFERENCES invoices (id),
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    started_on      DATE NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_on DATE,
    state           TEXT NOT NULL,
    prev_seats      INTEGER NOT NULL,
    trueup          INTEGER NOT NULL,
    trueup_from     DATE,
    trueup_to       DATE
);
