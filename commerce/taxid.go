package commerce

import (
	"errors"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
)

// checkCountryTaxID validates a billing account's country (an assigned ISO
// 3166-1 alpha-2 code) and its tax id against that country's published
// rule (billing.ValidateTaxID), and returns both normalised: "de",
// "de 136 695 976" → "DE", "DE136695976". A bad id is EInvalid on
// tax_id with what the id should look like.
func checkCountryTaxID(country, taxID string) (string, string, error) {
	country = strings.ToUpper(strings.TrimSpace(country))
	if country == "" {
		return "", "", fulfill.FieldError(fulfill.ERequired, "country", "A country (ISO 3166 alpha-2, e.g. \"US\") is required.")
	}
	if !fulfill.ValidCountry(country) {
		return "", "", fulfill.FieldError(fulfill.EInvalid, "country", "%q is not an ISO 3166 alpha-2 country code.", country)
	}
	if fulfill.TextLen(taxID) > 200 {
		return "", "", fulfill.FieldError(fulfill.EOutOfRange, "tax_id", "At most 200 characters.")
	}
	id, err := billing.ValidateTaxID(country, taxID)
	var te *billing.TaxIDError
	if errors.As(err, &te) {
		return "", "", fulfill.FieldError(fulfill.EInvalid, "tax_id", "%s", te.Error())
	}
	if err != nil {
		return "", "", err
	}
	return country, id, nil
}
