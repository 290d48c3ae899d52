package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// Issue 5, acceptance 3: a declined renewal retries on days 1, 3, 5 and 7,
// emails each time, is past due, and lapses on day 14; a payment on day 5
// instead restores it with its renewal license.
func TestDunning(t *testing.T) {
	t.Parallel()
	// Each case on a database of its own: the simulated clock is stored in
	// the database, so a second server on the first case's database would
	// find the clock where the first left it.
	for _, payOnDay5 := range []bool{false, true} {
		t.Run(map[bool]string{false: "lapses", true: "paid on day 5"}[payOnDay5], func(t *testing.T) {
			dbtest.ForEachParallel(t, func(t *testing.T, url string) {
				e := newEnv(t, url, "2026-01-01")
				cus := e.customer("US", "")
				var p purchase
				e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
					"payment_method": "pm_card_visa"}, &p)
				sub := p.Subscription.ID
				e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/payment_method", map[string]any{"payment_method": "pm_card_chargeDeclined"}, nil)
				e.advance("2027-01-01")
				var s subscription
				e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
				if s.State != "past_due" || s.EndsOn != "2028-01-01" {
					t.Fatalf("after the declined renewal: %+v", s)
				}
				var invs struct{ Data []invoice }
				e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub+"&limit=1", nil, &invs)
				renewal := invs.Data[0]
				if renewal.Status != "open" || renewal.DueOn != "2027-01-15" {
					t.Fatalf("renewal invoice = %+v", renewal)
				}
				attempts := func() []string {
					var ps struct {
						Data []struct {
							Status    string
							CreatedAt time.Time `json:"created_at"`
						}
					}
					e.must(200, "GET", "/api/v1/invoices/"+renewal.ID+"/payments", nil, &ps)
					var out []string
					for _, x := range ps.Data {
						out = append(out, x.CreatedAt.Format("01-02")+" "+x.Status)
					}
					return out
				}
				if payOnDay5 {
					e.advance("2027-01-06")
					e.must(200, "POST", "/api/v1/invoices/"+renewal.ID+"/pay", map[string]any{"payment_method": "pm_card_visa"}, nil)
					e.advance("2027-02-01")
					e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
					if s.State != "active" {
						t.Fatalf("after paying on day 5: %s", s.State)
					}
					if got := strings.Join(attempts(), ", "); got != "01-01 failed, 01-02 failed, 01-04 failed, 01-06 failed, 01-06 succeeded" {
						t.Fatalf("attempts: %s", got)
					}
					if l := e.license(sub); l.StartsAt.String() != "2027-01-01" || l.ExpiresAt.String() != "2028-01-01" {
						t.Fatalf("license after recovery = %+v", l)
					}
					return
				}
				e.advance("2027-01-14")
				e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
				if s.State != "past_due" {
					t.Fatalf("day 13: %s", s.State)
				}
				e.advance("2027-01-15")
				e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
				if s.State != "expired" {
					t.Fatalf("day 14: %s, want expired", s.State)
				}
				if got := strings.Join(attempts(), ", "); got != "01-01 failed, 01-02 failed, 01-04 failed, 01-06 failed, 01-08 failed" {
					t.Fatalf("attempts: %s", got)
				}
				mails := 0
				for _, m := range e.waitEmails() {
					if m.Kind == "payment.failed" {
						mails++
					}
				}
				if mails != 5 {
					t.Fatalf("%d payment-failed emails, want 5", mails)
				}
				if l := e.license(sub); l.ExpiresAt.String() != "2027-01-01" {
					t.Fatalf("a lapsed renewal got a license: %+v", l)
				}
			})
		})
	}
}

// Issue 5, acceptance 5: the aging report for prepared invoices.
func TestAgingReport(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		a, b := e.customer("US", ""), e.customer("US", "")
		buy := func(cus string, seats int) invoice {
			var p purchase
			e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": seats,
				"payment_method": "invoice"}, &p)
			return p.Invoice
		}
		// Due dates: issued + 30 days.
		a1 := buy(a, 1) // issued 01-01, due 01-31
		e.advance("2026-02-15")
		a2 := buy(a, 2) // due 03-17
		e.advance("2026-04-01")
		b1 := buy(b, 3) // due 05-01
		e.advance("2026-05-20")
		b2 := buy(b, 4) // due 06-19
		e.must(201, "POST", "/api/v1/invoices/"+b2.ID+"/payments", map[string]any{"amount": 100000, "reference": "WIRE-1"}, nil)
		e.advance("2026-06-10")
		// As of 06-10: a1 is 130 days late, a2 85, b1 40, b2 not yet due.
		var rep struct {
			Customers []commerce.AgingRow
			Totals    []commerce.AgingRow
		}
		e.must(200, "GET", "/api/v1/receivables/aging", nil, &rep)
		want := map[string]commerce.AgingRow{
			a: {Over90: a1.Total, Days61to90: a2.Total, Total: a1.Total + a2.Total},
			b: {Days31to60: b1.Total, Current: b2.Total - 100000, Total: b1.Total + b2.Total - 100000},
		}
		for _, r := range rep.Customers {
			w := want[r.CustomerID]
			if r.Current != w.Current || r.Days1to30 != w.Days1to30 || r.Days31to60 != w.Days31to60 || r.Days61to90 != w.Days61to90 ||
				r.Over90 != w.Over90 || r.Total != w.Total {
				t.Errorf("%s: %+v, want %+v", r.CustomerID, r, w)
			}
		}
		if len(rep.Customers) != 2 || rep.Totals[0].Total != a1.Total+a2.Total+b1.Total+b2.Total-100000 {
			t.Fatalf("report = %+v", rep)
		}
		code, csv := e.text("/api/v1/receivables/aging?format=csv")
		if code != 200 || !strings.HasPrefix(csv, "customer_id,company,currency,current,days_1_30") || strings.Count(csv, "\n") != 4 {
			t.Fatalf("csv: %d\n%s", code, csv)
		}
	})
}

// Credit notes, refunds, voids, write-offs and wire payments through the API.
func TestCreditNotesAndPayments(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var paid, open, open2 purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10, "payment_method": "pm_card_visa"}, &paid)
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": 10, "payment_method": "invoice"}, &open)
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": 1, "payment_method": "invoice"}, &open2)
		var cn struct {
			Number, Method string
			Total          int64
		}
		e.must(201, "POST", "/api/v1/invoices/"+paid.Invoice.ID+"/credit_notes", map[string]any{"amount": 50000, "reason": "goodwill", "refund": true}, &cn)
		if cn.Number != "CN-000001" || cn.Method != "refund" || cn.Total != 50000 {
			t.Fatalf("credit note = %+v", cn)
		}
		e.must(201, "POST", "/api/v1/invoices/"+paid.Invoice.ID+"/credit_notes", map[string]any{"amount": 10000, "reason": "sla credit"}, &cn)
		var c struct {
			Credit int64 `json:"credit_balance"`
		}
		e.must(200, "GET", "/api/v1/customers/"+cus, nil, &c)
		if cn.Method != "account_credit" || c.Credit != 10000 {
			t.Fatalf("account credit = %d (%+v)", c.Credit, cn)
		}
		var ae apiError
		if code := e.do("POST", "/api/v1/invoices/"+paid.Invoice.ID+"/credit_notes", map[string]any{"amount": 3480000, "reason": "too much"}, &ae); code != 422 || ae.Error.Field != "amount" {
			t.Fatalf("over-credit: %d %+v", code, ae)
		}
		// Wire: part, then the rest plus an overpayment that becomes credit.
		var inv invoice
		e.must(201, "POST", "/api/v1/invoices/"+open.Invoice.ID+"/payments", map[string]any{"amount": 100000, "reference": "BANK-1"}, &inv)
		if inv.Status != "open" {
			t.Fatalf("after a part payment: %s", inv.Status)
		}
		e.must(201, "POST", "/api/v1/invoices/"+open.Invoice.ID+"/payments", map[string]any{"amount": open.Invoice.Total - 100000 + 500, "reference": "BANK-2"}, &inv)
		e.must(200, "GET", "/api/v1/customers/"+cus, nil, &c)
		if inv.Status != "paid" || c.Credit != 10500 {
			t.Fatalf("after the rest: %s, credit %d", inv.Status, c.Credit)
		}
		e.must(200, "POST", "/api/v1/invoices/"+open2.Invoice.ID+"/void", map[string]any{"reason": "duplicate"}, &inv)
		if inv.Status != "void" {
			t.Fatalf("void: %s", inv.Status)
		}
		if code := e.do("POST", "/api/v1/invoices/"+paid.Invoice.ID+"/void", nil, &ae); code != 409 {
			t.Fatalf("voiding a paid invoice: %d", code)
		}
		// The next invoice consumes the account credit first.
		var next purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": 1, "payment_method": "invoice"}, &next)
		var got invoice
		e.must(200, "GET", "/api/v1/invoices/"+next.Invoice.ID, nil, &got)
		e.must(200, "GET", "/api/v1/customers/"+cus, nil, &c)
		if c.Credit != 0 || got.Status != "open" {
			t.Fatalf("credit %d, invoice %+v", c.Credit, got)
		}
		e.must(200, "POST", "/api/v1/invoices/"+next.Invoice.ID+"/mark_uncollectible", map[string]any{"reason": "bankrupt"}, &inv)
		if inv.Status != "uncollectible" {
			t.Fatalf("write-off: %s", inv.Status)
		}
		code, pdf := e.text("/api/v1/invoices/" + paid.Invoice.ID + "/pdf")
		if code != 200 || !strings.HasPrefix(pdf, "%PDF-") {
			t.Fatalf("pdf: %d %.20q", code, pdf)
		}
		code, ledger := e.text("/api/v1/ledger/entries.csv")
		if code != 200 || !strings.Contains(ledger, "credit_note") || !strings.Contains(ledger, "invoice.written_off") {
			t.Fatalf("ledger csv: %d", code)
		}
		checkLedger(t, e)
	})
}

// checkLedger verifies the ledger's invariants against the documents.
func checkLedger(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.svc.RecognizeRevenue(ctx); err != nil {
		t.Fatal(err)
	}
	if bad, err := e.db.UnbalancedTransactions(ctx); err != nil || len(bad) > 0 {
		t.Fatalf("unbalanced transactions: %v %v", bad, err)
	}
	bals, err := e.db.Balances(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	ledger := map[string]int64{} // account/customer → balance
	total := map[string]int64{}  // account → balance
	for _, b := range bals {
		ledger[b.Account+"/"+b.CustomerID] += b.Amount
		total[b.Account] += b.Amount
	}
	invs := allInvoices(t, e)
	due, credit := map[string]int64{}, map[string]int64{}
	var net, revenueDocs, tax int64
	cns, err := e.db.CreditNotes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cnByInv := map[string][]*store.CreditNote{}
	for _, cn := range cns {
		cnByInv[cn.InvoiceID] = append(cnByInv[cn.InvoiceID], cn)
	}
	for _, inv := range invs {
		due[inv.CustomerID] += store.DueOf(inv)
		net += inv.NetRevenue
		if inv.AmountDue < 0 || inv.NetRevenue < inv.Recognized || inv.Recognized < 0 {
			t.Errorf("invoice %s: due %d, net %d, recognised %d", inv.Number, inv.AmountDue, inv.NetRevenue, inv.Recognized)
		}
		if inv.Status == fulfill.InvoiceVoid {
			continue
		}
		revenueDocs += inv.Subtotal
		tax += inv.Tax
		for _, cn := range cnByInv[inv.ID] {
			revenueDocs -= cn.Subtotal
			tax -= cn.Tax
		}
		credit[inv.CustomerID] = 0
	}
	for cus := range credit {
		c, err := e.db.Customer(ctx, cus)
		if err != nil {
			t.Fatal(err)
		}
		if got := ledger[store.AccountReceivables+"/"+cus]; got != due[cus] {
			t.Errorf("customer %s: receivables %d in the ledger, %d due on open invoices", cus, got, due[cus])
		}
		if got := -ledger[store.AccountCustomerCredit+"/"+cus]; got != c.Credit || c.Credit < 0 {
			t.Errorf("customer %s: credit %d in the ledger, %d on the account", cus, got, c.Credit)
		}
	}
	if got := -(total[store.AccountRevenue] + total[store.AccountDeferredRevenue]); got != revenueDocs || got != net {
		t.Errorf("revenue + deferred = %d; invoiced without tax, less credit notes = %d; per invoice %d", got, revenueDocs, net)
	}
	if got := -total[store.AccountTaxPayable]; got != tax {
		t.Errorf("tax payable %d, invoiced tax %d", got, tax)
	}
	if total[store.AccountDeferredRevenue] > 0 || total[store.AccountRevenue] > 0 {
		t.Errorf("revenue accounts went debit: %v", total)
	}
}

func allInvoices(t *testing.T, e *env) []*fulfill.Invoice {
	t.Helper()
	var out []*fulfill.Invoice
	p := fulfill.Page{Limit: 100}
	for {
		page, err := e.db.Invoices(context.Background(), "", "", p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < p.Limit {
			return out
		}
		p.Cursor = page[len(page)-1].ID
	}
}

// Issue 5, acceptance 4: a random sequence of at least 1,000 operations
// keeps every ledger invariant.
func TestLedgerProperty(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		seed := uint64(20261125)
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, seed))
		e := newEnv(t, url, "2026-01-01")
		ctx := context.Background()
		svc := e.svc
		var customers, subs []string
		var openInv, paidInv []string
		methods := []string{"pm_card_visa", "pm_card_visa", "pm_card_visa", "invoice", "invoice", "pm_card_chargeDeclined"}
		plans := []string{"sm-premium", "saas-premium", "sm-premium", "saas-premium", "sm-ultimate"}
		pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
		ops := map[string]int{}
		track := func(inv *fulfill.Invoice) {
			if inv == nil {
				return
			}
			if inv.Status == fulfill.InvoiceOpen {
				openInv = append(openInv, inv.ID)
			} else if inv.Status == fulfill.InvoicePaid && inv.Total > 0 {
				paidInv = append(paidInv, inv.ID)
			}
		}
		for i := 0; i < 1000; i++ {
			op := rng.IntN(100)
			var err error
			name := ""
			switch {
			case op < 25 || len(subs) == 0:
				name = "purchase"
				if len(customers) == 0 || rng.IntN(4) == 0 {
					country := pick([]string{"US", "DE", "FR", "GB"})
					taxID := map[string]string{"US": "12-3456789", "DE": "DE136695976", "FR": "FR40303265045", "GB": "GB980780684"}[country]
					c, cerr := svc.CreateCustomer(ctx, commerce.CustomerInput{Email: fmt.Sprintf("c%d@example.com", i), Name: "C",
						Country: country, TaxID: pick([]string{"", "", taxID})})
					if cerr != nil {
						t.Fatal(cerr)
					}
					customers = append(customers, c.ID)
				}
				var res *commerce.PurchaseResult
				res, err = svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: pick(customers), Plan: pick(plans),
					Seats: int64(1 + rng.IntN(50)), PaymentMethod: pick(methods)})
				if err == nil {
					subs = append(subs, res.Subscription.ID)
					track(res.Invoice)
				}
			case op < 40:
				name = "seats"
				sub, _ := e.db.Subscription(ctx, pick(subs))
				var res *commerce.ChangeResult
				_, res, err = svc.ChangeSeats(ctx, "test", sub.ID, sub.Seats+int64(1+rng.IntN(10)), false)
				if res != nil {
					track(res.Invoice)
				}
			case op < 48:
				name = "upgrade"
				var res *commerce.ChangeResult
				sub, _ := e.db.Subscription(ctx, pick(subs))
				_, res, err = svc.ChangePlan(ctx, "test", sub.ID, strings.Replace(sub.Plan, "premium", "ultimate", 1), false)
				if res != nil {
					track(res.Invoice)
				}
			case op < 56:
				name = "renew"
				var res *commerce.ChangeResult
				res, err = svc.Renew(ctx, "test", pick(subs), commerce.RenewInput{})
				if res != nil {
					track(res.Invoice)
				}
			case op < 64 && len(paidInv) > 0:
				name = "refund"
				amt := int64(1 + rng.IntN(20000))
				_, err = svc.IssueCreditNote(ctx, "test", pick(paidInv), commerce.CreditNoteInput{Amount: &amt, Reason: "refund", Refund: true})
			case op < 72 && len(openInv)+len(paidInv) > 0:
				name = "credit_note"
				amt := int64(1 + rng.IntN(50000))
				_, err = svc.IssueCreditNote(ctx, "test", pick(append(append([]string{}, openInv...), paidInv...)), commerce.CreditNoteInput{Amount: &amt, Reason: "credit"})
			case op < 78 && len(openInv) > 0:
				name = "write_off"
				_, err = svc.WriteOff(ctx, "test", pick(openInv), "gone")
			case op < 84 && len(openInv) > 0:
				name = "wire"
				amt := int64(1 + rng.IntN(2_000_000))
				_, err = svc.RecordWirePayment(ctx, "test", pick(openInv), &amt, "BANK")
			case op < 88 && len(openInv) > 0:
				name = "void"
				_, err = svc.VoidInvoice(ctx, "test", pick(openInv), "mistake")
			default:
				name = "time"
				e.clock.Set(e.clock.Now().Add(time.Duration(1+rng.IntN(20)) * 24 * time.Hour))
				_, err = svc.RecognizeRevenue(ctx)
			}
			// Refusals (a declined card, a state that forbids the change) are
			// part of the game; anything else is a bug.
			var fe *fulfill.Error
			if err != nil && !asFulfill(err, &fe) {
				t.Fatalf("op %d (%s): %v", i, name, err)
			}
			if err == nil {
				ops[name]++
			} else {
				ops[name+" refused"]++
			}
		}
		t.Logf("operations: %v", ops)
		checkLedger(t, e)
	})
}

func asFulfill(err error, fe **fulfill.Error) bool {
	for err != nil {
		if f, ok := err.(*fulfill.Error); ok {
			*fe = f
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// Posted ledger entries and the audit log cannot be edited or deleted, on
// either database.
func TestAppendOnlyTables(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "pm_card_visa"}, &p)
		var audit struct {
			Data []struct {
				Action     string
				RemoteAddr string `json:"remote_addr"`
			}
		}
		// Of the subscription: the saved card's description by the payment
		// provider (a job, after the purchase) is audited on the customer.
		e.must(200, "GET", "/api/v1/audit_log?subject_type=subscription&subject_id="+p.Subscription.ID, nil, &audit)
		if len(audit.Data) == 0 || audit.Data[0].Action != "subscription.purchase" || audit.Data[0].RemoteAddr != "127.0.0.1" {
			t.Fatalf("audit = %+v", audit.Data)
		}
		for _, q := range []string{"UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log",
			"UPDATE ledger_entries SET amount = 0", "DELETE FROM ledger_entries", "DELETE FROM ledger_transactions"} {
			if _, err := e.db.Write.Exec(q); err == nil {
				t.Errorf("%s: allowed", q)
			}
		}
	})
}
