package api_test

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/jobs"
	fmail "github.com/fulfillhq/fulfill/mail"
)

// sunkWith returns the texts of the messages the sink received whose
// subject starts with prefix, and their recipients.
func sunkWith(t *testing.T, sink *smtpSink, prefix string) (texts, to []string) {
	t.Helper()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, m := range sink.msgs {
		msg, err := mail.ReadMessage(bytes.NewReader(m.data))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(msg.Header.Get("Subject"), prefix) {
			_, text, _ := mailParts(t, m.data)
			texts, to = append(texts, strings.Join(strings.Fields(text), " ")), append(to, m.to)
		}
	}
	return texts, to
}

// TestRenewalNoticesOverSMTP is Acceptance 2's notice part, against a real
// SMTP server and the simulated clock: a yearly subscription renewing by
// card gets its renewal notice exactly 30 and 7 days before its term ends,
// once each though the days are run again by a second server on the same
// database (a restart), and each names the seats it renews with and why,
// the card, the links to change it, and the amount the renewal then
// really charges.
func TestRenewalNoticesOverSMTP(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		sink, smtpURL := startSMTP(t)
		sender, err := fmail.ParseURL(smtpURL)
		if err != nil {
			t.Fatal(err)
		}
		withMail := func(c *jobs.Config) { c.Mail, c.From = sender, "Vendor Billing <billing@vendor.example>" }
		e := newEnv(t, url, "2026-01-01", withMail)
		cus := e.customer("DE", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		if p.Subscription.EndsOn != "2027-01-01" {
			t.Fatalf("ends %s", p.Subscription.EndsOn)
		}
		e.advance("2026-06-01")
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "max_users": 14, "billable_users": 12}, nil)
		notices := func(e *env, want int) []string {
			t.Helper()
			e.waitEmails()
			texts, to := sunkWith(t, sink, "Your Premium (self-managed) subscription renews on 1 Jan 2027")
			if len(texts) != want {
				t.Fatalf("on %s: %d renewal notices, want %d: %q", e.clock.Now().Format("2006-01-02"), len(texts), want, texts)
			}
			for _, a := range to {
				if a != "buyer@example.com" {
					t.Errorf("notice to %q", a)
				}
			}
			return texts
		}
		e.advance("2026-12-01")
		notices(e, 0)
		e.advance("2026-12-02")
		first := notices(e, 1)[0]
		for _, want := range []string{"renews automatically on 2027-01-01, in 30 days", "Seats: 12 (raised from 10 to the 12 billable users last reported",
			"pm_card_visa", testenv.PublicURL + "/subscriptions/" + sub + "/seats", testenv.PublicURL + "/subscriptions/" + sub + " ",
			testenv.PublicURL + "/subscriptions/" + sub + "/renewal", "At renewal on 1 Jan 2027: 12 seats of Premium"} {
			if !strings.Contains(first, want) {
				t.Errorf("30-day notice lacks %q:\n%s", want, first)
			}
		}
		// A second server on the same database runs the day again.
		e2 := newEnv(t, url, "2026-12-02", withMail)
		e2.advance("2026-12-02")
		e2.advance("2026-12-24")
		notices(e2, 1)
		e2.advance("2026-12-25")
		texts := notices(e2, 2)
		if !strings.Contains(texts[1], "in 7 days") {
			t.Errorf("7-day notice: %s", texts[1])
		}
		e2.advance("2027-01-01")
		var invs struct{ Data []invoice }
		e2.must(200, "GET", "/api/v1/invoices?subscription_id="+sub+"&limit=1", nil, &invs)
		renewal := invs.Data[0]
		if len(linesOf(renewal, "renewal")) != 1 || linesOf(renewal, "renewal")[0].Quantity != 12 || renewal.Status != "paid" {
			t.Fatalf("renewal invoice: %+v", renewal)
		}
		// 12 seats renewed + 4 users trued up, at EUR 324.00, with 19% tax.
		if renewal.Total != (12+4)*32400*119/100 {
			t.Errorf("renewal total %d", renewal.Total)
		}
		want := fmt.Sprintf("Expected amount: %s (%s before tax, %s tax)", billing.FormatAmount(renewal.Total, "EUR"),
			billing.FormatAmount(renewal.Subtotal, "EUR"), billing.FormatAmount(renewal.Tax, "EUR"))
		for i, text := range notices(e2, 2) {
			if !strings.Contains(text, want) {
				t.Errorf("notice %d lacks %q:\n%s", i, want, text)
			}
		}
	})
}

// A trial gets its ending notice 7 days and 1 day before it ends, once
// each, and an expired trial none.
func TestTrialEndingNotices(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var res purchase
		e.must(201, "POST", "/api/v1/trials", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5}, &res)
		ends := res.Subscription.EndsOn
		count := func() (n int, subjects []string) {
			for _, m := range e.waitEmails() {
				if m.Kind == "trial.ending" {
					n++
					subjects = append(subjects, m.Subject)
				}
			}
			return n, subjects
		}
		for _, step := range []struct {
			to   string
			want int
		}{{"2026-01-23", 0}, {"2026-01-24", 1}, {"2026-01-29", 1}, {"2026-01-30", 2}, {"2026-01-30", 2}, {"2026-03-01", 2}} {
			e.advance(step.to)
			if n, s := count(); n != step.want {
				t.Fatalf("on %s: %d trial notices, want %d: %q", step.to, n, step.want, s)
			}
		}
		if _, s := count(); s[0] != "Your trial ends on "+ends {
			t.Errorf("subject %q", s[0])
		}
	})
}
