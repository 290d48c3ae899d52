-- Discounts, contract prices and changes scheduled for renewal (issue 14).
-- A coupon is redeemed in the purchase's transaction: redemptions is raised
-- by one UPDATE that checks max_redemptions, so concurrent purchases never
-- overshoot it. amount_off is a JSON object {currency: minor units}; plans
-- a JSON array of plan codes (empty: every plan).
CREATE TABLE coupons (
    code            TEXT PRIMARY KEY,
    percent_off     INTEGER NOT NULL DEFAULT 0 CHECK (percent_off BETWEEN 0 AND 100),
    amount_off      TEXT NOT NULL DEFAULT '{}',
    duration        TEXT NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_terms  INTEGER NOT NULL DEFAULT 0,
    plans           TEXT NOT NULL DEFAULT '[]',
    max_redemptions INTEGER,
    redemptions     INTEGER NOT NULL DEFAULT 0,
    expires_on      DATE,
    archived        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    CHECK (max_redemptions IS NULL OR redemptions <= max_redemptions)
);
-- What a subscription's price carries beyond its plan: the coupon and how
-- many terms (the current one included) it still discounts (-1: forever);
-- the contract price in force and one set for the next renewal; the seats
-- and plan the next renewal uses.
CREATE TABLE subscription_terms (
    subscription_id     TEXT PRIMARY KEY REFERENCES subscriptions (id),
    coupon_code         TEXT REFERENCES coupons (code),
    discount_terms_left INTEGER NOT NULL DEFAULT 0,
    contract_price      BIGINT,
    next_price_set      BOOLEAN NOT NULL DEFAULT FALSE,
    next_price          BIGINT,
    price_reason        TEXT NOT NULL DEFAULT '',
    renewal_seats       INTEGER,
    renewal_plan        TEXT NOT NULL DEFAULT '',
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscription_terms_coupon ON subscription_terms (coupon_code);
