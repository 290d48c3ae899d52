package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/fulfillhq/fulfill"
)

// pgx encodes a value it does not know through its driver.Valuer, and a
// fulfill.Date's is text: for a DATE parameter pgx then parsed that text
// back into a date before encoding it, 6% of a purchase's CPU on
// PostgreSQL (a purchase binds about twenty dates). Each connection's DATE
// type is therefore taught to encode a Date directly, in binary, with
// pgx's own date plan. A Date bound to any other type (TEXT, TIMESTAMPTZ)
// still goes through its text Value, as before.

// afterConnect prepares a new PostgreSQL connection.
func afterConnect(_ context.Context, c *pgx.Conn) error {
	teachTypes(c.TypeMap())
	return nil
}

// teachTypes adds Fulfill's types to a connection's type map.
func teachTypes(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "date", OID: pgtype.DateOID, Codec: dateCodec{}})
}

// dateCodec is pgx's DATE codec, which also encodes a fulfill.Date.
type dateCodec struct{ pgtype.DateCodec }

func (c dateCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(fulfill.Date); ok {
		if next := c.DateCodec.PlanEncode(m, oid, format, pgtype.Date{}); next != nil {
			return &dateEncodePlan{next: next}
		}
	}
	return c.DateCodec.PlanEncode(m, oid, format, value)
}

type dateEncodePlan struct{ next pgtype.EncodePlan }

// Encode writes a Date as pgx's date of its day; the zero Date is NULL, as
// its Value says.
func (p *dateEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	d := value.(fulfill.Date)
	if d.IsZero() {
		return nil, nil
	}
	return p.next.Encode(pgtype.Date{Time: d.Time(), Valid: true}, buf)
}
