package invoicepdf

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and testdata/example.pdf")

var (
	usSeller = Party{Company: "Fulfill Software Inc.", Address: "500 Market Street, Suite 1200", City: "San Francisco, CA",
		PostalCode: "94105", Country: "US", TaxID: "EIN 12-3456789", Email: "billing@fulfill.example"}
	euSeller = Party{Company: "Fulfill Europe SAS", Address: "12 rue de la Paix", City: "Paris", PostalCode: "75002",
		Country: "FR", TaxID: "FR40123456789", Email: "factures@fulfill.example"}
)

func day(y int, m time.Month, d int) fulfill.Date { return fulfill.NewDate(y, m, d) }

func paidUS() Document {
	paid := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	inv := &fulfill.Invoice{
		ID: "inv_1", Number: "INV-2025-0042", Status: fulfill.InvoicePaid, Currency: "USD",
		Subtotal: 3_666_000, Tax: 0, Total: 3_666_000, AmountPaid: 3_666_000, AmountDue: 0,
		IssuedOn: day(2025, 3, 1), DueOn: day(2025, 3, 1), PaidAt: &paid, PaymentMethod: "pm_card",
		CreatedAt: time.Date(2025, 3, 1, 9, 29, 12, 0, time.UTC),
		Lines: []fulfill.InvoiceLine{
			{Kind: billing.KindRenewal, Description: "Premium (self-managed) renewal, 100 seats", Quantity: 100,
				UnitAmount: 34_800, Amount: 3_480_000, PeriodStart: day(2025, 3, 1), PeriodEnd: day(2026, 3, 1)},
			{Kind: billing.KindTrueUp, Description: "True-up: 12 users above the 88 seats of the previous term, charged for the whole previous term as agreed in the subscription terms",
				Quantity: 12, UnitAmount: 15_500, Amount: 186_000, PeriodStart: day(2024, 3, 1), PeriodEnd: day(2025, 3, 1),
				Proration: true},
			{Kind: billing.KindTax, Description: "Tax 0% (US)", Quantity: 1, PeriodStart: day(2025, 3, 1), PeriodEnd: day(2026, 3, 1)},
		},
	}
	return Document{
		Title: "Invoice", Seller: usSeller, Invoice: inv,
		Buyer: Party{Name: "Dana Whitfield", Company: "Acme Robotics, Inc.", Address: "1 Infinite Loop\nBuilding 4",
			City: "Cupertino, CA", PostalCode: "95014", Country: "US", TaxID: "EIN 98-7654321", Email: "ap@acme.example"},
		PaymentTerms: "Paid by card ending 4242 on 1 Mar 2025. Thank you.",
	}
}

func reverseChargeEU() Document {
	inv := &fulfill.Invoice{
		ID: "inv_2", Number: "F-2025-0107", Status: fulfill.InvoiceOpen, Currency: "EUR",
		Subtotal: 648_000, Tax: 0, Total: 648_000, AmountDue: 648_000,
		ReverseCharge: true, TaxNote: billing.ReverseChargeNote,
		IssuedOn: day(2025, 6, 10), DueOn: day(2025, 7, 10), PaymentMethod: "invoice",
		CreatedAt: time.Date(2025, 6, 10, 14, 0, 0, 0, time.UTC),
		Lines: []fulfill.InvoiceLine{
			{Kind: billing.KindSubscription, Description: "Ultimate (SaaS), 20 seats — Zürich office", Quantity: 20,
				UnitAmount: 32_400, Amount: 648_000, PeriodStart: day(2025, 6, 10), PeriodEnd: day(2026, 6, 10)},
			{Kind: billing.KindTax, Description: billing.ReverseChargeNote, Quantity: 1,
				PeriodStart: day(2025, 6, 10), PeriodEnd: day(2026, 6, 10)},
		},
	}
	return Document{
		Title: "Invoice", Seller: euSeller, Invoice: inv,
		Buyer: Party{Name: "Jörg Müller", Company: "Müller & Söhne GmbH", Address: "Königstraße 5", City: "Stuttgart",
			PostalCode: "70173", Country: "DE", TaxID: "DE123456789", Email: "buchhaltung@mueller.example"},
		PaymentTerms: "Net 30. Bank transfer to IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP, quoting F-2025-0107.",
		Notes:        []string{"Questions about this invoice? Write to factures@fulfill.example — we answer within one business day."},
	}
}

func multiPage() Document {
	inv := &fulfill.Invoice{
		ID: "inv_3", Number: "INV-2025-0100", Status: fulfill.InvoiceOpen, Currency: "GBP",
		IssuedOn: day(2025, 9, 1), DueOn: day(2025, 10, 1), TaxRateBP: 2000,
		CreatedAt: time.Date(2025, 9, 1, 0, 5, 0, 0, time.UTC),
	}
	for i := 1; i <= 60; i++ {
		l := fulfill.InvoiceLine{Kind: billing.KindSeats, Description: fmt.Sprintf("Add-on seats, instance %02d", i),
			Quantity: int64(i), UnitAmount: 29_000, PeriodStart: day(2025, 9, 1), PeriodEnd: day(2026, 1, 1), Proration: i%7 == 0}
		l.Amount = l.Quantity * l.UnitAmount
		if l.Proration {
			l.Amount = l.Amount * 122 / 365
		}
		if i == 30 {
			l.Description += " (migrated from the legacy self-managed cluster in the Frankfurt data centre, with a long description that wraps)"
		}
		inv.Subtotal += l.Amount
		inv.Lines = append(inv.Lines, l)
	}
	inv.Tax = inv.Subtotal / 5
	inv.Total = inv.Subtotal + inv.Tax
	inv.AmountDue = inv.Total
	inv.Lines = append(inv.Lines, fulfill.InvoiceLine{Kind: billing.KindTax, Description: "VAT 20% (GB)", Quantity: 1,
		UnitAmount: inv.Tax, Amount: inv.Tax})
	return Document{
		Title: "Invoice", Seller: usSeller, Invoice: inv,
		Buyer: Party{Company: "Northwind Hosting Ltd", Name: "Priya Shah", Address: "221B Baker Street", City: "London",
			PostalCode: "NW1 6XE", Country: "GB", TaxID: "GB123456789", Email: "finance@northwind.example"},
		PaymentTerms: "Net 30 by bank transfer. A late payment fee of £40 applies after the due date.",
		Notes:        []string{"Seats added during the term are prorated to the end of the current term.", "Thank you for your business."},
	}
}

func creditNote() Document {
	inv := &fulfill.Invoice{
		ID: "inv_4", Number: "CN-2025-0003", Status: fulfill.InvoicePaid, Currency: "EUR",
		Subtotal: -162_000, Tax: -32_400, Total: -194_400, AmountPaid: -194_400, TaxRateBP: 2000,
		IssuedOn: day(2025, 11, 20), DueOn: day(2025, 11, 20),
		CreatedAt: time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC),
		Lines: []fulfill.InvoiceLine{
			{Kind: billing.KindUpgradeCredit, Description: "Credit for unused time on Premium (SaaS), 10 seats", Quantity: 10,
				UnitAmount: 32_400, Amount: -162_000, PeriodStart: day(2025, 11, 20), PeriodEnd: day(2026, 5, 20), Proration: true},
			{Kind: billing.KindTax, Description: "VAT 20% (FR)", Quantity: 1, UnitAmount: -32_400, Amount: -32_400},
		},
	}
	return Document{
		Title: "Credit note", Seller: euSeller, Invoice: inv,
		Buyer: Party{Name: "Élodie Durand", Address: "8 avenue des Champs-Élysées", City: "Paris", PostalCode: "75008",
			Country: "FR", Email: "elodie@example.fr"},
		PaymentTerms: "Refunded to the original payment method on 20 Nov 2025.",
	}
}

var cases = []struct {
	name string
	doc  func() Document
}{
	{"paid_us", paidUS},
	{"reverse_charge_eu", reverseChargeEU},
	{"multi_page", multiPage},
	{"credit_note", creditNote},
}

func renderPlain(t *testing.T, doc Document) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := render(&buf, doc, false); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pageText(t *testing.T, pdf []byte) string {
	t.Helper()
	pages, err := extractPages(pdf)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i, p := range pages {
		fmt.Fprintf(&b, "=== page %d ===\n%s", i+1, p)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pageText(t, renderPlain(t, c.doc()))
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("text of %s differs from %s (run go test -update if intended):\n%s", c.name, path, diff(string(want), got))
			}
		})
	}
}

// diff lists the first differing lines.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < max(len(w), len(g)) && n < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			n++
		}
	}
	return b.String()
}

// TestContent checks the facts the goldens must hold, so a careless -update
// cannot lose them.
func TestContent(t *testing.T) {
	must := map[string][]string{
		"paid_us": {"Invoice no. | INV-2025-0042", "Status | Paid", "PAID", "Tax ID: EIN 98-7654321",
			"Prorated", "1 Mar 2025 – 28 Feb 2026", "Subtotal | USD 36,660.00", "Tax 0% (US) | USD 0.00",
			"Total | USD 36,660.00", "Amount paid | USD 36,660.00", "Amount due | USD 0.00", "Page 1 of 1"},
		"reverse_charge_eu": {"VAT ID: DE123456789", "Müller & Söhne GmbH", "Zürich", "VAT 0% (reverse charge) | EUR 0.00",
			"Reverse charge: VAT to be accounted for by the recipient", "Payment terms", "Status | Open"},
		"multi_page":  {"Page 1 of 3", "Page 2 of 3", "Page 3 of 3", "VAT 20% (GB)", "(continued)", "Add-on seats, instance 60", "£40"},
		"credit_note": {"Credit note", "Credit note no. | CN-2025-0003", "EUR -1,944.00", "-1,620.00"},
	}
	for _, c := range cases {
		text := pageText(t, renderPlain(t, c.doc()))
		for _, s := range must[c.name] {
			if !strings.Contains(text, s) {
				t.Errorf("%s: missing %q", c.name, s)
			}
		}
		if c.name != "paid_us" && c.name != "credit_note" && strings.Contains(text, "PAID") {
			t.Errorf("%s: unpaid invoice has a PAID stamp", c.name)
		}
		if c.name != "reverse_charge_eu" && strings.Contains(text, "Reverse charge") {
			t.Errorf("%s: reverse-charge note on an invoice that is not reverse-charged", c.name)
		}
	}

	// The table header repeats on every page of the multi-page invoice.
	pages, err := extractPages(renderPlain(t, multiPage()))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 3 {
		t.Fatalf("multi-page invoice has %d pages, want 3", len(pages))
	}
	for i, p := range pages {
		if !strings.Contains(p, "Description | Period | Qty | Unit price | Amount") {
			t.Errorf("page %d has no table header", i+1)
		}
	}
}

func TestDeterministic(t *testing.T) {
	for _, c := range cases {
		for _, compress := range []bool{false, true} {
			var a, b bytes.Buffer
			if err := render(&a, c.doc(), compress); err != nil {
				t.Fatal(err)
			}
			if err := render(&b, c.doc(), compress); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("%s (compress=%v): two renderings differ", c.name, compress)
			}
			if !bytes.Contains(a.Bytes(), []byte("/Producer")) || !bytes.Contains(a.Bytes(), []byte("/CreationDate (D:")) {
				t.Errorf("%s: no fixed producer or creation date", c.name)
			}
		}
	}
	var a bytes.Buffer
	if err := Render(&a, paidUS()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(a.Bytes(), []byte("/CreationDate (D:20250301092912)")) {
		t.Error("creation date is not the invoice's CreatedAt")
	}
}

func TestNoInvoice(t *testing.T) {
	if err := Render(&bytes.Buffer{}, Document{Title: "Invoice"}); err == nil {
		t.Fatal("Render without an invoice succeeded")
	}
}

// TestExample writes testdata/example.pdf (with -update) and cross-checks the
// compressed output with pdftotext when it is installed.
func TestExample(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, reverseChargeEU()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "example.pdf")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed")
	}
	for _, c := range cases {
		var pdf bytes.Buffer
		if err := Render(&pdf, c.doc()); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), c.name+".pdf")
		if err := os.WriteFile(f, pdf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-layout", f, "-").Output()
		if err != nil {
			t.Fatalf("%s: pdftotext: %v", c.name, err)
		}
		inv := c.doc().Invoice
		for _, s := range []string{inv.Number, billing.FormatAmount(inv.Total, inv.Currency), "Amount due"} {
			if !strings.Contains(string(out), s) {
				t.Errorf("%s: pdftotext output lacks %q", c.name, s)
			}
		}
	}
}

// BenchmarkRender renders a one-page invoice, as each purchase's mail does.
func BenchmarkRender(b *testing.B) {
	doc := paidUS()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}
