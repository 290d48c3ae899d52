// Package testpay is the built-in "test" payment provider. It takes Stripe's
// test payment method ids and answers as Stripe's test mode does, without a
// network: for demos, development and tests of everything but Stripe itself.
package testpay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill"
)

// Stripe's test payment methods and the decline code each one produces ("" = succeeds).
var methods = map[string]string{
	"pm_card_visa":                            "",
	"pm_card_visa_debit":                      "",
	"pm_card_mastercard":                      "",
	"pm_card_amex":                            "",
	"pm_card_discover":                        "",
	"pm_card_chargeDeclined":                  "card_declined",
	"pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
	"pm_card_chargeDeclinedLostCard":          "lost_card",
	"pm_card_chargeDeclinedStolenCard":        "stolen_card",
	"pm_card_chargeDeclinedExpiredCard":       "expired_card",
	"pm_card_chargeDeclinedIncorrectCvc":      "incorrect_cvc",
	"pm_card_chargeDeclinedProcessingError":   "processing_error",
	"pm_card_chargeCustomerFail":              "card_declined",
}

var messages = map[string]string{
	"card_declined":      "Your card was declined.",
	"insufficient_funds": "Your card has insufficient funds.",
	"lost_card":          "Your card was declined.",
	"stolen_card":        "Your card was declined.",
	"expired_card":       "Your card has expired.",
	"incorrect_cvc":      "Your card's security code is incorrect.",
	"processing_error":   "An error occurred while processing your card. Try again in a little bit.",
}

// Provider is the test provider. It remembers charges by idempotency key, so
// a retried charge is not taken twice, as with Stripe.
type Provider struct {
	// Latency is how long each call waits before it answers, as a remote
	// provider would (Stripe takes 200-800 ms): it makes visible what holds
	// a transaction open across a payment.
	Latency time.Duration
	// Journal, when set, is a file to which every successful charge call
	// appends "idempotency-key reference amount currency": tests count the
	// charges at the provider across restarts of the server.
	Journal string

	mu      sync.Mutex
	charges map[string]fulfill.ChargeResult
	count   int
	expiry  map[string][2]int // SetCardExpiry's month and year per method
}

// cards are the brand and last 4 digits of Stripe's test payment methods.
var cards = map[string][2]string{
	"pm_card_visa":                            {"visa", "4242"},
	"pm_card_visa_debit":                      {"visa", "5556"},
	"pm_card_mastercard":                      {"mastercard", "4444"},
	"pm_card_amex":                            {"amex", "8431"},
	"pm_card_discover":                        {"discover", "9424"},
	"pm_card_chargeDeclined":                  {"visa", "0002"},
	"pm_card_chargeDeclinedInsufficientFunds": {"visa", "9995"},
	"pm_card_chargeDeclinedLostCard":          {"visa", "9987"},
	"pm_card_chargeDeclinedStolenCard":        {"visa", "9979"},
	"pm_card_chargeDeclinedExpiredCard":       {"visa", "0069"},
	"pm_card_chargeDeclinedIncorrectCvc":      {"visa", "0127"},
	"pm_card_chargeDeclinedProcessingError":   {"visa", "0119"},
	"pm_card_chargeCustomerFail":              {"visa", "0341"},
}

// DefaultExpMonth and DefaultExpYear are the expiry the test provider
// reports for a card, unless SetCardExpiry says otherwise: far enough
// ahead that no simulated year of renewals reaches it.
const (
	DefaultExpMonth = 12
	DefaultExpYear  = 2034
)

// New returns a test provider.
func New() *Provider { return &Provider{charges: map[string]fulfill.ChargeResult{}} }

// Name is "test".
func (p *Provider) Name() string { return "test" }

// ValidMethod reports whether id is one of Stripe's test payment methods.
func (p *Provider) ValidMethod(id string) bool {
	_, ok := methods[id]
	return ok
}

// SetCardExpiry makes the provider report method as expiring at the end of
// month/year, as a card saved later would: tests of the card-expiring
// notice.
func (p *Provider) SetCardExpiry(method string, month, year int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expiry == nil {
		p.expiry = map[string][2]int{}
	}
	p.expiry[method] = [2]int{month, year}
}

// DescribeCard reports a test card's brand, last 4 digits and expiry, as
// Stripe reports a PaymentMethod's card.
func (p *Provider) DescribeCard(ctx context.Context, method string) (fulfill.CardDetails, error) {
	if err := p.wait(ctx); err != nil {
		return fulfill.CardDetails{}, err
	}
	c, ok := cards[method]
	if !ok {
		return fulfill.CardDetails{}, fulfill.FieldError(fulfill.EInvalid, "payment_method", "No such payment method: %q.", method)
	}
	d := fulfill.CardDetails{Brand: c[0], Last4: c[1], ExpMonth: DefaultExpMonth, ExpYear: DefaultExpYear}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.expiry[method]; ok {
		d.ExpMonth, d.ExpYear = e[0], e[1]
	}
	return d, nil
}

// Charge succeeds or declines as the test method says. The answer depends
// only on the request, so asking again with the same idempotency key, even
// from another process after a crash, gets the same answer and the same
// charge reference, as with Stripe.
func (p *Provider) Charge(ctx context.Context, req fulfill.ChargeRequest) (fulfill.ChargeResult, error) {
	if err := p.wait(ctx); err != nil {
		return fulfill.ChargeResult{}, err
	}
	code, ok := methods[req.PaymentMethod]
	if !ok {
		return fulfill.ChargeResult{}, fulfill.FieldError(fulfill.EInvalid, "payment_method", "No such payment method: %q.", req.PaymentMethod)
	}
	if code != "" {
		return fulfill.ChargeResult{}, &fulfill.Error{Code: code, Message: messages[code], Field: "payment_method"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	sum := sha256.Sum256([]byte(req.IdempotencyKey))
	r := fulfill.ChargeResult{Provider: "test", Ref: "ch_test_" + hex.EncodeToString(sum[:12])}
	if err := p.journal(req, r); err != nil {
		return fulfill.ChargeResult{}, err
	}
	if _, ok := p.charges[req.IdempotencyKey]; !ok {
		p.charges[req.IdempotencyKey] = r
		p.count++
	}
	return r, nil
}

func (p *Provider) journal(req fulfill.ChargeRequest, r fulfill.ChargeResult) error {
	if p.Journal == "" {
		return nil
	}
	f, err := os.OpenFile(p.Journal, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("test payments journal: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s %s %d %s\n", req.IdempotencyKey, r.Ref, req.Amount, req.Currency)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Refund gives back part of a charge. Like Charge, the answer depends only
// on the request: the same idempotency key gives the same refund.
func (p *Provider) Refund(ctx context.Context, chargeRef string, amount int64, idempotencyKey string) (string, error) {
	if err := p.wait(ctx); err != nil {
		return "", err
	}
	if !strings.HasPrefix(chargeRef, "ch_test_") {
		return "", fulfill.Errorf(fulfill.EInvalid, "No such charge: %q.", chargeRef)
	}
	if amount <= 0 {
		return "", fulfill.FieldError(fulfill.EOutOfRange, "amount", "A refund must be more than zero.")
	}
	sum := sha256.Sum256([]byte(idempotencyKey))
	ref := "re_test_" + hex.EncodeToString(sum[:12])
	p.mu.Lock()
	defer p.mu.Unlock()
	return ref, p.journal(fulfill.ChargeRequest{IdempotencyKey: idempotencyKey, Amount: -amount}, fulfill.ChargeResult{Ref: ref})
}

// Charges is how many distinct charges were taken.
func (p *Provider) Charges() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// wait sleeps for the configured latency, or until ctx ends.
func (p *Provider) wait(ctx context.Context) error {
	if p.Latency <= 0 {
		return nil
	}
	t := time.NewTimer(p.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
