package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// The store's contract, table by table, on both databases (river's
// riverdrivertest is the model): what is inserted reads back equal, lists
// come newest first and page by cursor, a missing row is ENotFound, a
// duplicate is EConflict, and the rules that protect money hold in the
// schema itself.

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// contract runs fn on a fresh migrated database of each dialect, in
// parallel.
func contract(t *testing.T, fn func(t *testing.T, ctx context.Context, db *DB)) {
	t.Helper()
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		fn(t, context.Background(), openMigrated(t, url))
	})
}

func inTx(t *testing.T, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.InTx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := fulfill.ErrorCode(err); got != code || err == nil {
		t.Errorf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

// same compares two values field by field as printed, so that equal
// instants in different *time.Location values compare equal.
func same(a, b any) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }

func ids[T any](list []T, id func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = id(v)
	}
	return out
}

func insertPlan(t *testing.T, db *DB, id, code string) *fulfill.Plan {
	t.Helper()
	p := &fulfill.Plan{ID: id, Code: code, Name: "Premium", Kind: "self_managed", TermMonths: 12,
		Prices: map[string]int64{"USD": 29_00, "EUR": 27_00}, CreatedAt: t0}
	inTx(t, db, func(tx *Tx) error { return tx.InsertPlan(p) })
	return p
}

func testSub(id, customerID, planID string) *fulfill.Subscription {
	return &fulfill.Subscription{ID: id, CustomerID: customerID, PlanID: planID, State: fulfill.StateActive, Seats: 10,
		StartsOn: fulfill.NewDate(2026, 3, 1), EndsOn: fulfill.NewDate(2027, 3, 1), AutoRenew: true, Currency: "USD",
		UnitAmount: 29_00, PaymentMethod: "card", CreatedAt: t0, UpdatedAt: t0}
}

// subscribed makes a customer with a plan and one subscription.
func subscribed(t *testing.T, db *DB, custID, subID string) *fulfill.Subscription {
	t.Helper()
	insertCustomer(t, db, custID)
	insertPlan(t, db, "pln_"+subID, "plan-"+subID)
	s := testSub(subID, custID, "pln_"+subID)
	inTx(t, db, func(tx *Tx) error { return tx.InsertSubscription(s, Change{Action: "create", Actor: "test", At: t0}) })
	return s
}

func testInvoice(id, customerID string) *fulfill.Invoice {
	return &fulfill.Invoice{ID: id, CustomerID: customerID, Status: fulfill.InvoiceOpen, Currency: "USD",
		Subtotal: 290_00, Tax: 29_00, Total: 319_00, TaxRateBP: 1000, IssuedOn: fulfill.NewDate(2026, 3, 1),
		DueOn: fulfill.NewDate(2026, 3, 31), PaymentMethod: "card", CreatedAt: t0, NetRevenue: 290_00,
		PeriodStart: fulfill.NewDate(2026, 3, 1), PeriodEnd: fulfill.NewDate(2027, 3, 1),
		Lines: []fulfill.InvoiceLine{
			{Kind: "subscription", Description: "Premium × 10", Quantity: 10, UnitAmount: 29_00, Amount: 290_00,
				PeriodStart: fulfill.NewDate(2026, 3, 1), PeriodEnd: fulfill.NewDate(2027, 3, 1)},
			{Kind: "proration", Description: "Credit", Quantity: 1, UnitAmount: 0, Amount: 0, Proration: true,
				PeriodStart: fulfill.NewDate(2026, 3, 1), PeriodEnd: fulfill.NewDate(2026, 4, 1)},
		}}
}

func TestContractCustomers(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		want := testCustomer("cus_3")
		want.Company, want.City, want.TaxID, want.Credit = "Acme", "Berlin", "DE123", 5_00
		inTx(t, db, func(tx *Tx) error { return tx.InsertCustomer(want) })
		got, err := db.Customer(ctx, "cus_3")
		if err != nil {
			t.Fatal(err)
		}
		if !same(got, want) {
			t.Errorf("read back\n got %+v\nwant %+v", got, want)
		}
		inTx(t, db, func(tx *Tx) error { return tx.SetCreditHold("cus_3", true) })
		if got, _ := db.Customer(ctx, "cus_3"); !got.CreditHold {
			t.Error("SetCreditHold(true) not stored")
		}
		wantCode(t, "duplicate id", db.InTx(ctx, func(tx *Tx) error { return tx.InsertCustomer(testCustomer("cus_3")) }), fulfill.EConflict)
		_, err = db.Customer(ctx, "cus_nope")
		wantCode(t, "missing customer", err, fulfill.ENotFound)

		for _, id := range []string{"cus_1", "cus_5", "cus_2", "cus_4"} {
			insertCustomer(t, db, id)
		}
		// Newest (largest id) first, pages continue after the cursor.
		var pages [][]string
		cursor := ""
		for range 4 {
			list, err := db.Customers(ctx, fulfill.Page{Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 0 {
				break
			}
			pages = append(pages, ids(list, func(c *fulfill.Customer) string { return c.ID }))
			cursor = list[len(list)-1].ID
		}
		if want := [][]string{{"cus_5", "cus_4"}, {"cus_3", "cus_2"}, {"cus_1"}}; !reflect.DeepEqual(pages, want) {
			t.Errorf("pages %v, want %v", pages, want)
		}
	})
}

func TestContractCatalog(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		if empty, err := db.CatalogEmpty(ctx); err != nil || !empty {
			t.Fatalf("new catalog: empty %v, %v", empty, err)
		}
		v1 := insertPlan(t, db, "pln_1", "premium")
		v2 := insertPlan(t, db, "pln_2", "premium")
		if v1.Version != 1 || v2.Version != 2 {
			t.Errorf("versions %d, %d; want 1, 2", v1.Version, v2.Version)
		}
		var cur, old *fulfill.Plan
		inTx(t, db, func(tx *Tx) (err error) {
			if cur, err = tx.PlanByCode("premium"); err != nil {
				return err
			}
			old, err = tx.PlanByID("pln_1")
			return err
		})
		if cur.ID != "pln_2" || !reflect.DeepEqual(cur.Prices, v2.Prices) || !cur.CreatedAt.Equal(t0) {
			t.Errorf("PlanByCode: %+v, want the current version pln_2 with its prices", cur)
		}
		if old.Version != 1 || old.Code != "premium" {
			t.Errorf("PlanByID(pln_1): %+v", old)
		}
		plans, err := db.Plans(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(plans, func(p *fulfill.Plan) string { return p.ID }); !reflect.DeepEqual(got, []string{"pln_2"}) {
			t.Errorf("Plans lists %v, want the current versions only [pln_2]", got)
		}
		err = db.InTx(ctx, func(tx *Tx) error { _, err := tx.PlanByCode("nope"); return err })
		wantCode(t, "missing plan", err, fulfill.ENotFound)
		wantCode(t, "duplicate plan id", db.InTx(ctx, func(tx *Tx) error {
			return tx.InsertPlan(&fulfill.Plan{ID: "pln_1", Code: "other", Name: "x", Kind: "saas", TermMonths: 1, CreatedAt: t0})
		}), fulfill.EConflict)

		a := &fulfill.AddOn{Code: "storage", Name: "Storage", Recurring: true, TermMonths: 12, Prices: map[string]int64{"USD": 5_00},
			Pricing: fulfill.PricingPerUnit, Kinds: []string{fulfill.KindSaaS, fulfill.KindSelfManaged}}
		inTx(t, db, func(tx *Tx) error { return tx.InsertAddOn(a, t0) })
		addons, err := db.AddOns(ctx)
		if err != nil || len(addons) != 1 || !reflect.DeepEqual(addons[0], a) {
			t.Errorf("AddOns: %v, %v; want [%+v]", addons, err, a)
		}
		wantCode(t, "duplicate add-on", db.InTx(ctx, func(tx *Tx) error { return tx.InsertAddOn(a, t0) }), fulfill.EConflict)
	})
}

func TestContractSubscriptionsAndVersions(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		s := subscribed(t, db, "cus_1", "sub_1")
		got, err := db.Subscription(ctx, "sub_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Seats != 10 || got.Version != 1 || got.Plan != "plan-sub_1" || got.StartsOn != s.StartsOn || got.EndsOn != s.EndsOn ||
			!got.AutoRenew || got.UnitAmount != 29_00 || !got.CreatedAt.Equal(t0) {
			t.Errorf("read back %+v", got)
		}
		at := t0.Add(time.Hour)
		inTx(t, db, func(tx *Tx) error {
			s, err := tx.Subscription("sub_1")
			if err != nil {
				return err
			}
			s.Seats, s.AutoRenew = 15, false
			return tx.UpdateSubscription(s, Change{Action: "change_seats", Actor: "user:ann", Reason: "growth", At: at})
		})
		vs, err := db.SubscriptionVersions(ctx, "sub_1")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 {
			t.Fatalf("%d versions, want 2: %+v", len(vs), vs)
		}
		byVersion := map[int]fulfill.SubscriptionVersion{vs[0].Version: vs[0], vs[1].Version: vs[1]}
		if v := byVersion[2]; v.Action != "change_seats" || v.Seats != 15 || v.AutoRenew || v.Actor != "user:ann" || v.Reason != "growth" || !v.At.Equal(at) {
			t.Errorf("version 2: %+v", v)
		}
		if v := byVersion[1]; v.Action != "create" || v.Seats != 10 {
			t.Errorf("version 1: %+v", v)
		}
		_, err = db.Subscription(ctx, "sub_nope")
		wantCode(t, "missing subscription", err, fulfill.ENotFound)
		wantCode(t, "duplicate subscription", db.InTx(ctx, func(tx *Tx) error {
			return tx.InsertSubscription(testSub("sub_1", "cus_1", "pln_sub_1"), Change{Action: "create", At: t0})
		}), fulfill.EConflict)

		for _, id := range []string{"sub_2", "sub_3"} {
			inTx(t, db, func(tx *Tx) error {
				return tx.InsertSubscription(testSub(id, "cus_1", "pln_sub_1"), Change{Action: "create", At: t0})
			})
		}
		page1, err := db.Subscriptions(ctx, "cus_1", fulfill.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		page2, err := db.Subscriptions(ctx, "cus_1", fulfill.Page{Limit: 2, Cursor: page1[len(page1)-1].ID})
		if err != nil {
			t.Fatal(err)
		}
		got2 := [][]string{ids(page1, func(s *fulfill.Subscription) string { return s.ID }), ids(page2, func(s *fulfill.Subscription) string { return s.ID })}
		if want := [][]string{{"sub_3", "sub_2"}, {"sub_1"}}; !reflect.DeepEqual(got2, want) {
			t.Errorf("pages %v, want %v", got2, want)
		}
		if other, err := db.Subscriptions(ctx, "cus_other", fulfill.Page{Limit: 10}); err != nil || len(other) != 0 {
			t.Errorf("another customer's subscriptions: %d, %v", len(other), err)
		}
	})
}

// Invoice numbers have no gaps: a rolled-back or failed insert gives its
// number back, and concurrent inserts each get the next one.
func TestContractInvoiceNumbersAreGapless(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_1")
		want := testInvoice("inv_1", "cus_1")
		inTx(t, db, func(tx *Tx) error { return tx.InsertInvoice(want) })
		if want.Number != "INV-000001" {
			t.Errorf("first number %q", want.Number)
		}
		got, err := db.Invoice(ctx, "inv_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Number != want.Number || got.Total != 319_00 || got.Tax != 29_00 || got.AmountDue != 319_00 || got.DueOn != want.DueOn ||
			!reflect.DeepEqual(got.Lines, want.Lines) {
			t.Errorf("read back\n got %+v\nwant %+v", got, want)
		}
		_, err = db.Invoice(ctx, "inv_nope")
		wantCode(t, "missing invoice", err, fulfill.ENotFound)

		rollback := fmt.Errorf("roll back")
		if err := db.InTx(ctx, func(tx *Tx) error {
			if err := tx.InsertInvoice(testInvoice("inv_rolled_back", "cus_1")); err != nil {
				return err
			}
			return rollback
		}); err != rollback {
			t.Fatalf("rolled back insert: %v", err)
		}
		wantCode(t, "duplicate invoice id", db.InTx(ctx, func(tx *Tx) error { return tx.InsertInvoice(testInvoice("inv_1", "cus_1")) }), fulfill.EConflict)

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.InTx(ctx, func(tx *Tx) error { return tx.InsertInvoice(testInvoice(fmt.Sprintf("inv_c%d", i), "cus_1")) })
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		numbers := map[string]bool{}
		cursor := ""
		for {
			list, err := db.Invoices(ctx, "cus_1", "", fulfill.Page{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 0 {
				break
			}
			for _, inv := range list {
				numbers[inv.Number] = true
				if cursor != "" && inv.ID >= cursor {
					t.Errorf("page after %s lists %s", cursor, inv.ID)
				}
			}
			cursor = list[len(list)-1].ID
		}
		for n := 1; n <= 9; n++ {
			if !numbers[fmt.Sprintf("INV-%06d", n)] {
				t.Errorf("number INV-%06d missing from %v", n, numbers)
			}
		}
		if len(numbers) != 9 {
			t.Errorf("%d numbers, want 9: %v", len(numbers), numbers)
		}
	})
}

func TestContractPaymentsAndProviderEvents(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_1")
		inTx(t, db, func(tx *Tx) error { return tx.InsertInvoice(testInvoice("inv_1", "cus_1")) })
		p := fulfill.Payment{ID: "pay_1", InvoiceID: "inv_1", Provider: "stripe", ProviderRef: "pi_1", Amount: 319_00,
			Currency: "USD", Status: "succeeded", CreatedAt: t0}
		inTx(t, db, func(tx *Tx) error { return tx.InsertPayment(&p) })
		ps, err := db.Payments(ctx, "inv_1")
		if err != nil || len(ps) != 1 || !same(ps[0], p) {
			t.Errorf("Payments: %+v, %v; want [%+v]", ps, err, p)
		}
		inTx(t, db, func(tx *Tx) error {
			for ref, want := range map[string]bool{"pi_1": true, "pi_other": false} {
				if got, err := tx.PaymentByRef("stripe", ref); err != nil || got != want {
					t.Errorf("PaymentByRef(%s) = %v, %v; want %v", ref, got, err, want)
				}
			}
			// A provider event is recorded once: a redelivery is not new.
			for i, want := range []bool{true, false} {
				if got, err := tx.RecordProviderEvent("stripe", "evt_1", "payment_intent.succeeded", "applied", t0); err != nil || got != want {
					t.Errorf("RecordProviderEvent #%d = %v, %v; want %v", i+1, got, err, want)
				}
			}
			return nil
		})
	})
}

// The ledger, the audit log and the ledger's transactions are append-only:
// the database itself refuses UPDATE and DELETE.
func TestImmutableTablesRefuseChange(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_1")
		inTx(t, db, func(tx *Tx) error {
			if err := tx.Audit(&fulfill.AuditEntry{ID: "aud_1", At: t0, Actor: "test", Action: "customer.create",
				SubjectType: "customer", SubjectID: "cus_1", Detail: "{}"}); err != nil {
				return err
			}
			return tx.Post(&LedgerTransaction{ID: "ltx_1", Kind: "invoice", ReferenceType: "invoice", ReferenceID: "inv_1",
				Currency: "USD", EffectiveOn: fulfill.NewDate(2026, 3, 1), CreatedAt: t0, Postings: []Posting{
					{Account: AccountReceivables, CustomerID: "cus_1", Amount: 100},
					{Account: AccountTaxPayable, Amount: -100},
				}})
		})
		for _, stmt := range []string{
			`UPDATE audit_log SET actor = 'x'`,
			`DELETE FROM audit_log`,
			`UPDATE ledger_entries SET amount = amount + 1`,
			`DELETE FROM ledger_entries`,
			`UPDATE ledger_transactions SET memo = 'x'`,
			`DELETE FROM ledger_transactions`,
		} {
			if _, err := db.Write.ExecContext(ctx, stmt); err == nil {
				t.Errorf("%s: succeeded, want refused by a trigger", stmt)
			}
		}
		entries, err := db.AuditLog(ctx, "customer", "cus_1", fulfill.Page{Limit: 10})
		if err != nil || len(entries) != 1 || entries[0].Actor != "test" {
			t.Errorf("audit log after refused changes: %+v, %v", entries, err)
		}
		bal, err := db.Balances(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		sum := int64(0)
		for _, b := range bal {
			sum += b.Amount
		}
		if len(bal) != 2 || sum != 0 {
			t.Errorf("balances %+v: want two accounts summing to 0", bal)
		}
		if err := db.InTx(ctx, func(tx *Tx) error {
			return tx.Post(&LedgerTransaction{Kind: "x", ReferenceID: "y", Currency: "USD", CreatedAt: t0,
				Postings: []Posting{{Account: AccountReceivables, Amount: 1}}})
		}); err == nil {
			t.Error("an unbalanced transaction was posted")
		}
		if u, err := db.UnbalancedTransactions(ctx); err != nil || len(u) != 0 {
			t.Errorf("UnbalancedTransactions: %v, %v", u, err)
		}
	})
}

func TestContractLicensesActivationCodesAndInstances(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_1", "sub_1")
		subscribed(t, db, "cus_2", "sub_2")
		var issued []*fulfill.License
		for i := range 2 {
			l := &fulfill.License{ID: fmt.Sprintf("lic_%d", i+1), SubscriptionID: "sub_1", KeyID: "k1", Reason: "new",
				Plan: "plan-sub_1", Seats: 10, StartsAt: fulfill.NewDate(2026, 3, 1), ExpiresAt: fulfill.NewDate(2027, 3, 1),
				File: "LICENSE-DATA", IssuedAt: t0}
			inTx(t, db, func(tx *Tx) error { return tx.InsertLicense(l) })
			issued = append(issued, l)
		}
		if issued[0].Seq != 1 || issued[1].Seq != 2 {
			t.Errorf("seqs %d, %d; want 1, 2", issued[0].Seq, issued[1].Seq)
		}
		got, err := db.License(ctx, "lic_1")
		if err != nil || !same(got, issued[0]) {
			t.Errorf("License: %+v, %v; want %+v", got, err, issued[0])
		}
		list, err := db.Licenses(ctx, "sub_1")
		if got := ids(list, func(l *fulfill.License) string { return l.ID }); err != nil || !reflect.DeepEqual(got, []string{"lic_2", "lic_1"}) {
			t.Errorf("Licenses: %v, %v; want newest first", got, err)
		}
		_, err = db.License(ctx, "lic_nope")
		wantCode(t, "missing license", err, fulfill.ENotFound)

		inTx(t, db, func(tx *Tx) error {
			if err := tx.InsertActivationCode("sub_1", "hash-old", t0); err != nil {
				return err
			}
			if err := tx.InsertActivationCode("sub_1", "hash-new", t0); err != nil {
				return err
			}
			if id, err := tx.SubscriptionByActivationCode("hash-new"); err != nil || id != "sub_1" {
				t.Errorf("active code: %q, %v", id, err)
			}
			_, err := tx.SubscriptionByActivationCode("hash-old")
			wantCode(t, "retired code", err, fulfill.ENotFound)
			_, err = tx.SubscriptionByActivationCode("hash-unknown")
			wantCode(t, "unknown code", err, fulfill.ENotFound)

			// Instances: an upsert twice is one instance; it belongs to
			// its subscription's customer only.
			for range 2 {
				if err := tx.UpsertInstance("sub_1", "inst_a", "host", "17.0", t0); err != nil {
					return err
				}
			}
			for _, c := range []struct {
				sub, inst string
				want      bool
			}{{"sub_1", "inst_a", true}, {"sub_2", "inst_a", false}, {"sub_1", "inst_b", false}} {
				if got, err := tx.InstanceKnown(c.sub, c.inst); err != nil || got != c.want {
					t.Errorf("InstanceKnown(%s, %s) = %v, %v; want %v", c.sub, c.inst, got, err, c.want)
				}
			}
			if other, err := tx.InstanceOfOtherCustomer("inst_a", "cus_2"); err != nil || !other {
				t.Errorf("InstanceOfOtherCustomer(inst_a, cus_2) = %v, %v; want true", other, err)
			}
			if other, err := tx.InstanceOfOtherCustomer("inst_a", "cus_1"); err != nil || other {
				t.Errorf("InstanceOfOtherCustomer(inst_a, cus_1) = %v, %v; want false", other, err)
			}
			return nil
		})
	})
}

func TestContractEventsAndWebhooks(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		cus := "cus_1"
		insertCustomer(t, db, cus)
		var e1, e2 *Event
		inTx(t, db, func(tx *Tx) (err error) {
			if e1, err = tx.EmitEvent("customer.created", cus, &cus, map[string]string{"id": cus}, t0); err != nil {
				return err
			}
			e2, err = tx.EmitEvent("invoice.issued", "inv_1", &cus, map[string]int{"total": 319_00}, t0.Add(time.Second))
			return err
		})
		got, doc, err := db.EventDocument(ctx, e1.ID)
		if err != nil || got.Type != "customer.created" || got.Version != EventVersion || string(got.Data) != `{"id":"cus_1"}` || len(doc) == 0 {
			t.Errorf("EventDocument: %+v, %s, %v", got, doc, err)
		}
		_, _, err = db.EventDocument(ctx, "evt_nope")
		wantCode(t, "missing event", err, fulfill.ENotFound)
		if list, err := db.Events(ctx, "invoice.issued", time.Time{}, fulfill.Page{Limit: 10}); err != nil || len(list) != 1 || list[0].ID != e2.ID {
			t.Errorf("Events by type: %+v, %v", list, err)
		}

		ep := &WebhookEndpoint{ID: "whe_1", URL: "https://hooks.example/a", Description: "A", Events: []string{"invoice.issued"},
			Secret: "whsec_1", CreatedAt: t0}
		inTx(t, db, func(tx *Tx) error { return tx.InsertWebhookEndpoint(ep) })
		gotEp, err := db.WebhookEndpoint(ctx, "whe_1")
		if err != nil || gotEp.URL != ep.URL || !reflect.DeepEqual(gotEp.Events, ep.Events) || gotEp.Secret != ep.Secret {
			t.Errorf("WebhookEndpoint: %+v, %v", gotEp, err)
		}
		_, err = db.WebhookEndpoint(ctx, "whe_nope")
		wantCode(t, "missing endpoint", err, fulfill.ENotFound)
		wantCode(t, "duplicate endpoint", db.InTx(ctx, func(tx *Tx) error { return tx.InsertWebhookEndpoint(ep) }), fulfill.EConflict)
		inTx(t, db, func(tx *Tx) error {
			for i, want := range []bool{true, false} {
				d := &WebhookDelivery{ID: fmt.Sprintf("whd_%d", i), EndpointID: "whe_1", EventID: e2.ID, EventType: e2.Type, CreatedAt: t0}
				if added, err := tx.InsertWebhookDelivery(d); err != nil || added != want {
					t.Errorf("delivery #%d of one event to one endpoint: added %v, %v; want %v", i+1, added, err, want)
				}
			}
			return tx.DeleteWebhookEndpoint("whe_1", t0)
		})
		_, err = db.WebhookEndpoint(ctx, "whe_1")
		wantCode(t, "deleted endpoint", err, fulfill.ENotFound)
	})
}

func TestContractUsersSessionsTokens(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		u := &User{ID: "usr_1", Email: "Ann@Example.com", Name: "Ann", PasswordHash: "h", Role: "customer", CreatedAt: t0}
		inTx(t, db, func(tx *Tx) error { return tx.InsertUser(u) })
		got, err := db.UserByEmail(ctx, "ANN@example.COM")
		if err != nil || got.ID != "usr_1" || got.Email != "ann@example.com" || got.ConfirmedAt != nil || !got.CreatedAt.Equal(t0) {
			t.Errorf("UserByEmail: %+v, %v", got, err)
		}
		taken := &User{ID: "usr_2", Email: "ann@example.com", Role: "customer", CreatedAt: t0}
		wantCode(t, "taken email", db.InTx(ctx, func(tx *Tx) error { return tx.InsertUser(taken) }), fulfill.EConflict)
		_, err = db.User(ctx, "usr_nope")
		wantCode(t, "missing user", err, fulfill.ENotFound)

		s := &Session{IDHash: "sess-hash", UserID: "usr_1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := db.InsertSession(ctx, s, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if gs, gu, err := db.SessionUser(ctx, "sess-hash", t0.Add(time.Minute)); err != nil || gs.UserID != "usr_1" || gu.Email != "ann@example.com" {
			t.Errorf("SessionUser: %+v, %+v, %v", gs, gu, err)
		}
		_, _, err = db.SessionUser(ctx, "sess-hash", t0.Add(2*time.Hour))
		wantCode(t, "expired session", err, fulfill.ENotFound)
		if err := db.DeleteSession(ctx, "sess-hash"); err != nil {
			t.Fatal(err)
		}
		_, _, err = db.SessionUser(ctx, "sess-hash", t0.Add(time.Minute))
		wantCode(t, "ended session", err, fulfill.ENotFound)

		// A one-time token is spent once, for its purpose, before it expires.
		inTx(t, db, func(tx *Tx) error { return tx.InsertToken("tok-hash", "usr_1", "reset", t0, t0.Add(time.Hour)) })
		if ok, err := db.TokenValid(ctx, "tok-hash", "reset", t0); err != nil || !ok {
			t.Errorf("TokenValid: %v, %v", ok, err)
		}
		err = db.InTx(ctx, func(tx *Tx) error { _, err := tx.UseToken("tok-hash", "confirm", t0); return err })
		wantCode(t, "token of another purpose", err, fulfill.ENotFound)
		inTx(t, db, func(tx *Tx) error {
			id, err := tx.UseToken("tok-hash", "reset", t0)
			if err == nil && id != "usr_1" {
				t.Errorf("UseToken: user %q", id)
			}
			return err
		})
		err = db.InTx(ctx, func(tx *Tx) error { _, err := tx.UseToken("tok-hash", "reset", t0); return err })
		wantCode(t, "spent token", err, fulfill.ENotFound)

		// API tokens: a name has one token; the old hash stops working.
		if err := db.PutToken(ctx, "ci", "hash-1", "admin", t0); err != nil {
			t.Fatal(err)
		}
		if err := db.PutToken(ctx, "ci", "hash-2", "read_only", t0); err != nil {
			t.Fatal(err)
		}
		if tok, err := db.TokenByHash(ctx, "hash-2"); err != nil || tok.Name != "ci" || tok.Role != "read_only" {
			t.Errorf("TokenByHash(new): %+v, %v", tok, err)
		}
		_, err = db.TokenByHash(ctx, "hash-1")
		wantCode(t, "replaced API token", err, fulfill.ENotFound)
	})
}

func TestContractSupport(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_1")
		inTx(t, db, func(tx *Tx) error {
			return tx.InsertUser(&User{ID: "usr_1", Email: "ann@example.com", Name: "Ann", Role: "customer", CreatedAt: t0})
		})
		var reqs []*SupportRequest
		for i := range 2 {
			r := &SupportRequest{ID: fmt.Sprintf("sup_%d", i+1), CustomerID: "cus_1", UserID: "usr_1", Category: "billing",
				Subject: "Help", State: "open", CreatedAt: t0, UpdatedAt: t0}
			m := &SupportMessage{ID: fmt.Sprintf("msg_%d", i+1), RequestID: r.ID, UserID: "usr_1", Body: "Please help", CreatedAt: t0}
			inTx(t, db, func(tx *Tx) error { return tx.InsertSupportRequest(r, m) })
			reqs = append(reqs, r)
		}
		if reqs[1].Number != reqs[0].Number+1 {
			t.Errorf("numbers %d, %d: want consecutive", reqs[0].Number, reqs[1].Number)
		}
		got, err := db.SupportRequest(ctx, "sup_1")
		if err != nil || got.Subject != "Help" || got.Number != reqs[0].Number || got.State != "open" || got.Satisfied != nil {
			t.Errorf("SupportRequest: %+v, %v", got, err)
		}
		msgs, err := db.SupportMessages(ctx, "sup_1")
		if err != nil || len(msgs) != 1 || msgs[0].Body != "Please help" || msgs[0].Author != "Ann" {
			t.Errorf("SupportMessages: %+v, %v", msgs, err)
		}
		_, err = db.SupportRequest(ctx, "sup_nope")
		wantCode(t, "missing request", err, fulfill.ENotFound)
		inTx(t, db, func(tx *Tx) error { return tx.RateSupportRequest("sup_1", true, "thanks", t0) })
		if got, _ := db.SupportRequest(ctx, "sup_1"); got.Satisfied == nil || !*got.Satisfied || got.RatingComment != "thanks" {
			t.Errorf("rating not stored: %+v", got)
		}
	})
}

// An Idempotency-Key is claimed once; a second claim sees the running
// request, then its stored answer; a released key can be claimed again.
func TestContractIdempotencyKeys(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		lease := time.Minute
		first, err := db.ClaimIdempotencyKey(ctx, "tok_1", "k", "body-hash", t0, lease)
		if err != nil || !first.Owned || first.Seed == "" {
			t.Fatalf("first claim: %+v, %v", first, err)
		}
		second, err := db.ClaimIdempotencyKey(ctx, "tok_1", "k", "body-hash", t0.Add(time.Second), lease)
		if err != nil || second.Owned || second.StatusCode != 0 || second.Seed != first.Seed {
			t.Errorf("claim while running: %+v, %v", second, err)
		}
		if other, err := db.ClaimIdempotencyKey(ctx, "tok_2", "k", "body-hash", t0, lease); err != nil || !other.Owned {
			t.Errorf("same key of another token: %+v, %v; want its own", other, err)
		}
		if err := db.FinishIdempotencyKey(ctx, "tok_1", "k", 201, []byte(`{"id":"x"}`)); err != nil {
			t.Fatal(err)
		}
		done, err := db.ClaimIdempotencyKey(ctx, "tok_1", "k", "body-hash", t0.Add(time.Hour), lease)
		if err != nil || done.Owned || done.StatusCode != 201 || string(done.Response) != `{"id":"x"}` {
			t.Errorf("claim after the answer: %+v, %v", done, err)
		}
		// A run that died: its lease runs out and one retry takes over.
		if _, err := db.ClaimIdempotencyKey(ctx, "tok_1", "dead", "h", t0, lease); err != nil {
			t.Fatal(err)
		}
		if took, err := db.ClaimIdempotencyKey(ctx, "tok_1", "dead", "h", t0.Add(2*lease), lease); err != nil || !took.Owned {
			t.Errorf("claim after the lease: %+v, %v; want owned", took, err)
		}
		if err := db.ReleaseIdempotencyKey(ctx, "tok_1", "k"); err != nil {
			t.Fatal(err)
		}
		if again, err := db.ClaimIdempotencyKey(ctx, "tok_1", "k", "other-hash", t0, lease); err != nil || !again.Owned {
			t.Errorf("claim after release: %+v, %v", again, err)
		}
	})
}

// Imports remember external ids and subscription keys, so that a second
// import of the same file skips what the first wrote.
func TestContractImports(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		s := subscribed(t, db, "cus_1", "sub_1")
		inTx(t, db, func(tx *Tx) error {
			if err := tx.InsertImportBatch(&ImportBatch{ExternalIDs: [][2]string{{"cus_1", "crm-42"}}, Change: Change{At: t0}}); err != nil {
				return err
			}
			ext, err := tx.CustomersByExternalID([]string{"crm-42", "crm-43"})
			if err != nil {
				return err
			}
			if len(ext) != 1 || ext["crm-42"] == nil || ext["crm-42"].ID != "cus_1" {
				t.Errorf("CustomersByExternalID: %v, want crm-42 → cus_1", ext)
			}
			c, err := tx.Customer("cus_1")
			if err != nil {
				return err
			}
			emails, err := tx.CustomersByEmail([]string{strings.ToLower(c.Email), "nobody@example.com"})
			if err != nil {
				return err
			}
			if len(emails) != 1 || emails[0].ID != "cus_1" {
				t.Errorf("CustomersByEmail: %v", emails)
			}
			odd, err := tx.CustomersWithNonASCIIEmail()
			if err != nil {
				return err
			}
			if len(odd) != 0 {
				t.Errorf("CustomersWithNonASCIIEmail: %v, want none", odd)
			}
			keys, err := tx.SubscriptionKeysOf([]string{"cus_1", "cus_2"})
			if err != nil {
				return err
			}
			if !keys[SubscriptionKey("cus_1", "plan-sub_1", s.StartsOn)] || len(keys) != 1 {
				t.Errorf("SubscriptionKeysOf: %v, want the key of sub_1", keys)
			}
			return nil
		})
		n := 0
		if err := db.EachCustomer(ctx, func(c *fulfill.Customer, ext string) error {
			n++
			if c.ID != "cus_1" || ext != "crm-42" {
				t.Errorf("EachCustomer: %s, %q", c.ID, ext)
			}
			return nil
		}); err != nil || n != 1 {
			t.Errorf("EachCustomer: %d customers, %v", n, err)
		}
	})
}

// The outbox: an email reads back as queued, its sending outcome is
// recorded, and lists page newest first, per customer.
func TestContractEmails(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		cus := "cus_1"
		insertCustomer(t, db, cus)
		for _, id := range []string{"eml_1", "eml_2", "eml_3"} {
			e := &fulfill.Email{ID: id, Kind: "license", To: "ann@example.com", Subject: "Your license", Body: "Attached.",
				AttachmentName: "license.txt", Attachment: "DATA", CustomerID: &cus, Status: "pending", CreatedAt: t0}
			inTx(t, db, func(tx *Tx) error { return tx.InsertEmail(e) })
		}
		got, err := db.Email(ctx, "eml_1")
		if err != nil || got.Subject != "Your license" || got.Attachment != "DATA" || got.Status != "pending" || got.SentAt != nil ||
			got.CustomerID == nil || *got.CustomerID != cus {
			t.Errorf("Email: %+v, %v", got, err)
		}
		sent := t0.Add(time.Minute)
		if err := NewEmailMarks(db).Mark(ctx, EmailMark{ID: "eml_1", Status: "sent", SentAt: &sent}); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Email(ctx, "eml_1"); got.Status != "sent" || got.SentAt == nil || !got.SentAt.Equal(sent) {
			t.Errorf("after Mark(sent): %+v", got)
		}
		_, err = db.Email(ctx, "eml_nope")
		wantCode(t, "missing email", err, fulfill.ENotFound)
		page1, err := db.Emails(ctx, cus, fulfill.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		page2, err := db.Emails(ctx, cus, fulfill.Page{Limit: 2, Cursor: page1[len(page1)-1].ID})
		if err != nil {
			t.Fatal(err)
		}
		id := func(e *fulfill.Email) string { return e.ID }
		if got, want := [][]string{ids(page1, id), ids(page2, id)}, [][]string{{"eml_3", "eml_2"}, {"eml_1"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("pages %v, want %v", got, want)
		}
	})
}
