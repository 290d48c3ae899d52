-- Imports: the id a customer had in the system it was migrated from, so a
-- later subscriptions file can name the customer by it, and a second import
-- of the same customer is refused.
CREATE TABLE customer_external_ids (
    external_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL UNIQUE REFERENCES customers (id),
    created_at  TIMESTAMP NOT NULL
);
