package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
)

const subCols = `s.id, s.customer_id, s.plan_id, p.code, p.version, p.kind, s.state, s.trial, s.seats, s.starts_on, s.ends_on,
	s.auto_renew, s.currency, s.unit_amount, s.payment_method, s.seat_reconciliation, s.namespace, s.cancel_reason, s.version,
	s.license_id, s.created_at, s.updated_at`

const subFrom = ` FROM subscriptions s JOIN plans p ON p.id = s.plan_id`

func scanSub(sc interface{ Scan(...any) error }) (*fulfill.Subscription, error) {
	var s fulfill.Subscription
	if err := sc.Scan(subDests(&s)...); err != nil {
		return nil, err
	}
	return &s, nil
}

// subDests are the scan destinations of subCols.
func subDests(s *fulfill.Subscription) []any {
	return []any{&s.ID, &s.CustomerID, &s.PlanID, &s.Plan, &s.PlanVersion, &s.Kind, &s.State, &s.Trial, &s.Seats,
		&s.StartsOn, &s.EndsOn, &s.AutoRenew, &s.Currency, &s.UnitAmount, &s.PaymentMethod, &s.SeatReconciliation,
		&s.Namespace, &s.CancelReason, &s.Version, &s.LicenseID, &s.CreatedAt, &s.UpdatedAt}
}

// Change describes why a subscription changed, for its version history.
type Change struct {
	Action    string
	Actor     string
	Reason    string
	InvoiceID *string
	At        time.Time
}

// InsertSubscription adds a subscription and its first version.
func (t *Tx) InsertSubscription(s *fulfill.Subscription, c Change) error {
	s.Version = 1
	err := t.exec(`INSERT INTO subscriptions (`+subInsertCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`, subArgs(s)...)
	if err != nil {
		return mapErr(err, "Subscription")
	}
	t.freshSubscription(s.ID)
	// A subscription inserted here has no add-ons (SetSubscriptionAddOns
	// writes them after it): the purchase's license grants need not read
	// them (a statement, a round trip on PostgreSQL).
	if t.addOns == nil {
		t.addOns = map[string][]fulfill.SubscriptionAddOn{}
	}
	t.addOns[s.ID] = []fulfill.SubscriptionAddOn{}
	return t.insertVersion(s, c)
}

// subInsertCols are the columns a new subscription is written with, in the
// order of subArgs.
const subInsertCols = `id, customer_id, plan_id, state, trial, seats, starts_on, ends_on, auto_renew,
	currency, unit_amount, payment_method, seat_reconciliation, namespace, cancel_reason, version, license_id, created_at, updated_at`

func subArgs(s *fulfill.Subscription) []any {
	return []any{s.ID, s.CustomerID, s.PlanID, s.State, s.Trial, s.Seats, s.StartsOn, s.EndsOn, s.AutoRenew,
		s.Currency, s.UnitAmount, s.PaymentMethod, s.SeatReconciliation, s.Namespace, s.CancelReason, s.Version, s.LicenseID,
		s.CreatedAt.UTC(), s.UpdatedAt.UTC()}
}

// UpdateSubscription writes the subscription's new state and records the
// change as its next version.
func (t *Tx) UpdateSubscription(s *fulfill.Subscription, c Change) error {
	t.forgetSub(s.ID)
	s.Version++
	s.UpdatedAt = c.At
	err := t.execLater(`UPDATE subscriptions SET plan_id = $1, state = $2, seats = $3, starts_on = $4, ends_on = $5,
		auto_renew = $6, unit_amount = $7, payment_method = $8, seat_reconciliation = $9, cancel_reason = $10,
		version = $11, license_id = $12, updated_at = $13 WHERE id = $14`,
		s.PlanID, s.State, s.Seats, s.StartsOn, s.EndsOn, s.AutoRenew, s.UnitAmount, s.PaymentMethod,
		s.SeatReconciliation, s.CancelReason, s.Version, s.LicenseID, s.UpdatedAt.UTC(), s.ID)
	if err != nil {
		return err
	}
	return t.insertVersion(s, c)
}

func (t *Tx) insertVersion(s *fulfill.Subscription, c Change) error {
	return t.execLater(`INSERT INTO subscription_versions (`+versionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		versionArgs(s, c)...)
}

const versionCols = `subscription_id, version, action, plan_id, seats, state, starts_on, ends_on, auto_renew, invoice_id, actor, reason, at`

func versionArgs(s *fulfill.Subscription, c Change) []any {
	return []any{s.ID, s.Version, c.Action, s.PlanID, s.Seats, s.State, s.StartsOn, s.EndsOn, s.AutoRenew, c.InvoiceID,
		c.Actor, c.Reason, c.At.UTC()}
}

// Subscription returns a subscription locked for update.
func (t *Tx) Subscription(id string) (*fulfill.Subscription, error) {
	if s, ok := take(t.ahead().subs, id); ok {
		return s, nil
	}
	if _, known := t.addOns[id]; known {
		// The add-ons were read in this transaction (and may since
		// have been written through it): read only the subscription.
		s, err := scanSub(t.tx.QueryRowContext(t.ctx, `SELECT `+subCols+subFrom+` WHERE s.id = $1`+t.lock(" FOR UPDATE OF s"), id))
		if err != nil {
			return nil, mapErr(err, "Subscription")
		}
		s.AddOns, err = t.SubscriptionAddOns(id)
		return s, err
	}
	s, err := querySubWithAddOns(t.ctx, t.tx, t.lock(" FOR UPDATE OF s"), id)
	if err != nil {
		return nil, err
	}
	t.keepAddOns(s)
	return s, nil
}

// keepAddOns keeps the add-ons of s, read with it, for the transaction's
// later reads of them (SubscriptionAddOns).
func (t *Tx) keepAddOns(s *fulfill.Subscription) {
	if t.addOns == nil {
		t.addOns = map[string][]fulfill.SubscriptionAddOn{}
	}
	t.addOns[s.ID] = cloneSubAddOns(s.AddOns)
}

// Subscription returns a subscription.
func (db *DB) Subscription(ctx context.Context, id string) (*fulfill.Subscription, error) {
	return querySubWithAddOns(ctx, db.Read, "", id)
}

// subWithAddOnsQuery reads a subscription with its add-ons in one query
// (one row per add-on, or one row without when it has none): on
// PostgreSQL each query is a round trip, and every seat link, purchase
// and renewal reads its subscription this way. %s is where more columns
// go, %s more joins.
//
// The add-ons are joined one table after the other, not as a parenthesised
// inner join: SQLite built that join for every add-on of every
// subscription before it looked at the one asked for (a scan of
// subscription_addons on each read). An add-on row always has its catalog
// row (a foreign key), so the outer join on addons finds it.
const subWithAddOnsQuery = `SELECT ` + subCols + `, sa.addon_code, a.name, sa.quantity, sa.unit_amount, sa.pricing, sa.entitlements, sa.updated_at%s` +
	subFrom + ` LEFT JOIN subscription_addons sa ON sa.subscription_id = s.id
	LEFT JOIN addons a ON a.code = sa.addon_code%s
	WHERE s.id = $1 ORDER BY sa.addon_code`

var (
	subQuery         = fmt.Sprintf(subWithAddOnsQuery, "", "")
	subInstanceQuery = fmt.Sprintf(subWithAddOnsQuery, ", i."+strings.ReplaceAll(instanceCols, ", ", ", i."),
		" LEFT JOIN instances i ON i.subscription_id = s.id AND i.instance_id = $2")
)

// querySubWithAddOns reads subscription id and its add-ons by code (lock
// is appended to the query: a FOR UPDATE clause or nothing).
func querySubWithAddOns(ctx context.Context, q querier, lock, id string) (*fulfill.Subscription, error) {
	s, _, err := querySub(ctx, q, lock, id, nil)
	return s, err
}

// querySub reads subscription id with its add-ons and, if instanceID is
// set, that instance of it (nil if the subscription has none by that id).
func querySub(ctx context.Context, q querier, lock, id string, instanceID *string) (*fulfill.Subscription, *fulfill.Instance, error) {
	query, args := subQuery+lock, []any{id}
	if instanceID != nil {
		query, args = subInstanceQuery+lock, []any{id, *instanceID}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, mapErr(err, "Subscription")
	}
	defer rows.Close()
	var s *fulfill.Subscription
	var in *fulfill.Instance
	for rows.Next() {
		var cur fulfill.Subscription
		var code, name, pricing, ents *string
		var quantity, unit *int64
		var updated *time.Time
		dests := append(subDests(&cur), &code, &name, &quantity, &unit, &pricing, &ents, &updated)
		var ni nullInstance
		if instanceID != nil {
			dests = append(dests, ni.dests()...)
		}
		if err := rows.Scan(dests...); err != nil {
			return nil, nil, err
		}
		if s == nil {
			s = &cur
			s.AddOns = []fulfill.SubscriptionAddOn{}
			if in, err = ni.instance(); err != nil {
				return nil, nil, err
			}
		}
		if code == nil {
			continue
		}
		a := fulfill.SubscriptionAddOn{Code: *code, Name: deref(name), Quantity: deref(quantity), UnitAmount: deref(unit), Pricing: deref(pricing)}
		if updated != nil {
			a.UpdatedAt = *updated
		}
		if a.Entitlements, err = fulfill.ParseEntitlements(deref(ents)); err != nil {
			return nil, nil, fmt.Errorf("subscription add-on %s entitlements: %w", a.Code, err)
		}
		s.AddOns = append(s.AddOns, a)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if s == nil {
		return nil, nil, mapErr(sql.ErrNoRows, "Subscription")
	}
	return s, in, nil
}

// SubscriptionAndInstance reads a subscription (locked, with its add-ons,
// as Subscription does) and its instance instanceID, nil if it has none by
// that id, in one query: a seat link's reads, one round trip on PostgreSQL.
func (t *Tx) SubscriptionAndInstance(id, instanceID string) (*fulfill.Subscription, *fulfill.Instance, error) {
	if _, known := t.addOns[id]; known {
		s, err := t.Subscription(id)
		if err != nil {
			return nil, nil, err
		}
		in, err := t.Instance(id, instanceID)
		if fulfill.ErrorCode(err) == fulfill.ENotFound {
			return s, nil, nil
		}
		return s, in, err
	}
	s, in, err := querySub(t.ctx, t.tx, t.lock(" FOR UPDATE OF s"), id, &instanceID)
	if err != nil {
		return nil, nil, err
	}
	t.keepAddOns(s)
	return s, in, nil
}

// deref is *p, or the zero value when p is nil (a NULL column).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Subscriptions lists subscriptions, of one customer if customerID is set.
func (db *DB) Subscriptions(ctx context.Context, customerID string, p fulfill.Page) ([]*fulfill.Subscription, error) {
	var args []any
	var conds []string
	if customerID != "" {
		args = append(args, customerID)
		conds = append(conds, "s.customer_id = $1")
	}
	if p.Cursor != "" {
		args = append(args, p.Cursor)
		conds = append(conds, fmt.Sprintf("s.id < $%d", len(args)))
	}
	q := `SELECT ` + subCols + subFrom
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, p.Limit)
	q += fmt.Sprintf(" ORDER BY s.id DESC LIMIT $%d", len(args))
	return queryAll(ctx, db.Read, scanSub, q, args...)
}

// SubscriptionVersions returns a subscription's history, oldest first.
func (db *DB) SubscriptionVersions(ctx context.Context, id string) ([]fulfill.SubscriptionVersion, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT v.version, v.action, p.code, v.seats, v.state, v.starts_on, v.ends_on,
		v.auto_renew, v.invoice_id, v.actor, v.reason, v.at
		FROM subscription_versions v JOIN plans p ON p.id = v.plan_id WHERE v.subscription_id = $1 ORDER BY v.version`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []fulfill.SubscriptionVersion
	for rows.Next() {
		var v fulfill.SubscriptionVersion
		if err := rows.Scan(&v.Version, &v.Action, &v.Plan, &v.Seats, &v.State, &v.StartsOn, &v.EndsOn, &v.AutoRenew,
			&v.InvoiceID, &v.Actor, &v.Reason, &v.At); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// DueSubscriptions returns the ids of subscriptions whose term has ended on
// or before day and that are still active, past due or canceled: they must
// be renewed or expired.
func (db *DB) DueSubscriptions(ctx context.Context, day fulfill.Date) ([]string, error) {
	return queryStrings(ctx, db.Read, `SELECT s.id FROM subscriptions s`+dueWhere+` ORDER BY s.ends_on, s.id`, day)
}

// OverdueInvoices counts a subscription's open invoices due on or before day.
func (t *Tx) OverdueInvoices(subscriptionID string, day fulfill.Date) (int, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM invoices WHERE subscription_id = $1 AND status = 'open' AND due_on <= $2`,
		subscriptionID, day).Scan(&n)
	return n, err
}

// InsertActivationCode stores the hash of a subscription's activation code
// and retires any earlier code.
func (t *Tx) InsertActivationCode(subscriptionID, codeHash string, now time.Time) error {
	if err := t.execLater(`UPDATE activation_codes SET active = $1 WHERE subscription_id = $2`, false, subscriptionID); err != nil {
		return err
	}
	return t.execLater(`INSERT INTO activation_codes (code_hash, subscription_id, active, created_at) VALUES ($1, $2, $3, $4)`,
		codeHash, subscriptionID, true, now.UTC())
}

// ---- seat reports ----

// UpsertSeatReport records one day's seat usage; a second report for the
// same day and source replaces the first.
func (t *Tx) UpsertSeatReport(r *fulfill.SeatReport) error {
	t.forgetSub(r.SubscriptionID)
	return t.exec(`INSERT INTO seat_reports (subscription_id, date, source, max_users, billable_users, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (subscription_id, date, source) DO UPDATE SET max_users = excluded.max_users,
			billable_users = excluded.billable_users, created_at = excluded.created_at`,
		r.SubscriptionID, r.Date, r.Source, r.MaxUsers, r.BillableUsers, r.CreatedAt.UTC())
}

// MergeSeatReport records one day's seat usage from an instance; a second
// report for the same day and source keeps the day's maximum of each count,
// so a retry or a late report never lowers what the day saw.
func (t *Tx) MergeSeatReport(r *fulfill.SeatReport) error {
	return t.execLater(`INSERT INTO seat_reports (subscription_id, date, source, max_users, billable_users, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (subscription_id, date, source) DO UPDATE SET
			max_users = CASE WHEN excluded.max_users > seat_reports.max_users THEN excluded.max_users ELSE seat_reports.max_users END,
			billable_users = CASE WHEN excluded.billable_users > seat_reports.billable_users THEN excluded.billable_users ELSE seat_reports.billable_users END,
			created_at = excluded.created_at`,
		r.SubscriptionID, r.Date, r.Source, r.MaxUsers, r.BillableUsers, r.CreatedAt.UTC())
}

// SeatUsage is what the seat reports of a period say.
type SeatUsage struct {
	MaxUsers      int64 // the highest max_users reported in the period
	BillableUsers int64 // billable users of the latest report
	Reports       int
}

// SeatUsage summarises the reports dated in [from, to).
func (t *Tx) SeatUsage(subscriptionID string, from, to fulfill.Date) (SeatUsage, error) {
	if u, ok := t.takeUsage(subscriptionID, from, to); ok {
		return u, nil
	}
	var u SeatUsage
	err := t.tx.QueryRowContext(t.ctx, `SELECT COALESCE(MAX(max_users), 0), COUNT(*) FROM seat_reports
		WHERE subscription_id = $1 AND date >= $2 AND date < $3`, subscriptionID, from, to).Scan(&u.MaxUsers, &u.Reports)
	if err != nil {
		return u, err
	}
	err = t.tx.QueryRowContext(t.ctx, `SELECT billable_users FROM seat_reports WHERE subscription_id = $1
		ORDER BY date DESC, created_at DESC LIMIT 1`, subscriptionID).Scan(&u.BillableUsers)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return u, err // no report at all leaves BillableUsers at 0
	}
	return u, nil
}

// SeatReports lists a subscription's reports, oldest first.
func (db *DB) SeatReports(ctx context.Context, subscriptionID string) ([]fulfill.SeatReport, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT subscription_id, date, max_users, billable_users, source, created_at, add_on_metrics
		FROM seat_reports WHERE subscription_id = $1 ORDER BY date, source`, subscriptionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []fulfill.SeatReport
	for rows.Next() {
		var r fulfill.SeatReport
		var addOns string
		if err := rows.Scan(&r.SubscriptionID, &r.Date, &r.MaxUsers, &r.BillableUsers, &r.Source, &r.CreatedAt, &addOns); err != nil {
			return nil, err
		}
		if r.AddOnMetrics, err = decodeAddOnMetrics(addOns); err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}
