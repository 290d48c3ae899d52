package api_test

import (
	"bytes"
	"context"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/jobs"
	fmail "github.com/fulfillhq/fulfill/mail"
	"github.com/fulfillhq/fulfill/store"
)

// waitCards waits until the payment provider's details of every saved
// card of the account are recorded (the describe job runs after the
// purchase commits), and returns the cards.
func (e *env) waitCards(customerID string, n int) []*store.PaymentMethod {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pms, err := e.db.PaymentMethods(context.Background(), customerID)
		if err != nil {
			e.t.Fatal(err)
		}
		done := len(pms) == n
		for _, pm := range pms {
			done = done && pm.Card.ExpYear != 0
		}
		if done {
			return pms
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("card details of %s not recorded: %+v", customerID, pms)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCardExpiringNoticeOverSMTP: against a real SMTP server and the
// simulated clock, the default card of an account, reported by the
// provider as expiring 12/2026, gets exactly one card-expiring notice, on
// 2 December 2026 (30 days before its expiry month ends), none before and
// none again after a server restart that runs the days again; it names
// the card and links to the portal page where it is changed. An account
// whose expiring card was replaced by a later-expiring default gets none.
func TestCardExpiringNoticeOverSMTP(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		sink, smtpURL := startSMTP(t)
		sender, err := fmail.ParseURL(smtpURL)
		if err != nil {
			t.Fatal(err)
		}
		withMail := func(c *jobs.Config) { c.Mail, c.From = sender, "Vendor Billing <billing@vendor.example>" }
		e := newEnv(t, url, "2026-01-01", withMail)
		e.pay.SetCardExpiry("pm_card_visa", 12, 2026)
		e.pay.SetCardExpiry("pm_card_amex", 12, 2026)
		e.pay.SetCardExpiry("pm_card_mastercard", 5, 2029)
		cus := e.customer("DE", "")
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 3,
			"payment_method": "pm_card_visa"}, nil)
		card := e.waitCards(cus, 1)[0]
		if want := (fulfill.CardDetails{Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2026}); card.Card != want || !card.Default {
			t.Fatalf("saved card %+v, want %+v as the default", card, want)
		}
		// The second account's expiring card is replaced, before its
		// notice is due, by a later-expiring default.
		replaced := e.customer("US", "")
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": replaced, "plan": "sm-premium", "seats": 3,
			"payment_method": "pm_card_amex"}, nil)
		e.waitCards(replaced, 1)
		e.advance("2026-11-20")
		mc := &store.PaymentMethod{CustomerID: replaced, ProviderID: "pm_card_mastercard", Label: commerce.CardLabel("pm_card_mastercard")}
		if err := e.svc.AddPaymentMethod(context.Background(), "test", "", mc); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetDefaultPaymentMethod(context.Background(), "test", "", replaced, mc.ID); err != nil {
			t.Fatal(err)
		}
		e.waitCards(replaced, 2)

		notices := func(e *env, want int) []string {
			t.Helper()
			e.waitEmails()
			texts, to := sunkWith(t, sink, "Your ")
			var card []string
			for i, text := range texts {
				if strings.Contains(text, "default card of your billing account") {
					card = append(card, text)
					if to[i] != "buyer@example.com" {
						t.Errorf("card notice to %q", to[i])
					}
				}
			}
			if len(card) != want {
				t.Fatalf("on %s: %d card-expiring notices, want %d: %q", e.clock.Now().Format("2006-01-02"), len(card), want, card)
			}
			return card
		}
		e.advance("2026-12-01")
		notices(e, 0)
		e.advance("2026-12-02")
		text := notices(e, 1)[0]
		for _, want := range []string{"expires at the end of December 2026", "Card: Visa, ending 4242", "Expires: 12/2026",
			testenv.PublicURL + "/account/" + cus + "#cards"} {
			if !strings.Contains(text, want) {
				t.Errorf("card notice lacks %q:\n%s", want, text)
			}
		}
		subjects, _ := sunkWith(t, sink, "Your Visa card ending 4242 expires at the end of December 2026")
		if len(subjects) != 1 {
			t.Errorf("%d mails with the card notice's subject", len(subjects))
		}
		sink.mu.Lock()
		html := false
		for _, m := range sink.msgs {
			// The parts are quoted-printable: decoding the whole message
			// joins the HTML part's soft-broken lines.
			b, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(m.data)))
			html = html || strings.Contains(string(b), `<a href="`+testenv.PublicURL+"/account/"+cus+`#cards">`)
		}
		sink.mu.Unlock()
		if !html {
			t.Error("no HTML part links to the portal's card page")
		}
		// A second server on the same database runs the days again.
		e2 := newEnv(t, url, "2026-12-02", withMail)
		e2.advance("2026-12-02")
		e2.advance("2026-12-31")
		notices(e2, 1)
		e2.advance("2027-02-01")
		notices(e2, 1)
	})
}

// The card-expiring notice is switched off with --billing-mail-off
// card.expiring; the renewal notice of the same day still goes out.
func TestCardExpiringNoticeSwitchedOff(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) {
			c.Service.BillingMailOff = map[string]bool{commerce.MailCardExpiring: true}
		})
		e.pay.SetCardExpiry("pm_card_visa", 12, 2026)
		cus := e.customer("US", "")
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "pm_card_visa"}, nil)
		e.waitCards(cus, 1)
		e.advance("2026-12-03")
		kinds := map[string]int{}
		for _, m := range e.waitEmails() {
			kinds[m.Kind]++
		}
		if kinds[commerce.MailCardExpiring] != 0 || kinds[commerce.MailRenewalNotice] != 1 {
			t.Errorf("mails by kind: %v", kinds)
		}
	})
}
