package store

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Issue 18, start-up that does not grow with the number of customers: the
// check of the signing keys at every start (LicenseKeyIDs) names the key of
// the newest license and every key that signed one, and reads a few index
// entries per key to find them, never every license (a full scan of the
// table before migration 0039).
func TestLicenseKeyIDsReadsAFewIndexEntriesPerKeyNotEveryLicense(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		if newest, all, err := db.LicenseKeyIDs(ctx); err != nil || newest != "" || len(all) != 0 {
			t.Fatalf("no licenses: %q %v %v", newest, all, err)
		}
		subscribed(t, db, "cus_1", "sub_1")
		issue := func(id, kid string, at time.Time) {
			t.Helper()
			l := &fulfill.License{ID: id, SubscriptionID: "sub_1", KeyID: kid, Reason: "new", Plan: "plan-sub_1", Seats: 1,
				StartsAt: fulfill.NewDate(2026, 3, 1), ExpiresAt: fulfill.NewDate(2027, 3, 1), File: "LICENSE-DATA", IssuedAt: at}
			inTx(t, db, func(tx *Tx) error { return tx.InsertLicense(l) })
		}
		issue("lic_1", "k2", t0)
		issue("lic_2", "k1", t0.Add(time.Hour))
		issue("lic_3", "k3", t0.Add(2*time.Hour))
		issue("lic_4", "k1", t0.Add(3*time.Hour))
		check := func(wantNewest string) {
			t.Helper()
			newest, all, err := db.LicenseKeyIDs(ctx)
			if err != nil || newest != wantNewest || !reflect.DeepEqual(all, []string{"k1", "k2", "k3"}) {
				t.Errorf("LicenseKeyIDs: %q %v %v; want %q [k1 k2 k3]", newest, all, err, wantNewest)
			}
		}
		check("k1")
		// Issued at the same instant: the greater id is the newer.
		issue("lic_6", "k2", t0.Add(4*time.Hour))
		issue("lic_5", "k3", t0.Add(4*time.Hour))
		check("k2")

		plan := explain(t, ctx, db, licenseKeysQuery)
		for i, line := range plan {
			// SQLite: SEARCH (an index by key) is a few entries, SCAN every
			// row. PostgreSQL: a step on licenses without an index
			// condition reads all of them.
			full := db.Dialect == SQLite && regexp.MustCompile(`\bSCAN (l|licenses)\b`).MatchString(line) ||
				db.Dialect == Postgres && regexp.MustCompile(` on licenses\b`).MatchString(line) &&
					(i+1 == len(plan) || !strings.Contains(plan[i+1], "Index Cond"))
			if full {
				t.Errorf("the keys' query reads every license (%s); plan:\n%s", strings.TrimSpace(line), strings.Join(plan, "\n"))
			}
		}
	})
}

// explain is the plan of query, one line per step. On PostgreSQL sequential
// scans are disabled first, so that an index that can serve the query is
// used even on a table of a few rows (where a scan is cheaper) and a step
// no index can serve shows as a sequential scan.
func explain(t *testing.T, ctx context.Context, db *DB, query string) []string {
	t.Helper()
	conn, err := db.Read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prefix := "EXPLAIN QUERY PLAN "
	if db.Dialect == Postgres {
		prefix = "EXPLAIN "
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "RESET enable_seqscan")
	}
	rows, err := conn.QueryContext(ctx, prefix+query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		vals, err := dbtest.ScanValues(rows)
		if err != nil {
			t.Fatal(err)
		}
		plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
