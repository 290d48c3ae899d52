package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// TestCustomerTaxIDsAndCountriesAreChecked: through the API, a bad VAT id
// is 422 on tax_id saying what the id should look like, ZZ and XX are not
// countries, nothing is stored for either, and only a valid id (normalised)
// takes the VAT off a purchase.
func TestCustomerTaxIDsAndCountriesAreChecked(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		for _, c := range []struct{ country, taxID, field, want string }{
			{"DE", "hello", "tax_id", "DE followed by 9 digits"},
			{"DE", "x", "tax_id", "DE followed by 9 digits"},
			{"DE", "DE12", "tax_id", "DE followed by 9 digits"},
			{"DE", "DE136695977", "tax_id", "check digit"},
			{"DE", "FR40303265045", "tax_id", "not a tax id of DE"},
			{"GR", "GR094259216", "tax_id", "EL (not GR)"},
			{"ZZ", "", "country", "ISO 3166"},
			{"XX", "", "country", "ISO 3166"},
		} {
			var ae apiError
			code := e.do("POST", "/api/v1/customers", map[string]any{"email": "b@example.com", "name": "B",
				"country": c.country, "tax_id": c.taxID}, &ae)
			if code != 422 || ae.Error.Field != c.field || !strings.Contains(ae.Error.Message, c.want) {
				t.Errorf("%s %q: %d %+v, want 422 on %s saying %q", c.country, c.taxID, code, ae.Error, c.field, c.want)
			}
		}
		counts, err := e.db.TableCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if counts["customers"] != 0 {
			t.Fatalf("refused customers were stored: %v", counts)
		}
		for _, c := range []struct {
			country, taxID, stored string
			tax                    int64
		}{
			{"DE", "hello", "", 0}, // refused above: not bought here
			{"at", " atu 135.856-27 ", "ATU13585627", 0},
			{"DE", "DE136695976", "DE136695976", 61560}, // the seller's own country: VAT
			{"GR", "el094259216", "EL094259216", 0},
			{"FR", "", "", 64800},
		} {
			if c.stored == "" && c.taxID != "" {
				continue
			}
			var cus struct {
				ID, Country string
				TaxID       string `json:"tax_id"`
			}
			e.must(201, "POST", "/api/v1/customers", map[string]any{"email": "b@example.com", "name": "B",
				"country": c.country, "tax_id": c.taxID}, &cus)
			if cus.TaxID != c.stored || cus.Country != strings.ToUpper(c.country) {
				t.Errorf("stored %q %q, want %q", cus.Country, cus.TaxID, c.stored)
			}
			var p purchase
			e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 10,
				"payment_method": "pm_card_visa"}, &p)
			if p.Invoice.Tax != c.tax {
				t.Errorf("%s %q: tax %d, want %d", c.country, c.taxID, p.Invoice.Tax, c.tax)
			}
		}
	})
}
