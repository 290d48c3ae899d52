package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// This file holds support requests and their messages, and the few reads
// the admin console needs beyond them: jobs from River's table, revenue
// events by month and the highest user count of each term.

// SupportRequest is a customer's question to the vendor's support team.
type SupportRequest struct {
	ID             string
	Number         int64
	CustomerID     string
	SubscriptionID string // '' when it concerns no subscription
	UserID         string
	Category       string // license_error, resend_license, eula, billing, other
	Subject        string
	State          string // open, solved
	CreatedAt      time.Time
	UpdatedAt      time.Time
	SolvedAt       *time.Time
	Satisfied      *bool
	RatingComment  string
	RatedAt        *time.Time
	Company        string // the customer's company, in lists
}

// SupportMessage is one message of a request, from the customer or staff.
type SupportMessage struct {
	ID, RequestID, UserID, Body string
	Staff                       bool
	CreatedAt                   time.Time
	Author                      string // the author's name, in threads
}

const supportCols = `r.id, r.number, r.customer_id, r.subscription_id, r.user_id, r.category, r.subject, r.state, r.created_at,
	r.updated_at, r.solved_at, r.satisfied, r.rating_comment, r.rated_at, c.company`

func scanSupport(s interface{ Scan(...any) error }) (*SupportRequest, error) {
	var r SupportRequest
	var sub sql.NullString
	var solved, rated sql.NullTime
	var sat sql.NullBool
	if err := s.Scan(&r.ID, &r.Number, &r.CustomerID, &sub, &r.UserID, &r.Category, &r.Subject, &r.State, &r.CreatedAt,
		&r.UpdatedAt, &solved, &sat, &r.RatingComment, &rated, &r.Company); err != nil {
		return nil, err
	}
	r.SubscriptionID = sub.String
	if solved.Valid {
		r.SolvedAt = &solved.Time
	}
	if rated.Valid {
		r.RatedAt = &rated.Time
	}
	if sat.Valid {
		r.Satisfied = &sat.Bool
	}
	return &r, nil
}

// InsertSupportRequest stores a new request with its first message and
// gives it the next number.
func (t *Tx) InsertSupportRequest(r *SupportRequest, first *SupportMessage) error {
	if err := t.tx.QueryRowContext(t.ctx, `SELECT COALESCE(MAX(number), 1000) + 1 FROM support_requests`).Scan(&r.Number); err != nil {
		return err
	}
	var sub any
	if r.SubscriptionID != "" {
		sub = r.SubscriptionID
	}
	if err := mapErr(t.exec(`INSERT INTO support_requests (id, number, customer_id, subscription_id, user_id, category, subject,
		state, created_at, updated_at, rating_comment) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8, '')`,
		r.ID, r.Number, r.CustomerID, sub, r.UserID, r.Category, r.Subject, r.CreatedAt.UTC()), "Support request"); err != nil {
		return err
	}
	return t.InsertSupportMessage(first)
}

// InsertSupportMessage adds a message to a request and touches it.
func (t *Tx) InsertSupportMessage(m *SupportMessage) error {
	if err := t.exec(`INSERT INTO support_messages (id, request_id, user_id, staff, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		m.ID, m.RequestID, m.UserID, m.Staff, m.Body, m.CreatedAt.UTC()); err != nil {
		return err
	}
	return t.exec(`UPDATE support_requests SET updated_at = $1 WHERE id = $2`, m.CreatedAt.UTC(), m.RequestID)
}

// SupportRequestTx returns a request, locked for update.
func (t *Tx) SupportRequestTx(id string) (*SupportRequest, error) {
	r, err := scanSupport(t.tx.QueryRowContext(t.ctx, `SELECT `+supportCols+` FROM support_requests r
		JOIN customers c ON c.id = r.customer_id WHERE r.id = $1`+t.db.forUpdate(), id))
	return r, mapErr(err, "Support request")
}

// SetSupportState solves or reopens a request.
func (t *Tx) SetSupportState(id, state string, at time.Time) error {
	var solved any
	if state == "solved" {
		solved = at.UTC()
	}
	return t.exec(`UPDATE support_requests SET state = $1, solved_at = $2, updated_at = $3 WHERE id = $4`, state, solved, at.UTC(), id)
}

// RateSupportRequest records the customer's rating of a solved request.
func (t *Tx) RateSupportRequest(id string, satisfied bool, comment string, at time.Time) error {
	return t.exec(`UPDATE support_requests SET satisfied = $1, rating_comment = $2, rated_at = $3 WHERE id = $4`,
		satisfied, comment, at.UTC(), id)
}

// SupportRequest returns a request.
func (db *DB) SupportRequest(ctx context.Context, id string) (*SupportRequest, error) {
	r, err := scanSupport(db.Read.QueryRowContext(ctx, `SELECT `+supportCols+` FROM support_requests r
		JOIN customers c ON c.id = r.customer_id WHERE r.id = $1`, id))
	return r, mapErr(err, "Support request")
}

// SupportFilter selects requests: of some customers, in a state and
// category; empty fields select all.
type SupportFilter struct {
	CustomerIDs []string
	State       string
	Category    string
	Limit       int
}

// SupportRequests lists requests, oldest open first when listing a queue
// (State "open"), newest first otherwise.
func (db *DB) SupportRequests(ctx context.Context, f SupportFilter) ([]*SupportRequest, error) {
	var conds []string
	var args []any
	if f.CustomerIDs != nil {
		if len(f.CustomerIDs) == 0 {
			return nil, nil
		}
		var ph []string
		for _, id := range f.CustomerIDs {
			args = append(args, id)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		conds = append(conds, "r.customer_id IN ("+strings.Join(ph, ", ")+")")
	}
	if f.State != "" {
		args = append(args, f.State)
		conds = append(conds, fmt.Sprintf("r.state = $%d", len(args)))
	}
	if f.Category != "" {
		args = append(args, f.Category)
		conds = append(conds, fmt.Sprintf("r.category = $%d", len(args)))
	}
	q := `SELECT ` + supportCols + ` FROM support_requests r JOIN customers c ON c.id = r.customer_id`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	if f.State == "open" {
		q += " ORDER BY r.created_at, r.id"
	} else {
		q += " ORDER BY r.created_at DESC, r.id DESC"
	}
	if f.Limit <= 0 {
		f.Limit = 200
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" LIMIT $%d", len(args))
	return queryAll(ctx, db.Read, scanSupport, q, args...)
}

// SupportMessages lists a request's messages, oldest first, with their
// authors' names.
func (db *DB) SupportMessages(ctx context.Context, requestID string) ([]*SupportMessage, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT m.id, m.request_id, m.user_id, m.staff, m.body, m.created_at, u.name
		FROM support_messages m JOIN web_users u ON u.id = m.user_id WHERE m.request_id = $1 ORDER BY m.created_at, m.id`, requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SupportMessage
	for rows.Next() {
		var m SupportMessage
		if err := rows.Scan(&m.ID, &m.RequestID, &m.UserID, &m.Staff, &m.Body, &m.CreatedAt, &m.Author); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	return out, rows.Err()
}

// Rating is one customer rating, for satisfaction figures.
type Rating struct {
	At        time.Time
	Satisfied bool
}

// Ratings lists the ratings given from a time on.
func (db *DB) Ratings(ctx context.Context, from time.Time) ([]Rating, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT rated_at, satisfied FROM support_requests
		WHERE rated_at IS NOT NULL AND rated_at >= $1 ORDER BY rated_at`, from.UTC())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rating
	for rows.Next() {
		var r Rating
		if err := rows.Scan(&r.At, &r.Satisfied); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ---- jobs ----

// Job is one row of River's job table, as the console shows it.
type Job struct {
	ID          int64
	Kind        string
	Queue       string
	State       string
	Attempt     int
	MaxAttempts int
	LastError   string
	CreatedAt   string // River writes its own timestamp format on SQLite
	Args        string
}

// Jobs lists River jobs in some states, newest first. minAttempt > 0 keeps
// only jobs tried at least that often.
func (db *DB) Jobs(ctx context.Context, states []string, minAttempt, limit int) ([]*Job, error) {
	// River's errors column is jsonb[] on PostgreSQL and a JSONB array on
	// SQLite: the last error is read differently.
	lastErr := `COALESCE(json_extract(json(errors), '$[#-1].error'), '')`
	args := `json(args)`
	if db.Dialect == Postgres {
		lastErr = `COALESCE(errors[array_length(errors, 1)]->>'error', '')`
		args = `args::text`
	}
	var ph []string
	var qargs []any
	for _, s := range states {
		qargs = append(qargs, s)
		ph = append(ph, fmt.Sprintf("$%d", len(qargs)))
	}
	qargs = append(qargs, minAttempt, limit)
	rows, err := db.Read.QueryContext(ctx, `SELECT id, kind, queue, state, attempt, max_attempts, `+lastErr+`, created_at, `+args+`
		FROM river_job WHERE state IN (`+strings.Join(ph, ", ")+fmt.Sprintf(`) AND attempt >= $%d ORDER BY id DESC LIMIT $%d`, len(qargs)-1, len(qargs)),
		qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		var j Job
		var created any
		if err := rows.Scan(&j.ID, &j.Kind, &j.Queue, &j.State, &j.Attempt, &j.MaxAttempts, &j.LastError, &created, &j.Args); err != nil {
			return nil, err
		}
		switch v := created.(type) {
		case time.Time:
			j.CreatedAt = v.UTC().Format("2006-01-02 15:04:05 UTC")
		case string:
			j.CreatedAt = v
		case []byte:
			j.CreatedAt = string(v)
		}
		out = append(out, &j)
	}
	return out, rows.Err()
}

// RetryJob makes a failed job available again, in a transaction; a job in
// any other state is not found.
func (t *Tx) RetryJob(id int64, now time.Time) error {
	res, err := t.tx.ExecContext(t.ctx, `UPDATE river_job SET state = 'available', finalized_at = NULL, scheduled_at = $1,
		max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END
		WHERE id = $2 AND state IN ('retryable', 'discarded', 'cancelled')`, now.UTC(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mapErr(sql.ErrNoRows, "Failed job")
	}
	return nil
}

// ---- dashboard ----

// RevenueEvent is a subscription change that moves recurring revenue: a
// purchase (new), a renewal, or a lapse or expiry (churn).
type RevenueEvent struct {
	Action   string
	At       time.Time
	Amount   int64 // the invoice's subtotal, or the term's value when churned
	Currency string
}

// RevenueEvents lists new, renewed and churned revenue from a time on.
func (db *DB) RevenueEvents(ctx context.Context, from time.Time) ([]RevenueEvent, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT v.action, v.at, COALESCE(i.subtotal, v.seats * s.unit_amount), s.currency
		FROM subscription_versions v JOIN subscriptions s ON s.id = v.subscription_id
		LEFT JOIN invoices i ON i.id = v.invoice_id
		WHERE v.action IN ('purchase', 'renew', 'auto_renew', 'lapse', 'expire') AND s.trial = $1 AND v.at >= $2 AND `+notCustom("s.id")+`
		ORDER BY v.at`, false, from.UTC())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RevenueEvent
	for rows.Next() {
		var e RevenueEvent
		if err := rows.Scan(&e.Action, &e.At, &e.Amount, &e.Currency); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// TermMaxUsers is, per subscription, the highest max-users count reported
// in its current term.
func (db *DB) TermMaxUsers(ctx context.Context) (map[string]int64, error) {
	return queryCounts(ctx, db.Read, `SELECT r.subscription_id, MAX(r.max_users) FROM seat_reports r
		JOIN subscriptions s ON s.id = r.subscription_id AND r.date >= s.starts_on AND r.date < s.ends_on
		GROUP BY r.subscription_id`)
}
