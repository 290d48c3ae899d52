package api_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/jobs"
	fmail "github.com/fulfillhq/fulfill/mail"
)

// mailParts splits a received message into its text body and its
// attachments by file name.
func mailParts(t *testing.T, raw []byte) (*mail.Message, string, map[string][]byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		var body io.Reader = msg.Body
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, _ := io.ReadAll(body)
		return msg, string(b), nil
	}
	var text string
	files := map[string][]byte{}
	var walk func(r *multipart.Reader)
	walk = func(r *multipart.Reader) {
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ct, ps, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if strings.HasPrefix(ct, "multipart/") {
				walk(multipart.NewReader(p, ps["boundary"]))
				continue
			}
			var body io.Reader = p // quoted-printable is decoded by the reader
			if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
				body = base64.NewDecoder(base64.StdEncoding, p)
			}
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if name := p.FileName(); name != "" {
				files[name] = b
			} else if ct == "text/plain" {
				text = string(b)
			}
		}
	}
	walk(multipart.NewReader(msg.Body, params["boundary"]))
	return msg, text, files
}

var (
	pdfStreamRE = regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`)
	pdfTextRE   = regexp.MustCompile(`\(((?:\\.|[^\\)])*)\)\s*Tj`)
)

// pdfText is the text a PDF shows: the strings of its (inflated) content
// streams' Tj operators, one space apart, whitespace collapsed.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	var words []string
	for _, m := range pdfStreamRE.FindAllSubmatch(pdf, -1) {
		data := m[1]
		if r, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
			if b, err := io.ReadAll(r); err == nil {
				data = b
			}
		}
		for _, s := range pdfTextRE.FindAllSubmatch(data, -1) {
			words = append(words, strings.NewReplacer(`\(`, "(", `\)`, ")", `\\`, `\`).Replace(string(s[1])))
		}
	}
	return strings.Join(strings.Fields(strings.Join(words, " ")), " ")
}

const testBank = "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX, Commerzbank"

// TestBillingMailOverSMTP is Acceptance 2's first part, against a real SMTP
// server: a purchase paid by invoice mails the invoice with its PDF, whose
// text carries the bank details and the invoice number as the payment
// reference; a card purchase mails a receipt with the paid invoice.
func TestBillingMailOverSMTP(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		sink, smtpURL := startSMTP(t)
		sender, err := fmail.ParseURL(smtpURL)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) {
			c.Mail, c.From = sender, "Vendor Billing <billing@vendor.example>"
			c.Service.Seller.Company, c.Service.Seller.Bank = "Vendor GmbH", testBank
		})
		byInvoice := e.customer("US", "")
		var inv purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": byInvoice, "plan": "sm-premium", "seats": 10,
			"payment_method": "invoice"}, &inv)
		var card purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": e.customer("US", ""), "plan": "sm-premium",
			"seats": 3, "payment_method": "pm_card_visa"}, &card)
		e.waitEmails()
		// Once sent, the rows keep the PDF that went out, and no source.
		var kept int
		if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM emails WHERE kind IN ('invoice.issued', 'payment.receipt')
			AND attachment <> '' AND attachment_source = '' AND status = 'sent'`).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if kept != 2 {
			t.Errorf("%d invoice and receipt rows keep the PDF they sent, want 2", kept)
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		bySubject := map[string][]byte{}
		for _, m := range sink.msgs {
			msg, err := mail.ReadMessage(bytes.NewReader(m.data))
			if err != nil {
				t.Fatal(err)
			}
			subj := msg.Header.Get("Subject")
			if _, dup := bySubject[subj]; dup {
				t.Errorf("%q sent twice", subj)
			}
			bySubject[subj] = m.data
		}
		raw, ok := bySubject["Invoice "+inv.Invoice.Number]
		if !ok {
			t.Fatalf("no invoice mail among %d messages", len(sink.msgs))
		}
		_, text, files := mailParts(t, raw)
		pdf := files[inv.Invoice.Number+".pdf"]
		if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("invoice mail has no PDF attachment: %v", files)
		}
		pt := pdfText(t, pdf)
		for _, want := range []string{testBank, "Payment reference: " + inv.Invoice.Number, inv.Invoice.Number} {
			if !strings.Contains(pt, want) {
				t.Errorf("invoice PDF lacks %q:\n%s", want, pt)
			}
			if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
				t.Errorf("invoice mail text lacks %q:\n%s", want, text)
			}
		}
		raw, ok = bySubject["Receipt for invoice "+card.Invoice.Number]
		if !ok {
			t.Fatalf("no receipt among %v", len(sink.msgs))
		}
		_, text, files = mailParts(t, raw)
		if !strings.Contains(text, "We received USD") || !bytes.HasPrefix(files[card.Invoice.Number+"-receipt.pdf"], []byte("%PDF-")) {
			t.Errorf("receipt: %q %v", text, len(files))
		}
		if strings.Contains(pdfText(t, files[card.Invoice.Number+"-receipt.pdf"]), "IBAN") {
			t.Error("a card receipt shows bank details")
		}
		if _, ok := bySubject["Receipt for invoice "+inv.Invoice.Number]; ok {
			t.Error("an unpaid invoice got a receipt")
		}
	})
}
