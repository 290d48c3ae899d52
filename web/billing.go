package web

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/store"
)

// This file holds the portal's invoices (PDF, payment) and billing
// accounts (details, managers, payment methods).

func (s *Server) billingRoutes(handle func(string, access, handlerFunc)) {
	handle("GET /invoices/{id}/pdf", customer, s.invoicePDF)
	handle("POST /invoices/{id}/pay", customer, s.payInvoice)
	handle("GET /account/{id}", customer, s.accountPage)
	handle("POST /account/{id}", customer, s.updateAccount)
	handle("POST /account/{id}/invitations", customer, s.invite)
	handle("POST /account/{id}/payment_methods", customer, s.addPaymentMethod)
	handle("POST /account/{id}/payment_methods/{pm}/default", customer, s.defaultPaymentMethod)
	handle("POST /account/{id}/payment_methods/{pm}/delete", customer, s.deletePaymentMethod)
	handle("GET /invitations/accept", customer, s.invitationPage)
	handle("POST /invitations/accept", customer, s.acceptInvitation)
}

// ownInvoice loads an invoice of one of the user's accounts.
func (s *Server) ownInvoice(r *http.Request) (*fulfill.Invoice, error) {
	inv, err := s.db.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if ok, err := s.owns(r, inv.CustomerID); err != nil || !ok {
		return nil, firstErr(err, errNotFound)
	}
	return inv, nil
}

// ownCustomer loads one of the user's billing accounts.
func (s *Server) ownCustomer(r *http.Request) (*fulfill.Customer, error) {
	id := r.PathValue("id")
	if ok, err := s.owns(r, id); err != nil || !ok {
		return nil, firstErr(err, errNotFound)
	}
	return s.db.Customer(r.Context(), id)
}

// InvoiceDocument is an invoice as its PDF shows it.
func InvoiceDocument(seller invoicepdf.Party, c *fulfill.Customer, inv *fulfill.Invoice) invoicepdf.Document {
	terms := invoicepdf.HowToPay(seller, inv)
	return invoicepdf.Document{Title: "Invoice", Seller: seller, Buyer: invoicepdf.PartyFromCustomer(c), Invoice: inv, PaymentTerms: terms}
}

func (s *Server) invoicePDF(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.ownInvoice(r)
	if err != nil {
		return err
	}
	return s.writeInvoicePDF(w, r, inv)
}

// writeInvoicePDF answers an invoice's PDF, as a download.
func (s *Server) writeInvoicePDF(w http.ResponseWriter, r *http.Request, inv *fulfill.Invoice) error {
	c, err := s.db.Customer(r.Context(), inv.CustomerID)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := invoicepdf.Render(&buf, InvoiceDocument(s.cfg.Seller, c, inv)); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="`+inv.Number+`.pdf"`)
	_, err = w.Write(buf.Bytes())
	return err
}

// cardChoice is a card offered in a payment form.
type cardChoice struct {
	ID, Label string
	Default   bool
}

// cardChoices are the account's saved cards, then the test cards when the
// test provider is in use.
func (s *Server) cardChoices(r *http.Request, customerID string) ([]cardChoice, error) {
	pms, err := s.db.PaymentMethods(r.Context(), customerID)
	if err != nil {
		return nil, err
	}
	var out []cardChoice
	seen := map[string]bool{}
	for _, pm := range pms {
		out = append(out, cardChoice{pm.ProviderID, pm.Label + " (saved)", pm.Default})
		seen[pm.ProviderID] = true
	}
	for _, c := range testCards {
		if !seen[c.ID] && s.svc.Payments.ValidMethod(c.ID) {
			out = append(out, cardChoice{ID: c.ID, Label: c.Label})
		}
	}
	return out, nil
}

func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.ownInvoice(r)
	if err != nil {
		return err
	}
	card := r.PostForm.Get("card")
	if !s.svc.Payments.ValidMethod(card) {
		return fulfill.FieldError(fulfill.EInvalid, "card", "Choose a card.")
	}
	if inv, err = s.svc.PayInvoice(r.Context(), actor(r), inv.ID, card); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/invoices/"+inv.ID, "Thank you: invoice "+inv.Number+" is paid.")
}

// ---- billing account ----

type accountData struct {
	navData
	C           *fulfill.Customer
	Users       []*store.User
	Invitations []*store.Invitation
	Pending     int
	MaxPending  int
	Methods     []*store.PaymentMethod
	Cards       []cardChoice
	Countries   map[string]string
	Now         time.Time
	Err, Field  string
	Section     string // the form the error belongs to
	F           map[string]string
}

func (s *Server) accountData(r *http.Request, c *fulfill.Customer) (*accountData, error) {
	ctx := r.Context()
	d := &accountData{navData: navData{"account"}, C: c, MaxPending: commerce.MaxPendingInvitations, Countries: countryNames, Now: s.now()}
	var err error
	if d.Users, err = s.db.CustomerUsers(ctx, c.ID); err != nil {
		return nil, err
	}
	if d.Invitations, err = s.db.Invitations(ctx, c.ID); err != nil {
		return nil, err
	}
	for _, in := range d.Invitations {
		if in.AcceptedAt == nil && in.ExpiresAt.After(d.Now) {
			d.Pending++
		}
	}
	if d.Methods, err = s.db.PaymentMethods(ctx, c.ID); err != nil {
		return nil, err
	}
	for _, tc := range testCards {
		if s.svc.Payments.ValidMethod(tc.ID) {
			d.Cards = append(d.Cards, cardChoice{ID: tc.ID, Label: tc.Label})
		}
	}
	d.F = map[string]string{"name": c.Name, "company": c.Company, "address": c.Address, "city": c.City, "postal_code": c.PostalCode,
		"country": c.Country, "tax_id": c.TaxID, "contact_name": c.ContactName, "contact_email": c.ContactEmail,
		"billing_name": c.BillingName, "billing_email": c.BillingEmail}
	return d, nil
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	c, err := s.ownCustomer(r)
	if err != nil {
		return err
	}
	d, err := s.accountData(r, c)
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "accountedit", c.Company, d)
}

// accountFail shows the account page again with a form's error, or fails
// the request when the error is not the user's.
func (s *Server) accountFail(w http.ResponseWriter, r *http.Request, c *fulfill.Customer, section string, err error, keep bool) error {
	code := fulfill.ErrorCode(err)
	if code == fulfill.EInternal || code == fulfill.ENotFound {
		return err
	}
	d, derr := s.accountData(r, c)
	if derr != nil {
		return derr
	}
	d.Err, d.Section = fulfill.ErrorMessage(err), section
	if fe, ok := err.(*fulfill.Error); ok {
		d.Field = fe.Field
		if section == "details" {
			d.Err = namedError(accountLabels, fe.Field, d.Err)
		}
	}
	if keep {
		for k := range d.F {
			d.F[k] = r.PostForm.Get(k)
		}
	}
	return s.render(w, r, statusOf(code), "accountedit", c.Company, d)
}

func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request) error {
	c, err := s.ownCustomer(r)
	if err != nil {
		return err
	}
	f := r.PostForm.Get
	in := commerce.CustomerUpdate{Name: f("name"), Company: f("company"), Address: f("address"), City: f("city"),
		PostalCode: f("postal_code"), Country: f("country"), TaxID: f("tax_id"), ContactName: f("contact_name"),
		ContactEmail: f("contact_email"), BillingName: f("billing_name"), BillingEmail: f("billing_email")}
	if _, err := s.svc.UpdateCustomer(r.Context(), actor(r), clientIP(r), c.ID, in); err != nil {
		if fe, ok := err.(*fulfill.Error); ok {
			// The service names contact fields in full; the form shortly.
			fe.Field = strings.NewReplacer("subscription_contact_", "contact_", "billing_contact_", "billing_").Replace(fe.Field)
		}
		return s.accountFail(w, r, c, "details", err, true)
	}
	return s.flashRedirect(w, r, "/account/"+c.ID, "The billing account is saved.")
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request) error {
	c, err := s.ownCustomer(r)
	if err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	if !emailRE.MatchString(email) || fulfill.TextLen(email) > 254 {
		return s.accountFail(w, r, c, "managers", fulfill.FieldError(fulfill.EInvalid, "invite_email", "Enter an email address like name@example.com."), false)
	}
	u := state(r).user
	base := s.baseURL(r)
	mail := func(secret string) commerce.Mail {
		return commerce.Mail{Subject: "You are invited to manage " + c.Company + "'s billing account",
			Body: fmt.Sprintf("Hello,\n\n%s invites you to help manage the %s billing account of %s.\n\nAccept the invitation here:\n\n  %s/invitations/accept?token=%s\n\n"+
				"Sign in with this email address (%s) first; if you have no account yet, create one at %s/signup.\nThe invitation works once, for 7 days.\n",
				u.Name, s.cfg.Vendor, c.Company, base, secret, email, base)}
	}
	err = s.svc.Invite(r.Context(), actor(r), clientIP(r), c.ID, email, u.ID, mail)
	if err != nil {
		return s.accountFail(w, r, c, "managers", err, false)
	}
	return s.flashRedirect(w, r, "/account/"+c.ID, "Invitation sent to "+email+". It is valid for 7 days.")
}

func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	in, err := s.db.InvitationByToken(r.Context(), hashSecret(token), s.now())
	data := map[string]any{"Token": token, "navData": "account"}
	if err == nil {
		c, err := s.db.Customer(r.Context(), in.CustomerID)
		if err != nil {
			return err
		}
		data["Invitation"], data["Company"] = in, c.Company
		data["WrongUser"] = !strings.EqualFold(in.Email, state(r).user.Email)
	} else if fulfill.ErrorCode(err) != fulfill.ENotFound {
		return err
	}
	return s.render(w, r, 200, "invitation", "Invitation", data)
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	u := state(r).user
	if state(r).actingAs != "" {
		return fulfill.Errorf(fulfill.EForbidden, "Staff acting as a customer cannot accept invitations.")
	}
	in, err := s.svc.AcceptInvitation(r.Context(), clientIP(r), u, r.PostForm.Get("token"))
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/account/"+in.CustomerID, "Welcome: you now manage this billing account.")
}

// ---- payment methods ----

func (s *Server) addPaymentMethod(w http.ResponseWriter, r *http.Request) error {
	c, err := s.ownCustomer(r)
	if err != nil {
		return err
	}
	card := strings.TrimSpace(r.PostForm.Get("card"))
	if !s.svc.Payments.ValidMethod(card) {
		return s.accountFail(w, r, c, "cards", fulfill.FieldError(fulfill.EInvalid, "card", "That card id is not known to the payment provider."), false)
	}
	label := commerce.CardLabel(card)
	existing, err := s.db.PaymentMethods(r.Context(), c.ID)
	if err != nil {
		return err
	}
	pm := &store.PaymentMethod{CustomerID: c.ID, ProviderID: card, Label: label, Default: len(existing) == 0}
	if err := s.svc.AddPaymentMethod(r.Context(), actor(r), clientIP(r), pm); err != nil {
		if fulfill.ErrorCode(err) == fulfill.EConflict {
			err = fulfill.FieldError(fulfill.EConflict, "card", "This card is already saved.")
		}
		return s.accountFail(w, r, c, "cards", err, false)
	}
	if pm.Default {
		if err := s.applyDefaultCard(r, c.ID, card); err != nil {
			return err
		}
	}
	return s.flashRedirect(w, r, "/account/"+c.ID, label+" is saved.")
}

// ownPaymentMethod finds a saved card of the account.
func (s *Server) ownPaymentMethod(r *http.Request, customerID string) (*store.PaymentMethod, error) {
	pms, err := s.db.PaymentMethods(r.Context(), customerID)
	if err != nil {
		return nil, err
	}
	for _, pm := range pms {
		if pm.ID == r.PathValue("pm") {
			return pm, nil
		}
	}
	return nil, errNotFound
}

// applyDefaultCard makes renewals and retries of the account's live
// subscriptions charge the default card.
func (s *Server) applyDefaultCard(r *http.Request, customerID, card string) error {
	subs, err := s.db.Subscriptions(r.Context(), customerID, fulfill.Page{Limit: 1000})
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if sub.Trial || sub.State == fulfill.StateExpired || sub.PaymentMethod == card {
			continue
		}
		if _, err := s.svc.SetPaymentMethod(r.Context(), actor(r), sub.ID, card); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) defaultPaymentMethod(w http.ResponseWriter, r *http.Request) error {
	c, err := s.ownCustomer(r)
	if err != nil {
		return err
	}
	pm, err := s.ownPaymentMethod(r, c.ID)
	if err != nil {
		return err
	}
	if err := s.svc.SetDefaultPaymentMethod(r.Context(), actor(r), clientIP(r), c.ID, pm.ID); err != nil {
		return err
	}
	if err := s.applyDefaultCard(r, c.ID, pm.ProviderID); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/account/"+c.ID, pm.Label+" is now the default card: renewals of this account's subscriptions are charged to it.")
}

func (s *Server) deletePaymentMethod(w http.ResponseWriter, r *http.Request) error {
	c, err := s.ownCustomer(r)
	if err != nil {
		return err
	}
	pm, err := s.ownPaymentMethod(r, c.ID)
	if err != nil {
		return err
	}
	if pm.Default {
		return fulfill.Errorf(fulfill.EConflict, "Make another card the default before removing this one.")
	}
	if err := s.svc.RemovePaymentMethod(r.Context(), actor(r), clientIP(r), c.ID, pm.ID); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/account/"+c.ID, pm.Label+" is removed.")
}
