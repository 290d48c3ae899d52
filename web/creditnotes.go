package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
)

// The console's invoice page: the invoice, its payments and credit notes,
// and for admins a credit note or refund, previewed before it is issued.
// The amounts come from commerce (PreviewCreditNote, IssueCreditNote),
// which owns the transaction, the audit entry and the credit note mail.

func (s *Server) creditNoteRoutes(handle func(string, access, handlerFunc)) {
	handle("GET /admin/invoices/{id}", staff, s.adminInvoice)
	handle("POST /admin/invoices/{id}/credit_notes/preview", adminRole, s.previewCreditNote)
	handle("POST /admin/invoices/{id}/credit_notes", adminRole, s.issueCreditNote)
}

// creditNoteForm is the credit note form's values, as typed.
type creditNoteForm struct {
	Amount, Reason, Method string
}

func (f creditNoteForm) input(currency string) (commerce.CreditNoteInput, error) {
	amt, err := parseAmount(f.Amount, currency)
	if err != nil {
		return commerce.CreditNoteInput{}, err
	}
	return commerce.CreditNoteInput{Amount: &amt, Reason: strings.TrimSpace(f.Reason), Refund: f.Method == "refund"}, nil
}

func readCreditNoteForm(r *http.Request) creditNoteForm {
	return creditNoteForm{Amount: r.PostForm.Get("amount"), Reason: r.PostForm.Get("reason"), Method: r.PostForm.Get("method")}
}

func (s *Server) adminInvoice(w http.ResponseWriter, r *http.Request) error {
	return s.renderAdminInvoice(w, r, 200, creditNoteForm{Method: "credit"}, nil)
}

func (s *Server) renderAdminInvoice(w http.ResponseWriter, r *http.Request, status int, form creditNoteForm, preview *commerce.CreditNotePreview) error {
	ctx := r.Context()
	inv, err := s.db.Invoice(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	cust, err := s.db.Customer(ctx, inv.CustomerID)
	if err != nil {
		return err
	}
	pays, err := s.db.Payments(ctx, inv.ID)
	if err != nil {
		return err
	}
	notes, err := s.db.CreditNotes(ctx, inv.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, status, "admininvoice", "Invoice "+inv.Number, map[string]any{"Invoice": inv, "Customer": cust,
		"Payments": pays, "CreditNotes": notes, "Creditable": inv.Total - inv.AmountCredited, "Form": form, "Preview": preview,
		"IsAdmin": state(r).user.Role == RoleAdmin, "navData": "customers"})
}

func (s *Server) previewCreditNote(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.db.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	form := readCreditNoteForm(r)
	in, err := form.input(inv.Currency)
	if err != nil {
		return err
	}
	p, err := s.svc.PreviewCreditNote(r.Context(), inv.ID, in)
	if err != nil {
		return err
	}
	return s.renderAdminInvoice(w, r, 200, form, p)
}

func (s *Server) issueCreditNote(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.db.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	in, err := readCreditNoteForm(r).input(inv.Currency)
	if err != nil {
		return err
	}
	cn, err := s.svc.IssueCreditNote(r.Context(), actor(r), inv.ID, in)
	if err != nil {
		return err
	}
	what := map[string]string{"refund": "refunded to the card", "account_credit": "kept as account credit",
		"reduce_due": "deducted from the amount due"}[cn.Method]
	return s.flashRedirect(w, r, "/admin/invoices/"+inv.ID, fmt.Sprintf("Credit note %s of %s issued on %s, %s; it was mailed to the billing contact.",
		cn.Number, billing.FormatAmount(cn.Total, cn.Currency), inv.Number, what))
}
