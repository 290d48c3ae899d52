package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/fulfillhq/fulfill"
)

// TestDatesRoundTripInEveryColumnType: a fulfill.Date bound to a DATE, a
// TIMESTAMPTZ or a TEXT parameter stores that day (YYYY-MM-DD for text),
// and the zero Date stores NULL, on both databases.
func TestDatesRoundTripInEveryColumnType(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE date_kinds (n INTEGER PRIMARY KEY, d DATE, ts TIMESTAMPTZ, txt TEXT)`); err != nil {
			t.Fatal(err)
		}
		day := fulfill.NewDate(2026, time.February, 28)
		inTx(t, db, func(tx *Tx) error {
			if err := tx.exec(`INSERT INTO date_kinds (n, d, ts, txt) VALUES ($1, $2, $3, $4)`, 1, day, day, day); err != nil {
				return err
			}
			return tx.exec(`INSERT INTO date_kinds (n, d, ts, txt) VALUES ($1, $2, $3, $4)`, 2, fulfill.Date{}, fulfill.Date{}, fulfill.Date{})
		})
		var d, ts fulfill.Date
		var txt string
		if err := db.Read.QueryRowContext(ctx, `SELECT d, ts, txt FROM date_kinds WHERE n = $1`, 1).Scan(&d, &ts, &txt); err != nil {
			t.Fatal(err)
		}
		if d != day || ts != day || txt != "2026-02-28" {
			t.Errorf("stored %v, %v, %q; want %v each", d, ts, txt, day)
		}
		var nd, nts, ntxt sql.NullString
		if err := db.Read.QueryRowContext(ctx, `SELECT d, ts, txt FROM date_kinds WHERE n = $1`, 2).Scan(&nd, &nts, &ntxt); err != nil {
			t.Fatal(err)
		}
		if nd.Valid || nts.Valid || ntxt.Valid {
			t.Errorf("the zero date stored %v, %v, %v; want NULL each", nd, nts, ntxt)
		}
		// The pool's connections were taught the date plan.
		if db.Dialect == Postgres {
			conn, err := db.Write.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.Raw(func(dc any) error {
				pc, err := pgxConn(dc)
				if err != nil {
					return err
				}
				checkDatePlan(t, pc.TypeMap())
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestPostgresConnectionsEncodeDatesWithoutText: a connection encodes a
// Date for a DATE parameter with pgx's binary date plan, not through its
// text Value (which pgx parsed back into a date: 6% of a purchase's CPU).
func TestPostgresConnectionsEncodeDatesWithoutText(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	teachTypes(m)
	checkDatePlan(t, m)
	buf, err := m.Encode(pgtype.DateOID, pgtype.BinaryFormatCode, fulfill.NewDate(2000, 1, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL's binary date: days since 2000-01-01, a big-endian int32.
	if len(buf) != 4 || buf[3] != 1 || buf[0]|buf[1]|buf[2] != 0 {
		t.Errorf("2000-01-02 encoded as %v, want [0 0 0 1]", buf)
	}
}

func checkDatePlan(t *testing.T, m *pgtype.Map) {
	t.Helper()
	if _, ok := m.PlanEncode(pgtype.DateOID, pgtype.BinaryFormatCode, fulfill.NewDate(2026, 1, 1)).(*dateEncodePlan); !ok {
		t.Error("a Date for a DATE parameter is not encoded by the date plan")
	}
}
