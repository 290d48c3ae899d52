-- Billing notices (issue 12): one row per notice and cause, so a renewal
-- or trial-ending notice is sent once whatever restarts or retries: the
-- subject (a subscription or customer), the cause (the term end, a card's
-- expiry month) and the kind ("renewal:30", "trial:7", "card_expiring").
CREATE TABLE billing_notices (
    subject_id TEXT NOT NULL,
    cause      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subject_id, cause, kind)
);
-- Payment terms per billing account: days until an invoice is due (0: on
-- issue), the buyer's purchase order number, whether one is required before
-- paying by invoice, and extra billing recipients (comma-separated).
ALTER TABLE customers ADD COLUMN terms_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE customers ADD COLUMN po_number TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN po_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN billing_cc TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN po_number TEXT NOT NULL DEFAULT '';
