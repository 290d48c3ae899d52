package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/fulfillhq/fulfill"
)

// WebhookEndpoint is a URL that receives signed events. Secret signs the
// deliveries; during a rotation PreviousSecret signs too, until
// PreviousExpiresAt. Secrets are kept as they are because signing needs
// them; they are shown once, at creation or rotation, and never logged.
type WebhookEndpoint struct {
	ID                string     `json:"id"`
	URL               string     `json:"url"`
	Description       string     `json:"description"`
	Events            []string   `json:"events"`
	Secret            string     `json:"-"`
	PreviousSecret    string     `json:"-"`
	PreviousExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt         time.Time  `json:"created_at"`
}

// Webhook delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// WebhookDelivery is one event for one endpoint: at most one per pair.
type WebhookDelivery struct {
	ID            string           `json:"id"`
	EndpointID    string           `json:"endpoint_id"`
	EventID       string           `json:"event_id"`
	EventType     string           `json:"event_type"`
	Status        string           `json:"status"`
	Attempts      int              `json:"attempts"`
	LastStatus    *int             `json:"last_status"`
	LastError     string           `json:"last_error"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"`
	CreatedAt     time.Time        `json:"created_at"`
	DeliveredAt   *time.Time       `json:"delivered_at"`
	FailedAt      *time.Time       `json:"failed_at"`
	Log           []WebhookAttempt `json:"log"`
}

// WebhookAttempt is one HTTP request of a delivery: status and timing
// only. Neither body is kept, since both may carry customer data.
type WebhookAttempt struct {
	Attempt       int        `json:"attempt"`
	StartedAt     time.Time  `json:"started_at"`
	DurationMS    int64      `json:"duration_ms"`
	RequestURL    string     `json:"request_url"`
	StatusCode    *int       `json:"status_code"`
	Error         string     `json:"error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

const endpointCols = `id, url, description, events, secret, previous_secret, previous_expires_at, created_at`

func scanEndpoint(s interface{ Scan(...any) error }) (*WebhookEndpoint, error) {
	var e WebhookEndpoint
	var events string
	if err := s.Scan(&e.ID, &e.URL, &e.Description, &events, &e.Secret, &e.PreviousSecret, &e.PreviousExpiresAt, &e.CreatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
		return nil, err
	}
	return &e, nil
}

// InsertWebhookEndpoint adds an endpoint.
func (t *Tx) InsertWebhookEndpoint(e *WebhookEndpoint) error {
	events, err := json.Marshal(e.Events)
	if err != nil {
		return err
	}
	return mapErr(t.exec(`INSERT INTO webhook_endpoints (id, url, description, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.URL, e.Description, string(events), e.Secret, e.CreatedAt.UTC()), "Webhook endpoint")
}

// WebhookEndpoint returns an endpoint that was not deleted.
func (t *Tx) WebhookEndpoint(id string) (*WebhookEndpoint, error) {
	e, err := scanEndpoint(t.tx.QueryRowContext(t.ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL`+t.db.forUpdate(), id))
	return e, mapErr(err, "Webhook endpoint")
}

// WebhookEndpoint returns an endpoint that was not deleted.
func (db *DB) WebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error) {
	e, err := scanEndpoint(db.Read.QueryRowContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL`, id))
	return e, mapErr(err, "Webhook endpoint")
}

// WebhookEndpointAny returns an endpoint, deleted or not (a delivery still
// names it).
func (db *DB) WebhookEndpointAny(ctx context.Context, id string) (*WebhookEndpoint, bool, error) {
	var deleted *time.Time
	var e WebhookEndpoint
	var events string
	err := db.Read.QueryRowContext(ctx, `SELECT `+endpointCols+`, deleted_at FROM webhook_endpoints WHERE id = $1`, id).
		Scan(&e.ID, &e.URL, &e.Description, &events, &e.Secret, &e.PreviousSecret, &e.PreviousExpiresAt, &e.CreatedAt, &deleted)
	if err != nil {
		return nil, false, mapErr(err, "Webhook endpoint")
	}
	if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
		return nil, false, err
	}
	return &e, deleted != nil, nil
}

// WebhookEndpoints lists the endpoints that were not deleted, newest first.
func (db *DB) WebhookEndpoints(ctx context.Context, p fulfill.Page) ([]*WebhookEndpoint, error) {
	q, args := pageQuery(`SELECT `+endpointCols+` FROM webhook_endpoints`, "deleted_at IS NULL", nil, p)
	return queryEndpoints(ctx, db.Read, q, args...)
}

// LiveWebhookEndpoints lists every endpoint that was not deleted.
func (t *Tx) LiveWebhookEndpoints() ([]*WebhookEndpoint, error) {
	return queryEndpoints(t.ctx, t.tx, liveEndpoints)
}

// liveEndpoints selects the endpoints not deleted.
const liveEndpoints = `SELECT ` + endpointCols + ` FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY id`

// LiveWebhookEndpoints lists the endpoints not deleted, outside any
// transaction.
func (db *DB) LiveWebhookEndpoints(ctx context.Context) ([]*WebhookEndpoint, error) {
	return queryEndpoints(ctx, db.Read, liveEndpoints)
}

func queryEndpoints(ctx context.Context, q querier, query string, args ...any) ([]*WebhookEndpoint, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// RotateWebhookSecret makes secret the signing secret; the old one keeps
// signing until prevExpires.
func (t *Tx) RotateWebhookSecret(id, secret, previous string, prevExpires time.Time) error {
	return t.exec(`UPDATE webhook_endpoints SET secret = $1, previous_secret = $2, previous_expires_at = $3 WHERE id = $4`,
		secret, previous, prevExpires.UTC(), id)
}

// DeleteWebhookEndpoint stops deliveries to an endpoint; its delivery log stays.
func (t *Tx) DeleteWebhookEndpoint(id string, now time.Time) error {
	return t.exec(`UPDATE webhook_endpoints SET deleted_at = $1 WHERE id = $2`, now.UTC(), id)
}

const deliveryCols = `id, endpoint_id, event_id, event_type, status, attempts, last_status, last_error, next_attempt_at,
	created_at, delivered_at, failed_at`

func scanDelivery(s interface{ Scan(...any) error }) (*WebhookDelivery, error) {
	var d WebhookDelivery
	err := s.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatus, &d.LastError,
		&d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt, &d.FailedAt)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// InsertWebhookDelivery adds a delivery unless the endpoint already has
// one for the event; it reports whether it added one.
func (t *Tx) InsertWebhookDelivery(d *WebhookDelivery) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
		d.ID, d.EndpointID, d.EventID, d.EventType, DeliveryPending, d.CreatedAt.UTC())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// WebhookDeliveryFor returns the delivery of an event to an endpoint.
func (t *Tx) WebhookDeliveryFor(eventID, endpointID string) (*WebhookDelivery, error) {
	d, err := scanDelivery(t.tx.QueryRowContext(t.ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE event_id = $1 AND endpoint_id = $2`,
		eventID, endpointID))
	return d, mapErr(err, "Webhook delivery")
}

// WebhookDelivery returns a delivery, locked for update.
func (t *Tx) WebhookDelivery(id string) (*WebhookDelivery, error) {
	d, err := scanDelivery(t.tx.QueryRowContext(t.ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = $1`+t.db.forUpdate(), id))
	return d, mapErr(err, "Webhook delivery")
}

// ResetWebhookDelivery makes a delivery pending again, for a replay.
func (t *Tx) ResetWebhookDelivery(id string) error {
	return t.exec(`UPDATE webhook_deliveries SET status = $1, failed_at = NULL, next_attempt_at = NULL WHERE id = $2`, DeliveryPending, id)
}

// WebhookDelivery returns a delivery with its attempt log.
func (db *DB) WebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error) {
	d, err := scanDelivery(db.Read.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr(err, "Webhook delivery")
	}
	return d, db.loadAttempts(ctx, []*WebhookDelivery{d})
}

// WebhookDeliveries lists an endpoint's deliveries with their attempt logs,
// newest first.
func (db *DB) WebhookDeliveries(ctx context.Context, endpointID string, p fulfill.Page) ([]*WebhookDelivery, error) {
	q, args := pageQuery(`SELECT `+deliveryCols+` FROM webhook_deliveries`, "endpoint_id = $1", []any{endpointID}, p)
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, db.loadAttempts(ctx, out)
}

func (db *DB) loadAttempts(ctx context.Context, ds []*WebhookDelivery) error {
	for _, d := range ds {
		rows, err := db.Read.QueryContext(ctx, `SELECT attempt, started_at, duration_ms, request_url, status_code, error,
			next_attempt_at FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, d.ID)
		if err != nil {
			return err
		}
		d.Log = []WebhookAttempt{}
		for rows.Next() {
			var a WebhookAttempt
			if err := rows.Scan(&a.Attempt, &a.StartedAt, &a.DurationMS, &a.RequestURL, &a.StatusCode, &a.Error,
				&a.NextAttemptAt); err != nil {
				rows.Close()
				return err
			}
			d.Log = append(d.Log, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// RecordWebhookAttempt logs one attempt and moves the delivery to status
// (pending while it will be retried, delivered or failed); it returns the
// attempt's number.
func (db *DB) RecordWebhookAttempt(ctx context.Context, deliveryID string, a *WebhookAttempt, status string, at time.Time) error {
	return db.InTx(ctx, func(t *Tx) error {
		var n int
		if err := t.tx.QueryRowContext(t.ctx, `SELECT attempts FROM webhook_deliveries WHERE id = $1`+t.db.forUpdate(), deliveryID).Scan(&n); err != nil {
			return mapErr(err, "Webhook delivery")
		}
		a.Attempt = n + 1
		if err := t.exec(`INSERT INTO webhook_attempts (id, delivery_id, attempt, started_at, duration_ms, request_url,
			status_code, error, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			fulfill.NewID("wha"), deliveryID, a.Attempt, a.StartedAt.UTC(), a.DurationMS, a.RequestURL, a.StatusCode,
			a.Error, utcPtr(a.NextAttemptAt)); err != nil {
			return err
		}
		var delivered, failed *time.Time
		switch status {
		case DeliveryDelivered:
			delivered = &at
		case DeliveryFailed:
			failed = &at
		}
		return t.exec(`UPDATE webhook_deliveries SET status = $1, attempts = $2, last_status = $3, last_error = $4, next_attempt_at = $5,
			delivered_at = COALESCE($6, delivered_at), failed_at = $7 WHERE id = $8`,
			status, a.Attempt, a.StatusCode, a.Error, utcPtr(a.NextAttemptAt), utcPtr(delivered), utcPtr(failed), deliveryID)
	})
}

// FailWebhookDelivery marks a delivery failed without an attempt (its
// endpoint was deleted).
func (db *DB) FailWebhookDelivery(ctx context.Context, id, reason string, at time.Time) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, last_error = $2, failed_at = $3, next_attempt_at = NULL WHERE id = $4`,
		DeliveryFailed, reason, at.UTC(), id)
	return err
}

// EventRef names an event.
type EventRef struct {
	ID, Type string
}

// EventsSince lists the events created at or after since, oldest first, at
// most limit.
func (t *Tx) EventsSince(since time.Time, limit int) ([]EventRef, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id, type FROM events WHERE created_at >= $1 ORDER BY created_at, id LIMIT $2`, since.UTC(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EventRef
	for rows.Next() {
		var e EventRef
		if err := rows.Scan(&e.ID, &e.Type); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ---- SaaS provisioning ----

// Provisioning states.
const (
	ProvisionPending     = "pending"
	ProvisionProvisioned = "provisioned"
	ProvisionFailed      = "failed"
)

// Provision is the provisioning state of a SaaS subscription's namespace.
type Provision struct {
	SubscriptionID string             `json:"subscription_id"`
	Namespace      string             `json:"namespace"`
	State          string             `json:"state"`
	Reason         string             `json:"reason"`
	Attempts       int                `json:"attempts"`
	LastEventID    string             `json:"last_event_id"`
	RequestedAt    time.Time          `json:"requested_at"`
	ProvisionedAt  *time.Time         `json:"provisioned_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
	Log            []ProvisionAttempt `json:"log"`
}

// ProvisionAttempt is one provisioning request and its outcome.
type ProvisionAttempt struct {
	Attempt    int       `json:"attempt"`
	EventID    string    `json:"event_id"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS int64     `json:"duration_ms"`
	StatusCode *int      `json:"status_code"`
	Error      string    `json:"error"`
}

// RequestProvision marks a subscription's namespace pending for an event.
// It reports false when this event was already requested (a dispatch that
// ran twice).
func (t *Tx) RequestProvision(subscriptionID, namespace, eventID string, now time.Time) (bool, error) {
	var last string
	err := t.tx.QueryRowContext(t.ctx, `SELECT last_event_id FROM saas_provisions WHERE subscription_id = $1`+t.db.forUpdate(), subscriptionID).Scan(&last)
	switch {
	case err == sql.ErrNoRows:
		return true, t.exec(`INSERT INTO saas_provisions (subscription_id, namespace, state, last_event_id, requested_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, subscriptionID, namespace, ProvisionPending, eventID, now.UTC())
	case err != nil:
		return false, err
	case last == eventID && eventID != "":
		return false, nil
	}
	// A manual retry (no event) keeps the last event id.
	return true, t.exec(`UPDATE saas_provisions SET namespace = $1, state = $2, reason = '',
		last_event_id = CASE WHEN $3 = '' THEN last_event_id ELSE $3 END, requested_at = $4, updated_at = $4
		WHERE subscription_id = $5`, namespace, ProvisionPending, eventID, now.UTC(), subscriptionID)
}

// Provision returns a subscription's provisioning state with its log.
func (db *DB) Provision(ctx context.Context, subscriptionID string) (*Provision, error) {
	var p Provision
	err := db.Read.QueryRowContext(ctx, `SELECT subscription_id, namespace, state, reason, attempts, last_event_id, requested_at,
		provisioned_at, updated_at FROM saas_provisions WHERE subscription_id = $1`, subscriptionID).
		Scan(&p.SubscriptionID, &p.Namespace, &p.State, &p.Reason, &p.Attempts, &p.LastEventID, &p.RequestedAt, &p.ProvisionedAt, &p.UpdatedAt)
	if err != nil {
		return nil, mapErr(err, "Provisioning state")
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT attempt, event_id, started_at, duration_ms, status_code, error
		FROM saas_provision_attempts WHERE subscription_id = $1 ORDER BY attempt`, subscriptionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p.Log = []ProvisionAttempt{}
	for rows.Next() {
		var a ProvisionAttempt
		if err := rows.Scan(&a.Attempt, &a.EventID, &a.StartedAt, &a.DurationMS, &a.StatusCode, &a.Error); err != nil {
			return nil, err
		}
		p.Log = append(p.Log, a)
	}
	return &p, rows.Err()
}

// RecordProvisionAttempt logs one provisioning request and sets the state:
// provisioned, or failed with the reason.
func (db *DB) RecordProvisionAttempt(ctx context.Context, subscriptionID string, a *ProvisionAttempt, state, reason string, now time.Time) error {
	return db.InTx(ctx, func(t *Tx) error {
		var n int
		if err := t.tx.QueryRowContext(t.ctx, `SELECT attempts FROM saas_provisions WHERE subscription_id = $1`+t.db.forUpdate(), subscriptionID).Scan(&n); err != nil {
			return mapErr(err, "Provisioning state")
		}
		a.Attempt = n + 1
		if err := t.exec(`INSERT INTO saas_provision_attempts (id, subscription_id, event_id, attempt, started_at, duration_ms, status_code, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, fulfill.NewID("spa"), subscriptionID, a.EventID, a.Attempt, a.StartedAt.UTC(),
			a.DurationMS, a.StatusCode, a.Error); err != nil {
			return err
		}
		var provisioned *time.Time
		if state == ProvisionProvisioned {
			provisioned = &now
		}
		return t.exec(`UPDATE saas_provisions SET state = $1, reason = $2, attempts = $3, provisioned_at = COALESCE($4, provisioned_at), updated_at = $5
			WHERE subscription_id = $6`, state, reason, a.Attempt, utcPtr(provisioned), now.UTC(), subscriptionID)
	})
}
