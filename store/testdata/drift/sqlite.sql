-- A deliberate drift, applied to SQLite only by TestSchemaComparisonReportsDrift:
-- a migration someone wrote for one tree and forgot in the other.
ALTER TABLE customers ADD COLUMN drift_note TEXT;
CREATE INDEX customers_drift_idx ON customers (drift_note);
CREATE TRIGGER customers_drift_trigger BEFORE DELETE ON customers BEGIN SELECT 1; END;
