// Package stripe is the Stripe payment provider: it charges saved card
// payment methods through PaymentIntents, refunds them, and verifies the
// signatures of Stripe's webhooks. It keeps no state of its own: Stripe's
// idempotency keys make every call safe to repeat.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/stripe/stripe-go/v82"
)

// maxIdempotencyKey is Stripe's limit on the Idempotency-Key header.
const maxIdempotencyKey = 255

// Config configures a Provider.
type Config struct {
	// SecretKey is the Stripe secret API key (sk_live_…, sk_test_… or rk_…).
	SecretKey string
	// BaseURL replaces https://api.stripe.com, e.g. http://127.0.0.1:PORT
	// for stripe-mock. Empty means Stripe itself.
	BaseURL string
	// HTTPClient is used for every request; nil means stripe-go's default
	// (80 s timeout).
	HTTPClient *http.Client
}

// Provider charges and refunds through Stripe. It is safe for concurrent use.
type Provider struct {
	client *stripe.Client
}

var (
	_ fulfill.PaymentProvider = (*Provider)(nil)
	_ fulfill.CardDescriber   = (*Provider)(nil)
)

// New returns a provider for cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripe: no secret key")
	}
	bc := &stripe.BackendConfig{
		HTTPClient: cfg.HTTPClient,
		// Errors are returned to the caller, who logs them; stripe-go's own
		// logger would print each one a second time to stderr.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("stripe: bad base URL %q", cfg.BaseURL)
		}
		bc.URL = stripe.String(strings.TrimRight(cfg.BaseURL, "/"))
	}
	// One backend per provider, not stripe-go's package globals, so two
	// providers (or tests against stripe-mock) never share configuration.
	c := stripe.NewClient(cfg.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))
	return &Provider{client: c}, nil
}

// Name is "stripe".
func (p *Provider) Name() string { return "stripe" }

// ValidMethod reports whether id looks like a Stripe PaymentMethod id
// (pm_…). Whether it exists and can be charged only Stripe knows.
func (p *Provider) ValidMethod(id string) bool {
	rest, ok := strings.CutPrefix(id, "pm_")
	if !ok || rest == "" || len(id) > 255 {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// Charge takes req.Amount from req.PaymentMethod with a confirmed,
// off-session PaymentIntent. req.IdempotencyKey is sent as Stripe's
// Idempotency-Key, so a retry, even from another process after a crash,
// gets the first PaymentIntent back instead of charging again. A decline is
// a *fulfill.Error with a decline code (HTTP 402); any other failure is a
// plain error, to be retried with the same key.
func (p *Provider) Charge(ctx context.Context, req fulfill.ChargeRequest) (fulfill.ChargeResult, error) {
	if !p.ValidMethod(req.PaymentMethod) {
		return fulfill.ChargeResult{}, fulfill.FieldError(fulfill.EInvalid, "payment_method", "No such payment method: %q.", req.PaymentMethod)
	}
	if err := checkKey(req.IdempotencyKey); err != nil {
		return fulfill.ChargeResult{}, err
	}
	if req.CustomerID == "" || req.Amount <= 0 || len(req.Currency) != 3 {
		return fulfill.ChargeResult{}, fmt.Errorf("stripe: bad charge request (customer %q, amount %d, currency %q)", req.CustomerID, req.Amount, req.Currency)
	}
	cus, err := p.customer(ctx, req.CustomerID)
	if err != nil {
		return fulfill.ChargeResult{}, err
	}
	params := &stripe.PaymentIntentCreateParams{
		Amount:        stripe.Int64(req.Amount),
		Currency:      stripe.String(strings.ToLower(req.Currency)),
		Customer:      stripe.String(cus),
		PaymentMethod: stripe.String(req.PaymentMethod),
		Confirm:       stripe.Bool(true),
		// The customer is not at hand to complete 3-D Secure (renewals run
		// from a job; purchases are confirmed server-side), so Stripe must
		// fail with authentication_required rather than wait for an action.
		OffSession: stripe.Bool(true),
		// Without a return_url Stripe refuses methods that redirect; say so
		// up front instead of failing on confirmation.
		AutomaticPaymentMethods: &stripe.PaymentIntentCreateAutomaticPaymentMethodsParams{
			Enabled:        stripe.Bool(true),
			AllowRedirects: stripe.String("never"),
		},
		Metadata: map[string]string{"invoice_id": req.InvoiceID, "fulfill_customer_id": req.CustomerID},
	}
	if req.Description != "" {
		params.Description = stripe.String(req.Description)
	}
	params.SetIdempotencyKey(req.IdempotencyKey)
	pi, err := p.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return fulfill.ChargeResult{}, mapError(err)
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		return fulfill.ChargeResult{Provider: "stripe", Ref: pi.ID}, nil
	case stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusCanceled:
		// Stripe answers a failed confirmation with a 402, so this is rare;
		// treat it as the decline it is.
		if pi.LastPaymentError != nil && pi.LastPaymentError.Type == stripe.ErrorTypeCard {
			return fulfill.ChargeResult{}, decline(pi.LastPaymentError)
		}
		return fulfill.ChargeResult{}, &fulfill.Error{Code: fulfill.ECardDeclined, Message: "Your card was declined.", Field: "payment_method"}
	case stripe.PaymentIntentStatusRequiresAction:
		return fulfill.ChargeResult{}, &fulfill.Error{Code: fulfill.ECardDeclined, Message: "Your bank requires you to authenticate this payment.", Field: "payment_method"}
	default:
		// processing, requires_capture, requires_confirmation: no money yet
		// and no decline either. Fail loudly rather than mark an invoice paid.
		return fulfill.ChargeResult{}, fmt.Errorf("stripe: payment intent %s is %s, not succeeded", pi.ID, pi.Status)
	}
}

// DescribeCard reads a PaymentMethod's card: its brand, last 4 digits and
// expiry month and year, as Stripe reports them. A PaymentMethod that is
// not a card has no details (and so gets no card-expiring notice).
func (p *Provider) DescribeCard(ctx context.Context, method string) (fulfill.CardDetails, error) {
	if !p.ValidMethod(method) {
		return fulfill.CardDetails{}, fulfill.FieldError(fulfill.EInvalid, "payment_method", "No such payment method: %q.", method)
	}
	pm, err := p.client.V1PaymentMethods.Retrieve(ctx, method, nil)
	if err != nil {
		return fulfill.CardDetails{}, mapError(err)
	}
	if pm.Card == nil {
		return fulfill.CardDetails{}, nil
	}
	return fulfill.CardDetails{Brand: string(pm.Card.Brand), Last4: pm.Card.Last4, ExpMonth: int(pm.Card.ExpMonth),
		ExpYear: int(pm.Card.ExpYear)}, nil
}

// customer returns the Stripe customer of a Fulfill customer, creating it.
// The fixed idempotency key makes a repeat return the same customer while
// Stripe keeps the key (at least 24 h); the parameters must never vary, or
// Stripe answers idempotency_error.
func (p *Provider) customer(ctx context.Context, customerID string) (string, error) {
	key := "fulfill-customer-" + customerID
	if err := checkKey(key); err != nil {
		return "", err
	}
	params := &stripe.CustomerCreateParams{Metadata: map[string]string{"fulfill_customer_id": customerID}}
	params.SetIdempotencyKey(key)
	c, err := p.client.V1Customers.Create(ctx, params)
	if err != nil {
		return "", mapError(err)
	}
	return c.ID, nil
}

// Refund returns amount (minor units, > 0) of a PaymentIntent and answers
// the refund's id. idempotencyKey must be the same on every retry of one
// refund, or a retry refunds twice.
func (p *Provider) Refund(ctx context.Context, paymentIntentID string, amount int64, idempotencyKey string) (string, error) {
	if !strings.HasPrefix(paymentIntentID, "pi_") {
		return "", fmt.Errorf("stripe: not a payment intent id: %q", paymentIntentID)
	}
	// Stripe reads a missing amount as "everything": never send that by accident.
	if amount <= 0 {
		return "", fulfill.FieldError(fulfill.EOutOfRange, "amount", "A refund must be more than zero.")
	}
	if err := checkKey(idempotencyKey); err != nil {
		return "", err
	}
	params := &stripe.RefundCreateParams{PaymentIntent: stripe.String(paymentIntentID), Amount: stripe.Int64(amount)}
	params.SetIdempotencyKey(idempotencyKey)
	r, err := p.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return "", mapError(err)
	}
	return r.ID, nil
}

func checkKey(key string) error {
	if key == "" || len(key) > maxIdempotencyKey {
		return fmt.Errorf("stripe: idempotency key must have 1 to %d characters, has %d", maxIdempotencyKey, len(key))
	}
	return nil
}

// declineCodes are the codes the API answers with 402 (api.statusOf); any
// other decline is reported as card_declined so it still answers 402.
var declineCodes = map[string]string{
	"card_declined":      "Your card was declined.",
	"insufficient_funds": "Your card has insufficient funds.",
	"lost_card":          "Your card was declined.",
	"stolen_card":        "Your card was declined.",
	"expired_card":       "Your card has expired.",
	"incorrect_cvc":      "Your card's security code is incorrect.",
	"processing_error":   "An error occurred while processing your card. Try again in a little bit.",
}

// mapError turns a card error into a decline and leaves anything else a
// plain error (wrapping the *stripe.Error for errors.As), so the caller
// answers 500 and retries with the same key.
func mapError(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe: %w", err)
	}
	if se.Type == stripe.ErrorTypeCard {
		return decline(se)
	}
	return fmt.Errorf("stripe: %s %s (request %s, HTTP %d): %s: %w", se.Type, se.Code, se.RequestID, se.HTTPStatusCode, se.Msg, se)
}

// decline is the *fulfill.Error of a card error: the decline code when it is
// one we name (insufficient_funds, …), else the error code (expired_card,
// incorrect_cvc, …), else card_declined.
func decline(se *stripe.Error) *fulfill.Error {
	code := fulfill.ECardDeclined
	if _, ok := declineCodes[string(se.DeclineCode)]; ok {
		code = string(se.DeclineCode)
	} else if _, ok := declineCodes[string(se.Code)]; ok {
		code = string(se.Code)
	}
	// Stripe's card error messages are meant for the cardholder.
	msg := se.Msg
	if msg == "" {
		msg = declineCodes[code]
	}
	return &fulfill.Error{Code: code, Message: msg, Field: "payment_method"}
}
