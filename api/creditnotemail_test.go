package api_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/jobs"
	fmail "github.com/fulfillhq/fulfill/mail"
)

// alternatives returns the text/plain and text/html parts of a message's
// multipart/alternative body, at any depth.
func alternatives(t *testing.T, raw []byte) (text, html string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(ct string, body io.Reader, alt bool)
	walk = func(ct string, body io.Reader, alt bool) {
		mt, ps, _ := mime.ParseMediaType(ct)
		if !strings.HasPrefix(mt, "multipart/") {
			return
		}
		r := multipart.NewReader(body, ps["boundary"])
		for {
			p, err := r.NextPart()
			if err != nil {
				return
			}
			pct := p.Header.Get("Content-Type")
			b, _ := io.ReadAll(quotedprintable.NewReader(p))
			switch {
			case strings.HasPrefix(pct, "multipart/"):
				walk(pct, bytes.NewReader(b), mt == "multipart/alternative")
			case mt == "multipart/alternative" && strings.HasPrefix(pct, "text/plain"):
				text = string(b)
			case mt == "multipart/alternative" && strings.HasPrefix(pct, "text/html"):
				html = string(b)
			}
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body, false)
	return text, html
}

// A credit note mails its PDF to the billing recipients, and billing mail
// goes out as plain text and HTML (multipart/alternative) beside its PDF.
func TestCreditNoteMailOverSMTP(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		sink, smtpURL := startSMTP(t)
		sender, err := fmail.ParseURL(smtpURL)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) { c.Mail, c.From = sender, "Vendor Billing <billing@vendor.example>" })
		cus := e.customer("US", "")
		e.must(200, "POST", "/api/v1/customers/"+cus+"/payment_terms", map[string]any{"billing_cc": []string{"ap@example.com"}}, nil)
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		var cn struct{ ID, Number string }
		e.must(201, "POST", "/api/v1/invoices/"+p.Invoice.ID+"/credit_notes", map[string]any{"amount": 50000, "reason": "SLA breach in March",
			"refund": true}, &cn)
		e.waitEmails()
		sink.mu.Lock()
		defer sink.mu.Unlock()
		to := map[string]bool{}
		for _, m := range sink.msgs {
			msg, err := mail.ReadMessage(bytes.NewReader(m.data))
			if err != nil {
				t.Fatal(err)
			}
			if msg.Header.Get("Subject") != "Credit note "+cn.Number+" on invoice "+p.Invoice.Number {
				continue
			}
			to[m.to] = true
			_, text, files := mailParts(t, m.data)
			pt := pdfText(t, files[cn.Number+".pdf"])
			for _, want := range []string{cn.Number, "Credit on invoice " + p.Invoice.Number + ": SLA breach in March", "refunded to the original payment"} {
				if !strings.Contains(pt, want) {
					t.Errorf("credit note PDF lacks %q:\n%s", want, pt)
				}
			}
			if !strings.Contains(text, "USD 500.00 (refunded to the original payment)") {
				t.Errorf("credit note mail text: %s", text)
			}
			plain, html := alternatives(t, m.data)
			link := testenv.PublicURL + "/invoices/" + p.Invoice.ID
			if !strings.Contains(plain, "Credit note "+cn.Number) || !strings.Contains(html, `<a href="`+link+`">`) ||
				!strings.Contains(html, "SLA breach in March") {
				t.Errorf("alternatives:\n%s\n---\n%s", plain, html)
			}
		}
		if !to["buyer@example.com"] || !to["ap@example.com"] || len(to) != 2 {
			t.Errorf("credit note mailed to %v", to)
		}
	})
}
