-- The probe customer (fulfill probe) buys, activates and syncs like a real
-- one, but is left out of the KPIs; there is at most one.
ALTER TABLE customers ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX customers_one_probe ON customers (probe) WHERE probe = 1;
