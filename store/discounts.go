package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fulfillhq/fulfill"
)

// Coupon durations.
const (
	DurationOnce      = "once"      // the purchase invoice only
	DurationRepeating = "repeating" // DurationTerms terms, renewals included
	DurationForever   = "forever"   // every term
)

// Coupon is a discount a purchase can name by its code.
type Coupon struct {
	Code           string           `json:"code"`
	PercentOff     int64            `json:"percent_off,omitempty"`
	AmountOff      map[string]int64 `json:"amount_off,omitempty"`
	Duration       string           `json:"duration"`
	DurationTerms  int64            `json:"duration_terms,omitempty"`
	Plans          []string         `json:"plans"`
	MaxRedemptions *int64           `json:"max_redemptions"`
	Redemptions    int64            `json:"redemptions"`
	ExpiresOn      fulfill.Date     `json:"expires_on"`
	Archived       bool             `json:"archived"`
	CreatedAt      time.Time        `json:"created_at"`
}

// SubscriptionTerms is what a subscription's price carries beyond its
// plan: its coupon, a contract price, and the change scheduled for its next
// renewal. A subscription without a row has none of them.
type SubscriptionTerms struct {
	SubscriptionID string `json:"subscription_id"`
	CouponCode     string `json:"coupon,omitempty"`
	// DiscountTermsLeft counts the terms still discounted, the current one
	// included; -1 is forever, 0 none (a "once" coupon after its purchase).
	DiscountTermsLeft int64 `json:"discount_terms_left"`
	// ContractPrice is the seat price in force instead of the catalog's.
	ContractPrice *int64 `json:"contract_price"`
	// NextPriceSet says the next renewal sets the contract price to
	// NextPrice (nil: back to the catalog price).
	NextPriceSet bool   `json:"next_price_set"`
	NextPrice    *int64 `json:"next_price"`
	PriceReason  string `json:"price_reason,omitempty"`
	// RenewalSeats and RenewalPlan are what the next renewal uses (nil and
	// "": what it would use anyway).
	RenewalSeats *int64    `json:"renewal_seats"`
	RenewalPlan  string    `json:"renewal_plan,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

const couponCols = `code, percent_off, amount_off, duration, duration_terms, plans, max_redemptions, redemptions,
	expires_on, archived, created_at`

func scanCoupon(sc interface{ Scan(...any) error }) (*Coupon, error) {
	var c Coupon
	var amounts, plans string
	var max sql.NullInt64
	if err := sc.Scan(&c.Code, &c.PercentOff, &amounts, &c.Duration, &c.DurationTerms, &plans, &max, &c.Redemptions,
		&c.ExpiresOn, &c.Archived, &c.CreatedAt); err != nil {
		return nil, err
	}
	if max.Valid {
		c.MaxRedemptions = &max.Int64
	}
	if err := json.Unmarshal([]byte(amounts), &c.AmountOff); err != nil {
		return nil, fmt.Errorf("coupon %s: amount_off: %w", c.Code, err)
	}
	if err := json.Unmarshal([]byte(plans), &c.Plans); err != nil {
		return nil, fmt.Errorf("coupon %s: plans: %w", c.Code, err)
	}
	if len(c.AmountOff) == 0 {
		c.AmountOff = nil
	}
	if c.Plans == nil {
		c.Plans = []string{}
	}
	return &c, nil
}

// InsertCoupon adds a coupon; an existing code is a conflict.
func (t *Tx) InsertCoupon(c *Coupon) error {
	amounts, err := json.Marshal(c.AmountOff)
	if err != nil {
		return err
	}
	if c.AmountOff == nil {
		amounts = []byte("{}")
	}
	if c.Plans == nil {
		c.Plans = []string{}
	}
	plans, err := json.Marshal(c.Plans)
	if err != nil {
		return err
	}
	err = t.exec(`INSERT INTO coupons (`+couponCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.Code, c.PercentOff, string(amounts), c.Duration, c.DurationTerms, string(plans), c.MaxRedemptions, c.Redemptions,
		c.ExpiresOn, c.Archived, c.CreatedAt.UTC())
	return mapErr(err, "Coupon")
}

// Coupon returns a coupon by code, locked for update.
func (t *Tx) Coupon(code string) (*Coupon, error) {
	c, err := scanCoupon(t.tx.QueryRowContext(t.ctx, `SELECT `+couponCols+` FROM coupons WHERE code = $1`+t.lock(" FOR UPDATE"), code))
	return c, mapErr(err, "Coupon")
}

// Coupon returns a coupon by code.
func (db *DB) Coupon(ctx context.Context, code string) (*Coupon, error) {
	c, err := scanCoupon(db.Read.QueryRowContext(ctx, `SELECT `+couponCols+` FROM coupons WHERE code = $1`, code))
	return c, mapErr(err, "Coupon")
}

// Coupons lists every coupon, newest first.
func (db *DB) Coupons(ctx context.Context) ([]*Coupon, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+couponCols+` FROM coupons ORDER BY created_at DESC, code`)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	out := []*Coupon{}
	for rows.Next() {
		c, err := scanCoupon(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, Classify(rows.Err())
}

// ArchiveCoupon marks a coupon archived: no purchase redeems it any more.
func (t *Tx) ArchiveCoupon(code string) error {
	return t.exec(`UPDATE coupons SET archived = $1 WHERE code = $2`, true, code)
}

// RedeemCoupon counts one redemption of a coupon, in the purchase's
// transaction. It reports false, counting nothing, when the coupon has
// reached its max_redemptions. The check and the count are one UPDATE: on
// PostgreSQL a concurrent redemption waits for the row and re-reads it, on
// SQLite the single writer runs them one after the other, so the count never
// overshoots.
func (t *Tx) RedeemCoupon(code string) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `UPDATE coupons SET redemptions = redemptions + 1
		WHERE code = $1 AND (max_redemptions IS NULL OR redemptions < max_redemptions)`, code)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseCoupon gives back a redemption a declined purchase counted.
func (t *Tx) ReleaseCoupon(code string) error {
	return t.exec(`UPDATE coupons SET redemptions = redemptions - 1 WHERE code = $1 AND redemptions > 0`, code)
}

const termsCols = `subscription_id, coupon_code, discount_terms_left, contract_price, next_price_set, next_price, price_reason,
	renewal_seats, renewal_plan, updated_at`

func scanTerms(sc interface{ Scan(...any) error }) (*SubscriptionTerms, error) {
	var st SubscriptionTerms
	var coupon sql.NullString
	var contract, next, seats sql.NullInt64
	if err := sc.Scan(&st.SubscriptionID, &coupon, &st.DiscountTermsLeft, &contract, &st.NextPriceSet, &next, &st.PriceReason,
		&seats, &st.RenewalPlan, &st.UpdatedAt); err != nil {
		return nil, err
	}
	st.CouponCode = coupon.String
	if contract.Valid {
		st.ContractPrice = &contract.Int64
	}
	if next.Valid {
		st.NextPrice = &next.Int64
	}
	if seats.Valid {
		st.RenewalSeats = &seats.Int64
	}
	return &st, nil
}

// SubscriptionTerms returns a subscription's terms, locked for update; a
// subscription without any gets an empty value, not an error.
func (t *Tx) SubscriptionTerms(subscriptionID string) (*SubscriptionTerms, error) {
	if st, ok := take(t.ahead().terms, subscriptionID); ok {
		return st, nil
	}
	st, err := scanTerms(t.tx.QueryRowContext(t.ctx, `SELECT `+termsCols+` FROM subscription_terms WHERE subscription_id = $1`+
		t.lock(" FOR UPDATE"), subscriptionID))
	if errors.Is(err, sql.ErrNoRows) {
		return &SubscriptionTerms{SubscriptionID: subscriptionID}, nil
	}
	return st, mapErr(err, "Subscription terms")
}

// SubscriptionTerms returns a subscription's terms (empty if none).
func (db *DB) SubscriptionTerms(ctx context.Context, subscriptionID string) (*SubscriptionTerms, error) {
	st, err := scanTerms(db.Read.QueryRowContext(ctx, `SELECT `+termsCols+` FROM subscription_terms WHERE subscription_id = $1`,
		subscriptionID))
	if errors.Is(err, sql.ErrNoRows) {
		return &SubscriptionTerms{SubscriptionID: subscriptionID}, nil
	}
	return st, mapErr(err, "Subscription terms")
}

// SaveSubscriptionTerms writes a subscription's terms, inserting the row
// the first time.
func (t *Tx) SaveSubscriptionTerms(st *SubscriptionTerms) error {
	delete(t.ahead().terms, st.SubscriptionID) // forgotten
	var coupon *string
	if st.CouponCode != "" {
		coupon = &st.CouponCode
	}
	if err := t.execLater(`DELETE FROM subscription_terms WHERE subscription_id = $1`, st.SubscriptionID); err != nil {
		return err
	}
	return t.execLater(`INSERT INTO subscription_terms (`+termsCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		st.SubscriptionID, coupon, st.DiscountTermsLeft, st.ContractPrice, st.NextPriceSet, st.NextPrice, st.PriceReason,
		st.RenewalSeats, st.RenewalPlan, st.UpdatedAt.UTC())
}

// ConvertTrial makes a trial subscription a paid one (the caller then
// writes its new term with UpdateSubscription).
func (t *Tx) ConvertTrial(subscriptionID string) error {
	return t.exec(`UPDATE subscriptions SET trial = $1 WHERE id = $2`, false, subscriptionID)
}

// Ledger accounts of discounts: what coupons took off list prices
// (debit) against the sales at list price it was taken from (credit). The
// pair is posted beside the invoice, whose receivable and deferred revenue
// are booked net, so revenue is net of discounts and the ledger still shows
// them.
const (
	AccountDiscounts       = "discounts"
	AccountDiscountedSales = "discounted_sales"
)
