package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/license"
)

// license fetches and verifies a subscription's current license.
func (e *env) license(sub string) *license.Payload {
	e.t.Helper()
	code, file := e.text("/api/v1/subscriptions/" + sub + "/license")
	if code != 200 {
		e.t.Fatalf("GET license: %d %s", code, file)
	}
	ring, err := e.keys.Keyring()
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := ring.Verify([]byte(file), e.clock.Now())
	if err != nil {
		e.t.Fatalf("license does not verify: %v", err)
	}
	return p
}

type email struct {
	Kind, To, Subject, Status, Attachment string
	AttachmentName                        string `json:"attachment_name"`
}

func (e *env) emails() []email {
	e.t.Helper()
	var l struct{ Data []email }
	e.must(200, "GET", "/api/v1/emails?limit=100", nil, &l)
	return l.Data
}

// waitEmails waits for the outbox job to handle every email.
func (e *env) waitEmails() []email {
	e.t.Helper()
	for range 200 {
		es := e.emails()
		pending := false
		for _, m := range es {
			pending = pending || m.Status == "pending"
		}
		if !pending {
			return es
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatal("emails still pending")
	return nil
}

// Issue 3, acceptance 2: the DESIGN.md reconciliation example.
func TestQuarterlyReconciliation(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		e.must(201, "POST", "/api/v1/plans", map[string]any{"code": "sm-basic", "name": "Basic", "kind": "self_managed",
			"term_months": 12, "prices": map[string]int{"USD": 10000}}, nil)
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-basic", "seats": 100,
			"payment_method": "pm_card_visa", "seat_reconciliation": true}, &p)
		sub := p.Subscription.ID
		e.advance("2026-02-15")
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "max_users": 110, "billable_users": 105}, nil)
		e.advance("2026-04-01")
		var invs struct{ Data []invoice }
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub+"&limit=1", nil, &invs)
		if got := invs.Data[0]; got.Total != 75000 || linesOf(got, "reconciliation")[0].Quantity != 10 {
			t.Fatalf("Q1 reconciliation invoice = %+v, want 75000 for 10 users", got)
		}
		var s subscription
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
		if l := e.license(sub); s.Seats != 110 || l.Seats != 110 || !l.ReconciliationCompleted || l.SubscriptionName != sub {
			t.Fatalf("after Q1: %d seats, license %+v; want 110, reconciliation_completed and subscription_name %s", s.Seats, l, sub)
		}
		// Q2 stays within the seats: no invoice.
		e.advance("2026-05-10")
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "max_users": 108, "billable_users": 108}, nil)
		e.advance("2026-08-20")
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "max_users": 120, "billable_users": 119}, nil)
		e.advance("2026-10-01")
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub, nil, &invs)
		if len(invs.Data) != 3 || invs.Data[0].Total != 25000 {
			t.Fatalf("invoices = %+v, want purchase, 75000 and 25000", invs.Data)
		}
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
		if s.Seats != 120 || e.license(sub).Seats != 120 {
			t.Fatalf("after Q3: %d seats; want 120", s.Seats)
		}
		notices := 0
		for _, m := range e.waitEmails() {
			if m.Kind == "reconciliation.upcoming" {
				notices++
			}
		}
		if notices != 3 {
			t.Fatalf("%d upcoming-reconciliation emails, want 3", notices)
		}
	})
}

// Issue 3, acceptance 3: renewal after a maximum of 130 users.
func TestRenewalTrueUpLicense(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 100,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		first := e.license(sub)
		if first.Seats != 100 || first.StartsAt.String() != "2026-01-01" || first.ExpiresAt.String() != "2027-01-01" ||
			first.BlockChangesAt.String() != "2027-01-15" || first.NotifyAdminsAt.String() != "2026-12-17" || first.Licensee.Email != "buyer@example.com" ||
			first.SubscriptionName != sub || first.TrueUpPeriodSeatCount != 0 || first.ReconciliationCompleted {
			t.Fatalf("purchase license = %+v", first)
		}
		e.advance("2026-11-01")
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "max_users": 130, "billable_users": 112}, nil)
		var r struct {
			Subscription subscription
			Invoice      invoice
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/renew", map[string]any{"seats": 115}, &r)
		tu := linesOf(r.Invoice, "trueup")
		if len(tu) != 1 || tu[0].Quantity != 30 || tu[0].Amount != 30*34800 {
			t.Fatalf("true-up = %+v", tu)
		}
		l := e.license(sub)
		if l.PreviousUserCount != 100 || l.TrueUpQuantity != 30 || l.TrueUpFrom.String() != "2026-01-01" ||
			l.TrueUpTo.String() != "2027-01-01" || l.Seats != 115 || l.StartsAt.String() != "2027-01-01" || l.ExpiresAt.String() != "2028-01-01" ||
			l.TrueUpPeriodSeatCount != 100 || l.SubscriptionName != sub {
			t.Fatalf("renewal license = %+v", l)
		}
		var hist struct{ Data []struct{ Reason string } }
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/licenses", nil, &hist)
		if len(hist.Data) != 2 || hist.Data[0].Reason != "renew" || hist.Data[1].Reason != "purchase" {
			t.Fatalf("license history = %+v", hist.Data)
		}
	})
}

// Issue 3, acceptance 6: resend and forward rules, audited.
func TestResendAndForward(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		var c struct{ ID string }
		e.must(201, "POST", "/api/v1/customers", map[string]any{"email": "owner@example.com", "name": "Olga Owner", "country": "US",
			"subscription_contact_email": "admin@example.com", "subscription_contact_name": "Ada Admin",
			"billing_contact_email": "ap@example.com"}, &c)
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": c.ID, "plan": "sm-premium", "seats": 5,
			"payment_method": "invoice"}, &p)
		sub := p.Subscription.ID
		e.must(202, "POST", "/api/v1/subscriptions/"+sub+"/license/resend", nil, nil)
		e.must(202, "POST", "/api/v1/subscriptions/"+sub+"/license/forward", map[string]any{"email": "ap@example.com"}, nil)
		var ae apiError
		if code := e.do("POST", "/api/v1/subscriptions/"+sub+"/license/forward", map[string]any{"email": "stranger@evil.example"}, &ae); code != 403 ||
			ae.Error.Code != "forbidden" || !strings.Contains(ae.Error.Message, "not linked to this billing account") {
			t.Fatalf("forward to a stranger: %d %+v", code, ae)
		}
		var es []email
		for _, m := range e.waitEmails() {
			if strings.HasPrefix(m.Kind, "license") { // the invoice mail goes out too
				es = append(es, m)
			}
		}
		got := map[string]string{}
		for _, m := range es {
			got[m.Kind+" "+m.To] = m.Status
			if m.AttachmentName != "fulfill.license" || !strings.HasPrefix(m.Attachment, "-----BEGIN FULFILL LICENSE-----") {
				t.Errorf("email %s has no license attached", m.Kind)
			}
		}
		want := []string{"license admin@example.com", "license.resend admin@example.com", "license.forward ap@example.com"}
		if len(es) != 3 {
			t.Fatalf("emails = %v, want %v", got, want)
		}
		for _, w := range want {
			if got[w] != "outbox" {
				t.Errorf("email %q: %q, want it in the outbox", w, got[w])
			}
		}
		var audit struct {
			Data []struct{ Action, Actor, Detail string }
		}
		e.must(200, "GET", "/api/v1/audit_log?subject_type=subscription&subject_id="+sub, nil, &audit)
		actions := []string{}
		for _, a := range audit.Data {
			actions = append(actions, a.Action)
		}
		if strings.Join(actions, ",") != "license.forward_denied,license.forward,license.resend,subscription.purchase" {
			t.Fatalf("audit = %v", actions)
		}
	})
}

func TestTrialsAndExtensions(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var tr purchase
		e.must(201, "POST", "/api/v1/trials", map[string]any{"customer_id": cus, "plan": "sm-ultimate", "seats": 20}, &tr)
		if tr.ActivationCode == nil || tr.Subscription.EndsOn != "2026-01-31" {
			t.Fatalf("trial = %+v", tr)
		}
		if l := e.license(tr.Subscription.ID); !l.Trial || l.NotifyAdminsAt.String() != "2026-01-24" {
			t.Fatalf("trial license = %+v", l)
		}
		var ae apiError
		if code := e.do("POST", "/api/v1/trials", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5}, &ae); code != 409 {
			t.Fatalf("second trial: %d %+v", code, ae)
		}
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		e.advance("2026-12-30")
		var ext struct {
			ExpiresAt string `json:"expires_at"`
		}
		e.must(201, "POST", "/api/v1/subscriptions/"+sub+"/temporary_extension", nil, &ext)
		if ext.ExpiresAt != "2027-01-22" || e.license(sub).ExpiresAt.String() != "2027-01-22" {
			t.Fatalf("extension = %+v", ext)
		}
		if code := e.do("POST", "/api/v1/subscriptions/"+sub+"/temporary_extension", nil, &ae); code != 409 {
			t.Fatalf("second extension: %d", code)
		}
		// Credit hold refuses an extension.
		var q purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "pm_card_visa"}, &q)
		e.must(200, "POST", "/api/v1/customers/"+cus+"/credit_hold", map[string]any{"enabled": true}, nil)
		if code := e.do("POST", "/api/v1/subscriptions/"+q.Subscription.ID+"/temporary_extension", nil, &ae); code != 403 {
			t.Fatalf("extension on credit hold: %d %+v", code, ae)
		}
		// A regenerated activation code replaces the old one.
		var reg struct {
			ActivationCode string `json:"activation_code"`
		}
		e.must(201, "POST", "/api/v1/subscriptions/"+sub+"/activation_code", nil, &reg)
		if code := e.do("POST", "/api/v1/activations", map[string]any{"activation_code": *p.ActivationCode, "instance_id": "i-1"}, &ae); code != 404 ||
			ae.Error.Code != "activation_code_invalid" {
			t.Fatalf("old code: %d %+v", code, ae)
		}
		var act struct {
			LicenseKey string `json:"license_key"`
		}
		e.must(201, "POST", "/api/v1/activations", map[string]any{"activation_code": reg.ActivationCode, "instance_id": "i-1"}, &act)
		if !strings.HasPrefix(act.LicenseKey, "-----BEGIN FULFILL LICENSE-----") {
			t.Fatalf("activation = %+v", act)
		}
	})
}
