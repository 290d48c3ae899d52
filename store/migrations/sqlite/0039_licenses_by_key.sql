-- Issue 18: the start-up check of the signing keys (which keys signed
-- licenses, which signed the newest) reads this index a few entries per key
-- instead of every license.
CREATE INDEX licenses_kid_issued ON licenses (kid, issued_at, id);
