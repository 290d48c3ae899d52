package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// The console's customer page shows the VIES check of the account's VAT
// id: its result, date and request identifier. VIES itself cannot be
// reached from the test machines: a local fake answers in its documented
// REST shape (see api/vies_test.go for the full one).
func TestConsoleCustomerShowsVIESCheck(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		vies := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req map[string]string
			json.NewDecoder(r.Body).Decode(&req)
			json.NewEncoder(w).Encode(map[string]any{"countryCode": req["countryCode"], "vatNumber": req["vatNumber"],
				"requestDate": "2026-03-01T00:00:00.000Z", "valid": true, "requestIdentifier": "WAPIAAAAZ777", "name": "EXAMPLE SAS"})
		}))
		t.Cleanup(vies.Close)
		e := newEnv(t, url, func(c *web.Config) {
			c.Service.VIES = &commerce.VIESClient{BaseURL: vies.URL}
		})
		cus, err := e.svc.CreateCustomer(context.Background(), commerce.CustomerInput{Email: "ann@example.fr", Name: "Ann",
			Company: "Example SAS", Country: "FR", TaxID: "FR40303265045"})
		if err != nil {
			t.Fatal(err)
		}
		admin := e.staff("admin@vendor.example", web.RoleAdmin)
		r := admin.get("/admin/customers/"+cus.ID).must(t, 200)
		contains(t, r.body, "<dt>Tax id</dt><dd>FR40303265045", "VIES: valid, checked 1 Mar 2026 00:00 UTC, request WAPIAAAAZ777")
	})
}
