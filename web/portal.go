package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/store"
)

func (s *Server) portalRoutes(handle func(string, access, handlerFunc)) {
	handle("GET /{$}", public, s.home)
	handle("GET /signup", public, s.signupForm)
	handle("POST /signup", public, s.signup)
	handle("GET /confirm", public, s.tokenPage("confirm", "Confirm your email address"))
	handle("POST /confirm", public, s.confirm)
	handle("POST /confirm/resend", public, s.requestLink("confirm"))
	handle("GET /signin", public, s.signinForm)
	handle("POST /signin", public, s.signin)
	handle("POST /signin/link/request", public, s.requestLink("signin"))
	handle("GET /signin/link", public, s.tokenPage("signin", "Sign in with your email link"))
	handle("POST /signin/link", public, s.useSigninLink)
	handle("POST /signout", public, s.signout)
	handle("GET /password/forgot", public, s.forgotForm)
	handle("POST /password/forgot", public, s.requestLink("reset"))
	handle("GET /password/reset", public, s.tokenPage("reset", "Choose a new password"))
	handle("POST /password/reset", public, s.resetPassword)
	handle("GET /eula", public, s.eula)

	handle("GET /buy", customer, s.buyForm)
	handle("GET /buy/review", customer, s.buyReview)
	handle("POST /buy", customer, s.buy)
	handle("GET /subscriptions", customer, s.subscriptions)
	handle("GET /subscriptions/{id}", customer, s.subscription)
	handle("POST /subscriptions/{id}/auto_renew", customer, s.autoRenew)
	handle("GET /subscriptions/{id}/seats", customer, s.seatsForm)
	handle("POST /subscriptions/{id}/seats", customer, s.changeSeats)
	handle("GET /subscriptions/{id}/add_ons", customer, s.addOnsForm)
	handle("POST /subscriptions/{id}/add_ons", customer, s.setAddOn)
	handle("GET /subscriptions/{id}/upgrade", customer, s.upgradeForm)
	handle("POST /subscriptions/{id}/upgrade", customer, s.upgrade)
	handle("GET /subscriptions/{id}/renew", customer, s.renewForm)
	handle("POST /subscriptions/{id}/renew", customer, s.renew)
	handle("GET /subscriptions/{id}/license", customer, s.downloadLicense)
	handle("POST /subscriptions/{id}/license/resend", customer, s.resendLicense)
	handle("POST /subscriptions/{id}/activation_code", customer, s.regenerateCode)
	handle("GET /invoices", customer, s.invoices)
	handle("GET /invoices/{id}", customer, s.invoice)
	handle("GET /account", customer, s.account)
}

type navData struct{ section string }

func (n navData) nav() string { return n.section }

func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	if u := state(r).user; u != nil {
		http.Redirect(w, r, home(u), http.StatusSeeOther)
		return nil
	}
	plans, err := s.db.Plans(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "home", s.cfg.Vendor, map[string]any{"Plans": plans})
}

func (s *Server) eula(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, 200, "eula", "End-user license agreement", nil)
}

// ---- ownership: a user sees only the billing accounts linked to them ----

// myCustomerIDs are the billing accounts the user manages, or the one a
// staff member impersonates.
func (s *Server) myCustomerIDs(r *http.Request) ([]string, error) {
	if st := state(r); st.actingAs != "" {
		return []string{st.actingAs}, nil
	}
	return s.db.UserCustomerIDs(r.Context(), state(r).user.ID)
}

func (s *Server) myCustomers(r *http.Request) ([]*fulfill.Customer, error) {
	ids, err := s.myCustomerIDs(r)
	if err != nil {
		return nil, err
	}
	cs := make([]*fulfill.Customer, 0, len(ids))
	for _, id := range ids {
		c, err := s.db.Customer(r.Context(), id)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func (s *Server) owns(r *http.Request, customerID string) (bool, error) {
	ids, err := s.myCustomerIDs(r)
	return slices.Contains(ids, customerID), err
}

var errNotFound = fulfill.Errorf(fulfill.ENotFound, "Not found.")

// ownSubscription loads a subscription of one of the user's accounts;
// anything else, existing or not, is not found.
func (s *Server) ownSubscription(r *http.Request) (*fulfill.Subscription, error) {
	sub, err := s.db.Subscription(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if ok, err := s.owns(r, sub.CustomerID); err != nil || !ok {
		return nil, firstErr(err, errNotFound)
	}
	return sub, nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (s *Server) planNames(r *http.Request) (map[string]*fulfill.Plan, []*fulfill.Plan, error) {
	plans, err := s.db.Plans(r.Context())
	if err != nil {
		return nil, nil, err
	}
	m := map[string]*fulfill.Plan{}
	for _, p := range plans {
		m[p.Code] = p
	}
	return m, plans, nil
}

// ---- buy ----

// testCards are offered when the test payment provider is in use.
var testCards = []struct{ ID, Label string }{
	{"pm_card_visa", "Visa •••• 4242 (test)"},
	{"pm_card_mastercard", "Mastercard •••• 4444 (test)"},
	{"pm_card_chargeDeclined", "Card that is declined (test)"},
}

type buyData struct {
	navData
	Plans    []*fulfill.Plan
	Accounts []*fulfill.Customer
	Cards    any
	// StripeKey is set when cards are entered in Stripe's card form.
	StripeKey string
	Quote     *commerce.Quote
	Account   *fulfill.Customer // the chosen existing account
	Q         url.Values
	Err       string
	Field     string
}

func (s *Server) buyData(r *http.Request) (*buyData, error) {
	_, plans, err := s.planNames(r)
	if err != nil {
		return nil, err
	}
	accts, err := s.myCustomers(r)
	if err != nil {
		return nil, err
	}
	d := &buyData{navData: navData{"buy"}, Plans: plans, Accounts: accts, Cards: testCards, Q: r.Form}
	if s.cfg.StripePublishableKey != "" {
		d.Cards, d.StripeKey = nil, s.cfg.StripePublishableKey
	}
	return d, nil
}

func (s *Server) buyForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.buyData(r)
	if err != nil {
		return err
	}
	if r.Form.Get("plan") == "" {
		r.Form.Set("plan", "sm-premium")
	}
	if r.Form.Get("seats") == "" {
		r.Form.Set("seats", "10")
	}
	if r.Form.Get("pay") == "" {
		r.Form.Set("pay", "card")
	}
	return s.render(w, r, 200, "buy", "Buy a subscription", d)
}

// quote validates the order form and prices it.
func (s *Server) quote(r *http.Request, d *buyData) error {
	f := r.Form
	seats, err := strconv.ParseInt(strings.TrimSpace(f.Get("seats")), 10, 64)
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "seats", "Enter a number of seats.")
	}
	in := commerce.QuoteInput{Plan: f.Get("plan"), Seats: seats, Coupon: strings.TrimSpace(f.Get("coupon"))}
	if acct := f.Get("account"); acct != "" && acct != "new" {
		for _, c := range d.Accounts {
			if c.ID == acct {
				d.Account = c
			}
		}
		if d.Account == nil {
			return fulfill.FieldError(fulfill.EInvalid, "account", "Choose one of your billing accounts.")
		}
		in.Country, in.TaxID, in.Currency = d.Account.Country, d.Account.TaxID, d.Account.Currency
	} else {
		if err := accountLengths(f); err != nil {
			return err
		}
		switch {
		case strings.TrimSpace(f.Get("company")) == "":
			return fulfill.FieldError(fulfill.ERequired, "company", "Enter your company (or your name, if you buy for yourself).")
		case !fulfill.ValidCountry(strings.ToUpper(strings.TrimSpace(f.Get("country")))):
			return fulfill.FieldError(fulfill.ERequired, "country", "Choose your country.")
		}
		in.Country, in.TaxID = strings.ToUpper(strings.TrimSpace(f.Get("country"))), strings.TrimSpace(f.Get("tax_id"))
	}
	switch f.Get("pay") {
	case "invoice":
	case "card":
		// With Stripe the card is entered on the review page, in Stripe's form.
		if d.StripeKey == "" && !s.svc.Payments.ValidMethod(f.Get("card")) {
			return fulfill.FieldError(fulfill.EInvalid, "card", "Choose a card.")
		}
	default:
		return fulfill.FieldError(fulfill.ERequired, "pay", "Choose how to pay.")
	}
	q, err := s.svc.QuotePurchase(r.Context(), in)
	if err != nil {
		return err
	}
	d.Quote = q
	return nil
}

func (s *Server) buyReview(w http.ResponseWriter, r *http.Request) error {
	d, err := s.buyData(r)
	if err != nil {
		return err
	}
	if err := s.quote(r, d); err != nil {
		return s.formFail(w, r, "buy", "Buy a subscription", d, err)
	}
	if err := s.reviewCards(r, d); err != nil {
		return err
	}
	return s.render(w, r, 200, "review", "Review your order", d)
}

// formFail shows a form again with the error of a field, or fails the
// request when the error is not the user's.
func (s *Server) formFail(w http.ResponseWriter, r *http.Request, tmpl, title string, d *buyData, err error) error {
	var fe *fulfill.Error
	code := fulfill.ErrorCode(err)
	if code == fulfill.EInternal {
		return err
	}
	if e, ok := err.(*fulfill.Error); ok {
		fe = e
	} else {
		fe = &fulfill.Error{Message: fulfill.ErrorMessage(err)}
	}
	d.Err, d.Field = fe.Message, fe.Field
	return s.render(w, r, statusOf(code), tmpl, title, d)
}

func (s *Server) buy(w http.ResponseWriter, r *http.Request) error {
	d, err := s.buyData(r)
	if err != nil {
		return err
	}
	if err := s.quote(r, d); err != nil {
		return s.formFail(w, r, "buy", "Buy a subscription", d, err)
	}
	if r.PostForm.Get("eula") != EULAVersion {
		return s.formFail(w, r, "review", "Review your order", d,
			fulfill.FieldError(fulfill.ERequired, "eula", "Accept the end-user license agreement to continue."))
	}
	u := state(r).user
	cust := d.Account
	if cust == nil && state(r).actingAs != "" {
		return fulfill.Errorf(fulfill.EForbidden, "Staff acting as a customer can only buy for that customer's account.")
	}
	if cust == nil {
		cust, err = s.svc.CreateCustomer(r.Context(), commerce.CustomerInput{Email: u.Email, Name: u.Name,
			Company: strings.TrimSpace(r.PostForm.Get("company")), Country: r.PostForm.Get("country"),
			TaxID: strings.TrimSpace(r.PostForm.Get("tax_id")), Address: r.PostForm.Get("address"),
			City: r.PostForm.Get("city"), PostalCode: r.PostForm.Get("postal_code")})
		if err != nil {
			return s.formFail(w, r, "buy", "Buy a subscription", d, err)
		}
		if err := s.svc.LinkUser(r.Context(), u.ID, cust.ID); err != nil {
			return err
		}
		// From here on the account exists: a retry (after a declined card)
		// uses it instead of creating another.
		r.Form.Set("account", cust.ID)
		d.Accounts = append(d.Accounts, cust)
		d.Account = cust
	}
	if err := s.svc.AcceptEULA(r.Context(), clientIP(r), cust.ID, u.ID, EULAVersion); err != nil {
		return err
	}
	pm := commerce.PayByInvoice
	if r.PostForm.Get("pay") == "card" {
		pm = r.PostForm.Get("card")
		if !s.svc.Payments.ValidMethod(pm) {
			return s.formFail(w, r, "review", "Review your order", d,
				fulfill.FieldError(fulfill.EInvalid, "card", "Enter your card in the card form (it needs JavaScript), or go back and choose to pay by invoice."))
		}
	}
	res, err := s.svc.Purchase(r.Context(), actor(r), commerce.PurchaseInput{CustomerID: cust.ID, Plan: r.PostForm.Get("plan"),
		Seats: d.Quote.Lines[0].Quantity, PaymentMethod: pm, Namespace: strings.TrimSpace(r.PostForm.Get("namespace")),
		Coupon: strings.TrimSpace(r.PostForm.Get("coupon")), TrialID: r.PostForm.Get("trial")})
	if err != nil {
		if cerr := s.reviewCards(r, d); cerr != nil {
			return cerr
		}
		return s.formFail(w, r, "review", "Review your order", d, declinedCard(err))
	}
	msg := ""
	if res.ActivationCode != "" {
		msg = "secret:" + res.ActivationCode
	}
	return s.flashRedirect(w, r, "/subscriptions/"+res.Subscription.ID+"?welcome=1", msg)
}

// ---- subscriptions ----

type subRow struct {
	*fulfill.Subscription
	PlanName string
	Account  *fulfill.Customer
}

func (s *Server) subscriptions(w http.ResponseWriter, r *http.Request) error {
	accts, err := s.myCustomers(r)
	if err != nil {
		return err
	}
	names, _, err := s.planNames(r)
	if err != nil {
		return err
	}
	var rows []subRow
	for _, c := range accts {
		subs, err := s.db.Subscriptions(r.Context(), c.ID, fulfill.Page{Limit: 100})
		if err != nil {
			return err
		}
		for _, sub := range subs {
			rows = append(rows, subRow{sub, planName(names, sub.Plan), c})
		}
	}
	return s.render(w, r, 200, "subscriptions", "Subscriptions", map[string]any{"Rows": rows, "navData": "subscriptions",
		"HasAccount": len(accts) > 0})
}

func planName(names map[string]*fulfill.Plan, code string) string {
	if p, ok := names[code]; ok {
		return p.Name
	}
	return code
}

type subDetail struct {
	navData
	Sub         *fulfill.Subscription
	PlanName    string
	Customer    *fulfill.Customer
	License     *fulfill.License
	Chart       string
	Reports     []fulfill.SeatReport
	Latest      *fulfill.SeatReport
	Invoices    []*fulfill.Invoice
	Versions    []fulfill.SubscriptionVersion
	Upgrades    []*fulfill.Plan
	Welcome     bool
	Preview     *commerce.Preview
	Seats       string
	Plan        *fulfill.Plan
	Err, Field  string
	RenewPrice  int64
	MaxUsers    int64
	TrueUpSeats int64
	Panel       instancePanel
	// Renewal is the next renewal (scheduled change, expected amount);
	// RenewPreview a renewal priced now; RenewalPlans the plans a
	// renewal may move to (issue 14).
	Renewal      *commerce.RenewalSchedule
	RenewPreview *commerce.RenewalPreview
	RenewalPlans []*fulfill.Plan
	RenewalPlan  string
	Card         string // the card renewals are charged to, "" by invoice
	PlanNames    map[string]*fulfill.Plan
}

// previewFailed shows a refused preview on the form, by the field at
// fault; a failure on our side is returned instead.
func (d *subDetail) previewFailed(err error, field string) error {
	if fulfill.ErrorCode(err) == fulfill.EInternal {
		return err
	}
	d.Err, d.Field = fulfill.ErrorMessage(err), field
	return nil
}

func (s *Server) subDetail(r *http.Request) (*subDetail, error) {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return nil, err
	}
	names, plans, err := s.planNames(r)
	if err != nil {
		return nil, err
	}
	cust, err := s.db.Customer(r.Context(), sub.CustomerID)
	if err != nil {
		return nil, err
	}
	d := &subDetail{navData: navData{"subscriptions"}, Sub: sub, PlanName: planName(names, sub.Plan), Customer: cust, PlanNames: names}
	for _, p := range plans {
		if p.Kind == sub.Kind && p.Code != sub.Plan && p.Prices[sub.Currency] > sub.UnitAmount {
			d.Upgrades = append(d.Upgrades, p)
		}
	}
	return d, nil
}

func (s *Server) subscription(w http.ResponseWriter, r *http.Request) error {
	d, err := s.subDetail(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if d.Sub.LicenseID != nil {
		if d.License, err = s.db.License(ctx, *d.Sub.LicenseID); err != nil {
			return err
		}
	}
	if d.Reports, err = s.db.SeatReports(ctx, d.Sub.ID); err != nil {
		return err
	}
	if n := len(d.Reports); n > 0 {
		d.Latest = &d.Reports[n-1]
	}
	d.Chart = seatChart(d.Reports, d.Sub.Seats, d.Sub.StartsOn, d.Sub.EndsOn)
	if d.Panel, err = s.loadInstancePanel(ctx, d.Sub.CustomerID, d.Sub.ID, d.Reports); err != nil {
		return err
	}
	if d.Invoices, err = s.db.Invoices(ctx, d.Sub.CustomerID, d.Sub.ID, fulfill.Page{Limit: 50}); err != nil {
		return err
	}
	if d.Versions, err = s.db.SubscriptionVersions(ctx, d.Sub.ID); err != nil {
		return err
	}
	slices.Reverse(d.Versions)
	if d.Card, err = s.renewalCard(r, d.Sub); err != nil {
		return err
	}
	if !d.Sub.Trial && d.Sub.State != fulfill.StateExpired {
		if d.Renewal, err = s.svc.Renewal(ctx, d.Sub.ID); err != nil {
			return err
		}
	}
	d.Welcome = r.URL.Query().Get("welcome") == "1"
	return s.render(w, r, 200, "subscription", d.PlanName, d)
}

func (s *Server) autoRenew(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	if r.PostForm.Get("auto_renew") == "on" {
		if _, err := s.svc.Resume(r.Context(), actor(r), sub.ID); err != nil {
			return err
		}
		return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, "Auto-renew is on: the subscription renews on "+day(sub.EndsOn)+".")
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		return fulfill.FieldError(fulfill.ERequired, "reason", "Tell us why you turn auto-renew off: it helps us improve.")
	}
	if _, err := s.svc.Cancel(r.Context(), actor(r), sub.ID, reason); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, "Auto-renew is off: the subscription ends on "+day(sub.EndsOn)+".")
}

func day(d fulfill.Date) string { return d.Time().Format("2 Jan 2006") }

func (s *Server) seatsForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.subDetail(r)
	if err != nil {
		return err
	}
	d.Seats = strings.TrimSpace(r.URL.Query().Get("seats"))
	if d.Seats != "" {
		n, err := strconv.ParseInt(d.Seats, 10, 64)
		if err != nil {
			d.Err, d.Field = "Enter a whole number of seats.", "seats"
		} else if d.Preview, _, err = s.svc.ChangeSeats(r.Context(), actor(r), d.Sub.ID, n, true); err != nil {
			if err := d.previewFailed(err, "seats"); err != nil {
				return err
			}
		}
	}
	return s.render(w, r, 200, "seats", "Add seats", d)
}

func (s *Server) changeSeats(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(r.PostForm.Get("seats"), 10, 64)
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "seats", "Enter a whole number of seats.")
	}
	_, res, err := s.svc.ChangeSeats(r.Context(), actor(r), sub.ID, n, false)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, fmt.Sprintf("You now have %d seats. Invoice %s: %s.",
		res.Subscription.Seats, res.Invoice.Number, res.Invoice.Status))
}

func (s *Server) upgradeForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.subDetail(r)
	if err != nil {
		return err
	}
	if code := r.URL.Query().Get("plan"); code != "" {
		for _, p := range d.Upgrades {
			if p.Code == code {
				d.Plan = p
			}
		}
		if d.Plan == nil {
			d.Err, d.Field = "Choose one of the plans below.", "plan"
		} else if d.Preview, _, err = s.svc.ChangePlan(r.Context(), actor(r), d.Sub.ID, code, true); err != nil {
			if err := d.previewFailed(err, "plan"); err != nil {
				return err
			}
		}
	}
	return s.render(w, r, 200, "upgrade", "Upgrade", d)
}

func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	_, res, err := s.svc.ChangePlan(r.Context(), actor(r), sub.ID, r.PostForm.Get("plan"), false)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, fmt.Sprintf("Upgraded to %s. Invoice %s: %s.",
		res.Subscription.Plan, res.Invoice.Number, res.Invoice.Status))
}

func (s *Server) renewForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.subDetail(r)
	if err != nil {
		return err
	}
	reports, err := s.db.SeatReports(r.Context(), d.Sub.ID)
	if err != nil {
		return err
	}
	for _, rep := range reports {
		if !rep.Date.Before(d.Sub.StartsOn) && rep.Date.Before(d.Sub.EndsOn) {
			d.MaxUsers = max(d.MaxUsers, rep.MaxUsers)
		}
	}
	d.TrueUpSeats = max(0, d.MaxUsers-d.Sub.Seats)
	if d.RenewPreview, err = s.svc.PreviewRenewal(r.Context(), d.Sub.ID, nil); err != nil {
		return err
	}
	return s.render(w, r, 200, "renew", "Renew", d)
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	res, err := s.svc.Renew(r.Context(), actor(r), sub.ID, commerce.RenewInput{})
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/invoices/"+res.Invoice.ID, fmt.Sprintf("Renewed until %s.", day(res.Subscription.EndsOn)))
}

func (s *Server) downloadLicense(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	l, err := s.svc.CurrentLicense(r.Context(), sub.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s"`, sub.ID, commerce.LicenseFileName))
	_, err = w.Write([]byte(l.File))
	return err
}

func (s *Server) resendLicense(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	e, err := s.svc.ResendLicense(r.Context(), actor(r), clientIP(r), sub.ID)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, "The license is on its way to "+e.To+".")
}

func (s *Server) regenerateCode(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	code, err := s.svc.RegenerateActivationCode(r.Context(), actor(r), clientIP(r), sub.ID)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, "secret:"+code)
}

// ---- invoices ----

func (s *Server) invoices(w http.ResponseWriter, r *http.Request) error {
	accts, err := s.myCustomers(r)
	if err != nil {
		return err
	}
	var invs []*fulfill.Invoice
	for _, c := range accts {
		list, err := s.db.Invoices(r.Context(), c.ID, "", fulfill.Page{Limit: 200})
		if err != nil {
			return err
		}
		invs = append(invs, list...)
	}
	slices.SortFunc(invs, func(a, b *fulfill.Invoice) int { return strings.Compare(b.ID, a.ID) })
	return s.render(w, r, 200, "invoices", "Invoices", map[string]any{"Invoices": invs, "navData": "invoices"})
}

func (s *Server) invoice(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.db.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if ok, err := s.owns(r, inv.CustomerID); err != nil || !ok {
		return firstErr(err, errNotFound)
	}
	cust, err := s.db.Customer(r.Context(), inv.CustomerID)
	if err != nil {
		return err
	}
	pays, err := s.db.Payments(r.Context(), inv.ID)
	if err != nil {
		return err
	}
	cards, err := s.cardChoices(r, cust.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "invoice", "Invoice "+inv.Number, map[string]any{"Invoice": inv, "Customer": cust,
		"Payments": pays, "Cards": cards, "navData": "invoices", "HowToPay": invoicepdf.HowToPay(s.cfg.Seller, inv)})
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) error {
	accts, err := s.myCustomers(r)
	if err != nil {
		return err
	}
	type acct struct {
		*fulfill.Customer
		EULA []store.EULAAcceptance
	}
	var rows []acct
	for _, c := range accts {
		e, err := s.db.EULAAcceptances(r.Context(), c.ID)
		if err != nil {
			return err
		}
		rows = append(rows, acct{c, e})
	}
	return s.render(w, r, 200, "account", "Billing accounts", map[string]any{"Accounts": rows, "navData": "account"})
}
