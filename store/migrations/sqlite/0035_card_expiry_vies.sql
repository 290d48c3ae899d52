-- Card details the payment provider reports when a card is saved (issue
-- 12): brand, last 4 digits and expiry month and year (0: not reported),
-- for the card-expiring notice.
ALTER TABLE payment_methods ADD COLUMN brand TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_methods ADD COLUMN last4 TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_methods ADD COLUMN exp_month INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payment_methods ADD COLUMN exp_year INTEGER NOT NULL DEFAULT 0;
-- The last online check of a billing account's VAT id against the EU's
-- VIES service (--vies-url): its result ('valid' or 'unavailable'; '' when
-- not checked), when, and VIES's request identifier (consultation number).
ALTER TABLE customers ADD COLUMN vat_check TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN vat_checked_at TIMESTAMP;
ALTER TABLE customers ADD COLUMN vat_check_ref TEXT NOT NULL DEFAULT '';
