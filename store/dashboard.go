package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/fulfillhq/fulfill"
)

// This file computes the console dashboard's figures with aggregates, so
// that the dashboard reads a few rows per currency instead of every
// subscription. Dates are compared as 'YYYY-MM-DD' parameters, as
// elsewhere; the only dialect-specific part is taking a date's month.

// DashboardQuery says which figures to compute.
type DashboardQuery struct {
	// Today decides what is live now (count, seats, usage).
	Today fulfill.Date
	// On are the dates the MRR history is taken at.
	On []fulfill.Date
	// Windows are the renewal windows: terms ending in [From, To], both
	// included.
	Windows []DateWindow
}

// DateWindow is a range of dates, both ends included.
type DateWindow struct{ From, To fulfill.Date }

// CurrencyFigures are the dashboard's figures of the subscriptions in one
// currency, trials and expired subscriptions left out.
type CurrencyFigures struct {
	Currency string
	// MRR is the monthly recurring revenue at each DashboardQuery.On date:
	// for every subscription live then, seats × unit amount / term months
	// (rounded down per subscription).
	MRR []int64
	// Active, Seats and Used count the subscriptions live today, their
	// seats, and the billable users of their latest seat report.
	Active       int
	Seats, Used  int64
	RenewalCount []int64 // per window
	RenewalValue []int64 // per window: seats × unit amount
}

// DashboardFigures is the whole result.
type DashboardFigures struct {
	// Customers is how many customers have a subscription (of any kind).
	Customers  int
	ByCurrency []CurrencyFigures // ordered by currency
}

// monthIndex is year × 12 + month of a DATE column.
func (db *DB) monthIndex(col string) string {
	if db.Dialect == Postgres {
		return fmt.Sprintf("(CAST(EXTRACT(YEAR FROM %[1]s) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM %[1]s) AS INTEGER))", col)
	}
	// SQLite keeps dates as text that starts with YYYY-MM-DD.
	return fmt.Sprintf("(CAST(substr(%[1]s, 1, 4) AS INTEGER) * 12 + CAST(substr(%[1]s, 6, 2) AS INTEGER))", col)
}

// notProbe is a condition that leaves out the probe customer's rows: its
// purchases test the workflow and are no business.
func notProbe(customerCol string) string {
	return customerCol + " NOT IN (SELECT id FROM customers WHERE probe)"
}

// DashboardFigures computes the subscription figures of the dashboard.
func (db *DB) DashboardFigures(ctx context.Context, q DashboardQuery) (*DashboardFigures, error) {
	out := &DashboardFigures{}
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(DISTINCT customer_id) FROM subscriptions WHERE `+notProbe("customer_id")+` AND `+notCustom("id")).Scan(&out.Customers); err != nil {
		return nil, err
	}
	months := fmt.Sprintf("(%s - %s)", db.monthIndex("s.ends_on"), db.monthIndex("s.starts_on"))
	mrr := fmt.Sprintf("(s.seats * s.unit_amount / (CASE WHEN %[1]s < 1 THEN 1 ELSE %[1]s END))", months)
	args := []any{false, fulfill.StateExpired}
	// s.mrr is computed once per subscription, in a grouped subquery that
	// the outer aggregate cannot flatten (SQLite would otherwise evaluate
	// it again in every column).
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	sum := func(cond, v string) string {
		return "COALESCE(CAST(SUM(CASE WHEN " + cond + " THEN " + v + " ELSE 0 END) AS BIGINT), 0)"
	}
	var cols []string
	for _, on := range q.On {
		p := param(on)
		cols = append(cols, sum("s.starts_on <= "+p+" AND "+p+" < s.ends_on", "s.mrr"))
	}
	today := param(q.Today)
	live := "s.starts_on <= " + today + " AND " + today + " < s.ends_on"
	cols = append(cols, sum(live, "1"), sum(live, "s.seats"), sum(live, "COALESCE(u.n, 0)"))
	for _, w := range q.Windows {
		in := "s.ends_on >= " + param(w.From) + " AND s.ends_on <= " + param(w.To)
		cols = append(cols, sum(in, "1"), sum(in, "s.seats * s.unit_amount"))
	}
	// u: the billable users of each subscription's latest seat report.
	rows, err := db.Read.QueryContext(ctx, `SELECT s.currency, `+strings.Join(cols, ", ")+`
		FROM (SELECT s.id, s.currency, s.starts_on, s.ends_on, s.seats, s.unit_amount, MAX(`+mrr+`) AS mrr
			FROM subscriptions s WHERE s.trial = $1 AND s.state <> $2 AND `+notProbe("s.customer_id")+` AND `+notCustom("s.id")+` GROUP BY s.id, s.currency, s.starts_on, s.ends_on, s.seats, s.unit_amount) s
		LEFT JOIN (
			SELECT r.subscription_id, MAX(r.billable_users) AS n FROM seat_reports r
			JOIN (SELECT subscription_id, MAX(date) AS d FROM seat_reports GROUP BY subscription_id) m
			  ON m.subscription_id = r.subscription_id AND m.d = r.date
			GROUP BY r.subscription_id
		) u ON u.subscription_id = s.id
		GROUP BY s.currency ORDER BY s.currency`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		f := CurrencyFigures{MRR: make([]int64, len(q.On)), RenewalCount: make([]int64, len(q.Windows)), RenewalValue: make([]int64, len(q.Windows))}
		var active int64
		dest := []any{&f.Currency}
		for i := range f.MRR {
			dest = append(dest, &f.MRR[i])
		}
		dest = append(dest, &active, &f.Seats, &f.Used)
		for i := range q.Windows {
			dest = append(dest, &f.RenewalCount[i], &f.RenewalValue[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		f.Active = int(active)
		out.ByCurrency = append(out.ByCurrency, f)
	}
	return out, rows.Err()
}

// Overage is a subscription with more users in its current term than
// seats.
type Overage struct {
	Sub      *fulfill.Subscription
	Company  string
	MaxUsers int64 // the highest max-users count reported this term
}

// Overages lists the subscriptions (trials and expired ones left out) whose
// highest max-users count reported in the current term exceeds their
// seats, newest first.
func (db *DB) Overages(ctx context.Context) ([]Overage, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+subCols+`, c.company, m.n`+subFrom+`
		JOIN customers c ON c.id = s.customer_id
		JOIN (SELECT r.subscription_id, MAX(r.max_users) AS n FROM seat_reports r
			JOIN subscriptions t ON t.id = r.subscription_id AND r.date >= t.starts_on AND r.date < t.ends_on
			GROUP BY r.subscription_id) m ON m.subscription_id = s.id
		WHERE s.trial = $1 AND s.state <> $2 AND m.n > s.seats AND NOT c.probe AND `+notCustom("s.id")+`
		ORDER BY s.id DESC`, false, fulfill.StateExpired)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Overage
	for rows.Next() {
		var s fulfill.Subscription
		var o Overage
		err := rows.Scan(&s.ID, &s.CustomerID, &s.PlanID, &s.Plan, &s.PlanVersion, &s.Kind, &s.State, &s.Trial, &s.Seats,
			&s.StartsOn, &s.EndsOn, &s.AutoRenew, &s.Currency, &s.UnitAmount, &s.PaymentMethod, &s.SeatReconciliation,
			&s.Namespace, &s.CancelReason, &s.Version, &s.LicenseID, &s.CreatedAt, &s.UpdatedAt, &o.Company, &o.MaxUsers)
		if err != nil {
			return nil, err
		}
		o.Sub = &s
		out = append(out, o)
	}
	return out, rows.Err()
}

// ChangeStamp is a cheap fingerprint of the data behind the dashboard: the
// time of the newest event and how many events share it. Every use case
// that changes subscriptions, invoices or payments emits an event in its
// transaction, so the stamp changes with each of them; it is read from the
// shared database, so every copy of the server sees the same one. Both
// parts come from the events_created index.
func (db *DB) ChangeStamp(ctx context.Context) (string, error) {
	var n int64
	var newest any
	err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*), MAX(created_at) FROM events
		WHERE created_at >= (SELECT MAX(created_at) FROM events)`).Scan(&n, &newest)
	if err != nil {
		return "", fmt.Errorf("store: change stamp: %w", err)
	}
	return fmt.Sprintf("%v/%d", newest, n), nil
}
