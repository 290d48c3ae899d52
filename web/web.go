// Package web serves Fulfill's pages: the customer portal at / and the
// admin console at /admin. Pages are rendered on the server from embedded
// html/template files with one stylesheet and no script they need (a copy
// button is the only one, and optional), so they work in any
// browser, without JavaScript and without loading anything from elsewhere.
//
// Every unsafe request passes Go's cross-origin protection; sessions live in
// the database (only hashes of cookie values are stored); passwords are
// argon2id. A customer user sees only the billing accounts linked to them:
// any other id answers 404, exactly like an id that does not exist.
//
// Pages change nothing themselves: each change of state is one call of a
// service method (commerce, integrations), which owns its transaction and
// audit entry. The edge stays here: throttles, flash messages, cookies.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/clientip"
	"github.com/fulfillhq/fulfill/internal/edgecheck"
	"github.com/fulfillhq/fulfill/internal/hsts"
	"github.com/fulfillhq/fulfill/internal/httpstatus"
	"github.com/fulfillhq/fulfill/internal/seal"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/metrics"
	"github.com/fulfillhq/fulfill/store"
)

//go:embed templates static
var assets embed.FS

// EULAVersion is the end-user license agreement buyers accept; a new text
// gets a new version, and each acceptance records the version accepted.
const EULAVersion = "2026-01"

// Config is what the web server needs.
type Config struct {
	Service *commerce.Service
	DB      *store.DB
	Clock   fulfill.Clock
	Logger  *slog.Logger
	// BaseURL is the public address of the portal (https://billing.example.com),
	// the only origin of emailed links: a request's Host never changes them.
	// Empty: Service.PublicURL; one of the two is required.
	BaseURL string
	// Vendor is the seller's name in page titles and emails.
	Vendor string
	// Seller is the seller as invoice PDFs name it.
	Seller invoicepdf.Party
	// Jobs retries failed jobs from the console; nil makes a failed job
	// available again in River's table directly.
	Jobs JobRetrier
	// DashboardTTL keeps the console dashboard's figures this long; after
	// it, the next request still gets them while they are recomputed in
	// the background. They are recomputed at once when the business day
	// changes. Zero computes them on every request.
	// StripePublishableKey, when set (with the Stripe payment provider),
	// makes the checkout take cards in Stripe's own card form (Stripe.js
	// Elements): card numbers go to Stripe, never to this server.
	StripePublishableKey string
	DashboardTTL         time.Duration
	// ClientIP finds the client's address behind trusted proxies; nil
	// trusts none (the peer address is the client).
	ClientIP *clientip.Resolver
	// WallClock times the throttles on sign-in, sign-up and mail: the real
	// time even when Clock is simulated. Nil: the system clock.
	WallClock fulfill.Clock
}

// JobRetrier makes a failed job available to run again (River's
// Client.JobRetry).
type JobRetrier interface {
	RetryJob(ctx context.Context, id int64) error
}

// Server serves the portal and the console.
type Server struct {
	cfg      Config
	db       *store.DB
	svc      *commerce.Service
	clock    fulfill.Clock
	log      *slog.Logger
	pages    *pageSet
	wallTime fulfill.Clock // for throttles
	css      []byte
	cssTag   string
	handler  http.Handler
	dash     dashboardCache

	// signinSlots holds sign-in attempts from their throttle check to
	// their count, a few at a time, so that a burst of parallel guesses
	// cannot all pass the check before the first is counted.
	signinSlots chan struct{}
}

// New checks the configuration and starts parsing the templates (see
// TemplatesReady).
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.DB == nil {
		return nil, errors.New("web: Service and DB are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.Service.Clock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Vendor == "" {
		cfg.Vendor = "Fulfill"
	}
	if cfg.WallClock == nil {
		cfg.WallClock = fulfill.ClockFunc(time.Now)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = cfg.Service.PublicURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("web: BaseURL %q: want the public http:// or https:// URL, for links in emails", cfg.BaseURL)
	}
	s := &Server{cfg: cfg, db: cfg.DB, svc: cfg.Service, clock: cfg.Clock, log: cfg.Logger, wallTime: cfg.WallClock,
		signinSlots: make(chan struct{}, hashConcurrency)}
	css, err := assets.ReadFile("static/style.css")
	if err != nil {
		return nil, err
	}
	s.css, s.cssTag = css, hashSecret(string(css))[:12]
	s.pages = parsePages()
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler of every page.
func (s *Server) Handler() http.Handler { return s.handler }

// handlerFunc is a page handler; a returned error is rendered as a page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// access says who may reach a route.
type access int

const (
	public    access = iota // anyone
	customer                // a signed-in user (customer or staff)
	staff                   // any staff role
	staffRW                 // staff that may change things: admin, support
	adminRole               // admin only
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, a access, h handlerFunc) {
		mux.Handle(pattern, s.wrap(a, h))
	}
	mux.HandleFunc("GET /static/style.css", s.serveCSS)
	mux.HandleFunc("GET /static/stripe-card.js", serveStripeJS)
	mux.HandleFunc("GET /static/copy.js", serveCopyJS)
	s.portalRoutes(handle)
	s.billingRoutes(handle)
	s.supportRoutes(handle)
	s.adminRoutes(handle)
	s.consoleRoutes(handle)
	s.creditNoteRoutes(handle)
	s.termsRoutes(handle)
	s.integrationRoutes(handle)
	s.instanceRoutes(handle)
	s.discountRoutes(handle)
	mux.Handle("/", s.wrap(public, func(w http.ResponseWriter, r *http.Request) error {
		return fulfill.Errorf(fulfill.ENotFound, "There is no page at %s.", r.URL.Path)
	}))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, fulfill.Errorf(fulfill.EForbidden, "This request came from another site and was refused. Go back, reload the page and try again."))
	}))
	csp := "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if s.cfg.StripePublishableKey == "" {
		csp += "; script-src 'self'" // the copy button's script, nothing inline
	} else {
		// Stripe.js and its card frame, and nothing else from outside.
		csp += "; script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; connect-src https://api.stripe.com"
	}
	return s.cfg.ClientIP.Handler(hsts.Handler(securityHeaders(cop.Handler(mux), csp), s.cfg.BaseURL))
}

func securityHeaders(h http.Handler, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	if r.URL.Query().Get("v") == s.cssTag {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	w.Write(s.css)
}

// ---- request context ----

type ctxKey struct{}

// reqState is what a request carries: the signed-in user, if any.
type reqState struct {
	sess *store.Session
	user *store.User
	// cookie is the raw session id of sess, the key of its sealed flash.
	cookie string
	// actingAs is the customer a staff member impersonates on portal
	// pages, '' otherwise.
	actingAs string
}

func state(r *http.Request) *reqState {
	st, _ := r.Context().Value(ctxKey{}).(*reqState)
	if st == nil {
		return &reqState{}
	}
	return st
}

func isStaff(u *store.User) bool { return u != nil && u.Role != "customer" }

// canChange reports whether a staff member may change data.
func canChange(u *store.User) bool { return u != nil && (u.Role == "admin" || u.Role == "support") }

func (s *Server) wrap(a access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.NoteRoute(r)
		st := &reqState{}
		if err := limitBody(w, r); err != nil {
			s.renderError(w, r, err)
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			sess, u, err := s.db.SessionUser(r.Context(), hashSecret(c.Value), s.clock.Now())
			if err == nil {
				st.sess, st.user, st.cookie = sess, u, c.Value
			} else if fulfill.ErrorCode(err) != fulfill.ENotFound {
				s.renderError(w, r, err)
				return
			}
		}
		if isStaff(st.user) && !strings.HasPrefix(r.URL.Path, "/admin") {
			id, err := s.db.ActingAs(r.Context(), st.sess.IDHash)
			if err != nil {
				s.renderError(w, r, err)
				return
			}
			st.actingAs = id
		}
		r = r.WithContext(fulfill.WithRemoteAddr(context.WithValue(r.Context(), ctxKey{}, st), clientIP(r)))
		w.Header().Set("Cache-Control", "no-store")
		if err := checkText(r); err != nil {
			s.renderError(w, r, err)
			return
		}
		u := st.user
		var err error
		switch {
		case a == public:
		case u == nil:
			signin := "/signin"
			if strings.HasPrefix(r.URL.Path, "/admin") {
				signin = "/admin/signin"
			}
			if r.Method == http.MethodGet {
				signin += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, signin, http.StatusSeeOther)
			return
		case a == customer && isStaff(u) && st.actingAs != "":
			// Impersonation: looking is for every staff role, changing
			// only for admins; a refusal is audited.
			if r.Method != http.MethodGet && r.Method != http.MethodHead && u.Role != RoleAdmin {
				s.auditDenied(r, u)
				err = fulfill.Errorf(fulfill.EForbidden, "You are viewing as the customer, read-only: your role (%s) may not change their data.", strings.ReplaceAll(u.Role, "_", "-"))
			}
		case a == customer && isStaff(u):
			// Staff look at customers from the console, not as one.
			http.Redirect(w, r, "/admin", http.StatusSeeOther)
			return
		case a == customer:
		case !isStaff(u):
			// Customers do not learn that the console exists.
			err = fulfill.Errorf(fulfill.ENotFound, "There is no page at %s.", r.URL.Path)
		case a == staffRW && !canChange(u), a == adminRole && u.Role != "admin":
			s.auditDenied(r, u)
			err = fulfill.Errorf(fulfill.EForbidden, "Your role (%s) may not do this.", strings.ReplaceAll(u.Role, "_", "-"))
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.renderError(w, r, err)
		}
	})
}

// maxParamLength bounds a path or query value, in characters.
const maxParamLength = 2048

// checkText checks every text a page can read (path values, query and form
// fields) before any handler reads it: bad bytes answer 4xx naming the
// field, never 500.
func checkText(r *http.Request) error {
	if err := edgecheck.Params(r, r.Pattern, maxParamLength); err != nil {
		return err
	}
	return edgecheck.Form(r, 0)
}

func (s *Server) auditDenied(r *http.Request, u *store.User) {
	if err := s.svc.PermissionDenied(r.Context(), commerce.Actor(actorOf(u)), clientIP(r), r.Method+" "+r.URL.Path); err != nil {
		s.log.Error("audit", "err", err)
	}
}

// actorOf names a user in version histories and the audit log.
func actorOf(u *store.User) string {
	return string(commerce.UserActor(u))
}

func actor(r *http.Request) commerce.Actor {
	st := state(r)
	if st.actingAs != "" {
		return commerce.Actor(actorOf(st.user) + " as " + st.actingAs)
	}
	return commerce.Actor(actorOf(st.user))
}

// ---- rendering ----

// page is what every template gets.
type page struct {
	Title string
	User  *store.User
	Admin bool // the console's layout
	Flash string
	Error string
	Field string
	// Errors are every field's error at once (field → message), for forms
	// that check all their fields before answering.
	Errors  map[string]string
	Vendor  string
	CSS     string
	Nav     string // the current section, for aria-current
	Data    any
	Form    url.Values
	Today   fulfill.Date
	Version string
	Secret  string // an activation code, shown once
	// ActingAs is the customer a staff member views the portal as.
	ActingAs *fulfill.Customer
	ReadOnly bool // impersonating without the right to change
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) error {
	t, err := s.pages.page(r.Context(), name)
	if err != nil {
		return err
	}
	st := state(r)
	p := page{Title: title, User: st.user, Admin: strings.HasPrefix(r.URL.Path, "/admin"), Vendor: s.cfg.Vendor,
		CSS: "/static/style.css?v=" + s.cssTag, Data: data, Form: r.Form, Today: fulfill.Today(s.clock), Version: EULAVersion}
	if st.actingAs != "" && !p.Admin {
		c, err := s.db.Customer(r.Context(), st.actingAs)
		if err != nil {
			return err
		}
		p.ActingAs, p.ReadOnly = c, st.user.Role != RoleAdmin
	}
	if d, ok := data.(interface{ nav() string }); ok {
		p.Nav = d.nav()
	} else if m, ok := data.(map[string]any); ok {
		p.Nav, _ = m["navData"].(string)
	}
	if st.sess != nil && st.sess.Flash != "" {
		p.Flash = openFlash(r, st.sess.Flash)
		if secret, ok := strings.CutPrefix(p.Flash, "secret:"); ok {
			p.Flash, p.Secret = "", secret
		}
		// Shown once.
		if err := s.db.SetFlash(r.Context(), st.sess.IDHash, ""); err != nil {
			return err
		}
	}
	if fe, ok := data.(formError); ok {
		p.Error, p.Field = fe.message, fe.field
	}
	if fe, ok := data.(formErrors); ok {
		p.Error, p.Field, p.Errors = fe.message, fe.field, fe.fields
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err = w.Write(buf.Bytes())
	return err
}

// formError is data that carries a validation error for the form.
type formError struct {
	message, field string
}

// formErrors is a formError with every field's error (field → message),
// when a form checks all its fields before answering.
type formErrors struct {
	formError
	fields map[string]string
}

// statusOf maps an error code to an HTTP status, as the API does.
func statusOf(code string) int { return httpstatus.Of(code) }

// renderError shows an error page. Errors that are not ours are logged and
// shown as "Internal error.".
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	err = store.Classify(err)
	code := fulfill.ErrorCode(err)
	status := statusOf(code)
	if code == fulfill.EUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(store.RetryAfterSeconds))
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "web", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	title := map[int]string{404: "Page not found", 403: "Not allowed", 500: "Something went wrong", 429: "Too many attempts", 413: "Too large", 503: "Temporarily unavailable"}[status]
	if title == "" {
		title = "That did not work"
	}
	msg := fulfill.ErrorMessage(err)
	if status == 404 {
		msg = "This page does not exist, or it belongs to an account you do not have access to."
	}
	if rerr := s.render(w, r, status, "error", title, map[string]any{"Status": status, "Message": msg}); rerr != nil {
		s.log.ErrorContext(r.Context(), "web: render error page", "err", rerr)
		http.Error(w, msg, status)
	}
}

// flash stores a message for the next page, then redirects there (post,
// redirect, get).
func (s *Server) flashRedirect(w http.ResponseWriter, r *http.Request, to, msg string) error {
	if st := state(r); st.sess != nil && msg != "" {
		sealed, err := sealFlash(r, msg)
		if err != nil {
			return err
		}
		if err := s.db.SetFlash(r.Context(), st.sess.IDHash, sealed); err != nil {
			return err
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// flashInfo is the HKDF context of sealed flash messages.
const flashInfo = "fulfill flash v1"

// sealFlash encrypts a flash message under a key derived from the raw
// session cookie, which the database keeps only hashed: a flash can carry an
// activation code, shown once, and a copy of the database must not reveal it.
func sealFlash(r *http.Request, msg string) (string, error) {
	st := state(r)
	if st.cookie == "" {
		return "", errors.New("web: seal flash: no session cookie")
	}
	return seal.Seal([]byte(st.cookie), nil, flashInfo, []byte(msg), nil)
}

// openFlash decrypts a sealed flash; one that does not open shows nothing.
func openFlash(r *http.Request, flash string) string {
	if !seal.IsSealed(flash) {
		return flash
	}
	b, err := seal.Open([]byte(state(r).cookie), nil, flashInfo, flash, nil)
	if err != nil {
		return ""
	}
	return string(b)
}

// baseURL is where emailed links point: the configured public URL, never
// the request's Host header (which anyone can set, to have the server mail
// a working sign-in link pointing at their own host). r is unused.
func (s *Server) baseURL(*http.Request) string { return s.cfg.BaseURL }

func templateFuncs() template.FuncMap {
	fm := template.FuncMap{
		"money": func(amount int64, currency string) string { return billing.FormatAmount(amount, currency) },
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2 Jan 2006")
		},
		"datetime": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
		"day": func(d fulfill.Date) string {
			if d.IsZero() {
				return ""
			}
			return d.Time().Format("2 Jan 2006")
		},
		"title": func(s string) string {
			s = strings.ReplaceAll(s, "_", " ")
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		"plural": func(n int64, word string) string {
			if n == 1 {
				return "1 " + word
			}
			return fmt.Sprintf("%d %ss", n, word)
		},
		"deref": func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		},
		"percent": func(bp int64) string {
			if bp%100 == 0 {
				return fmt.Sprintf("%d%%", bp/100)
			}
			return fmt.Sprintf("%d.%02d%%", bp/100, bp%100)
		},
		"svg":      func(s string) template.HTML { return template.HTML(s) }, // only for charts this package draws
		"add":      func(a, b int64) int64 { return a + b },
		"category": categoryLabel,
		"int64":    func(n int) int64 { return int64(n) },
		"money_plain": func(amount int64) string {
			return fmt.Sprintf("%d.%02d", amount/100, amount%100)
		},
		"deref_bool": func(p *bool) bool { return p != nil && *p },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
		"countries": func() map[string]string { return countryNames },
	}
	for k, v := range wordingFuncs() {
		fm[k] = v
	}
	return fm
}

// countryNames are the countries offered in the forms: every assigned ISO
// 3166-1 alpha-2 code; tax follows the billing package's table.
var countryNames = fulfill.Countries()
