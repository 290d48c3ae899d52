package commerce

import (
	"context"
	"fmt"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// QuoteInput asks what a purchase would cost a buyer who may not have a
// billing account yet: the country and tax id decide the tax, the currency
// (default: the country's) the price.
type QuoteInput struct {
	Plan     string
	Seats    int64
	Country  string
	TaxID    string
	Currency string
	Coupon   string // a coupon code: its discount is in the quote
}

// Quote is a purchase's price before paying: the same lines, tax and total
// Purchase would invoice today.
type Quote struct {
	Plan     *fulfill.Plan
	StartsOn fulfill.Date
	EndsOn   fulfill.Date
	Subtotal int64
	Tax      int64
	Total    int64
	TaxNote  string
	TaxBP    int64
	// ReverseCharge: the buyer accounts for VAT (the tax is 0).
	ReverseCharge bool
	Currency      string
	Lines         []fulfill.InvoiceLine
}

// QuotePurchase prices a purchase without storing anything.
func (s *Service) QuotePurchase(ctx context.Context, in QuoteInput) (*Quote, error) {
	if err := checkSeats(in.Seats, "seats"); err != nil {
		return nil, err
	}
	var err error
	if in.Country, in.TaxID, err = checkCountryTaxID(in.Country, in.TaxID); err != nil {
		return nil, err
	}
	if in.Currency == "" {
		in.Currency = "USD"
		if billing.IsEU(in.Country) {
			in.Currency = "EUR"
		}
	}
	var plan *fulfill.Plan
	var lines []billing.Line
	start := s.today()
	var end fulfill.Date
	err = s.DB.ReadTx(ctx, func(tx *store.Tx) error {
		var err error
		plan, err = tx.PlanByCode(in.Plan)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plan", "No plan %q in the catalog.", in.Plan))
		}
		price, err := priceIn(plan, in.Currency)
		if err != nil {
			return err
		}
		end = fulfill.DateOf(billing.AddMonths(start.Time(), plan.TermMonths))
		line := billing.FullTerm(billing.KindSubscription, fmt.Sprintf("%s, %s", plan.Name, plural(in.Seats, "seat")),
			in.Seats, price, start.Time(), end.Time())
		lines, _, err = s.redeemCoupon(tx, in.Coupon, plan.Code, in.Currency, []billing.Line{line}, start, end, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	decision := s.Tax.Decide(in.Country, in.TaxID)
	b, err := billing.Build(in.Currency, lines, decision, start.Time(), end.Time())
	if err != nil {
		return nil, err
	}
	q := &Quote{Plan: plan, StartsOn: start, EndsOn: end, Subtotal: b.Totals.Subtotal, Tax: b.Totals.Tax, Total: b.Totals.Total,
		TaxNote: decision.Note, TaxBP: decision.RateBasisPoints, ReverseCharge: decision.ReverseCharge, Currency: in.Currency}
	for _, l := range append(b.Lines, b.Tax) {
		q.Lines = append(q.Lines, fulfill.InvoiceLine{Kind: l.Kind, Description: l.Description, Quantity: l.Quantity,
			UnitAmount: l.UnitAmount, Amount: l.Amount, PeriodStart: fulfill.DateOf(l.PeriodStart),
			PeriodEnd: fulfill.DateOf(l.PeriodEnd), Proration: l.Proration})
	}
	return q, nil
}
