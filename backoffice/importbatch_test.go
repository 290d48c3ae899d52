package backoffice_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// Issue 18: an import writes in batches, a few calls to the database for
// hundreds of rows, where it made three to five calls a row (3.7 ms a row on
// PostgreSQL, one round trip each).
func TestImportMakesFewCallsPerBatch(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc := newService(t, url)
		const rows = 2_000
		s := genSample(rows)
		before := svc.DB.WriteRoundTrips()
		rep, err := svc.Import(ctx, commerce.ImportCustomers, bytes.NewReader(s.csv), commerce.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Imported != rows-rows/200 || rep.Licenses != s.selfManaged {
			t.Fatalf("imported %d rows, %d licenses; want %d, %d", rep.Imported, rep.Licenses, rows-rows/200, s.selfManaged)
		}
		calls := svc.DB.WriteRoundTrips() - before
		// SQLite runs each multi-row INSERT of at most 64 rows as a call;
		// PostgreSQL sends a batch's INSERTs together, with its lookups.
		limit := int64(rows / 5)
		if svc.DB.Dialect == store.Postgres {
			limit = rows / 50
		}
		t.Logf("%d calls for %d rows", calls, rows)
		if calls > limit {
			t.Errorf("%d calls to the database for %d rows, want at most %d", calls, rows, limit)
		}
	})
}

// Duplicates are found as before the batched lookups: emails compare
// case-insensitively as Go lower-cases them, also outside ASCII (which
// SQL's lower() leaves alone on SQLite), and a file that cannot seek is
// read twice all the same.
func TestImportFindsNonASCIIEmailsAndReadsUnseekableFiles(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc := newService(t, url)
		if _, err := svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "ÉMILE@Example.com", Name: "Émile", Country: "FR"}); err != nil {
			t.Fatal(err)
		}
		unseekable := func(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} }
		customers := "email,name,country\n" +
			"émile@example.com,Émile,FR\n" + // 2: exists, in other case
			"zoë@example.com,Zoë,DE\n" + // 3: ok
			"ZOË@example.com,Zoë,DE\n" // 4: the same as line 3
		rep, err := svc.Import(ctx, commerce.ImportCustomers, unseekable(customers), commerce.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := rejectedLines(rep)
		want := []string{
			"line 2: email: A customer with email émile@example.com already exists.",
			"line 4: email: ZOË@example.com is also on line 3.",
		}
		if !slices.Equal(got, want) || rep.Customers != 1 {
			t.Errorf("imported %d customers, rejected:\n%s\nwant 1 and:\n%s", rep.Customers, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		subs := "customer_email,plan,seats,starts_on\n" +
			"émile@EXAMPLE.com,sm-premium,3,2026-05-01\n" + // 2: ok, Émile's
			"Zoë@example.com,saas-premium,2,2026-05-01\n" // 3: ok, Zoë's
		rep, err = svc.Import(ctx, commerce.ImportSubscriptions, unseekable(subs), commerce.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rejected) != 0 || rep.Subscriptions != 2 || rep.Licenses != 1 {
			t.Errorf("subscriptions: %+v", rep)
		}
	})
}
