-- Add-ons for sale and entitlements (issue 13). An add-on is priced per
-- seat or per unit for a term (recurring), or once (one_off); it fits the
-- plan kinds listed in kinds. Plans and add-ons grant entitlements, a JSON
-- object of flags (true) and limits (integers). A subscription's add-ons
-- keep the price and entitlements they were bought with until renewal.
ALTER TABLE plans ADD COLUMN entitlements TEXT NOT NULL DEFAULT '{}';
ALTER TABLE addons ADD COLUMN pricing TEXT NOT NULL DEFAULT 'per_unit';
ALTER TABLE addons ADD COLUMN kinds TEXT NOT NULL DEFAULT 'self_managed,saas';
ALTER TABLE addons ADD COLUMN entitlements TEXT NOT NULL DEFAULT '{}';
UPDATE addons SET pricing = 'one_off' WHERE NOT recurring;
CREATE TABLE subscription_addons (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    addon_code      TEXT NOT NULL REFERENCES addons (code),
    quantity        BIGINT NOT NULL CHECK (quantity > 0),
    unit_amount     BIGINT NOT NULL CHECK (unit_amount >= 0),
    pricing         TEXT NOT NULL CHECK (pricing IN ('per_seat', 'per_unit', 'one_off')),
    entitlements    TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subscription_id, addon_code)
);
