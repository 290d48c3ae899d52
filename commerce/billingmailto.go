package commerce

import (
	"html"
	"regexp"
	"slices"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// Billing mail kinds a vendor can switch off (Service.BillingMailOff).
var BillingMailKinds = []string{"invoice.issued", "payment.receipt", "credit_note.issued", MailRenewalNotice, MailTrialEnding, MailCardExpiring}

// queueBillingMail queues one billing mail to the account's billing contact
// and to each of its extra billing recipients, a row (and job) each, unless
// the vendor switched that kind off.
func (s *Service) queueBillingMail(tx *store.Tx, cust *fulfill.Customer, e *fulfill.Email) error {
	if s.BillingMailOff[e.Kind] {
		return nil
	}
	for _, to := range BillingRecipients(cust) {
		m := *e
		m.To, m.CustomerID = to, &cust.ID
		if err := s.queueEmail(tx, &m); err != nil {
			return err
		}
	}
	return nil
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// MailHTML is the HTML version of a billing mail's plain text, sent beside
// it as multipart/alternative: the same words, paragraphs kept, links made
// clickable. Other kinds of mail have none ("").
func MailHTML(kind, text string) string {
	if !slices.Contains(BillingMailKinds, kind) {
		return ""
	}
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif;line-height:1.4\">\n")
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		lines := strings.Split(para, "\n")
		for i, l := range lines {
			esc := html.EscapeString(l)
			lines[i] = urlRE.ReplaceAllStringFunc(esc, func(u string) string { return `<a href="` + u + `">` + u + `</a>` })
		}
		tag := "p"
		if strings.HasPrefix(para, "  ") || strings.Contains(para, "\n  ") {
			tag = "pre" // an aligned table of values
		}
		if tag == "pre" {
			b.WriteString("<pre>" + strings.Join(lines, "\n") + "</pre>\n")
		} else {
			b.WriteString("<p>" + strings.Join(lines, "<br>\n") + "</p>\n")
		}
	}
	b.WriteString("</body></html>\n")
	return b.String()
}
