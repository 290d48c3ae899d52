package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

func TestExportRoutes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
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
