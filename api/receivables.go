package api

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/csvsafe"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/store"
)

func (s *Server) receivableRoutes() []route {
	return []route{
		{"GET", "/api/v1/invoices/{id}/pdf", true, false, s.invoicePDF},
		{"GET", "/api/v1/invoices/{id}/payments", true, false, s.invoicePayments},
		{"POST", "/api/v1/invoices/{id}/pay", true, true, s.payInvoice},
		{"POST", "/api/v1/invoices/{id}/payments", true, true, s.wirePayment},
		{"POST", "/api/v1/invoices/{id}/void", true, false, s.voidInvoice},
		{"POST", "/api/v1/invoices/{id}/mark_uncollectible", true, false, s.writeOff},
		{"GET", "/api/v1/invoices/{id}/credit_notes", true, false, s.listCreditNotes},
		{"POST", "/api/v1/invoices/{id}/credit_notes", true, true, s.creditNote},
		{"GET", "/api/v1/credit_notes/{id}", true, false, s.getCreditNote},
		{"GET", "/api/v1/credit_notes/{id}/pdf", true, false, s.creditNotePDF},
		{"POST", "/api/v1/subscriptions/{id}/payment_method", true, false, s.setPaymentMethod},
		{"GET", "/api/v1/receivables/aging", true, false, s.aging},
		{"GET", "/api/v1/ledger/balances", true, false, s.ledgerBalances},
		{"GET", "/api/v1/ledger/entries.csv", true, false, s.ledgerCSV},
		{"POST", "/api/v1/revenue/recognize", true, false, s.recognize},
	}
}

func (s *Server) invoicePayments(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.DB.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ps, err := s.DB.Payments(r.Context(), inv.ID)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []fulfill.Payment{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": ps})
}

func (s *Server) renderPDF(w http.ResponseWriter, r *http.Request, name string, doc invoicepdf.Document) error {
	var buf bytes.Buffer
	if err := invoicepdf.Render(&buf, doc); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+name+`.pdf"`)
	_, err := w.Write(buf.Bytes())
	return err
}

func (s *Server) invoicePDF(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.DB.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	cust, err := s.DB.Customer(r.Context(), inv.CustomerID)
	if err != nil {
		return err
	}
	terms := invoicepdf.HowToPay(s.Seller, inv)
	return s.renderPDF(w, r, inv.Number, invoicepdf.Document{Title: "Invoice", Seller: s.Seller, Buyer: invoicepdf.PartyFromCustomer(cust),
		Invoice: inv, PaymentTerms: terms})
}

func (s *Server) creditNotePDF(w http.ResponseWriter, r *http.Request) error {
	cn, err := s.DB.CreditNote(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	inv, err := s.DB.Invoice(r.Context(), cn.InvoiceID)
	if err != nil {
		return err
	}
	cust, err := s.DB.Customer(r.Context(), cn.CustomerID)
	if err != nil {
		return err
	}
	return s.renderPDF(w, r, cn.Number, commerce.CreditNoteDocument(s.Seller, cust, inv, cn))
}

type payRequest struct {
	PaymentMethod string `json:"payment_method"`
}

func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request) error {
	var req payRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	answerAs(r, http.StatusOK, func(inv *fulfill.Invoice) any { return inv })
	inv, err := s.Svc.PayInvoice(r.Context(), actor(r), r.PathValue("id"), req.PaymentMethod)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inv)
}

type wireRequest struct {
	Amount    *int64 `json:"amount"`
	Reference string `json:"reference"`
}

func (s *Server) wirePayment(w http.ResponseWriter, r *http.Request) error {
	var req wireRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	inv, err := s.Svc.RecordWirePayment(r.Context(), actor(r), r.PathValue("id"), req.Amount, req.Reference)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, inv)
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) voidInvoice(w http.ResponseWriter, r *http.Request) error {
	var req reasonRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	inv, err := s.Svc.VoidInvoice(r.Context(), actor(r), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inv)
}

func (s *Server) writeOff(w http.ResponseWriter, r *http.Request) error {
	var req reasonRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	inv, err := s.Svc.WriteOff(r.Context(), actor(r), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inv)
}

type creditNoteRequest struct {
	Amount *int64 `json:"amount"`
	Reason string `json:"reason"`
	Refund bool   `json:"refund"`
}

func (s *Server) creditNote(w http.ResponseWriter, r *http.Request) error {
	var req creditNoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	answerAs(r, http.StatusCreated, func(cn *store.CreditNote) any { return cn })
	cn, err := s.Svc.IssueCreditNote(r.Context(), actor(r), r.PathValue("id"), commerce.CreditNoteInput(req))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, cn)
}

func (s *Server) listCreditNotes(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.DB.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	cns, err := s.DB.CreditNotes(r.Context(), inv.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": cns})
}

func (s *Server) getCreditNote(w http.ResponseWriter, r *http.Request) error {
	cn, err := s.DB.CreditNote(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cn)
}

func (s *Server) setPaymentMethod(w http.ResponseWriter, r *http.Request) error {
	var req payRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	sub, err := s.Svc.SetPaymentMethod(r.Context(), actor(r), r.PathValue("id"), req.PaymentMethod)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sub)
}

// aging answers the receivables aging report as JSON, or as CSV with
// ?format=csv.
func (s *Server) aging(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.Svc.AgingReport(r.Context())
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("format") {
	case "", "json":
		return writeJSON(w, http.StatusOK, rep)
	case "csv":
	default:
		return fulfill.FieldError(fulfill.EInvalid, "format", "format is json or csv.")
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="aging-`+rep.AsOf.String()+`.csv"`)
	cw := csvsafe.NewWriter(w)
	cw.Write([]string{"customer_id", "company", "currency", "current", "days_1_30", "days_31_60", "days_61_90", "over_90", "total"})
	row := func(a commerce.AgingRow, id, company string) {
		cw.Write([]string{id, company, a.Currency, itoa(a.Current), itoa(a.Days1to30), itoa(a.Days31to60), itoa(a.Days61to90), itoa(a.Over90), itoa(a.Total)})
	}
	for _, a := range rep.Rows {
		row(a, a.CustomerID, a.Company)
	}
	for _, a := range rep.Totals {
		row(a, "TOTAL", "")
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) ledgerBalances(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.DB.Balances(r.Context(), r.URL.Query().Get("by") == "customer")
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []store.Balance{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": bs})
}

// ledgerCSV exports every ledger entry for the accounting system.
func (s *Server) ledgerCSV(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ledger.csv"`)
	cw := csvsafe.NewWriter(w)
	cw.Write([]string{"transaction_id", "effective_on", "kind", "reference_type", "reference_id", "memo", "line", "account",
		"customer_id", "invoice_id", "currency", "debit", "credit", "debit_decimal", "credit_decimal"})
	err := s.DB.EachLedgerEntry(r.Context(), func(e *store.LedgerEntry) error {
		debit, credit := max(e.Amount, 0), max(-e.Amount, 0)
		dec := func(n int64) string {
			if n == 0 {
				return ""
			}
			return billing.FormatDecimal(n, e.Currency)
		}
		return cw.Write([]string{e.TransactionID, e.EffectiveOn.String(), e.Kind, e.ReferenceType, e.ReferenceID, e.Memo,
			strconv.Itoa(e.Position), e.Account, e.CustomerID.String, e.InvoiceID.String, e.Currency, itoa(debit), itoa(credit),
			dec(debit), dec(credit)})
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

func (s *Server) recognize(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Svc.RecognizeRevenue(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"invoices": n})
}
