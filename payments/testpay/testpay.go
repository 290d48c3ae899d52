// Package testpay is the built-in "test" payment provider. It takes Stripe's
// test payment method ids and answers as Stripe's test mode does, without a
// network: for demos, development and tests of everything but Stripe itself.
package testpay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

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
	mu      sync.Mutex
	charges map[string]fulfill.ChargeResult
	count   int
}

// New returns a test provider.
func New() *Provider { return &Provider{charges: map[string]fulfill.ChargeResult{}} }

// Name is "test".
func (p *Provider) Name() string { return "test" }

// ValidMethod reports whether id is one of Stripe's test payment methods.
func (p *Provider) ValidMethod(id string) bool {
	_, ok := methods[id]
	return ok
}

// Charge succeeds or declines as the test method says.
func (p *Provider) Charge(ctx context.Context, req fulfill.ChargeRequest) (fulfill.ChargeResult, error) {
	code, ok := methods[req.PaymentMethod]
	if !ok {
		return fulfill.ChargeResult{}, fulfill.FieldError(fulfill.EInvalid, "payment_method", "No such payment method: %q.", req.PaymentMethod)
	}
	if code != "" {
		return fulfill.ChargeResult{}, &fulfill.Error{Code: code, Message: messages[code], Field: "payment_method"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.charges[req.IdempotencyKey]; ok {
		return r, nil
	}
	sum := sha256.Sum256([]byte(req.IdempotencyKey))
	r := fulfill.ChargeResult{Provider: "test", Ref: "ch_test_" + hex.EncodeToString(sum[:12])}
	p.charges[req.IdempotencyKey] = r
	p.count++
	return r, nil
}

// Charges is how many distinct charges were taken.
func (p *Provider) Charges() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}
