package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fulfillhq/fulfill"
)

// This file holds the instances of a subscription (issue 13): their list,
// last reported counts, deactivation and stale marking, the add-on metrics
// of seat reports, and staff-issued custom licenses.

// decodeAddOnMetrics reads a stored add_on_metrics column; never nil.
func decodeAddOnMetrics(raw string) ([]fulfill.AddOnMetric, error) {
	out := []fulfill.AddOnMetric{}
	if raw == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("stored add_on_metrics %q: %w", raw, err)
	}
	if out == nil {
		out = []fulfill.AddOnMetric{}
	}
	return out, nil
}

// SeatReportAddOns returns the add-on metrics of one day's report of a
// source ([] when there is no report or none were sent).
func (t *Tx) SeatReportAddOns(subscriptionID string, day fulfill.Date, source string) ([]fulfill.AddOnMetric, error) {
	var raw string
	err := t.tx.QueryRowContext(t.ctx, `SELECT add_on_metrics FROM seat_reports WHERE subscription_id = $1 AND date = $2 AND source = $3`,
		subscriptionID, day, source).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return []fulfill.AddOnMetric{}, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeAddOnMetrics(raw)
}

// SetSeatReportAddOns stores the add-on metrics of a day's report (the
// report exists: MergeSeatReport).
func (t *Tx) SetSeatReportAddOns(subscriptionID string, day fulfill.Date, source string, ms []fulfill.AddOnMetric) error {
	if ms == nil {
		ms = []fulfill.AddOnMetric{}
	}
	raw, err := json.Marshal(ms)
	if err != nil {
		return err
	}
	return t.exec(`UPDATE seat_reports SET add_on_metrics = $4 WHERE subscription_id = $1 AND date = $2 AND source = $3`,
		subscriptionID, day, source, string(raw))
}

const instanceCols = `subscription_id, instance_id, unique_instance_id, hostname, version, activated_at, last_seen_at,
	max_users, billable_users, add_on_metrics, deactivated_at, stale_notified_at`

func scanInstance(s interface{ Scan(...any) error }) (*fulfill.Instance, error) {
	var n nullInstance
	if err := s.Scan(n.dests()...); err != nil {
		return nil, err
	}
	return n.instance()
}

// nullInstance scans instanceCols, also on the nullable side of an outer
// join.
type nullInstance struct {
	subscriptionID, instanceID, uniqueID, hostname, version, addOns sql.NullString
	activated, lastSeen, deact, stale                               sql.NullTime
	maxUsers, billable                                              sql.NullInt64
}

func (n *nullInstance) dests() []any {
	return []any{&n.subscriptionID, &n.instanceID, &n.uniqueID, &n.hostname, &n.version, &n.activated, &n.lastSeen,
		&n.maxUsers, &n.billable, &n.addOns, &n.deact, &n.stale}
}

// instance is the instance scanned, nil if an outer join found none.
func (n *nullInstance) instance() (*fulfill.Instance, error) {
	if !n.subscriptionID.Valid {
		return nil, nil
	}
	in := &fulfill.Instance{SubscriptionID: n.subscriptionID.String, InstanceID: n.instanceID.String, UniqueInstanceID: n.uniqueID.String,
		Hostname: n.hostname.String, Version: n.version.String, ActivatedAt: n.activated.Time.UTC(), LastSeenAt: n.lastSeen.Time.UTC()}
	if n.maxUsers.Valid {
		in.MaxUsers = &n.maxUsers.Int64
	}
	if n.billable.Valid {
		in.BillableUsers = &n.billable.Int64
	}
	if n.deact.Valid {
		t := n.deact.Time.UTC()
		in.DeactivatedAt = &t
	}
	if n.stale.Valid {
		t := n.stale.Time.UTC()
		in.StaleNotifiedAt = &t
	}
	var err error
	in.AddOnMetrics, err = decodeAddOnMetrics(n.addOns.String)
	return in, err
}

// Instances lists a subscription's instances, first activated first.
func (db *DB) Instances(ctx context.Context, subscriptionID string) ([]*fulfill.Instance, error) {
	return queryAll(ctx, db.Read, scanInstance, `SELECT `+instanceCols+` FROM instances WHERE subscription_id = $1
		ORDER BY activated_at, instance_id`, subscriptionID)
}

// InstancesByID lists the rows of an instance id, under every subscription
// that knows it.
func (t *Tx) InstancesByID(instanceID string) ([]*fulfill.Instance, error) {
	return queryAll(t.ctx, t.tx, scanInstance, `SELECT `+instanceCols+` FROM instances WHERE instance_id = $1
		ORDER BY subscription_id`, instanceID)
}

// Instance reads one instance of a subscription.
func (t *Tx) Instance(subscriptionID, instanceID string) (*fulfill.Instance, error) {
	in, err := scanInstance(t.tx.QueryRowContext(t.ctx, `SELECT `+instanceCols+` FROM instances
		WHERE subscription_id = $1 AND instance_id = $2`, subscriptionID, instanceID))
	return in, mapErr(err, "Instance")
}

// CountActiveInstances counts a subscription's instances not deactivated.
func (t *Tx) CountActiveInstances(subscriptionID string) (int, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM instances WHERE subscription_id = $1 AND deactivated_at IS NULL`,
		subscriptionID).Scan(&n)
	return n, err
}

// SetInstanceDeactivated deactivates an instance (at now) or, with a zero
// now, makes it active again.
func (t *Tx) SetInstanceDeactivated(subscriptionID, instanceID string, now time.Time) error {
	var at any
	if !now.IsZero() {
		at = now.UTC()
	}
	return t.exec(`UPDATE instances SET deactivated_at = $3 WHERE subscription_id = $1 AND instance_id = $2`,
		subscriptionID, instanceID, at)
}

// StaleCandidate is an active instance that has not synced since a cutoff
// and whose lapse has not been announced.
type StaleCandidate struct {
	SubscriptionID, CustomerID, InstanceID, Hostname string
	LastSeenAt                                       time.Time
}

// StaleInstances lists the active instances of subscriptions that have
// not expired whose last sync is at or before cutoff and whose current
// lapse was not announced yet (never, or only before their latest sync).
func (db *DB) StaleInstances(ctx context.Context, cutoff time.Time) ([]StaleCandidate, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT i.subscription_id, s.customer_id, i.instance_id, i.hostname, i.last_seen_at
		FROM instances i JOIN subscriptions s ON s.id = i.subscription_id
		WHERE i.deactivated_at IS NULL AND s.state <> $1 AND i.last_seen_at <= $2
		  AND (i.stale_notified_at IS NULL OR i.stale_notified_at < i.last_seen_at)
		ORDER BY i.subscription_id, i.instance_id`, fulfill.StateExpired, cutoff.UTC())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StaleCandidate
	for rows.Next() {
		var c StaleCandidate
		if err := rows.Scan(&c.SubscriptionID, &c.CustomerID, &c.InstanceID, &c.Hostname, &c.LastSeenAt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// MarkInstanceStale records that an instance's lapse was announced, if it
// still is one (active, not synced since cutoff, not announced): it
// reports false when another copy of the server marked it first or the
// instance synced meanwhile.
func (t *Tx) MarkInstanceStale(subscriptionID, instanceID string, cutoff, now time.Time) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `UPDATE instances SET stale_notified_at = $3
		WHERE subscription_id = $1 AND instance_id = $2 AND deactivated_at IS NULL AND last_seen_at <= $4
		  AND (stale_notified_at IS NULL OR stale_notified_at < last_seen_at)`, subscriptionID, instanceID, now.UTC(), cutoff.UTC())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ---- custom licenses ----

// InsertCustomLicense records why a subscription carries a custom license.
func (t *Tx) InsertCustomLicense(c *fulfill.CustomLicense) error {
	return mapErr(t.exec(`INSERT INTO custom_licenses (subscription_id, kind, reason, entitlements, issued_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, c.SubscriptionID, c.Kind, c.Reason, c.Entitlements.String(), c.IssuedBy, c.CreatedAt.UTC()), "Custom license")
}

const customCols = `subscription_id, kind, reason, entitlements, issued_by, created_at`

func scanCustom(s interface{ Scan(...any) error }) (*fulfill.CustomLicense, error) {
	var c fulfill.CustomLicense
	var raw string
	if err := s.Scan(&c.SubscriptionID, &c.Kind, &c.Reason, &raw, &c.IssuedBy, &c.CreatedAt); err != nil {
		return nil, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	e, err := fulfill.ParseEntitlements(raw)
	if err != nil {
		return nil, fmt.Errorf("stored entitlements of %s: %w", c.SubscriptionID, err)
	}
	c.Entitlements = e
	return &c, nil
}

// IsCustomLicense reports whether a subscription carries a staff-issued
// custom license.
func (t *Tx) IsCustomLicense(subscriptionID string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM custom_licenses WHERE subscription_id = $1`, subscriptionID).Scan(&n)
	return n > 0, err
}

// CustomLicense reads why a subscription carries a custom license.
func (db *DB) CustomLicense(ctx context.Context, subscriptionID string) (*fulfill.CustomLicense, error) {
	c, err := scanCustom(db.Read.QueryRowContext(ctx, `SELECT `+customCols+` FROM custom_licenses WHERE subscription_id = $1`, subscriptionID))
	return c, mapErr(err, "Custom license")
}

// CustomLicenses lists the custom licenses, newest first.
func (db *DB) CustomLicenses(ctx context.Context) ([]*fulfill.CustomLicense, error) {
	return queryAll(ctx, db.Read, scanCustom, `SELECT `+customCols+` FROM custom_licenses ORDER BY created_at DESC, subscription_id DESC`)
}

// notCustom is a condition that leaves out the subscriptions carrying a
// custom license: they are given, not sold, and count in no KPI.
func notCustom(subscriptionCol string) string {
	return subscriptionCol + " NOT IN (SELECT subscription_id FROM custom_licenses)"
}

// AddOnReports are a subscription's seat reports that carry add-on metrics
// in its current term.
type AddOnReports struct {
	SubscriptionID, CustomerID, Company string
	Reports                             []fulfill.SeatReport
}

// AddOnReportsThisTerm lists, per live subscription (trials, expired,
// probe and custom-license ones left out), the seat reports of its current
// term that carry add-on metrics, oldest first, for the overage view.
func (db *DB) AddOnReportsThisTerm(ctx context.Context) ([]AddOnReports, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT s.id, s.customer_id, c.company, r.date, r.source, r.add_on_metrics
		FROM seat_reports r JOIN subscriptions s ON s.id = r.subscription_id AND r.date >= s.starts_on AND r.date < s.ends_on
		JOIN customers c ON c.id = s.customer_id
		WHERE r.add_on_metrics <> '[]' AND s.trial = $1 AND s.state <> $2 AND NOT c.probe AND `+notCustom("s.id")+`
		ORDER BY s.id DESC, r.date, r.source`, false, fulfill.StateExpired)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AddOnReports
	for rows.Next() {
		var a AddOnReports
		var r fulfill.SeatReport
		var raw string
		if err := rows.Scan(&a.SubscriptionID, &a.CustomerID, &a.Company, &r.Date, &r.Source, &raw); err != nil {
			return nil, err
		}
		if r.AddOnMetrics, err = decodeAddOnMetrics(raw); err != nil {
			return nil, err
		}
		r.SubscriptionID = a.SubscriptionID
		if n := len(out); n > 0 && out[n-1].SubscriptionID == a.SubscriptionID {
			out[n-1].Reports = append(out[n-1].Reports, r)
			continue
		}
		a.Reports = []fulfill.SeatReport{r}
		out = append(out, a)
	}
	return out, rows.Err()
}
