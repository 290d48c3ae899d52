-- Indexes for the web pages under load (issue 4): a customer's invoices and
-- subscriptions newest first, and the console's search, which matches the
-- start of an email address or company name, case-insensitively.
CREATE INDEX invoices_customer_id ON invoices (customer_id, id);
CREATE INDEX subscriptions_customer_id ON subscriptions (customer_id, id);
CREATE INDEX customers_email_lower ON customers (lower(email));
CREATE INDEX customers_company_lower ON customers (lower(company));
CREATE INDEX web_users_email_lower ON web_users (lower(email));
