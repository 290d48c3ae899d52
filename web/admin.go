package web

import (
	"time"

	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/store"
)

// Staff roles.
const (
	RoleAdmin    = "admin"     // everything
	RoleSupport  = "support"   // look up customers, resend licenses, trials and extensions
	RoleReadOnly = "read_only" // look only
)

// ValidRole reports whether role is a staff role.
func ValidRole(role string) bool {
	return role == RoleAdmin || role == RoleSupport || role == RoleReadOnly
}

func (s *Server) adminRoutes(handle func(string, access, handlerFunc)) {
	handle("GET /admin/signin", public, s.adminSigninForm)
	handle("POST /admin/signin", public, s.signin)
	handle("POST /admin/signout", public, s.signout)
	handle("GET /admin", staff, s.dashboard)
	handle("GET /admin/customers", staff, s.searchCustomers)
	handle("GET /admin/customers/{id}", staff, s.customerPicture)
	handle("POST /admin/customers/{id}/trial", staffRW, s.adminTrial)
	handle("POST /admin/subscriptions/{id}/resend", staffRW, s.adminResend)
	handle("POST /admin/subscriptions/{id}/forward", staffRW, s.adminForward)
	handle("POST /admin/subscriptions/{id}/extension", staffRW, s.adminExtension)
	handle("GET /admin/audit", staff, s.auditLog)
	handle("GET /admin/emails", staff, s.emails)
	handle("GET /admin/emails/{id}", staff, s.email)
}

// CreateStaff adds a staff account (the first admin comes from the CLI).
// It returns the new user.
func CreateStaff(ctx context.Context, db *store.DB, clock fulfill.Clock, email, name, role, password string) (*store.User, error) {
	if !ValidRole(role) {
		return nil, fulfill.FieldError(fulfill.EInvalid, "role", "Role must be admin, support or read_only.")
	}
	if !emailRE.MatchString(email) {
		return nil, fulfill.FieldError(fulfill.EInvalid, "email", "%q is not an email address.", email)
	}
	if msg := passwordProblem(password); msg != "" {
		return nil, fulfill.FieldError(fulfill.EInvalid, "password", "%s", msg)
	}
	svc := &commerce.Service{DB: db, Clock: clock}
	return svc.CreateStaff(ctx, "cli", strings.ToLower(email), name, role, HashPassword(password))
}

func (s *Server) adminSigninForm(w http.ResponseWriter, r *http.Request) error {
	if u := state(r).user; isStaff(u) {
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, 200, "adminsignin", "Staff sign in", nil)
}

// ---- dashboard ----

type dashboard struct {
	navData
	Currency   string
	MRR, ARR   int64
	MRRChart   string
	MRRPoints  []point
	Renewals   []point
	RenewChart string
	SeatsChart string
	Sold, Used int64
	Customers  int
	Active     int
	Others     []point // MRR in other currencies

	ARRPoints     []point
	ARRChart      string
	Movement      []revenueMonth
	MovementChart string
	Overage       []overageRow
	OverSeats     int64
	OverAmount    int64
	AddOnOverage  []addOnOverageRow // add-on seats assigned over purchased
	AddOnOver     int64
	Receivables   []commerce.AgingRow
	AgingChart    string
	// AsOf is when the figures were computed (wall time).
	AsOf time.Time
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	d, err := s.cachedDashboard(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "dashboard", "Dashboard", d)
}

// dashboardData computes the dashboard's figures and charts. The figures
// are aggregates computed by the database (store.DashboardFigures): the
// dashboard reads a few rows per currency, not every subscription.
func (s *Server) dashboardData(ctx context.Context) (*dashboard, error) {
	today := fulfill.Today(s.clock)
	d := &dashboard{navData: navData{"dashboard"}, AsOf: s.wallTime.Now()}
	// MRR at the first of each of the last 12 months, and today. Terms that
	// were renewed count from their current start only: the history is an
	// approximation from current rows.
	first := fulfill.NewDate(today.Time().Year(), today.Time().Month(), 1)
	q := store.DashboardQuery{Today: today}
	for i := 11; i >= 0; i-- {
		on := fulfill.DateOf(first.Time().AddDate(0, -i, 0))
		if i == 0 {
			on = today
		}
		q.On = append(q.On, on)
	}
	windows := []struct {
		label    string
		from, to int
	}{{"Next 30 days", 0, 30}, {"31–60 days", 31, 60}, {"61–90 days", 61, 90}}
	for _, win := range windows {
		q.Windows = append(q.Windows, store.DateWindow{From: today.AddDays(win.from), To: today.AddDays(win.to)})
	}
	figs, err := s.db.DashboardFigures(ctx, q)
	if err != nil {
		return nil, err
	}
	d.Customers = figs.Customers
	// The dashboard's currency is the one with the most revenue now.
	byCur := map[string]int64{}
	var cur *store.CurrencyFigures
	for i := range figs.ByCurrency {
		f := &figs.ByCurrency[i]
		now := f.MRR[len(f.MRR)-1]
		if f.Active > 0 {
			byCur[f.Currency] = now
		}
		d.Active += f.Active
		d.Sold += f.Seats
		d.Used += f.Used
	}
	d.Currency = "USD"
	for _, c := range slices.Sorted(maps.Keys(byCur)) {
		if byCur[c] > byCur[d.Currency] {
			d.Currency = c
		}
	}
	for i := range figs.ByCurrency {
		if f := &figs.ByCurrency[i]; f.Currency == d.Currency {
			cur = f
		}
	}
	for _, c := range slices.Sorted(maps.Keys(byCur)) {
		if c != d.Currency {
			d.Others = append(d.Others, point{Label: c, Value: byCur[c], Text: billing.FormatAmount(byCur[c], c)})
		}
	}
	d.MRR, d.ARR = byCur[d.Currency], byCur[d.Currency]*12
	for i, on := range q.On {
		var v int64
		if cur != nil {
			v = cur.MRR[i]
		}
		d.MRRPoints = append(d.MRRPoints, point{Label: on.Time().Format("Jan 06"), Value: v, Text: billing.FormatAmount(v, d.Currency)})
	}
	d.MRRChart = lineChart("mrr", "Monthly recurring revenue, "+d.Currency,
		fmt.Sprintf("MRR over the last 12 months; now %s (ARR %s).", billing.FormatAmount(d.MRR, d.Currency), billing.FormatAmount(d.ARR, d.Currency)),
		d.MRRPoints, func(v int64) string { return strings.TrimPrefix(compact(v, d.Currency), d.Currency+" ") })
	// Renewals due.
	for i, win := range windows {
		var n, amt int64
		for _, f := range figs.ByCurrency {
			n += f.RenewalCount[i]
			if f.Currency == d.Currency {
				amt += f.RenewalValue[i]
			}
		}
		d.Renewals = append(d.Renewals, point{Label: win.label, Value: n, Text: fmt.Sprintf("%d · %s", n, compact(amt, d.Currency))})
	}
	d.RenewChart = barChart("renewals", "Renewals due", "Subscriptions whose term ends in the next 30, 60 and 90 days.", d.Renewals, nil)
	d.SeatsChart = barChart("seatsold", "Seats sold and used", fmt.Sprintf("%d seats sold, %d billable users in the latest reports.", d.Sold, d.Used),
		[]point{{Label: "Seats sold", Value: d.Sold, Text: fmt.Sprint(d.Sold)}, {Label: "Seats used", Value: d.Used, Text: fmt.Sprint(d.Used)}},
		[]string{"sold", "used"})
	if err := s.dashboardExtras(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// compact writes an amount in whole units with k/M, for chart labels.
func compact(v int64, currency string) string {
	unit := int64(1)
	for i := 0; i < billing.MinorUnits(currency); i++ {
		unit *= 10
	}
	whole := v / unit
	switch {
	case whole >= 1_000_000:
		return fmt.Sprintf("%s %.1fM", currency, float64(whole)/1e6)
	case whole >= 10_000:
		return fmt.Sprintf("%s %dk", currency, whole/1000)
	}
	return fmt.Sprintf("%s %d", currency, whole)
}

// ---- customers ----

func (s *Server) searchCustomers(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var cs []*fulfill.Customer
	var err error
	if q != "" {
		cs, err = s.db.SearchCustomers(r.Context(), q, 50)
	} else {
		cs, err = s.db.Customers(r.Context(), fulfill.Page{Limit: 50})
	}
	if err != nil {
		return err
	}
	if len(cs) == 1 && q != "" {
		http.Redirect(w, r, "/admin/customers/"+cs[0].ID, http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, 200, "customers", "Customers", map[string]any{"Q": q, "Customers": cs, "navData": "customers"})
}

type subPicture struct {
	*fulfill.Subscription
	PlanName string
	Licenses []*fulfill.License
	Reports  []fulfill.SeatReport
	Chart    string
	Panel    instancePanel
}

func (s *Server) customerPicture(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := s.db.Customer(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	names, plans, err := s.planNames(r)
	if err != nil {
		return err
	}
	subs, err := s.db.Subscriptions(ctx, c.ID, fulfill.Page{Limit: 100})
	if err != nil {
		return err
	}
	audit, err := s.db.AuditLog(ctx, "customer", c.ID, fulfill.Page{Limit: 100})
	if err != nil {
		return err
	}
	var pics []subPicture
	for _, sub := range subs {
		p := subPicture{Subscription: sub, PlanName: planName(names, sub.Plan)}
		if p.Licenses, err = s.db.Licenses(ctx, sub.ID); err != nil {
			return err
		}
		if p.Reports, err = s.db.SeatReports(ctx, sub.ID); err != nil {
			return err
		}
		if sub.AddOns, err = s.db.SubscriptionAddOns(ctx, sub.ID); err != nil {
			return err
		}
		p.Chart = seatChart(p.Reports, sub.Seats, sub.StartsOn, sub.EndsOn)
		if p.Panel, err = s.loadInstancePanel(ctx, "", sub.ID, p.Reports); err != nil {
			return err
		}
		p.Panel.CanChange = canChange(state(r).user)
		if len(p.Reports) > 10 {
			p.Reports = p.Reports[len(p.Reports)-10:]
		}
		a, err := s.db.AuditLog(ctx, "subscription", sub.ID, fulfill.Page{Limit: 100})
		if err != nil {
			return err
		}
		audit = append(audit, a...)
		pics = append(pics, p)
	}
	slices.SortFunc(audit, func(a, b *fulfill.AuditEntry) int { return b.At.Compare(a.At) })
	invs, err := s.db.Invoices(ctx, c.ID, "", fulfill.Page{Limit: 100})
	if err != nil {
		return err
	}
	emails, err := s.db.Emails(ctx, c.ID, fulfill.Page{Limit: 50})
	if err != nil {
		return err
	}
	users, err := s.db.CustomerUsers(ctx, c.ID)
	if err != nil {
		return err
	}
	eula, err := s.db.EULAAcceptances(ctx, c.ID)
	if err != nil {
		return err
	}
	reqs, err := s.db.SupportRequests(ctx, store.SupportFilter{CustomerIDs: []string{c.ID}, Limit: 50})
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "customer", c.Company, map[string]any{"C": c, "Subs": pics, "Invoices": invs, "Emails": emails,
		"Audit": audit, "Users": users, "EULA": eula, "Plans": plans, "CanChange": canChange(state(r).user), "navData": "customers",
		"Requests": reqs, "IsAdmin": state(r).user.Role == RoleAdmin})
}

// subscriptionCustomer returns the customer page of a subscription.
func (s *Server) subscriptionCustomer(r *http.Request) (string, error) {
	sub, err := s.db.Subscription(r.Context(), r.PathValue("id"))
	if err != nil {
		return "", err
	}
	return "/admin/customers/" + sub.CustomerID, nil
}

func (s *Server) adminResend(w http.ResponseWriter, r *http.Request) error {
	back, err := s.subscriptionCustomer(r)
	if err != nil {
		return err
	}
	e, err := s.svc.ResendLicense(r.Context(), actor(r), clientIP(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, back, "License resent to "+e.To+".")
}

func (s *Server) adminForward(w http.ResponseWriter, r *http.Request) error {
	back, err := s.subscriptionCustomer(r)
	if err != nil {
		return err
	}
	e, err := s.svc.ForwardLicense(r.Context(), actor(r), clientIP(r), r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("email")))
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, back, "License forwarded to "+e.To+".")
}

func (s *Server) adminExtension(w http.ResponseWriter, r *http.Request) error {
	back, err := s.subscriptionCustomer(r)
	if err != nil {
		return err
	}
	l, err := s.svc.TemporaryExtension(r.Context(), actor(r), clientIP(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, back, "Temporary extension issued: license "+l.ID+" valid until "+day(l.ExpiresAt)+".")
}

func (s *Server) adminTrial(w http.ResponseWriter, r *http.Request) error {
	seats, err := strconv.ParseInt(r.PostForm.Get("seats"), 10, 64)
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "seats", "Enter a number of seats.")
	}
	res, err := s.svc.StartTrial(r.Context(), actor(r), r.PathValue("id"), r.PostForm.Get("plan"), seats)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Trial %s started until %s.", res.Subscription.ID, day(res.Subscription.EndsOn))
	if res.ActivationCode != "" {
		msg += " Activation code: " + res.ActivationCode
	}
	return s.flashRedirect(w, r, "/admin/customers/"+r.PathValue("id"), msg)
}

// ---- audit log and emails ----

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) error {
	entries, err := s.db.AuditLog(r.Context(), "", "", fulfill.Page{Limit: 100, Cursor: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	next := ""
	if len(entries) == 100 {
		next = entries[len(entries)-1].ID
	}
	return s.render(w, r, 200, "audit", "Audit log", map[string]any{"Entries": entries, "Next": next, "navData": "audit"})
}

func (s *Server) emails(w http.ResponseWriter, r *http.Request) error {
	es, err := s.db.Emails(r.Context(), "", fulfill.Page{Limit: 100, Cursor: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	next := ""
	if len(es) == 100 {
		next = es[len(es)-1].ID
	}
	return s.render(w, r, 200, "emails", "Emails", map[string]any{"Emails": es, "Next": next, "navData": "emails"})
}

func (s *Server) email(w http.ResponseWriter, r *http.Request) error {
	e, err := s.db.Email(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if e.Secret && state(r).user.Role != RoleAdmin {
		// A one-time link waiting in the outbox signs its reader in as
		// the recipient: only admins see it.
		e.Body = fulfill.RedactLinks(e.Body, fulfill.LinkHidden)
	}
	return s.render(w, r, 200, "email", e.Subject, map[string]any{"E": e, "navData": "emails"})
}
