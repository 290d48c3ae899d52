package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

// fieldOf is the field an error names, if any.
// discountRoutes are the changes a buyer schedules for renewal and the
// contract price staff set (issue 14).
func (s *Server) discountRoutes(handle func(string, access, handlerFunc)) {
	handle("GET /subscriptions/{id}/renewal", customer, s.renewalForm)
	handle("POST /subscriptions/{id}/renewal", customer, s.scheduleRenewal)
	handle("POST /subscriptions/{id}/renewal/clear", customer, s.clearRenewal)
	handle("POST /admin/subscriptions/{id}/price", adminRole, s.adminContractPrice)
	handle("POST /trial", customer, s.startTrial)
}

// startTrial starts a 30-day trial on one of the buyer's billing accounts
// (one per account); buying later converts it.
func (s *Server) startTrial(w http.ResponseWriter, r *http.Request) error {
	acct := r.PostForm.Get("account")
	if acct == "" {
		return fulfill.FieldError(fulfill.ERequired, "account", "Choose the billing account for the trial.")
	}
	if ok, err := s.owns(r, acct); err != nil {
		return err
	} else if !ok {
		return fulfill.FieldError(fulfill.EInvalid, "account", "Choose one of your billing accounts.")
	}
	seats, err := strconv.ParseInt(strings.TrimSpace(r.PostForm.Get("seats")), 10, 64)
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "seats", "Enter a number of seats.")
	}
	res, err := s.svc.StartTrial(r.Context(), actor(r), acct, r.PostForm.Get("plan"), seats)
	if err != nil {
		return err
	}
	msg := ""
	if res.ActivationCode != "" {
		msg = "secret:" + res.ActivationCode
	}
	return s.flashRedirect(w, r, "/subscriptions/"+res.Subscription.ID+"?welcome=1", msg)
}

// renewalPlans are the plans a renewal may move to: every plan of the
// subscription's kind, lower tiers included.
func (s *Server) renewalPlans(r *http.Request, d *subDetail) ([]*fulfill.Plan, error) {
	_, plans, err := s.planNames(r)
	if err != nil {
		return nil, err
	}
	var out []*fulfill.Plan
	for _, p := range plans {
		if p.Kind == d.Sub.Kind {
			out = append(out, p)
		}
	}
	return out, nil
}

// scheduleInput reads the form of a change for renewal: empty seats keep
// the renewal's own count.
func scheduleInput(seats, plan string) (commerce.ScheduleInput, error) {
	in := commerce.ScheduleInput{Plan: strings.TrimSpace(plan)}
	if seats = strings.TrimSpace(seats); seats != "" {
		n, err := strconv.ParseInt(seats, 10, 64)
		if err != nil {
			return in, fulfill.FieldError(fulfill.EInvalid, "seats", "Enter a whole number of seats.")
		}
		in.Seats = &n
	}
	return in, nil
}

func (s *Server) renewalForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.subDetail(r)
	if err != nil {
		return err
	}
	if d.Renewal, err = s.svc.Renewal(r.Context(), d.Sub.ID); err != nil {
		return err
	}
	plans, err := s.renewalPlans(r, d)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d.Seats = strings.TrimSpace(q.Get("seats"))
	d.RenewalPlans, d.RenewalPlan = plans, q.Get("plan")
	if d.Seats != "" || d.RenewalPlan != "" {
		in, err := scheduleInput(d.Seats, d.RenewalPlan)
		if err == nil {
			d.RenewPreview, err = s.svc.PreviewSchedule(r.Context(), d.Sub.ID, in)
		}
		if err != nil {
			if err := d.previewFailed(err, fieldOf(err)); err != nil {
				return err
			}
		}
	}
	return s.render(w, r, 200, "renewal", "Change at renewal", d)
}

func (s *Server) scheduleRenewal(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	in, err := scheduleInput(r.PostForm.Get("seats"), r.PostForm.Get("plan"))
	if err != nil {
		return err
	}
	rs, err := s.svc.ScheduleRenewal(r.Context(), actor(r), sub.ID, in)
	if err != nil {
		return err
	}
	msg := "Your change is scheduled for the renewal."
	if e := rs.Expected; e != nil {
		msg = commerce.RenewalSentence(e)
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, msg)
}

func (s *Server) clearRenewal(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	if _, err := s.svc.ClearRenewal(r.Context(), actor(r), sub.ID); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, "The change scheduled for renewal is removed.")
}

// adminContractPrice sets or removes (an empty price) a subscription's
// contract price from its next renewal.
func (s *Server) adminContractPrice(w http.ResponseWriter, r *http.Request) error {
	back, err := s.subscriptionCustomer(r)
	if err != nil {
		return err
	}
	in := commerce.ContractPriceInput{Reason: r.PostForm.Get("reason")}
	if v := strings.TrimSpace(r.PostForm.Get("unit_amount")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fulfill.FieldError(fulfill.EInvalid, "unit_amount", "Enter the seat price in minor units (cents), e.g. 30000.")
		}
		in.UnitAmount = &n
	}
	rs, err := s.svc.SetContractPrice(r.Context(), actor(r), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	msg := "Contract price removed: the next renewal is at the catalog price."
	if rs.NextPrice != nil {
		msg = fmt.Sprintf("Contract price %d per seat from the next renewal.", *rs.NextPrice)
	}
	return s.flashRedirect(w, r, back, msg)
}
