package web

import (
	"html/template"
	"strings"

	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/invoicepdf"
)

// wordingFuncs are the template functions that word things the one way
// every page, PDF and mail words them: periods with their last day
// included, one tax label, short references instead of raw ids.
func wordingFuncs() template.FuncMap {
	return template.FuncMap{
		// period shows a stored period (end exclusive) with its last day
		// included: "1 Dec 2026 – 30 Nov 2027", as on the PDF.
		"period": invoicepdf.Period,
		// invoicetax names an invoice's tax row ("VAT 19% (DE)").
		"invoicetax": invoicepdf.TaxLabel,
		// quotetax names a quote's tax row the way its invoice will.
		"quotetax": func(q *commerce.Quote) string {
			return invoicepdf.TaxLabelOf(q.Lines, q.ReverseCharge, q.TaxBP)
		},
		"shortref":  shortRef,
		"actorname": actorName,
		"planname":  planName,
	}
}

// shortRef is a short reference for a raw id, for breadcrumbs and cells:
// the last 8 characters, upper case ("sub_01hx…k3f9" → "K3F9A2BC").
func shortRef(id string) string {
	_, rest, ok := strings.Cut(id, "_")
	if !ok {
		rest = id
	}
	if n := len(rest); n > 8 {
		rest = rest[n-8:]
	}
	return strings.ToUpper(rest)
}

// actorName words who made a change for a buyer: "user:bea@example.com"
// is "bea@example.com", the system is "us", staff acting as the customer
// is "our support team".
func actorName(actor string) string {
	switch {
	case strings.Contains(actor, " as "):
		return "our support team"
	case strings.HasPrefix(actor, "user:"):
		return strings.TrimPrefix(actor, "user:")
	case strings.HasPrefix(actor, "staff:"):
		return "our support team"
	case actor == "" || actor == string(commerce.System):
		return "us"
	}
	return actor
}
