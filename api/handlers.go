package api

import (
	"net/http"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request) error {
	plans, err := s.DB.Plans(r.Context())
	if err != nil {
		return err
	}
	addons, err := s.DB.AddOns(r.Context())
	if err != nil {
		return err
	}
	if plans == nil {
		plans = []*fulfill.Plan{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": plans, "add_ons": addons})
}

type planRequest struct {
	Code       string           `json:"code"`
	Name       string           `json:"name"`
	Kind       string           `json:"kind"`
	TermMonths *int             `json:"term_months"`
	Prices     map[string]int64 `json:"prices"`
	// Entitlements the plan grants: {"sso": true, "max_projects": 100}.
	Entitlements *fulfill.Entitlements `json:"entitlements"`
	// MaxInstances is the most active instances (0 or absent: unlimited).
	MaxInstances int `json:"max_instances"`
}

func (s *Server) createPlan(w http.ResponseWriter, r *http.Request) error {
	var req planRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in := commerce.PlanInput{Code: req.Code, Name: req.Name, Kind: req.Kind, Prices: req.Prices, MaxInstances: req.MaxInstances}
	if req.Entitlements != nil {
		in.Entitlements = *req.Entitlements
	}
	if req.TermMonths != nil {
		in.TermMonths = *req.TermMonths
		if in.TermMonths == 0 {
			in.TermMonths = -1 // an explicit 0 is an error, not the default
		}
	}
	p, err := s.Svc.CreatePlan(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, p)
}

type customerRequest struct {
	Email        string `json:"email"`
	Name         string `json:"name"`
	Company      string `json:"company"`
	Address      string `json:"address"`
	City         string `json:"city"`
	PostalCode   string `json:"postal_code"`
	Country      string `json:"country"`
	TaxID        string `json:"tax_id"`
	Currency     string `json:"currency"`
	ContactName  string `json:"subscription_contact_name"`
	ContactEmail string `json:"subscription_contact_email"`
	BillingName  string `json:"billing_contact_name"`
	BillingEmail string `json:"billing_contact_email"`
	Probe        bool   `json:"probe"`
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request) error {
	var req customerRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	answerAs(r, http.StatusCreated, func(c *fulfill.Customer) any { return c })
	c, err := s.Svc.CreateCustomer(r.Context(), commerce.CustomerInput(req))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.DB.Customer(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	cs, err := s.DB.Customers(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(cs, p, func(c *fulfill.Customer) string { return c.ID }))
}

type purchaseRequest struct {
	CustomerID         string `json:"customer_id"`
	Plan               string `json:"plan"`
	Seats              *int64 `json:"seats"`
	StartsOn           string `json:"starts_on"`
	PaymentMethod      string `json:"payment_method"`
	SeatReconciliation bool   `json:"seat_reconciliation"`
	Namespace          string `json:"namespace"`
	Coupon             string `json:"coupon"`
	UnitAmount         *int64 `json:"unit_amount"`
	TrialID            string `json:"trial_id"`
}

type purchaseResponse struct {
	Subscription   *fulfill.Subscription `json:"subscription"`
	Invoice        *fulfill.Invoice      `json:"invoice"`
	ActivationCode *string               `json:"activation_code"`
}

func (s *Server) purchase(w http.ResponseWriter, r *http.Request) error {
	var req purchaseRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Seats == nil {
		return fulfill.FieldError(fulfill.ERequired, "seats", "seats is required.")
	}
	start, err := optDate(req.StartsOn, "starts_on")
	if err != nil {
		return err
	}
	answerAs(r, http.StatusCreated, purchaseView)
	res, err := s.Svc.Purchase(r.Context(), actor(r), commerce.PurchaseInput{CustomerID: req.CustomerID, Plan: req.Plan,
		Seats: *req.Seats, StartsOn: start, PaymentMethod: req.PaymentMethod, SeatReconciliation: req.SeatReconciliation,
		Namespace: req.Namespace, Coupon: req.Coupon, UnitAmount: req.UnitAmount, TrialID: req.TrialID})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, purchaseView(res))
}

func purchaseView(res *commerce.PurchaseResult) any {
	out := purchaseResponse{Subscription: res.Subscription, Invoice: res.Invoice}
	if res.ActivationCode != "" {
		out.ActivationCode = &res.ActivationCode
	}
	return out
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.DB.Subscription(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sub)
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	subs, err := s.DB.Subscriptions(r.Context(), r.URL.Query().Get("customer_id"), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(subs, p, func(s *fulfill.Subscription) string { return s.ID }))
}

func (s *Server) subscriptionVersions(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.DB.Subscription(r.Context(), id); err != nil {
		return err
	}
	vs, err := s.DB.SubscriptionVersions(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": vs})
}

func (s *Server) listSeatReports(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.DB.Subscription(r.Context(), id); err != nil {
		return err
	}
	rs, err := s.DB.SeatReports(r.Context(), id)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []fulfill.SeatReport{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": rs})
}

type seatsRequest struct {
	Seats *int64 `json:"seats"`
}

func (s *Server) seats(w http.ResponseWriter, r *http.Request, preview bool) error {
	var req seatsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Seats == nil {
		return fulfill.FieldError(fulfill.ERequired, "seats", "seats (the new seat total) is required.")
	}
	if !preview {
		answerAs(r, http.StatusOK, func(res *commerce.ChangeResult) any { return res })
	}
	pv, res, err := s.Svc.ChangeSeats(r.Context(), actor(r), r.PathValue("id"), *req.Seats, preview)
	if err != nil {
		return err
	}
	if preview {
		return writeJSON(w, http.StatusOK, pv)
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) previewSeats(w http.ResponseWriter, r *http.Request) error {
	return s.seats(w, r, true)
}
func (s *Server) changeSeats(w http.ResponseWriter, r *http.Request) error {
	return s.seats(w, r, false)
}

type planChangeRequest struct {
	Plan string `json:"plan"`
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request, preview bool) error {
	var req planChangeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !preview {
		answerAs(r, http.StatusOK, func(res *commerce.ChangeResult) any { return res })
	}
	pv, res, err := s.Svc.ChangePlan(r.Context(), actor(r), r.PathValue("id"), req.Plan, preview)
	if err != nil {
		return err
	}
	if preview {
		return writeJSON(w, http.StatusOK, pv)
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) previewPlan(w http.ResponseWriter, r *http.Request) error { return s.plan(w, r, true) }
func (s *Server) changePlan(w http.ResponseWriter, r *http.Request) error  { return s.plan(w, r, false) }

type renewRequest struct {
	Seats         *int64 `json:"seats"`
	PaymentMethod string `json:"payment_method"`
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) error {
	var req renewRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	answerAs(r, http.StatusOK, func(res *commerce.ChangeResult) any { return res })
	res, err := s.Svc.Renew(r.Context(), actor(r), r.PathValue("id"), commerce.RenewInput(req))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

type cancelRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	var req cancelRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	sub, err := s.Svc.Cancel(r.Context(), actor(r), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sub)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.Svc.Resume(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sub)
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.DB.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inv)
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	invs, err := s.DB.Invoices(r.Context(), q.Get("customer_id"), q.Get("subscription_id"), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(invs, p, func(i *fulfill.Invoice) string { return i.ID }))
}

type seatReportRequest struct {
	SubscriptionID string `json:"subscription_id"`
	Date           string `json:"date"`
	MaxUsers       *int64 `json:"max_users"`
	BillableUsers  *int64 `json:"billable_users"`
}

func (s *Server) createSeatReport(w http.ResponseWriter, r *http.Request) error {
	var req seatReportRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	day, err := optDate(req.Date, "date")
	if err != nil {
		return err
	}
	rep, err := s.Svc.RecordSeatReport(r.Context(), commerce.SeatReportInput{SubscriptionID: req.SubscriptionID,
		Date: day, MaxUsers: req.MaxUsers, BillableUsers: req.BillableUsers})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, rep)
}

func (s *Server) getClock(w http.ResponseWriter, r *http.Request) error {
	if s.Jobs == nil || !s.Jobs.Simulated() {
		return fulfill.Errorf(fulfill.ENotFound, "The clock is real; start the server with --simulated-clock to use the test clock.")
	}
	now := s.Svc.Clock.Now()
	out := map[string]any{"now": now, "today": fulfill.DateOf(now)}
	// An advance under way, or one a crash interrupted: the next advance
	// continues from today.
	if st, err := s.DB.ClockState(r.Context()); err != nil {
		return err
	} else if st != nil && st.AdvanceTo != nil {
		out["advancing_to"] = *st.AdvanceTo
	}
	return writeJSON(w, http.StatusOK, out)
}

type advanceRequest struct {
	To string `json:"to"`
}

func (s *Server) advanceClock(w http.ResponseWriter, r *http.Request) error {
	if s.Jobs == nil || !s.Jobs.Simulated() {
		return fulfill.Errorf(fulfill.ENotFound, "The clock is real; start the server with --simulated-clock to use the test clock.")
	}
	var req advanceRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.To == "" {
		return fulfill.FieldError(fulfill.ERequired, "to", "to (YYYY-MM-DD) is required.")
	}
	to, err := optDate(req.To, "to")
	if err != nil {
		return err
	}
	res, err := s.Jobs.Advance(r.Context(), *to)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// optDate parses an optional YYYY-MM-DD field.
func optDate(s, field string) (*fulfill.Date, error) {
	if s == "" {
		return nil, nil
	}
	d, err := fulfill.ParseDate(s)
	if err != nil {
		return nil, fulfill.FieldError(fulfill.EInvalid, field, "%s", err.Error())
	}
	return &d, nil
}
