package commerce

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// MaxAmount bounds a price or an amount off, in minor units.
const MaxAmount = 100_000_000_00

var couponCodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// CouponInput is a new coupon: PercentOff (1 to 100) or AmountOff (per
// currency), a duration, and optional limits.
type CouponInput struct {
	Code           string
	PercentOff     int64
	AmountOff      map[string]int64
	Duration       string
	DurationTerms  int64
	Plans          []string
	MaxRedemptions *int64
	ExpiresOn      fulfill.Date
}

func (in *CouponInput) check() error {
	if !couponCodeRE.MatchString(in.Code) {
		return fulfill.FieldError(fulfill.EInvalid, "code", "A coupon code is 1 to 64 letters, digits, '-' and '_'.")
	}
	switch {
	case in.PercentOff != 0 && len(in.AmountOff) > 0:
		return fulfill.FieldError(fulfill.EInvalid, "percent_off", "A coupon has percent_off or amount_off, not both.")
	case in.PercentOff == 0 && len(in.AmountOff) == 0:
		return fulfill.FieldError(fulfill.ERequired, "percent_off", "A coupon needs percent_off or amount_off.")
	case in.PercentOff < 0 || in.PercentOff > 100:
		return fulfill.FieldError(fulfill.EOutOfRange, "percent_off", "percent_off is 1 to 100.")
	}
	for cur, amt := range in.AmountOff {
		if billing.ValidateCurrency(cur) != nil {
			return fulfill.FieldError(fulfill.EInvalid, "amount_off", "%q is not an ISO 4217 currency code.", cur)
		}
		if amt < 1 || amt > MaxAmount {
			return fulfill.FieldError(fulfill.EOutOfRange, "amount_off", "The %s amount off must be between 1 and %d.", cur, int64(MaxAmount))
		}
	}
	switch in.Duration {
	case store.DurationOnce, store.DurationForever:
		if in.DurationTerms != 0 {
			return fulfill.FieldError(fulfill.EInvalid, "duration_terms", "duration_terms is only for a repeating coupon.")
		}
	case store.DurationRepeating:
		if in.DurationTerms < 1 || in.DurationTerms > 100 {
			return fulfill.FieldError(fulfill.EOutOfRange, "duration_terms", "A repeating coupon lasts 1 to 100 terms.")
		}
	case "":
		return fulfill.FieldError(fulfill.ERequired, "duration", "duration is required: once, repeating or forever.")
	default:
		return fulfill.FieldError(fulfill.EInvalid, "duration", "duration is once, repeating or forever.")
	}
	if in.MaxRedemptions != nil && (*in.MaxRedemptions < 1 || *in.MaxRedemptions > 1_000_000_000) {
		return fulfill.FieldError(fulfill.EOutOfRange, "max_redemptions", "max_redemptions is 1 to 1000000000.")
	}
	if len(in.Plans) > 100 {
		return fulfill.FieldError(fulfill.EOutOfRange, "plans", "At most 100 plans.")
	}
	return nil
}

// CreateCoupon adds a coupon; its code must be new. The plans it names
// must exist.
func (s *Service) CreateCoupon(ctx context.Context, actor Actor, in CouponInput) (*store.Coupon, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if !in.ExpiresOn.IsZero() && in.ExpiresOn.Before(s.today()) {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "expires_on", "expires_on %s is in the past.", in.ExpiresOn)
	}
	c := &store.Coupon{Code: in.Code, PercentOff: in.PercentOff, AmountOff: in.AmountOff, Duration: in.Duration,
		DurationTerms: in.DurationTerms, Plans: in.Plans, MaxRedemptions: in.MaxRedemptions, ExpiresOn: in.ExpiresOn,
		CreatedAt: s.now()}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		for _, code := range c.Plans {
			if _, err := tx.PlanByCode(code); err != nil {
				return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plans", "No plan %q in the catalog.", code))
			}
		}
		if err := tx.InsertCoupon(c); err != nil {
			if fulfill.ErrorCode(err) == fulfill.EConflict {
				return fulfill.FieldError(fulfill.EConflict, "code", "A coupon %q already exists.", c.Code)
			}
			return err
		}
		return s.audit(tx, actor, "coupon.create", "coupon", c.Code, c, "")
	})
	if err != nil {
		return nil, err
	}
	if c.Plans == nil {
		c.Plans = []string{}
	}
	return c, nil
}

// Coupons lists the coupons, newest first.
func (s *Service) Coupons(ctx context.Context) ([]*store.Coupon, error) { return s.DB.Coupons(ctx) }

// Coupon returns one coupon.
func (s *Service) Coupon(ctx context.Context, code string) (*store.Coupon, error) {
	return s.DB.Coupon(ctx, code)
}

// ArchiveCoupon stops a coupon from being redeemed; subscriptions that
// already have it keep their discount.
func (s *Service) ArchiveCoupon(ctx context.Context, actor Actor, code string) (*store.Coupon, error) {
	var c *store.Coupon
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if c, err = tx.Coupon(code); err != nil {
			return err
		}
		if c.Archived {
			return fulfill.Errorf(fulfill.EConflict, "Coupon %s is already archived.", code)
		}
		if err := tx.ArchiveCoupon(code); err != nil {
			return err
		}
		c.Archived = true
		return s.audit(tx, actor, "coupon.archive", "coupon", code, nil, "")
	})
	return c, err
}

// couponFor checks that a coupon can be redeemed today on plan in currency.
func (s *Service) couponFor(c *store.Coupon, plan, currency string) error {
	switch {
	case c.Archived:
		return fulfill.FieldError(fulfill.ECouponInvalid, "coupon", "Coupon %s is no longer offered.", c.Code)
	case !c.ExpiresOn.IsZero() && c.ExpiresOn.Before(s.today()):
		return fulfill.FieldError(fulfill.ECouponInvalid, "coupon", "Coupon %s expired on %s.", c.Code, c.ExpiresOn)
	case !couponFitsPlan(c, plan):
		return fulfill.FieldError(fulfill.ECouponInvalid, "coupon", "Coupon %s is not for plan %s.", c.Code, plan)
	case c.PercentOff == 0 && c.AmountOff[currency] == 0:
		return fulfill.FieldError(fulfill.ECouponInvalid, "coupon", "Coupon %s has no amount off in %s.", c.Code, currency)
	case c.MaxRedemptions != nil && c.Redemptions >= *c.MaxRedemptions:
		return fulfill.FieldError(fulfill.ECouponExhausted, "coupon", "Coupon %s has been redeemed as often as it may be.", c.Code)
	}
	return nil
}

func couponFitsPlan(c *store.Coupon, plan string) bool {
	if len(c.Plans) == 0 {
		return true
	}
	for _, p := range c.Plans {
		if p == plan {
			return true
		}
	}
	return false
}

// couponTerms is how many terms a new redemption discounts, the first
// included: a "once" coupon discounts the purchase invoice only (0 terms
// after it), forever is -1.
func couponTerms(c *store.Coupon) int64 {
	switch c.Duration {
	case store.DurationRepeating:
		return c.DurationTerms
	case store.DurationForever:
		return -1
	}
	return 0
}

func couponDescription(c *store.Coupon, currency string) string {
	if c.PercentOff > 0 {
		return fmt.Sprintf("Coupon %s (%d%% off)", c.Code, c.PercentOff)
	}
	return fmt.Sprintf("Coupon %s (%s off)", c.Code, billing.FormatAmount(c.AmountOff[currency], currency))
}

// withCoupon appends a coupon's discount line to lines.
func withCoupon(c *store.Coupon, currency string, lines []billing.Line, start, end fulfill.Date) ([]billing.Line, error) {
	d, ok, err := billing.Discount(lines, c.PercentOff, c.AmountOff[currency], couponDescription(c, currency), start.Time(), end.Time())
	if err != nil || !ok {
		return lines, err
	}
	return append(lines, d), nil
}

// redeemCoupon applies a purchase's coupon to its lines and counts the
// redemption, in the purchase's transaction: a purchase over the coupon's
// max_redemptions is refused, coupon_exhausted, before anything is charged.
// With count false (a quote) nothing is counted.
func (s *Service) redeemCoupon(tx *store.Tx, code, plan, currency string, lines []billing.Line, start, end fulfill.Date,
	count bool) ([]billing.Line, *store.Coupon, error) {
	if code == "" {
		return lines, nil, nil
	}
	c, err := tx.Coupon(code)
	if err != nil {
		return nil, nil, fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ECouponInvalid, "coupon", "No coupon %q.", code))
	}
	if err := s.couponFor(c, plan, currency); err != nil {
		return nil, nil, err
	}
	if count {
		ok, err := tx.RedeemCoupon(c.Code)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, fulfill.FieldError(fulfill.ECouponExhausted, "coupon", "Coupon %s has been redeemed as often as it may be.", c.Code)
		}
		c.Redemptions++
	}
	lines, err = withCoupon(c, currency, lines, start, end)
	return lines, c, err
}

// termDiscount adds the current term's percentage discount to the lines of
// a mid-term change (seat additions in a discounted term get the same
// percentage). A fixed amount off is per term invoice, not per change.
func (s *Service) termDiscount(tx *store.Tx, sub *fulfill.Subscription, lines []billing.Line, start, end fulfill.Date) ([]billing.Line, error) {
	terms, err := tx.SubscriptionTerms(sub.ID)
	if err != nil || terms.CouponCode == "" || terms.DiscountTermsLeft == 0 {
		return lines, err
	}
	c, err := tx.Coupon(terms.CouponCode)
	if err != nil || c.PercentOff == 0 {
		return lines, err
	}
	return withCoupon(c, sub.Currency, lines, start, end)
}

// releaseRedemption gives back the redemption a declined card purchase
// counted in its phase 1.
func (s *Service) releaseRedemption(tx *store.Tx, a *store.PaymentAttempt) error {
	if a.Kind != "purchase" {
		return nil
	}
	in, err := intentOf[purchaseIntent](a)
	if err != nil || in.Terms == nil || in.Terms.CouponCode == "" {
		return err
	}
	return tx.ReleaseCoupon(in.Terms.CouponCode)
}

// bookDiscount records an invoice's discount lines in the ledger: gross
// sales at list price against the discounts granted. Receivables and the
// deferred revenue that becomes revenue are booked net (bookInvoice), so
// revenue is net of discounts and this pair keeps what was given away.
func (s *Service) bookDiscount(tx *store.Tx, inv *fulfill.Invoice) error {
	var off int64
	for _, l := range inv.Lines {
		if l.Kind == billing.KindDiscount {
			off -= l.Amount
		}
	}
	if off == 0 {
		return nil
	}
	return tx.Post(&store.LedgerTransaction{Kind: "discount.granted", ReferenceType: "invoice", ReferenceID: inv.ID,
		Currency: inv.Currency, Memo: "Discount on invoice " + inv.Number, EffectiveOn: inv.IssuedOn, CreatedAt: s.now(),
		Postings: []store.Posting{
			{Account: store.AccountDiscounts, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: off},
			{Account: store.AccountDiscountedSales, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: -off},
		}})
}

// checkUnitAmount checks a contract seat price.
func checkUnitAmount(v *int64, field string) error {
	if v != nil && (*v < 0 || *v > MaxAmount) {
		return fulfill.FieldError(fulfill.EOutOfRange, field, "%s must be between 0 and %d.", field, int64(MaxAmount))
	}
	return nil
}

// trimmed returns s without surrounding space, checked as text of at most
// max characters.
func trimmed(s, field string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if err := fulfill.CheckText(field, s, max); err != nil {
		return "", err
	}
	return s, nil
}
