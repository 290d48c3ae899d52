package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// TestVATIDTableThroughTheAPIOnBothDatabases is Acceptance 1 end to end,
// on each database: a table of more than 40 VAT ids (published valid ids
// of each member state, wrong check digits, wrong shapes, another
// country's prefix, GR instead of EL, lower case, spaces, dots and dashes)
// is sent as new customers. Only the valid ones are accepted, stored
// normalised, and only they are reverse charged by a purchase (a German id
// pays German VAT: the seller is German); the invalid ones are 422 on
// tax_id, in the price preview too, and store nothing. ZZ and XX are
// refused as countries.
func TestVATIDTableThroughTheAPIOnBothDatabases(t *testing.T) {
	t.Parallel()
	type tc struct{ country, id, stored string } // stored "": refused
	tests := []tc{
		{"DE", "DE136695976", "DE136695976"}, {"FR", "FR40303265045", "FR40303265045"}, {"IT", "IT00743110157", "IT00743110157"},
		{"ES", "ESA28017895", "ESA28017895"}, {"ES", "ES12345678Z", "ES12345678Z"}, {"ES", "ESX5253868R", "ESX5253868R"},
		{"NL", "NL004495445B01", "NL004495445B01"}, {"NL", "NL000099998B57", "NL000099998B57"}, {"BE", "BE0411905847", "BE0411905847"},
		{"AT", "ATU13585627", "ATU13585627"}, {"PL", "PL5260250995", "PL5260250995"}, {"SE", "SE556188840401", "SE556188840401"},
		{"IE", "IE6388047V", "IE6388047V"}, {"IE", "IE3628739UA", "IE3628739UA"}, {"IE", "IE8Z49289F", "IE8Z49289F"},
		{"DK", "DK13585628", "DK13585628"}, {"FI", "FI20774740", "FI20774740"}, {"PT", "PT501964843", "PT501964843"},
		{"CZ", "CZ25123891", "CZ25123891"}, {"CZ", "CZ7103192745", "CZ7103192745"}, {"GR", "EL094259216", "EL094259216"},
		{"HR", "HR33392005961", "HR33392005961"}, {"LU", "LU15027442", "LU15027442"}, {"SI", "SI50223054", "SI50223054"},
		{"SK", "SK2022749619", "SK2022749619"}, {"RO", "RO18547290", "RO18547290"}, {"EE", "EE100931558", "EE100931558"},
		{"HU", "HU12892312", "HU12892312"}, {"MT", "MT11679112", "MT11679112"},
		// Normalised: lower case, spaces, dots and dashes.
		{"de", " de 136 695 976 ", "DE136695976"}, {"gr", "el-094.259.216", "EL094259216"}, {"fr", "fr 40 303265045", "FR40303265045"},
		{"AT", " atu 135.856-27 ", "ATU13585627"},
		// Wrong check digit.
		{"DE", "DE136695977", ""}, {"FR", "FR41303265045", ""}, {"IT", "IT00743110158", ""}, {"ES", "ESA28017896", ""},
		{"NL", "NL004495446B01", ""}, {"BE", "BE0411905848", ""}, {"AT", "ATU13585628", ""}, {"PL", "PL5260250996", ""},
		{"SE", "SE556188840501", ""}, {"IE", "IE6388047W", ""}, {"DK", "DK13585627", ""}, {"FI", "FI20774741", ""},
		{"PT", "PT501964844", ""}, {"CZ", "CZ25123892", ""}, {"GR", "EL094259217", ""},
		// Wrong shape, and the issue's own examples.
		{"DE", "hello", ""}, {"DE", "x", ""}, {"DE", "DE12", ""}, {"DE", "DE1366959760", ""}, {"AT", "AT13585627", ""},
		{"NL", "NL004495445X01", ""},
		// Another country's prefix, and GR instead of EL.
		{"DE", "FR40303265045", ""}, {"FR", "DE136695976", ""}, {"GR", "GR094259216", ""}, {"IT", "ATU13585627", ""},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d ids", len(tests))
	}
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		ctx := context.Background()
		accepted := 0
		for _, c := range tests {
			_, qerr := e.svc.QuotePurchase(ctx, commerce.QuoteInput{Plan: "sm-premium", Seats: 10, Country: c.country, TaxID: c.id})
			var cus struct {
				ID    string
				TaxID string `json:"tax_id"`
			}
			var ae apiError
			body := map[string]any{"email": "b@example.com", "name": "B", "country": c.country, "tax_id": c.id}
			if c.stored == "" {
				if code := e.do("POST", "/api/v1/customers", body, &ae); code != 422 || ae.Error.Field != "tax_id" || ae.Error.Code != fulfill.EInvalid {
					t.Errorf("%s %q: %d %+v, want 422 on tax_id", c.country, c.id, code, ae.Error)
				}
				if fulfill.ErrorCode(qerr) != fulfill.EInvalid {
					t.Errorf("%s %q: price preview %v, want refused", c.country, c.id, qerr)
				}
				continue
			}
			if qerr != nil {
				t.Errorf("%s %q: price preview %v", c.country, c.id, qerr)
			}
			e.must(201, "POST", "/api/v1/customers", body, &cus)
			accepted++
			if cus.TaxID != c.stored {
				t.Errorf("%s %q stored as %q, want %q", c.country, c.id, cus.TaxID, c.stored)
			}
			var p purchase
			e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 10,
				"payment_method": "invoice"}, &p)
			wantTax := int64(0) // reverse charge
			if strings.EqualFold(c.country, "DE") {
				wantTax = 324000 * 19 / 100
			}
			if p.Invoice.Subtotal != 324000 || p.Invoice.Tax != wantTax {
				t.Errorf("%s %q: subtotal %d tax %d, want 324000 and %d", c.country, c.id, p.Invoice.Subtotal, p.Invoice.Tax, wantTax)
			}
			if reverse := strings.Contains(p.Invoice.TaxNote+linesText(p.Invoice), billing.ReverseChargeNote); reverse != (wantTax == 0) {
				t.Errorf("%s %q: reverse-charge note %v, want %v", c.country, c.id, reverse, wantTax == 0)
			}
		}
		for _, country := range []string{"ZZ", "XX"} {
			var ae apiError
			if code := e.do("POST", "/api/v1/customers", map[string]any{"email": "b@example.com", "name": "B", "country": country}, &ae); code != 422 || ae.Error.Field != "country" {
				t.Errorf("country %s: %d %+v, want 422 on country", country, code, ae.Error)
			}
		}
		counts, err := e.db.TableCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts["customers"] != accepted {
			t.Errorf("%d customers stored, want the %d accepted", counts["customers"], accepted)
		}
	})
}

// linesText joins an invoice's line descriptions.
func linesText(inv invoice) string {
	var b strings.Builder
	for _, l := range inv.Lines {
		b.WriteString(l.Description + "\n")
	}
	return b.String()
}
