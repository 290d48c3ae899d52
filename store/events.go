package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
)

// EventVersion is the version of the event document format.
const EventVersion = "2026-11-01"

// Event is one business event: a versioned JSON document with a unique id,
// written in the same transaction as the change it describes (the
// transactional outbox) and delivered from there.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Version    string          `json:"version"`
	SubjectID  string          `json:"subject_id"`
	CustomerID *string         `json:"customer_id"`
	CreatedAt  time.Time       `json:"created_at"`
	Data       json.RawMessage `json:"data"`
}

// EventArgs is the job that hands events to their consumers (webhook
// endpoints, SaaS provisioning): the events one transaction emitted, in
// order, in one job (EventIDs), rather than a job each (a purchase emits
// three). EventID is the one event of a job enqueued before that.
type EventArgs struct {
	EventID  string   `json:"event_id,omitempty"`
	EventIDs []string `json:"event_ids,omitempty"`
}

// IDs are the events the job dispatches, in order.
func (a EventArgs) IDs() []string { return jobIDs(a.EventID, a.EventIDs) }

// jobIDs are the ids of a job that carries one (one, the form of the jobs
// enqueued before it carried several), several (many), or both.
func jobIDs(one string, many []string) []string {
	if one != "" {
		return append([]string{one}, many...)
	}
	return many
}

// Kind names the job.
func (EventArgs) Kind() string { return "event.dispatch" }

// InsertOpts puts dispatching on its own queue.
func (EventArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "events", MaxAttempts: 25}
}

// EmitEvent records an event and enqueues its dispatch, in this
// transaction: a rolled-back change emits nothing.
func (t *Tx) EmitEvent(typ, subjectID string, customerID *string, data any, now time.Time) (*Event, error) {
	e, args, err := newEvent(typ, subjectID, customerID, data, now)
	if err != nil {
		return nil, err
	}
	if err := t.execLater(`INSERT INTO events (`+eventCols+`) VALUES ($1, $2, $3, $4, $5, $6)`, args...); err != nil {
		return nil, err
	}
	t.events = append(t.events, e.ID) // dispatched by one job at commit (insertJobs)
	return e, nil
}

const eventCols = `id, type, subject_id, customer_id, payload, created_at`

// newEvent is an event and its row's values, in the order of eventCols.
func newEvent(typ, subjectID string, customerID *string, data any, now time.Time) (*Event, []any, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	e := &Event{ID: fulfill.NewID("evt"), Type: typ, Version: EventVersion, SubjectID: subjectID, CustomerID: customerID,
		CreatedAt: now.UTC(), Data: b}
	doc, err := eventDocument(e)
	if err != nil {
		return nil, nil, err
	}
	return e, []any{e.ID, e.Type, e.SubjectID, e.CustomerID, doc, e.CreatedAt}, nil
}

// eventDocument is json.Marshal(e), without compacting e.Data again: it
// is json.Marshal's own output, compact and escaped already, and encoding
// it again (a billing run's renewal emits three events) was most of the
// cost of an event. Data is the document's last field.
func eventDocument(e *Event) (string, error) {
	head := *e
	head.Data = nil
	doc, err := json.Marshal(&head)
	if err != nil {
		return "", err
	}
	const tail = `null}`
	if len(doc) < len(tail) || string(doc[len(doc)-len(tail):]) != tail || len(e.Data) == 0 {
		doc, err := json.Marshal(e)
		return string(doc), err
	}
	var sb strings.Builder
	sb.Grow(len(doc) - len(tail) + len(e.Data) + 1)
	sb.Write(doc[:len(doc)-len(tail)])
	sb.Write(e.Data)
	sb.WriteByte('}')
	return sb.String(), nil
}

// EventDocument returns the stored JSON document of an event, exactly as
// it is delivered.
func (db *DB) EventDocument(ctx context.Context, id string) (*Event, []byte, error) {
	var doc string
	if err := db.Read.QueryRowContext(ctx, `SELECT payload FROM events WHERE id = $1`, id).Scan(&doc); err != nil {
		return nil, nil, mapErr(err, "Event")
	}
	var e Event
	if err := json.Unmarshal([]byte(doc), &e); err != nil {
		return nil, nil, err
	}
	return &e, []byte(doc), nil
}

// Events lists events, newest first, optionally of one type or since a time.
func (db *DB) Events(ctx context.Context, typ string, since time.Time, p fulfill.Page) ([]*Event, error) {
	where, args := "created_at >= $1", []any{since.UTC()}
	if typ != "" {
		where += " AND type = $2"
		args = append(args, typ)
	}
	q, args := pageQuery(`SELECT payload FROM events`, where, args, p)
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var e Event
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			return nil, err
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}
