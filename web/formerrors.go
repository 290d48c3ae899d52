package web

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/fulfillhq/fulfill"
)

// fieldErrors collects the errors of a form's fields, in the form's order,
// so that one answer reports them all and its banner names each field.
type fieldErrors struct {
	fields []string
	labels []string
	msgs   map[string]string
}

func (fe *fieldErrors) add(field, label, msg string) {
	if fe.msgs == nil {
		fe.msgs = map[string]string{}
	}
	if _, ok := fe.msgs[field]; ok {
		return
	}
	fe.fields, fe.labels = append(fe.fields, field), append(fe.labels, label)
	fe.msgs[field] = msg
}

func (fe *fieldErrors) any() bool { return len(fe.fields) > 0 }

// formError is the page's error: a banner naming the fields, the first
// field focused, each field's message beside it.
func (fe *fieldErrors) formError() formErrors {
	return formErrors{formError{bannerFor(fe.labels, fe.msgs[fe.fields[0]]), fe.fields[0]}, fe.msgs}
}

// bannerFor words the banner above a form: the one field's label and its
// message, or how many fields to check and which.
func bannerFor(labels []string, first string) string {
	if len(labels) == 1 {
		return fmt.Sprintf("%s: %s", labels[0], first)
	}
	return fmt.Sprintf("Check %d fields: %s.", len(labels), strings.Join(labels, ", "))
}

// accountLabels name the billing account form's fields in its banner.
var accountLabels = map[string]string{
	"company": "Company or organisation", "name": "Account holder", "address": "Street address",
	"postal_code": "Postal code", "city": "City", "country": "Country", "tax_id": "VAT / tax id",
	"contact_name": "Subscription contact's name", "contact_email": "Subscription contact's email",
	"billing_name": "Billing contact's name", "billing_email": "Billing contact's email",
}

// namedError prefixes an error's message with its field's label ("Billing
// contact's name: This field is required."), so that the banner above a
// long form says which field to fix.
func namedError(labels map[string]string, field, msg string) string {
	if l, ok := labels[field]; ok && !strings.HasPrefix(msg, l) {
		return l + ": " + msg
	}
	return msg
}

// accountLengths holds the order form's account fields to the limits the
// billing account form has (commerce.UpdateCustomer): what the review step
// accepts, the account page accepts too.
func accountLengths(f url.Values) error {
	for _, k := range []string{"company", "tax_id", "address", "city", "postal_code"} {
		if fulfill.TextLen(strings.TrimSpace(f.Get(k))) > maxAccountField {
			return fulfill.FieldError(fulfill.EOutOfRange, k, "%s: at most %d characters.", accountLabels[k], maxAccountField)
		}
	}
	return nil
}

// maxAccountField is the length limit of a billing account's text fields,
// in characters.
const maxAccountField = 200
