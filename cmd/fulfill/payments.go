package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	stripepay "github.com/fulfillhq/fulfill/payments/stripe"
	"github.com/fulfillhq/fulfill/payments/testpay"
)

// paymentProvider builds the configured payment provider.
func paymentProvider(c *Config) (fulfill.PaymentProvider, error) {
	switch c.Payments {
	case "", "test":
		p := testpay.New()
		p.Latency, p.Journal = c.TestPaymentLatency, c.TestPaymentJournal
		return p, nil
	case "stripe":
		if c.StripeSecretKey == "" {
			return nil, usageError{"--payments stripe needs FULFILL_STRIPE_SECRET_KEY"}
		}
		return stripepay.New(stripepay.Config{SecretKey: c.StripeSecretKey, BaseURL: c.StripeAPIBase})
	}
	return nil, usageError{fmt.Sprintf("--payments %q: want stripe or test", c.Payments)}
}

// stripeWebhook verifies Stripe's events with the configured secrets
// (several during rotation).
type stripeWebhook struct {
	secrets []string
}

func newStripeWebhook(secrets string) *stripeWebhook {
	var ss []string
	for _, s := range strings.Split(secrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil
	}
	return &stripeWebhook{secrets: ss}
}

// Verify checks the Stripe-Signature header with a 300-second tolerance
// and reads the payment intent in the event.
func (w *stripeWebhook) Verify(body []byte, h http.Header) (*commerce.ProviderEvent, error) {
	err := stripepay.VerifySignature(body, h.Get("Stripe-Signature"), w.secrets, time.Now(), stripepay.DefaultTolerance)
	if err != nil {
		return nil, fulfill.Errorf(fulfill.ESignatureInvalid, "%s", strings.TrimPrefix(err.Error(), "stripe webhook: "))
	}
	ev, err := stripepay.ParseEvent(body)
	if err != nil {
		return nil, fulfill.Errorf(fulfill.EInvalidJSON, "Not a Stripe event: %v", err)
	}
	var obj struct {
		ID             string            `json:"id"`
		Object         string            `json:"object"`
		Amount         int64             `json:"amount"`
		AmountReceived int64             `json:"amount_received"`
		Metadata       map[string]string `json:"metadata"`
	}
	if len(ev.Object) > 0 {
		if err := json.Unmarshal(ev.Object, &obj); err != nil {
			return nil, fulfill.Errorf(fulfill.EInvalidJSON, "The event's object is not readable: %v", err)
		}
	}
	if ev.ID == "" || ev.Type == "" {
		return nil, errors.New("event without id or type")
	}
	amount := obj.AmountReceived
	if amount == 0 {
		amount = obj.Amount
	}
	return &commerce.ProviderEvent{Provider: "stripe", ID: ev.ID, Type: ev.Type, InvoiceID: obj.Metadata["invoice_id"],
		Ref: obj.ID, Amount: amount}, nil
}
