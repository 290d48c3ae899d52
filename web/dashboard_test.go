package web

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// TestDashboardFigures checks the dashboard's SQL aggregates, on both
// databases, against the figures computed in Go from every subscription
// (the way the dashboard used to compute them), on subscriptions of mixed
// currencies, terms, states, trials and seat reports.
func TestDashboardFigures(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newAuthzEnv(t, url)
		ctx := context.Background()
		plans, err := e.db.Plans(ctx)
		if err != nil {
			t.Fatal(err)
		}
		today := fulfill.Today(e.clock)
		now := e.clock.Now().UTC()
		var custs []string
		for i, country := range []string{"DE", "US", "FR", "US", "GB"} {
			c, err := e.svc.CreateCustomer(ctx, commerce.CustomerInput{Email: fmt.Sprintf("c%d@example.com", i), Name: "C", Company: fmt.Sprintf("Company %d", i), Country: country})
			if err != nil {
				t.Fatal(err)
			}
			custs = append(custs, c.ID)
		}
		states := []string{fulfill.StateActive, fulfill.StateActive, fulfill.StateExpired, fulfill.StateActive}
		currencies := []string{"EUR", "USD", "EUR", "GBP", "USD"}
		err = e.db.InTx(ctx, func(tx *store.Tx) error {
			for i := range 60 {
				p := plans[i%len(plans)]
				start := today.AddDays(-400 + i*13)
				end := fulfill.DateOf(start.Time().AddDate(0, 1+i%14, i%3))
				s := &fulfill.Subscription{ID: fmt.Sprintf("sub_dash%03d", i), CustomerID: custs[i%len(custs)], PlanID: p.ID, Plan: p.Code,
					Kind: p.Kind, State: states[i%len(states)], Trial: i%7 == 3, Seats: int64(3 + i*7%50), StartsOn: start, EndsOn: end,
					Currency: currencies[i%len(currencies)], UnitAmount: int64(1000 + i*3301%50000), CreatedAt: now, UpdatedAt: now}
				if err := tx.InsertSubscription(s, store.Change{Action: "import", Actor: "test", At: now}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 60; i += 2 {
			for j, day := range []int{-40, -10, -3} {
				n := int64(1 + (i*5+j*11)%60)
				if _, err := e.db.Write.ExecContext(ctx, `INSERT INTO seat_reports (subscription_id, date, source, max_users, billable_users, created_at)
					VALUES ($1, $2, 'test', $3, $4, $5)`, fmt.Sprintf("sub_dash%03d", i), today.AddDays(day), n, n-n/3, now); err != nil {
					t.Fatal(err)
				}
			}
		}

		got, err := e.s.dashboardData(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := dashboardReference(t, e, today)
		if got.Overage == nil || len(got.Overage) != len(want.Overage) || got.Active == 0 || len(got.Others) == 0 || got.Used == 0 {
			t.Fatalf("the data set does not exercise the dashboard: %d overage rows (want %d), %d active, %d other currencies, %d used",
				len(got.Overage), len(want.Overage), got.Active, len(got.Others), got.Used)
		}
		check := func(name string, g, w any) {
			t.Helper()
			if gs, ws := fmt.Sprintf("%+v", g), fmt.Sprintf("%+v", w); gs != ws {
				t.Errorf("%s:\n got %s\nwant %s", name, gs, ws)
			}
		}
		check("currency", got.Currency, want.Currency)
		check("MRR", []int64{got.MRR, got.ARR}, []int64{want.MRR, want.ARR})
		check("counts", []int64{int64(got.Customers), int64(got.Active), got.Sold, got.Used}, []int64{int64(want.Customers), int64(want.Active), want.Sold, want.Used})
		check("others", got.Others, want.Others)
		check("MRR points", got.MRRPoints, want.MRRPoints)
		check("renewals", got.Renewals, want.Renewals)
		var gotOver, wantOver []string
		for _, o := range got.Overage {
			gotOver = append(gotOver, fmt.Sprintf("%s %s %d %d %d", o.Sub.ID, o.Company, o.MaxUsers, o.Over, o.Amount))
		}
		for _, o := range want.Overage {
			wantOver = append(wantOver, fmt.Sprintf("%s %s %d %d %d", o.Sub.ID, o.Company, o.MaxUsers, o.Over, o.Amount))
		}
		check("overage", gotOver, wantOver)
		check("overage totals", []int64{got.OverSeats, got.OverAmount}, []int64{want.OverSeats, want.OverAmount})
	})
}

// dashboardReference computes the dashboard's figures in Go from every
// subscription.
func dashboardReference(t *testing.T, e *authzEnv, today fulfill.Date) *dashboard {
	t.Helper()
	ctx := context.Background()
	subs, err := e.db.Subscriptions(ctx, "", fulfill.Page{Limit: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	usage, err := e.db.LatestSeatUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	maxUsers, err := e.db.TermMaxUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &dashboard{}
	live := func(sub *fulfill.Subscription, on fulfill.Date) bool {
		return !sub.Trial && sub.State != fulfill.StateExpired && !on.Before(sub.StartsOn) && on.Before(sub.EndsOn)
	}
	byCur := map[string]int64{}
	customers := map[string]bool{}
	for _, sub := range subs {
		customers[sub.CustomerID] = true
		if live(sub, today) {
			byCur[sub.Currency] += mrr(sub)
			d.Active++
			d.Sold += sub.Seats
			d.Used += usage[sub.ID]
		}
	}
	d.Customers = len(customers)
	d.Currency = "USD"
	for _, cur := range slices.Sorted(maps.Keys(byCur)) {
		if byCur[cur] > byCur[d.Currency] {
			d.Currency = cur
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(byCur)) {
		if cur != d.Currency {
			d.Others = append(d.Others, point{Label: cur, Value: byCur[cur], Text: billing.FormatAmount(byCur[cur], cur)})
		}
	}
	d.MRR, d.ARR = byCur[d.Currency], byCur[d.Currency]*12
	first := fulfill.NewDate(today.Time().Year(), today.Time().Month(), 1)
	for i := 11; i >= 0; i-- {
		on := fulfill.DateOf(first.Time().AddDate(0, -i, 0))
		if i == 0 {
			on = today
		}
		var v int64
		for _, sub := range subs {
			if sub.Currency == d.Currency && live(sub, on) {
				v += mrr(sub)
			}
		}
		d.MRRPoints = append(d.MRRPoints, point{Label: on.Time().Format("Jan 06"), Value: v, Text: billing.FormatAmount(v, d.Currency)})
	}
	for _, win := range []struct {
		label    string
		from, to int
	}{{"Next 30 days", 0, 30}, {"31–60 days", 31, 60}, {"61–90 days", 61, 90}} {
		var n, amt int64
		for _, sub := range subs {
			if sub.Trial || sub.State == fulfill.StateExpired {
				continue
			}
			if !sub.EndsOn.Before(today.AddDays(win.from)) && !sub.EndsOn.After(today.AddDays(win.to)) {
				n++
				if sub.Currency == d.Currency {
					amt += sub.Seats * sub.UnitAmount
				}
			}
		}
		d.Renewals = append(d.Renewals, point{Label: win.label, Value: n, Text: fmt.Sprintf("%d · %s", n, compact(amt, d.Currency))})
	}
	for _, sub := range subs {
		m := maxUsers[sub.ID]
		if sub.Trial || sub.State == fulfill.StateExpired || m <= sub.Seats {
			continue
		}
		c, err := e.db.Customer(ctx, sub.CustomerID)
		if err != nil {
			t.Fatal(err)
		}
		row := overageRow{Sub: sub, Company: c.Company, MaxUsers: m, Over: m - sub.Seats, Amount: (m - sub.Seats) * sub.UnitAmount}
		d.Overage = append(d.Overage, row)
		d.OverSeats += row.Over
		if sub.Currency == d.Currency {
			d.OverAmount += row.Amount
		}
	}
	return d
}

// TestDashboardCacheReflectsAChangeAtOnce: with a TTL the figures are kept
// while nothing changes, recomputed on the next view after a purchase (the
// change stamp moved, on any copy sharing the database), and at once on a
// new business day; each carries the time it was computed.
func TestDashboardCacheReflectsAChangeAtOnce(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newAuthzEnv(t, url)
		e.s.cfg.DashboardTTL = time.Hour
		ctx := context.Background()
		d1, err := e.s.cachedDashboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d1.AsOf.IsZero() {
			t.Fatal("no as-of time")
		}
		if d2, _ := e.s.cachedDashboard(ctx); d2 != d1 {
			t.Fatal("recomputed while nothing changed")
		}
		e.customer("a@example.com", "Alpha GmbH")
		d2, err := e.s.cachedDashboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d2 == d1 || d2.Active != d1.Active+2 || d2.Customers != d1.Customers+1 {
			t.Fatalf("a purchase is not on the next view: %d active, %d customers (before %d, %d)", d2.Active, d2.Customers, d1.Active, d1.Customers)
		}
		if d3, _ := e.s.cachedDashboard(ctx); d3 != d2 {
			t.Fatal("recomputed while nothing changed after the purchase")
		}
		e.clock.Set(e.clock.Now().AddDate(0, 0, 1))
		d4, err := e.s.cachedDashboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d4 == d2 {
			t.Fatal("not recomputed on a new day")
		}
	})
}

// termMonths (the oracle for the SQL aggregates) is the length of a subscription's term in months.
func termMonths(sub *fulfill.Subscription) int64 {
	a, b := sub.StartsOn.Time(), sub.EndsOn.Time()
	m := int64(b.Year()-a.Year())*12 + int64(b.Month()-a.Month())
	return max(m, 1)
}

// mrr is a subscription's monthly recurring revenue in minor units.
func mrr(sub *fulfill.Subscription) int64 { return sub.Seats * sub.UnitAmount / termMonths(sub) }
