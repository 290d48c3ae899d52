package web

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/store"
)

// This file holds the console's second part: impersonation, wire payments,
// voiding invoices, catalog prices and jobs.

func (s *Server) consoleRoutes(handle func(string, access, handlerFunc)) {
	handle("POST /admin/customers/{id}/impersonate", staff, s.impersonate)
	handle("POST /impersonation/stop", staff, s.stopImpersonation)
	handle("POST /admin/invoices/{id}/wire", adminRole, s.wirePayment)
	handle("POST /admin/invoices/{id}/void", adminRole, s.voidInvoice)
	handle("GET /admin/catalog", staff, s.catalog)
	handle("POST /admin/catalog", adminRole, s.changePrices)
	handle("GET /admin/jobs", staff, s.jobs)
	handle("POST /admin/jobs/{id}/retry", staffRW, s.retryJob)
	handle("GET /admin/invoices/{id}/pdf", staff, s.adminInvoicePDF)
}

// adminInvoicePDF is any invoice's PDF, for staff: the invoice numbers on
// the console's customer page link to it.
func (s *Server) adminInvoicePDF(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.db.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeInvoicePDF(w, r, inv)
}

// impersonate lets a staff member see the portal as a customer sees it.
// Every role may look; only admins may change anything while doing so.
func (s *Server) impersonate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.db.Customer(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	st := state(r)
	mode := "read_only"
	if st.user.Role == RoleAdmin {
		mode = "read_write"
	}
	if err := s.svc.Impersonate(r.Context(), commerce.Actor(actorOf(st.user)), clientIP(r), st.sess.IDHash, c.ID, mode); err != nil {
		return err
	}
	http.Redirect(w, r, "/subscriptions", http.StatusSeeOther)
	return nil
}

func (s *Server) stopImpersonation(w http.ResponseWriter, r *http.Request) error {
	st := state(r)
	id, err := s.svc.StopImpersonation(r.Context(), commerce.Actor(actorOf(st.user)), clientIP(r), st.sess.IDHash)
	if err != nil {
		return err
	}
	if id == "" {
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/admin/customers/"+id, http.StatusSeeOther)
	return nil
}

// parseAmount reads a decimal amount ("1,234.50") in a currency's minor
// units, exactly.
func parseAmount(s, currency string) (int64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	r, ok := new(big.Rat).SetString(s)
	bad := fulfill.FieldError(fulfill.EInvalid, "amount", "Enter an amount like 1234.50.")
	if !ok || r.Sign() <= 0 {
		return 0, bad
	}
	unit := int64(1)
	for range billing.MinorUnits(currency) {
		unit *= 10
	}
	r.Mul(r, new(big.Rat).SetInt64(unit))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, bad
	}
	return r.Num().Int64(), nil
}

func (s *Server) wirePayment(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.db.Invoice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	amt, err := parseAmount(r.PostForm.Get("amount"), inv.Currency)
	if err != nil {
		return err
	}
	if inv, err = s.svc.RecordWirePayment(r.Context(), actor(r), inv.ID, &amt, strings.TrimSpace(r.PostForm.Get("reference"))); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/customers/"+inv.CustomerID, fmt.Sprintf("Wire payment of %s recorded on %s: %s due.",
		billing.FormatAmount(amt, inv.Currency), inv.Number, billing.FormatAmount(store.DueOf(inv), inv.Currency)))
}

func (s *Server) voidInvoice(w http.ResponseWriter, r *http.Request) error {
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		return fulfill.FieldError(fulfill.ERequired, "reason", "Give the reason for voiding the invoice.")
	}
	inv, err := s.svc.VoidInvoice(r.Context(), actor(r), r.PathValue("id"), reason)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/customers/"+inv.CustomerID, "Invoice "+inv.Number+" is void.")
}

// ---- catalog ----

// currencies offered in the price form.
var catalogCurrencies = []string{"USD", "EUR"}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) error {
	return s.renderCatalog(w, r, 200, "", nil)
}

// renderCatalog shows the catalog; after a refused price change, with the
// error at the plan's form and the values entered kept there.
func (s *Server) renderCatalog(w http.ResponseWriter, r *http.Request, status int, code string, ferr *fulfill.Error) error {
	plans, err := s.db.Plans(r.Context())
	if err != nil {
		return err
	}
	addOns, err := s.db.AddOns(r.Context())
	if err != nil {
		return err
	}
	d := map[string]any{"Plans": plans, "Currencies": catalogCurrencies,
		"CanChange": state(r).user.Role == RoleAdmin, "navData": "catalog", "AddOns": addOns}
	if ferr != nil {
		d["ErrPlan"], d["Err"], d["Field"], d["Posted"] = code, ferr.Message, ferr.Field, r.PostForm
	}
	return s.render(w, r, status, "catalog", "Catalog", d)
}

// changePrices publishes a new version of a plan with new prices;
// subscriptions keep their price until they renew.
func (s *Server) changePrices(w http.ResponseWriter, r *http.Request) error {
	code := r.PostForm.Get("code")
	plans, err := s.db.Plans(r.Context())
	if err != nil {
		return err
	}
	var cur *fulfill.Plan
	for _, p := range plans {
		if p.Code == code {
			cur = p
		}
	}
	if cur == nil {
		return fulfill.FieldError(fulfill.EInvalid, "code", "No plan %q.", code)
	}
	prices := map[string]int64{}
	for _, c := range catalogCurrencies {
		v := strings.TrimSpace(r.PostForm.Get("price_" + c))
		if v == "" {
			continue
		}
		amt, err := parseAmount(v, c)
		if err != nil {
			return s.renderCatalog(w, r, http.StatusUnprocessableEntity, cur.Code,
				fulfill.FieldError(fulfill.EInvalid, "price_"+c, "Enter the %s price like 348.00.", c))
		}
		prices[c] = amt
	}
	ents, err := formEntitlements(r.PostForm.Get("entitlements"), cur.Entitlements, r.PostForm.Has("entitlements"))
	if ferr := (*fulfill.Error)(nil); errors.As(err, &ferr) && statusOf(ferr.Code) < 500 {
		return s.renderCatalog(w, r, statusOf(ferr.Code), cur.Code, ferr)
	} else if err != nil {
		return err
	}
	// The service audits the change, with the old and the new prices.
	p, err := s.svc.CreatePlan(r.Context(), actor(r), commerce.PlanInput{Code: cur.Code, Name: cur.Name, Kind: cur.Kind, TermMonths: cur.TermMonths, Prices: prices,
		Entitlements: ents})
	var ferr *fulfill.Error
	if errors.As(err, &ferr) && statusOf(ferr.Code) < 500 {
		return s.renderCatalog(w, r, statusOf(ferr.Code), cur.Code, ferr)
	}
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/catalog", fmt.Sprintf("%s: version %d published. New purchases and renewals use the new prices.", p.Name, p.Version))
}

// ---- jobs ----

type jobsData struct {
	navData
	Pending, Failed, Retried []*store.Job
	CanChange                bool
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	d := &jobsData{navData: navData{"jobs"}, CanChange: canChange(state(r).user)}
	var err error
	if d.Pending, err = s.db.Jobs(ctx, []string{"available", "scheduled", "running", "pending"}, 0, 100); err != nil {
		return err
	}
	if d.Failed, err = s.db.Jobs(ctx, []string{"retryable", "discarded"}, 0, 100); err != nil {
		return err
	}
	if d.Retried, err = s.db.Jobs(ctx, []string{"completed"}, 2, 100); err != nil {
		return err
	}
	return s.render(w, r, 200, "jobs", "Jobs", d)
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	by := commerce.Actor(actorOf(state(r).user))
	if s.cfg.Jobs == nil {
		err = s.svc.RetryJob(r.Context(), by, clientIP(r), id)
	} else if err = s.cfg.Jobs.RetryJob(r.Context(), id); err == nil {
		err = s.svc.JobRetried(r.Context(), by, clientIP(r), id)
	}
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/jobs", fmt.Sprintf("Job %d will run again.", id))
}

// ---- dashboard additions ----

// revenueMonth is one month's new, renewed and churned revenue.
type revenueMonth struct {
	Label                 string
	New, Renewed, Churned int64
}

// overageRow is a subscription with more users than seats this term.
type overageRow struct {
	Sub      *fulfill.Subscription
	Company  string
	MaxUsers int64
	Over     int64
	Amount   int64 // over × seat price, what the true-up or reconciliation charges for a full term
}

// dashboardExtras adds ARR, revenue movement, overage and receivables.
func (s *Server) dashboardExtras(ctx context.Context, d *dashboard) error {
	for _, p := range d.MRRPoints {
		d.ARRPoints = append(d.ARRPoints, point{Label: p.Label, Value: p.Value * 12, Text: billing.FormatAmount(p.Value*12, d.Currency)})
	}
	d.ARRChart = lineChart("arr", "Annual recurring revenue, "+d.Currency,
		fmt.Sprintf("ARR (MRR × 12) over the last 12 months; now %s.", billing.FormatAmount(d.ARR, d.Currency)),
		d.ARRPoints, func(v int64) string { return strings.TrimPrefix(compact(v, d.Currency), d.Currency+" ") })

	// Revenue movement by month.
	today := fulfill.Today(s.clock).Time()
	first := fulfill.NewDate(today.Year(), today.Month(), 1).Time().AddDate(0, -11, 0)
	events, err := s.db.RevenueEvents(ctx, first)
	if err != nil {
		return err
	}
	d.Movement = make([]revenueMonth, 12)
	for i := range d.Movement {
		d.Movement[i].Label = first.AddDate(0, i, 0).Format("Jan 06")
	}
	for _, e := range events {
		if e.Currency != d.Currency {
			continue
		}
		i := (e.At.Year()-first.Year())*12 + int(e.At.Month()-first.Month())
		if i < 0 || i >= 12 {
			continue
		}
		switch e.Action {
		case "purchase":
			d.Movement[i].New += e.Amount
		case "renew", "auto_renew":
			d.Movement[i].Renewed += e.Amount
		default:
			d.Movement[i].Churned += e.Amount
		}
	}
	d.MovementChart = movementChart(d.Movement, d.Currency)

	// Overage waiting for the true-up or the next reconciliation.
	overs, err := s.db.Overages(ctx)
	if err != nil {
		return err
	}
	for _, o := range overs {
		sub := o.Sub
		row := overageRow{Sub: sub, Company: o.Company, MaxUsers: o.MaxUsers, Over: o.MaxUsers - sub.Seats, Amount: (o.MaxUsers - sub.Seats) * sub.UnitAmount}
		d.Overage = append(d.Overage, row)
		d.OverSeats += row.Over
		if sub.Currency == d.Currency {
			d.OverAmount += row.Amount
		}
	}

	if d.AddOnOverage, d.AddOnOver, err = s.addOnOverage(ctx); err != nil {
		return err
	}

	// Open receivables.
	aging, err := s.svc.AgingReport(ctx)
	if err != nil {
		return err
	}
	d.Receivables = aging.Totals
	for _, t := range aging.Totals {
		if t.Currency == d.Currency {
			d.AgingChart = barChart("aging", "Open receivables, "+d.Currency, fmt.Sprintf("%s open, by days past due.", billing.FormatAmount(t.Total, t.Currency)),
				[]point{{"Not due", t.Current, compact(t.Current, t.Currency)}, {"1–30", t.Days1to30, compact(t.Days1to30, t.Currency)},
					{"31–60", t.Days31to60, compact(t.Days31to60, t.Currency)}, {"61–90", t.Days61to90, compact(t.Days61to90, t.Currency)},
					{"Over 90", t.Over90, compact(t.Over90, t.Currency)}}, []string{"", "late", "late", "late", "late"})
		}
	}
	return nil
}

// movementChart draws new, renewed and churned revenue side by side for
// each month.
func movementChart(months []revenueMonth, currency string) string {
	var b svgBuf
	var total [3]int64
	var top int64
	for _, m := range months {
		top = max(top, m.New, m.Renewed, m.Churned)
		total[0] += m.New
		total[1] += m.Renewed
		total[2] += m.Churned
	}
	svgOpen(&b, "movement", "New, renewed and churned revenue by month, "+currency,
		fmt.Sprintf("Last 12 months: %s new, %s renewed, %s churned.", billing.FormatAmount(total[0], currency),
			billing.FormatAmount(total[1], currency), billing.FormatAmount(total[2], currency)))
	y := yAxis(&b, niceMax(top), func(v int64) string { return strings.TrimPrefix(compact(v, currency), currency+" ") })
	plotW := float64(chartW - padL - padR)
	slot := plotW / float64(max(len(months), 1))
	bw := slot * 0.8 / 3
	for i, m := range months {
		x0 := float64(padL) + slot*float64(i) + slot*0.1
		for j, v := range []int64{m.New, m.Renewed, m.Churned} {
			cls := []string{"new", "renewed", "churned"}[j]
			b.f(`<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %s</title></rect>`, cls,
				x0+bw*float64(j), y(v), bw, y(0)-y(v), m.Label, cls, billing.FormatAmount(v, currency))
		}
		if i%2 == 0 || i == len(months)-1 {
			b.f(`<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x0+bw*1.5, chartH-12, m.Label)
		}
	}
	b.f(`</svg>`)
	return b.String()
}
