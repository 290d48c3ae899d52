// Package invoicepdf renders an invoice or a credit note as a PDF document.
//
// The document uses the PDF core fonts (Helvetica) only, so nothing is loaded
// from disk or network, and text is translated to the cp1252 code page, which
// covers €, £, accented Latin letters, dashes and typographic quotes; other
// characters print as '.'. The output holds no wall-clock time: the creation
// and modification dates are the invoice's CreatedAt (or its issue date), and
// the producer is the constant Producer, so rendering the same Document twice
// gives byte-identical files.
package invoicepdf

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
)

// Producer is written as the PDF's /Producer.
const Producer = "Fulfill invoicepdf"

// Party is a seller or a buyer as printed on the document. Address may hold
// several lines separated by "\n". Country is printed as given (typically an
// ISO 3166-1 alpha-2 code); it also chooses the order of postal code and city
// and whether TaxID is labelled "VAT ID" (EU, GB, NO, CH) or "Tax ID".
type Party struct {
	Name, Company, Address, City, PostalCode, Country, TaxID, Email string
	// Bank is where transfers go, as the seller writes it ("IBAN …, BIC
	// …, bank name"); only the seller's is printed, on invoices paid by
	// transfer.
	Bank string
}

// HowToPay is the payment terms of an invoice, the same on its page, its
// PDF and its mail: a card-paid invoice is paid; one paid by transfer is
// payable by its due date to the seller's bank (when configured), quoting
// the invoice number as the payment reference.
func HowToPay(seller Party, inv *fulfill.Invoice) string {
	if inv.PaymentMethod != "invoice" {
		return "Paid by card."
	}
	s := fmt.Sprintf("Payable by bank transfer by %s.", fmtDate(inv.DueOn))
	if inv.DueOn == inv.IssuedOn {
		s = "Payable by bank transfer on receipt."
	}
	if b := strings.TrimSpace(seller.Bank); b != "" {
		s += " Bank details: " + b + "."
	}
	return s + " Payment reference: " + inv.Number + "."
}

// PartyFromCustomer returns the buyer Party of a customer. The billing contact
// name and email are preferred over the account's when set.
func PartyFromCustomer(c *fulfill.Customer) Party {
	p := Party{Name: c.Name, Company: c.Company, Address: c.Address, City: c.City,
		PostalCode: c.PostalCode, Country: c.Country, TaxID: c.TaxID, Email: c.Email}
	if c.BillingName != "" {
		p.Name = c.BillingName
	}
	if c.BillingEmail != "" {
		p.Email = c.BillingEmail
	}
	return p
}

// Document is what Render prints.
type Document struct {
	// Title is the document kind, "Invoice" or "Credit note"; empty means
	// "Invoice".
	Title   string
	Seller  Party
	Buyer   Party
	Invoice *fulfill.Invoice
	// PaymentTerms is printed under "Payment terms", e.g. "Net 30. Pay by
	// bank transfer to IBAN …".
	PaymentTerms string
	// Notes are printed as separate paragraphs under "Notes".
	Notes []string
}

// Render writes doc as a PDF to w: seller and buyer with their tax ids, the
// document number, issue and due dates and status (with a PAID or VOID stamp),
// a table of the invoice lines (description, service period, quantity, unit
// price, amount; prorated lines marked), the subtotal, tax, total, amount paid
// and amount due, the payment terms, notes and, for a reverse-charged invoice,
// the legal note from Invoice.TaxNote. Lines of Kind "tax" are not listed in
// the table: they are the tax row of the totals.
//
// Periods are printed inclusive: an InvoiceLine's PeriodEnd is exclusive, so
// the day before it is shown. Long descriptions wrap and long tables continue
// on further pages with the table header repeated; every page is numbered
// "Page n of m". Pages are A4.
//
// The content streams are not compressed: an invoice page is about 9 KB
// instead of 3 KB, and fpdf's compressor was half the CPU of a render and
// 1.2 MB of memory allocated for each (a mail for every purchase and every
// renewal of a billing run).
func Render(w io.Writer, doc Document) error {
	return render(w, doc, false)
}

// render is Render with compression selectable (the tests compare both).
func render(w io.Writer, doc Document, compress bool) error {
	return renderFonts(w, doc, compress, true)
}

// renderFonts is render with the shared font metrics (cached) or with
// metrics fpdf parses for the document (the tests compare both).
func renderFonts(w io.Writer, doc Document, compress, cached bool) error {
	if doc.Invoice == nil {
		return errors.New("invoicepdf: document has no invoice")
	}
	// The footer prints "Page n of m" right-aligned, without fpdf's
	// width-changing page alias, so it must know m before it draws. Most
	// invoices fit on one page: the first pass assumes so, and only a
	// longer one is drawn again knowing its count (the layout does not
	// depend on it). Drawing every invoice twice was a quarter of its
	// rendering.
	r := newRenderer(doc, compress, 1, cached)
	r.draw()
	if err := r.pdf.Error(); err != nil {
		return err
	}
	if n := r.pdf.PageNo(); n != 1 {
		r = newRenderer(doc, compress, n, cached)
		r.draw()
	}
	return r.pdf.Output(w)
}

// Page geometry, in millimetres (A4).
const (
	pageW   = 210.0
	pageH   = 297.0
	marginX = 18.0
	marginT = 18.0
	bodyW   = pageW - 2*marginX
	bottom  = pageH - 24 // content stops here; the footer lies below
)

type rgb struct{ r, g, b int }

var (
	colInk    = rgb{33, 37, 41}
	colMuted  = rgb{108, 117, 125}
	colAccent = rgb{28, 60, 110}
	colRule   = rgb{214, 219, 224}
	colShade  = rgb{241, 243, 246}
	colNote   = rgb{255, 248, 225}
	colNoteBr = rgb{224, 168, 0}
	colPaid   = rgb{25, 135, 84}
	colVoid   = rgb{200, 35, 51}
)

// Table columns: description, period, quantity, unit price, amount.
var (
	colW    = [5]float64{68, 45, 15, 23, 23}
	colHead = [5]string{"Description", "Period", "Qty", "Unit price", "Amount"}
	colAl   = [5]string{"L", "L", "R", "R", "R"}
)

const cellPad = 2.0 // horizontal padding inside table cells

type renderer struct {
	pdf   *fpdf.Fpdf
	fonts documentFonts // the font metrics parsed once (fonts.go)
	tr    func(string) string
	doc   Document
	inv   *fulfill.Invoice
	title string
	pages int // total pages
}

// cp1252 translates UTF-8 to the code page of the core fonts. Building it
// parses fpdf's code page map (8% of the CPU of a card purchase when every
// invoice did it), so one is built and shared. It writes into a buffer of
// its own, so calls take turns (cp1252Mu): used at once by two renderings
// it corrupted their text or panicked.
var (
	cp1252Translator = sync.OnceValue(func() func(string) string {
		return fpdf.New("P", "mm", "A4", "").UnicodeTranslatorFromDescriptor("cp1252")
	})
	cp1252Mu sync.Mutex
)

// toCP1252 is the shared translator, one call at a time.
func toCP1252(s string) string {
	tr := cp1252Translator()
	cp1252Mu.Lock()
	defer cp1252Mu.Unlock()
	return tr(s)
}

func newRenderer(doc Document, compress bool, pages int, cached bool) *renderer {
	pdf := fpdf.New("P", "mm", "A4", "")
	inv := doc.Invoice
	title := strings.TrimSpace(doc.Title)
	if title == "" {
		title = "Invoice"
	}
	r := &renderer{pdf: pdf, doc: doc, inv: inv, title: title, pages: pages}
	r.tr = toCP1252
	if cached {
		r.fonts = cachedFonts(pdf)
	}

	pdf.SetCompression(compress)
	pdf.SetCatalogSort(true) // fonts are kept in a map: sort them for stable output
	created := inv.CreatedAt.UTC()
	if inv.CreatedAt.IsZero() {
		created = inv.IssuedOn.Time()
	}
	if created.IsZero() {
		// fpdf substitutes time.Now for a zero date; never let it.
		created = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	pdf.SetCreationDate(created)
	pdf.SetModificationDate(created)
	pdf.SetProducer(Producer, true)
	pdf.SetTitle(strings.TrimSpace(title+" "+inv.Number), true)
	if s := partyHeading(doc.Seller); s != "" {
		pdf.SetAuthor(s, true)
	}
	pdf.SetMargins(marginX, marginT, marginX)
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetCellMargin(0)
	pdf.SetFooterFunc(r.footer)
	return r
}

func (r *renderer) draw() {
	r.pdf.AddPage()
	y := r.header()
	y = r.table(y)
	y = r.totals(y)
	r.notes(y)
}

// --- drawing helpers (all text arguments are UTF-8) ---

func (r *renderer) font(style string, size float64, c rgb) {
	r.fonts.load(style)
	r.pdf.SetFont("Helvetica", style, size)
	r.pdf.SetTextColor(c.r, c.g, c.b)
}

// text prints s in a box of width w and height h at (x, y), aligned "L",
// "C" or "R", vertically centred.
func (r *renderer) text(x, y, w, h float64, s, align string) {
	r.pdf.SetXY(x, y)
	r.pdf.CellFormat(w, h, r.tr(s), "", 0, align+"M", false, 0, "")
}

func (r *renderer) width(s string) float64 { return r.pdf.GetStringWidth(r.tr(s)) }

// wrap splits s into lines no wider than w in the current font, at spaces
// where possible and inside over-long words otherwise. "\n" forces a break.
func (r *renderer) wrap(s string, w float64) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			cand := word
			if line != "" {
				cand = line + " " + word
			}
			if r.width(cand) <= w {
				line = cand
				continue
			}
			if line != "" {
				out = append(out, line)
				line = ""
			}
			for r.width(word) > w { // break a word that cannot fit on a line
				n := 1
				rs := []rune(word)
				for n < len(rs) && r.width(string(rs[:n+1])) <= w {
					n++
				}
				out = append(out, string(rs[:n]))
				word = string(rs[n:])
			}
			line = word
		}
		out = append(out, line)
	}
	for len(out) > 1 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func (r *renderer) hline(x1, x2, y float64, c rgb, lw float64) {
	r.pdf.SetDrawColor(c.r, c.g, c.b)
	r.pdf.SetLineWidth(lw)
	r.pdf.Line(x1, y, x2, y)
}

func (r *renderer) fillRect(x, y, w, h float64, c rgb) {
	r.pdf.SetFillColor(c.r, c.g, c.b)
	r.pdf.Rect(x, y, w, h, "F")
}

// ensure starts a new page when h more millimetres do not fit below y, and
// returns where to continue.
func (r *renderer) ensure(y, h float64) float64 {
	if y+h <= bottom {
		return y
	}
	return r.continuation()
}

// continuation adds a page with a one-line running header and returns the y
// at which content continues.
func (r *renderer) continuation() float64 {
	r.pdf.AddPage()
	r.font("B", 9, colInk)
	r.text(marginX, marginT, bodyW/2, 5, partyHeading(r.doc.Seller), "L")
	r.font("", 9, colMuted)
	r.text(marginX+bodyW/2, marginT, bodyW/2, 5, strings.TrimSpace(r.title+" "+r.inv.Number)+" (continued)", "R")
	r.hline(marginX, marginX+bodyW, marginT+7, colRule, 0.2)
	return marginT + 12
}

func (r *renderer) footer() {
	y := pageH - 16
	r.hline(marginX, marginX+bodyW, y, colRule, 0.2)
	var parts []string
	for _, s := range []string{partyHeading(r.doc.Seller), taxIDLine(r.doc.Seller), r.doc.Seller.Email} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	r.font("", 7.5, colMuted)
	r.text(marginX, y+2, bodyW-30, 4, strings.Join(parts, "  ·  "), "L")
	r.text(marginX+bodyW-30, y+2, 30, 4, "Page "+strconv.Itoa(r.pdf.PageNo())+" of "+strconv.Itoa(r.pages), "R")
}

// --- sections ---

// header draws the seller, the title and reference block, the stamp and the
// buyer, and returns the y below them.
func (r *renderer) header() float64 {
	inv := r.inv
	// Seller, top left.
	leftW := 100.0
	y := marginT
	r.font("B", 15, colAccent)
	for _, l := range r.wrap(partyHeading(r.doc.Seller), leftW) {
		r.text(marginX, y, leftW, 7, l, "L")
		y += 7
	}
	y += 1
	r.font("", 9, colMuted)
	for _, l := range partyDetails(r.doc.Seller) {
		for _, wl := range r.wrap(l, leftW) {
			r.text(marginX, y, leftW, 4.4, wl, "L")
			y += 4.4
		}
	}
	leftY := y

	// Title and references, top right.
	rx, rw := marginX+bodyW-72, 72.0
	y = marginT - 1
	r.font("B", 22, colInk)
	r.text(rx, y, rw, 10, r.title, "R")
	y += 14
	type kv struct{ k, v string }
	rows := []kv{
		{r.title + " no.", inv.Number},
		{"Issue date", fmtDate(inv.IssuedOn)},
		{"Due date", fmtDate(inv.DueOn)},
		{"Status", statusLabel(inv.Status)},
	}
	if inv.Status == fulfill.InvoicePaid && inv.PaidAt != nil {
		rows = append(rows, kv{"Paid on", fmtDate(fulfill.DateOf(*inv.PaidAt))})
	}
	if inv.PONumber != "" {
		rows = append(rows, kv{"PO number", inv.PONumber})
	}
	for _, row := range rows {
		r.font("", 9, colMuted)
		r.text(rx, y, 30, 5.2, row.k, "L")
		r.font("B", 9, colInk)
		r.text(rx+30, y, rw-30, 5.2, row.v, "R")
		y += 5.2
	}
	rightY := y

	y = max(leftY, rightY) + 7
	r.hline(marginX, marginX+bodyW, y, colRule, 0.3)
	y += 6

	// Buyer.
	top := y
	r.font("B", 7.5, colMuted)
	r.text(marginX, y, leftW, 4, "BILL TO", "L")
	y += 5.5
	r.font("B", 10.5, colInk)
	for _, l := range r.wrap(partyHeading(r.doc.Buyer), leftW) {
		r.text(marginX, y, leftW, 5.2, l, "L")
		y += 5.2
	}
	r.font("", 9.5, colInk)
	for _, l := range partyDetails(r.doc.Buyer) {
		for _, wl := range r.wrap(l, leftW) {
			r.text(marginX, y, leftW, 4.6, wl, "L")
			y += 4.6
		}
	}

	switch inv.Status {
	case fulfill.InvoicePaid:
		r.stamp(marginX+bodyW-52, top+4, "PAID", colPaid)
	case fulfill.InvoiceVoid:
		r.stamp(marginX+bodyW-52, top+4, "VOID", colVoid)
	}
	return y + 9
}

// stamp draws a slightly rotated rubber-stamp box with word at (x, y).
func (r *renderer) stamp(x, y float64, word string, c rgb) {
	const w, h = 44.0, 15.0
	r.pdf.TransformBegin()
	r.pdf.TransformRotate(12, x+w/2, y+h/2)
	r.pdf.SetDrawColor(c.r, c.g, c.b)
	r.pdf.SetLineWidth(0.9)
	// Rect, not RoundedRect: fpdf v0.9.0's RoundedRect leaves an unbalanced
	// "q" in the content stream, which would keep the rotation for the rest
	// of the page.
	r.pdf.Rect(x, y, w, h, "D")
	r.pdf.SetLineWidth(0.3)
	r.pdf.Rect(x+1.3, y+1.3, w-2.6, h-2.6, "D")
	r.font("B", 22, c)
	r.text(x, y, w, h, word, "C")
	r.pdf.TransformEnd()
}

// tableHeader draws the column titles at y and returns the y below.
func (r *renderer) tableHeader(y float64) float64 {
	const h = 8.0
	r.fillRect(marginX, y, bodyW, h, colShade)
	r.font("B", 8.5, colInk)
	x := marginX
	for i, t := range colHead {
		r.text(x+cellPad, y, colW[i]-2*cellPad, h, t, colAl[i])
		x += colW[i]
	}
	r.hline(marginX, marginX+bodyW, y+h, colMuted, 0.3)
	return y + h
}

// table draws the invoice lines, paginating as needed, and returns the y
// below the table.
func (r *renderer) table(y float64) float64 {
	inv := r.inv
	r.font("", 8, colMuted)
	r.text(marginX, y-5, bodyW, 4, "All amounts in "+inv.Currency, "R")
	y = r.tableHeader(y)

	const lh, padV = 4.3, 1.6
	prorated := false
	for _, l := range inv.Lines {
		if l.Kind == billing.KindTax {
			continue
		}
		r.font("", 9, colInk)
		desc := r.wrap(l.Description, colW[0]-2*cellPad)
		r.font("", 9, colInk)
		period := r.wrap(fmtPeriod(l.PeriodStart, l.PeriodEnd), colW[1]-2*cellPad)
		nDesc := float64(len(desc))
		if l.Proration {
			nDesc++
			prorated = true
		}
		h := max(nDesc, float64(len(period)))*lh + 2*padV
		if y+h > bottom {
			y = r.tableHeader(r.continuation())
		}

		ty := y + padV
		x := marginX + cellPad
		r.font("", 9, colInk)
		for i, s := range desc {
			r.text(x, ty+float64(i)*lh, colW[0]-2*cellPad, lh, s, "L")
		}
		if l.Proration {
			r.font("I", 8, colMuted)
			r.text(x, ty+float64(len(desc))*lh, colW[0]-2*cellPad, lh, "Prorated", "L")
		}
		x += colW[0]
		r.font("", 9, colMuted)
		for i, s := range period {
			r.text(x, ty+float64(i)*lh, colW[1]-2*cellPad, lh, s, "L")
		}
		x += colW[1]
		r.font("", 9, colInk)
		r.text(x, ty, colW[2]-2*cellPad, lh, groupDigits(l.Quantity), "R")
		x += colW[2]
		r.text(x, ty, colW[3]-2*cellPad, lh, r.bare(l.UnitAmount), "R")
		x += colW[3]
		r.text(x, ty, colW[4]-2*cellPad, lh, r.bare(l.Amount), "R")
		y += h
		r.hline(marginX, marginX+bodyW, y, colRule, 0.2)
	}
	if prorated {
		const note = "Prorated lines are charged for the period shown; their unit price is the price for a full term."
		r.font("I", 7.5, colMuted)
		lines := r.wrap(note, bodyW)
		y = r.ensure(y, 2+float64(len(lines))*3.8)
		y += 2
		for _, s := range lines {
			r.text(marginX, y, bodyW, 3.8, s, "L")
			y += 3.8
		}
	}
	return y + 4
}

// totals draws subtotal, tax, total, amount paid and amount due on the right
// and returns the y below them.
func (r *renderer) totals(y float64) float64 {
	inv := r.inv
	const rowH = 6.5
	y = r.ensure(y, 6*rowH+8)
	x, w := marginX+bodyW-82, 82.0
	row := func(label, value string, bold bool, size float64) {
		style := ""
		if bold {
			style = "B"
		}
		r.font(style, size, colInk)
		r.text(x+cellPad, y, w/2, rowH, label, "L")
		r.text(x+w/2, y, w/2-cellPad, rowH, value, "R")
		y += rowH
	}
	row("Subtotal", r.money(inv.Subtotal), false, 9.5)
	row(r.taxLabel(), r.money(inv.Tax), false, 9.5)
	r.hline(x, x+w, y+0.5, colMuted, 0.3)
	y += 1
	row("Total", r.money(inv.Total), true, 10.5)
	row("Amount paid", r.money(inv.AmountPaid), false, 9.5)
	y += 1.5
	r.fillRect(x, y, w, rowH+2, colShade)
	y += 1
	row("Amount due", r.money(inv.AmountDue), true, 11)
	return y + 1 + 8
}

// notes draws the reverse-charge note, the payment terms and the notes.
func (r *renderer) notes(y float64) {
	inv := r.inv
	if inv.ReverseCharge {
		note := strings.TrimSpace(inv.TaxNote)
		if note == "" {
			note = billing.ReverseChargeNote
		}
		const lh = 4.6
		r.font("", 9, colInk)
		lines := r.wrap(note, bodyW-10)
		h := float64(len(lines))*lh + 6
		y = r.ensure(y, h)
		r.fillRect(marginX, y, bodyW, h, colNote)
		r.fillRect(marginX, y, 1.2, h, colNoteBr)
		r.font("", 9, colInk)
		for i, s := range lines {
			r.text(marginX+5, y+3+float64(i)*lh, bodyW-10, lh, s, "L")
		}
		y += h + 7
	}
	section := func(heading string, paras []string) {
		const lh = 4.6
		r.font("", 9, colInk)
		var lines [][]string
		for _, p := range paras {
			if strings.TrimSpace(p) != "" {
				lines = append(lines, r.wrap(p, bodyW))
			}
		}
		if len(lines) == 0 {
			return
		}
		// Keep the heading with at least the first paragraph.
		y = r.ensure(y, 6+float64(len(lines[0]))*lh)
		r.font("B", 9, colInk)
		r.text(marginX, y, bodyW, 5, heading, "L")
		y += 6
		for _, p := range lines {
			for _, s := range p {
				y = r.ensure(y, lh)
				r.font("", 9, colInk)
				r.text(marginX, y, bodyW, lh, s, "L")
				y += lh
			}
			y += 1.5
		}
		y += 4
	}
	section("Payment terms", []string{r.doc.PaymentTerms})
	section("Notes", r.doc.Notes)
}

// --- formatting ---

func (r *renderer) money(a int64) string { return billing.FormatAmount(a, r.inv.Currency) }

// bare formats an amount without the currency code, for the table.
func (r *renderer) bare(a int64) string {
	return strings.TrimPrefix(billing.FormatAmount(a, r.inv.Currency), r.inv.Currency+" ")
}

// taxLabel names the tax row (TaxLabel).
func (r *renderer) taxLabel() string { return TaxLabel(r.inv) }

// TaxLabel names an invoice's tax row, the one label every document uses
// (the PDF, the invoice page, the mails): "VAT 0% (reverse charge)" when
// reverse-charged, else the description of the invoice's tax line (e.g.
// "VAT 20% (FR)"), else "Tax" and the rate.
func TaxLabel(inv *fulfill.Invoice) string {
	return TaxLabelOf(inv.Lines, inv.ReverseCharge, inv.TaxRateBP)
}

// TaxLabelOf is TaxLabel for lines not yet on an invoice (a quote).
func TaxLabelOf(lines []fulfill.InvoiceLine, reverseCharge bool, rateBP int64) string {
	if reverseCharge {
		return "VAT " + formatRate(rateBP) + " (reverse charge)"
	}
	for _, l := range lines {
		if l.Kind == billing.KindTax && strings.TrimSpace(l.Description) != "" {
			return l.Description
		}
	}
	return "Tax " + formatRate(rateBP)
}

// formatRate renders basis points as a percentage: 2000 → "20%", 2550 →
// "25.5%", 810 → "8.1%".
func formatRate(bp int64) string {
	sign := ""
	if bp < 0 {
		sign, bp = "-", -bp
	}
	s := sign + strconv.FormatInt(bp/100, 10)
	if frac := bp % 100; frac != 0 {
		f := strconv.FormatInt(frac, 10)
		if frac < 10 {
			f = "0" + f
		}
		s += "." + strings.TrimRight(f, "0")
	}
	return s + "%"
}

func fmtDate(d fulfill.Date) string {
	if d.IsZero() {
		return "—"
	}
	return d.Time().Format("2 Jan 2006")
}

// fmtPeriod prints start..end (end exclusive) as an inclusive range.
func fmtPeriod(start, end fulfill.Date) string { return Period(start, end) }

// Period prints a period, its end exclusive as stored, with its last day
// included ("1 Dec 2026 – 30 Nov 2027"): the one way every document and
// page shows a period.
func Period(start, end fulfill.Date) string {
	switch {
	case start.IsZero() && end.IsZero():
		return ""
	case start.IsZero():
		return "until " + fmtDate(end.AddDays(-1))
	case end.IsZero():
		return "from " + fmtDate(start)
	}
	last := end.AddDays(-1)
	if !last.After(start) {
		return fmtDate(start)
	}
	return fmtDate(start) + " – " + fmtDate(last)
}

func statusLabel(s string) string {
	switch s {
	case fulfill.InvoiceDraft:
		return "Draft"
	case fulfill.InvoiceOpen:
		return "Open"
	case fulfill.InvoicePaid:
		return "Paid"
	case fulfill.InvoiceVoid:
		return "Void"
	case fulfill.InvoiceUncollectible:
		return "Uncollectible"
	}
	if s == "" {
		return "—"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// partyHeading is the party's company, or its name when it has none.
func partyHeading(p Party) string {
	if s := strings.TrimSpace(p.Company); s != "" {
		return s
	}
	return strings.TrimSpace(p.Name)
}

// cityFirst lists countries that write the postal code after the city.
var cityFirst = map[string]bool{"US": true, "CA": true, "AU": true, "GB": true, "UK": true, "IE": true, "NZ": true}

// vatCountries label the tax id "VAT ID" besides the EU member states.
var vatCountries = map[string]bool{"GB": true, "UK": true, "NO": true, "CH": true}

// partyDetails are the lines printed under the party's heading.
func partyDetails(p Party) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if strings.TrimSpace(p.Company) != "" {
		add(p.Name)
	}
	for _, l := range strings.Split(p.Address, "\n") {
		add(l)
	}
	city, pc := strings.TrimSpace(p.City), strings.TrimSpace(p.PostalCode)
	country := strings.ToUpper(strings.TrimSpace(p.Country))
	if cityFirst[country] {
		add(city + " " + pc)
	} else {
		add(pc + " " + city)
	}
	add(p.Country)
	add(p.Email)
	add(taxIDLine(p))
	return out
}

// taxIDLine is "VAT ID: …" or "Tax ID: …", or empty without a tax id.
func taxIDLine(p Party) string {
	id := strings.TrimSpace(p.TaxID)
	if id == "" {
		return ""
	}
	c := strings.ToUpper(strings.TrimSpace(p.Country))
	if billing.IsEU(c) || vatCountries[c] {
		return "VAT ID: " + id
	}
	return "Tax ID: " + id
}
