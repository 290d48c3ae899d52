package web

import (
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/store"
)

// This file holds support requests: customers open them, follow the
// replies and rate the answer once solved; staff work the queue. Customer
// satisfaction (CSAT) is the share of satisfied ratings.

// CSATGoal is the target share of satisfied ratings, in basis points.
const CSATGoal = 9500

// supportCategories are the kinds of request, in the form's order.
var supportCategories = []struct{ Code, Label string }{
	{"license_error", "License error"},
	{"resend_license", "Resend a license"},
	{"eula", "EULA question"},
	{"billing", "Billing question"},
	{"other", "Other"},
}

func categoryLabel(code string) string {
	for _, c := range supportCategories {
		if c.Code == code {
			return c.Label
		}
	}
	return code
}

func (s *Server) supportRoutes(handle func(string, access, handlerFunc)) {
	handle("GET /support", customer, s.supportList)
	handle("GET /support/new", customer, s.supportForm)
	handle("POST /support", customer, s.openRequest)
	handle("GET /support/{id}", customer, s.supportRequest)
	handle("POST /support/{id}/reply", customer, s.customerReply)
	handle("POST /support/{id}/rate", customer, s.rateRequest)

	handle("GET /admin/support", staff, s.supportQueue)
	handle("GET /admin/support/{id}", staff, s.adminSupportRequest)
	handle("POST /admin/support/{id}/reply", staffRW, s.staffReply)
	handle("POST /admin/support/{id}/solve", staffRW, s.solveRequest)
}

// ---- portal ----

func (s *Server) supportList(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.myCustomerIDs(r)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	reqs, err := s.db.SupportRequests(r.Context(), store.SupportFilter{CustomerIDs: ids})
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "support", "Support", map[string]any{"Requests": reqs, "navData": "support", "HasAccount": len(ids) > 0})
}

type supportFormData struct {
	navData
	Accounts   []*fulfill.Customer
	Subs       []subRow
	Categories any
	Err, Field string
}

func (s *Server) supportFormData(r *http.Request) (*supportFormData, error) {
	accts, err := s.myCustomers(r)
	if err != nil {
		return nil, err
	}
	names, _, err := s.planNames(r)
	if err != nil {
		return nil, err
	}
	d := &supportFormData{navData: navData{"support"}, Accounts: accts, Categories: supportCategories}
	for _, c := range accts {
		subs, err := s.db.Subscriptions(r.Context(), c.ID, fulfill.Page{Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, sub := range subs {
			d.Subs = append(d.Subs, subRow{sub, planName(names, sub.Plan), c})
		}
	}
	return d, nil
}

func (s *Server) supportForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.supportFormData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "supportnew", "Open a support request", d)
}

func (s *Server) openRequest(w http.ResponseWriter, r *http.Request) error {
	d, err := s.supportFormData(r)
	if err != nil {
		return err
	}
	f := r.PostForm
	category, subject, body := f.Get("category"), strings.TrimSpace(f.Get("subject")), strings.TrimSpace(f.Get("body"))
	fail := func(field, msg string) error {
		d.Err, d.Field = msg, field
		return s.render(w, r, http.StatusUnprocessableEntity, "supportnew", "Open a support request", d)
	}
	if len(d.Accounts) == 0 {
		return fail("account", "You have no billing account yet: support requests concern an account's subscriptions.")
	}
	if !slices.ContainsFunc(supportCategories, func(c struct{ Code, Label string }) bool { return c.Code == category }) {
		return fail("category", "Choose what the request is about.")
	}
	// The subscription names the account; without one, the first account.
	cust, subID := d.Accounts[0].ID, ""
	if v := f.Get("subscription"); v != "" {
		i := slices.IndexFunc(d.Subs, func(row subRow) bool { return row.ID == v })
		if i < 0 {
			return fail("subscription", "Choose one of your subscriptions.")
		}
		cust, subID = d.Subs[i].CustomerID, v
	}
	if subject == "" || fulfill.TextLen(subject) > 200 {
		return fail("subject", "Enter a short summary (at most 200 characters).")
	}
	if body == "" || fulfill.TextLen(body) > 10000 {
		return fail("body", "Describe the problem (at most 10,000 characters).")
	}
	u := state(r).user
	req, err := s.svc.OpenSupportRequest(r.Context(), actor(r), clientIP(r), commerce.OpenSupportRequestInput{CustomerID: cust,
		SubscriptionID: subID, UserID: u.ID, Staff: isStaff(u), Category: category, Subject: subject, Body: body})
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/support/"+req.ID, fmt.Sprintf("Request #%d is open: we answer by email and here.", req.Number))
}

// ownRequest loads a request of one of the user's accounts.
func (s *Server) ownRequest(r *http.Request) (*store.SupportRequest, error) {
	req, err := s.db.SupportRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if ok, err := s.owns(r, req.CustomerID); err != nil || !ok {
		return nil, firstErr(err, errNotFound)
	}
	return req, nil
}

type supportThread struct {
	navData
	R         *store.SupportRequest
	Messages  []*store.SupportMessage
	Category  string
	Sub       *fulfill.Subscription
	CanChange bool
}

func (s *Server) thread(r *http.Request, req *store.SupportRequest, nav string) (*supportThread, error) {
	msgs, err := s.db.SupportMessages(r.Context(), req.ID)
	if err != nil {
		return nil, err
	}
	d := &supportThread{navData: navData{nav}, R: req, Messages: msgs, Category: categoryLabel(req.Category), CanChange: canChange(state(r).user)}
	if req.SubscriptionID != "" {
		if d.Sub, err = s.db.Subscription(r.Context(), req.SubscriptionID); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (s *Server) supportRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.ownRequest(r)
	if err != nil {
		return err
	}
	d, err := s.thread(r, req, "support")
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "supportrequest", fmt.Sprintf("Request #%d", req.Number), d)
}

// addMessage adds a message; a customer's message reopens a solved
// request, a staff reply emails the requester.
func (s *Server) addMessage(r *http.Request, req *store.SupportRequest, body string, solve bool) error {
	u := state(r).user
	staffReply := isStaff(u) && strings.HasPrefix(r.URL.Path, "/admin")
	base := s.baseURL(r)
	return s.svc.AddSupportMessage(r.Context(), actor(r), clientIP(r), req, commerce.SupportMessageInput{UserID: u.ID, Body: body,
		Solve: solve, StaffReply: staffReply, Reply: func(requester *store.User, text string) commerce.Mail {
			return commerce.Mail{Subject: fmt.Sprintf("Re: [#%d] %s", req.Number, req.Subject),
				Body: fmt.Sprintf("Hello %s,\n\n%s\n\nFollow the request: %s/support/%s\n", requester.Name, text, base, req.ID)}
		}})
}

func (s *Server) customerReply(w http.ResponseWriter, r *http.Request) error {
	req, err := s.ownRequest(r)
	if err != nil {
		return err
	}
	if err := s.addMessage(r, req, r.PostForm.Get("body"), false); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/support/"+req.ID, "Your message is sent.")
}

func (s *Server) rateRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.ownRequest(r)
	if err != nil {
		return err
	}
	var satisfied bool
	switch r.PostForm.Get("satisfied") {
	case "yes":
		satisfied = true
	case "no":
	default:
		return fulfill.FieldError(fulfill.ERequired, "satisfied", "Say whether you are satisfied.")
	}
	if err := s.svc.RateSupportRequest(r.Context(), actor(r), clientIP(r), req, satisfied, r.PostForm.Get("comment")); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/support/"+req.ID, "Thank you for your rating.")
}

// ---- console ----

type queueData struct {
	navData
	Requests   []*store.SupportRequest
	Ages       map[string]string
	Counts     []point
	Category   string
	Categories any
	CSAT       csat
}

// csat is customer satisfaction for the quarter to date.
type csat struct {
	From      fulfill.Date
	Ratings   int
	Satisfied int
	Share     int64 // basis points; -1 without ratings
	Goal      int64
	Chart     string
}

func (s *Server) csat(r *http.Request) (csat, error) {
	today := fulfill.Today(s.clock).Time()
	qStart := time.Date(today.Year(), time.Month((int(today.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
	ratings, err := s.db.Ratings(r.Context(), qStart)
	if err != nil {
		return csat{}, err
	}
	c := csat{From: fulfill.DateOf(qStart), Ratings: len(ratings), Share: -1, Goal: CSATGoal}
	for _, rt := range ratings {
		if rt.Satisfied {
			c.Satisfied++
		}
	}
	if c.Ratings > 0 {
		c.Share = int64(c.Satisfied) * 10000 / int64(c.Ratings)
	}
	// Weeks from the quarter's start to today, each with its own share.
	weeks := int(today.Sub(qStart).Hours()/(24*7)) + 1
	type wk struct{ n, ok int }
	byWeek := make([]wk, weeks)
	for _, rt := range ratings {
		i := min(int(rt.At.Sub(qStart).Hours()/(24*7)), weeks-1)
		byWeek[i].n++
		if rt.Satisfied {
			byWeek[i].ok++
		}
	}
	var pts []csatPoint
	for i, w := range byWeek {
		p := csatPoint{Label: qStart.AddDate(0, 0, 7*i).Format("2 Jan"), Share: -1, N: w.n}
		if w.n > 0 {
			p.Share = int64(w.ok) * 10000 / int64(w.n)
		}
		pts = append(pts, p)
	}
	desc := "No ratings yet this quarter."
	if c.Ratings > 0 {
		desc = fmt.Sprintf("Quarter to date: %s satisfied of %d ratings, against a goal of %s.", bp(c.Share), c.Ratings, bp(CSATGoal))
	}
	c.Chart = csatChart(pts, desc)
	return c, nil
}

// bp writes basis points as a percentage with one decimal.
func bp(v int64) string { return fmt.Sprintf("%d.%d%%", v/100, v%100/10) }

type csatPoint struct {
	Label string
	Share int64 // basis points; -1: no rating that week
	N     int
}

// csatChart draws the weekly share of satisfied ratings against the goal.
func csatChart(pts []csatPoint, desc string) string {
	var b svgBuf
	svgOpen(&b, "csat", "Customer satisfaction by week", desc)
	y := yAxis(&b, 10000, func(v int64) string { return fmt.Sprintf("%d%%", v/100) })
	plotW := float64(chartW - padL - padR)
	x := func(i int) float64 {
		if len(pts) < 2 {
			return float64(padL) + plotW/2
		}
		return float64(padL) + plotW*float64(i)/float64(len(pts)-1)
	}
	b.f(`<line class="goal" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(CSATGoal), y(CSATGoal))
	b.f(`<text class="label goal-label" x="%d" y="%.1f" text-anchor="end">Goal %s</text>`, chartW-padR-4, y(CSATGoal)+16, bp(CSATGoal))
	var coords []string
	for i, p := range pts {
		if i%2 == 0 || i == len(pts)-1 {
			anchor := "middle"
			switch {
			case i == 0 && len(pts) > 1:
				anchor = "start"
			case i == len(pts)-1 && len(pts) > 1:
				anchor = "end"
			}
			b.f(`<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(i), chartH-12, anchor, html.EscapeString(p.Label))
		}
		if p.Share >= 0 {
			coords = append(coords, fmt.Sprintf("%.1f,%.1f", x(i), y(p.Share)))
		}
	}
	if len(coords) > 1 {
		b.f(`<polyline class="line" points="%s"/>`, strings.Join(coords, " "))
	}
	for i, p := range pts {
		if p.Share >= 0 {
			cls := "dot"
			if p.Share < CSATGoal {
				cls = "dot below"
			}
			b.f(`<circle class="%s" cx="%.1f" cy="%.1f" r="4"><title>Week of %s: %s of %d</title></circle>`, cls, x(i), y(p.Share),
				html.EscapeString(p.Label), bp(p.Share), p.N)
		}
	}
	b.f(`</svg>`)
	return b.String()
}

// age writes how long ago something happened, briefly.
func age(from, now time.Time) string {
	d := now.Sub(from)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func (s *Server) supportQueue(w http.ResponseWriter, r *http.Request) error {
	cat := r.URL.Query().Get("category")
	all, err := s.db.SupportRequests(r.Context(), store.SupportFilter{State: "open", Limit: 1000})
	if err != nil {
		return err
	}
	d := &queueData{navData: navData{"support"}, Category: cat, Categories: supportCategories, Ages: map[string]string{}}
	now := s.now()
	for _, c := range supportCategories {
		var n int64
		for _, req := range all {
			if req.Category == c.Code {
				n++
			}
		}
		d.Counts = append(d.Counts, point{Label: c.Code, Value: n, Text: c.Label})
	}
	for _, req := range all {
		if cat == "" || req.Category == cat {
			d.Requests = append(d.Requests, req)
			d.Ages[req.ID] = age(req.CreatedAt, now)
		}
	}
	if d.CSAT, err = s.csat(r); err != nil {
		return err
	}
	return s.render(w, r, 200, "supportqueue", "Support queue", d)
}

func (s *Server) adminSupportRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.db.SupportRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := s.thread(r, req, "support")
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "supportrequest", fmt.Sprintf("Request #%d", req.Number), d)
}

func (s *Server) staffReply(w http.ResponseWriter, r *http.Request) error {
	req, err := s.db.SupportRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	solve := r.PostForm.Get("solve") == "on"
	if err := s.addMessage(r, req, r.PostForm.Get("body"), solve); err != nil {
		return err
	}
	msg := "Reply sent."
	if solve {
		msg = "Reply sent and request solved."
	}
	return s.flashRedirect(w, r, "/admin/support/"+req.ID, msg)
}

func (s *Server) solveRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.db.SupportRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.addMessage(r, req, r.PostForm.Get("body"), true); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/support/"+req.ID, fmt.Sprintf("Request #%d is solved.", req.Number))
}
