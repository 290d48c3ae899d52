// Package api serves Fulfill's JSON API under /api/v1: the vendor API (bearer
// token) and the simulated clock. Handlers parse, validate, call one service
// method and respond.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/clientip"
	"github.com/fulfillhq/fulfill/internal/edgecheck"
	"github.com/fulfillhq/fulfill/internal/hsts"
	"github.com/fulfillhq/fulfill/internal/httpstatus"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/keys"
	"github.com/fulfillhq/fulfill/metrics"
	"github.com/fulfillhq/fulfill/store"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// MaxParamLength bounds a path or query value, in characters: ids, cursors
// and filters are all much shorter.
const MaxParamLength = 255

// Server is the JSON API.
type Server struct {
	Svc    *commerce.Service
	DB     *store.DB
	Jobs   *jobs.Runner
	Keys   KeyLister
	Seller invoicepdf.Party // the seller on invoice PDFs
	Logger *slog.Logger
	// Wall is the real clock, for idempotency leases (the business clock
	// may be simulated); Lease is how long a request may run before a retry
	// with the same key may take it over (default one minute).
	Wall  fulfill.Clock
	Lease time.Duration
	// StripeWebhook verifies inbound Stripe events; nil answers 404.
	StripeWebhook ProviderWebhook
	// ClientIP finds the client's address behind trusted proxies; nil
	// trusts none (the peer address is the client).
	ClientIP *clientip.Resolver
	// InstanceLimits bound the instance endpoints (zero fields: the
	// defaults, DefaultInstanceLimits).
	InstanceLimits InstanceLimits

	mux    *http.ServeMux
	limits *instanceLimiters
}

// KeyLister lists the public license keys.
type KeyLister interface {
	List() ([]keys.Key, error)
}

// route is one endpoint; the table is also what the OpenAPI test checks.
type route struct {
	Method, Path string
	Auth         bool // needs a vendor token
	Idempotent   bool // creates or charges: honours Idempotency-Key
	Handler      func(http.ResponseWriter, *http.Request) error
}

func (s *Server) routes() []route {
	var rs []route
	for _, group := range [][]route{s.commerceRoutes(), s.licenseRoutes(), s.receivableRoutes(), s.exportRoutes(), s.webhookRoutes(),
		s.addOnRoutes(), s.instanceRoutes(), s.couponRoutes(), s.termsRoutes()} {
		rs = append(rs, group...)
	}
	return rs
}

func (s *Server) commerceRoutes() []route {
	return []route{
		{"GET", "/api/v1/openapi.json", false, false, s.openAPI},
		{"GET", "/api/v1/plans", true, false, s.listPlans},
		{"POST", "/api/v1/plans", true, true, s.createPlan},
		{"GET", "/api/v1/customers", true, false, s.listCustomers},
		{"POST", "/api/v1/customers", true, true, s.createCustomer},
		{"GET", "/api/v1/customers/{id}", true, false, s.getCustomer},
		{"GET", "/api/v1/subscriptions", true, false, s.listSubscriptions},
		{"POST", "/api/v1/subscriptions", true, true, s.purchase},
		{"GET", "/api/v1/subscriptions/{id}", true, false, s.getSubscription},
		{"GET", "/api/v1/subscriptions/{id}/versions", true, false, s.subscriptionVersions},
		{"GET", "/api/v1/subscriptions/{id}/seat_reports", true, false, s.listSeatReports},
		{"POST", "/api/v1/subscriptions/{id}/seats/preview", true, false, s.previewSeats},
		{"POST", "/api/v1/subscriptions/{id}/seats", true, true, s.changeSeats},
		{"POST", "/api/v1/subscriptions/{id}/plan/preview", true, false, s.previewPlan},
		{"POST", "/api/v1/subscriptions/{id}/plan", true, true, s.changePlan},
		{"POST", "/api/v1/subscriptions/{id}/renew", true, true, s.renew},
		{"POST", "/api/v1/subscriptions/{id}/cancel", true, false, s.cancel},
		{"POST", "/api/v1/subscriptions/{id}/resume", true, false, s.resume},
		{"GET", "/api/v1/invoices", true, false, s.listInvoices},
		{"GET", "/api/v1/invoices/{id}", true, false, s.getInvoice},
		{"POST", "/api/v1/seat_reports", true, true, s.createSeatReport},
		{"GET", "/api/v1/test_clock", true, false, s.getClock},
		{"POST", "/api/v1/test_clock/advance", true, false, s.advanceClock},
	}
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.limits = newInstanceLimiters(s.InstanceLimits)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, fulfill.Errorf(fulfill.ENotFound, "No route %s %s.", r.Method, r.URL.Path))
	})
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	mux.HandleFunc("POST /webhooks/stripe", s.stripeWebhook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.DB.Ready(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	s.mux = mux
	return s.ClientIP.Handler(hsts.Handler(mux, s.Svc.PublicURL))
}

type ctxKey int

const tokenKey ctxKey = 0

func tokenFrom(ctx context.Context) *store.Token {
	t, _ := ctx.Value(tokenKey).(*store.Token)
	return t
}

func actor(r *http.Request) commerce.Actor {
	if t := tokenFrom(r.Context()); t != nil {
		return commerce.Actor("token:" + t.Name)
	}
	return "anonymous"
}

func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.NoteRoute(r)
		r = r.WithContext(fulfill.WithRemoteAddr(r.Context(), remote(r)))
		// Answers carry activation codes, licenses and customer data: no
		// cache (browser, proxy) keeps a copy.
		w.Header().Set("Cache-Control", "no-store")
		if err := edgecheck.Params(r, rt.Path, MaxParamLength); err != nil {
			s.Error(w, r, err)
			return
		}
		if rt.Auth {
			tok, err := s.authenticate(r)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenKey, tok))
		}
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				s.Error(w, r, fulfill.Errorf(fulfill.ETooLarge, "The request body is larger than %d bytes.", MaxBodyBytes))
				return
			}
			if err := edgecheck.JSON(body); err != nil {
				s.Error(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if key := r.Header.Get("Idempotency-Key"); key != "" && rt.Idempotent {
				s.idempotent(w, r, rt, key, body)
				return
			}
		}
		if err := rt.Handler(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
}

func (s *Server) authenticate(r *http.Request) (*store.Token, error) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return nil, fulfill.Errorf(fulfill.EUnauthorized, "Send a vendor API token as \"Authorization: Bearer TOKEN\".")
	}
	tok, err := s.DB.TokenByHash(r.Context(), commerce.HashSecret(strings.TrimSpace(secret)))
	if err != nil {
		if fulfill.ErrorCode(err) == fulfill.ENotFound {
			return nil, fulfill.Errorf(fulfill.EUnauthorized, "The API token is not valid.")
		}
		return nil, err
	}
	return tok, nil
}

// recorder keeps a copy of the answer for the idempotency record.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (rec *recorder) WriteHeader(code int) { rec.status = code; rec.ResponseWriter.WriteHeader(code) }
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	rec.body.Write(b)
	return rec.ResponseWriter.Write(b)
}

// FinalAnswer reports whether an answer with this status is one the same
// request would always get, and so is kept for its Idempotency-Key: a
// success, or a client error other than 409 (a conflict with the state of
// the moment, or the key still in use), 408 and 429 (try again later).
// A 5xx, or no answer at all, is never kept.
func FinalAnswer(status int) bool {
	switch {
	case status >= 200 && status < 400:
		return true
	case status == http.StatusConflict, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return false
	case status >= 400 && status < 500:
		return true
	}
	return false
}

// idempotent runs a request at most once per key: a retry with the same body
// gets the first answer again, another body is refused, and a retry while
// the first is still running gets 409.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, rt route, key string, body []byte) {
	if err := fulfill.CheckText("Idempotency-Key", key, 255); err != nil {
		s.Error(w, r, err)
		return
	}
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
	hash := hex.EncodeToString(sum[:])
	tok := tokenFrom(r.Context())
	ctx := r.Context()
	wall, lease := s.Wall, s.Lease
	if wall == nil {
		wall = s.Svc.Clock
	}
	if lease == 0 {
		lease = time.Minute
	}
	k := keyedRequest{tokenID: tok.ID, key: key, hash: hash, at: wall.Now()}
	if claimsInUseCase(rt) {
		recorded, err := s.DB.IdempotencyKeyRecorded(ctx, tok.ID, key)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if !recorded && s.runClaiming(w, r, rt, k) {
			return
		}
		// Recorded, or recorded meanwhile by another request with the
		// key: answered as any retry is.
	}
	prev, err := s.DB.ClaimIdempotencyKey(ctx, tok.ID, key, hash, k.at, lease)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if !prev.Owned {
		switch {
		case prev.Discarded:
			s.Error(w, r, fulfill.FieldError(fulfill.EIdempotencyReuse, "Idempotency-Key",
				"This Idempotency-Key was answered before an upgrade, and that answer is no longer kept; look the result up, or use a new key for a new request."))
		case prev.RequestHash != hash:
			s.Error(w, r, fulfill.FieldError(fulfill.EIdempotencyReuse, "Idempotency-Key",
				"This Idempotency-Key was used with another request; use a new key for a new request."))
		case prev.StatusCode == 0:
			s.Error(w, r, fulfill.FieldError(fulfill.EIdempotencyBusy, "Idempotency-Key",
				"A request with this Idempotency-Key is still being processed; retry later."))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.StatusCode)
			w.Write(prev.Response)
		}
		return
	}
	rec := &recorder{ResponseWriter: w}
	ans := commerce.NewAnswer(tok.ID, key)
	r = r.WithContext(commerce.WithAnswer(fulfill.WithIDSeed(ctx, prev.Seed), ans))
	if err := rt.Handler(rec, r); err != nil {
		s.Error(rec, r, err)
	}
	k.seed = prev.Seed
	s.afterIdempotent(r, rec, ans, k)
}

// keyedRequest is a request made with an Idempotency-Key: the API token's
// id, the raw key, the hash of the request, its seed and when it came.
type keyedRequest struct {
	tokenID, key, hash, seed string
	at                       time.Time
}

// claimsInUseCase reports whether the route's use case makes the
// idempotency record of a new key itself, in its first transaction (see
// commerce.Claim), instead of the handler claiming the key in a
// transaction of its own first: one commit fewer per request. A route is
// listed here only when every path of its use case that changes anything
// notes its progress or its answer through the request's Answer in that
// same transaction; the purchase does (its intent, or its one transaction).
func claimsInUseCase(rt route) bool {
	return rt.Method == http.MethodPost && rt.Path == "/api/v1/subscriptions"
}

// runClaiming runs a request whose key had no record, its use case making
// the record with its first change. It reports false, having answered
// nothing, when another request with the key recorded it first.
func (s *Server) runClaiming(w http.ResponseWriter, r *http.Request, rt route, k keyedRequest) bool {
	k.seed = fulfill.NewID("req")
	rec := &recorder{ResponseWriter: w}
	ans := commerce.NewClaimingAnswer(k.tokenID, k.key, commerce.Claim{Hash: k.hash, Seed: k.seed, At: k.at})
	r = r.WithContext(commerce.WithAnswer(fulfill.WithIDSeed(r.Context(), k.seed), ans))
	err := rt.Handler(rec, r)
	if errors.Is(err, store.ErrIdempotencyKeyTaken) && rec.status == 0 {
		return false
	}
	if err != nil {
		s.Error(rec, r, err)
	}
	s.afterIdempotent(r, rec, ans, k)
	return true
}

// afterIdempotent keeps, releases or unlocks the key once its request's
// handler has answered (rec).
func (s *Server) afterIdempotent(r *http.Request, rec *recorder, ans *commerce.Answer, k keyedRequest) {
	if fp := s.Svc.Failpoint; fp != nil {
		fp("before-answer") // tests: a crash after the change, before the answer is sent
	}
	ctx := r.Context()
	bg := context.WithoutCancel(ctx)
	switch {
	case !FinalAnswer(rec.status) && ans.Recovering():
		// Past its recovery point the request keeps its key and seed: the
		// retry, let in at once, resumes the same work.
		if err := s.DB.UnlockIdempotencyKey(bg, k.tokenID, k.key); err != nil {
			s.Logger.ErrorContext(r.Context(), "unlock idempotency key", "err", err)
		}
	case !FinalAnswer(rec.status):
		// A failure on our side is not an answer, nor is one that may go
		// away (a conflict with a state that may change, such as a payment
		// still in progress, or a throttle): release the key so a retry runs.
		if err := s.DB.ReleaseIdempotencyKey(bg, k.tokenID, k.key); err != nil {
			s.Logger.ErrorContext(r.Context(), "release idempotency key", "err", err)
		}
	case ans.Finished() && rec.status < 300:
		// The answer committed with the change.
	case !ans.Claimed():
		// A refusal before any change, of a key its use case was to
		// record: recorded now, answered.
		if err := s.DB.RecordIdempotencyAnswer(bg, k.tokenID, k.key, k.hash, k.seed, k.at, rec.status, rec.body.Bytes()); err != nil {
			s.Logger.Error("store idempotency key", "err", err)
		}
	default:
		// A refusal changed nothing; the same request would get it again.
		if err := s.DB.FinishIdempotencyKey(bg, k.tokenID, k.key, rec.status, rec.body.Bytes()); err != nil {
			s.Logger.Error("store idempotency key", "err", err)
		}
	}
}

// answerAs tells the use case that r's handler answers a result of type T
// with status and view(result), so it can store that answer with its change.
func answerAs[T any](r *http.Request, status int, view func(T) any) {
	a := commerce.AnswerFrom(r.Context())
	if a == nil {
		return
	}
	a.Render = func(result any) (int, []byte, bool) {
		t, ok := result.(T)
		if !ok {
			return 0, nil, false
		}
		body, err := encodeJSON(view(t))
		if err != nil {
			return 0, nil, false
		}
		return status, body, true
	}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
	// Errors and ErrorAttributeMap are what GitLab's client reads from a
	// refused instance request (gitlabErrors).
	Errors            []string            `json:"errors,omitempty"`
	ErrorAttributeMap map[string][]string `json:"error_attribute_map,omitempty"`
}

// Error writes err as JSON. Errors that are not *fulfill.Error are logged
// and answered "Internal error." without detail.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	err = store.Classify(err)
	var fe *fulfill.Error
	var body errorBody
	status := http.StatusInternalServerError
	if errors.As(err, &fe) {
		body.Error.Code, body.Error.Message, body.Error.Field = fe.Code, fe.Message, fe.Field
		status = httpstatus.Of(fe.Code)
		if status >= 500 {
			s.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	} else {
		body.Error.Code, body.Error.Message = fulfill.EInternal, "Internal error."
		s.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if body.Error.Code == fulfill.ESubscriptionExpired && r.URL.Path == "/api/v1/seat_links" {
		status = http.StatusGone // GitLab's clients stop on it after the cancellation syncs
	}
	if instanceEndpoint(r.URL.Path) {
		body.Errors, body.ErrorAttributeMap = gitlabErrors(body.Error.Code, body.Error.Message, body.Error.Field)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fulfill"`)
	}
	setRetryAfter(w, err)
	if body.Error.Code == fulfill.EUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(store.RetryAfterSeconds))
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := encodeJSON(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// encodeJSON is the body of every JSON answer (and of its idempotency record).
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	err := enc.Encode(v)
	return b.Bytes(), err
}

// decode reads a JSON object strictly: unknown fields, wrong types, nulls
// where no null fits and trailing data are errors that name the field. (wrap
// has checked the text of the body.)
func decode(r *http.Request, v any) error { return decodeBody(r, v, true) }

// decodeLenient is decode that ignores unknown fields, for the machine
// endpoints instances call (clients evolve); everything else is as strict.
func decodeLenient(r *http.Request, v any) error { return decodeBody(r, v, false) }

func decodeBody(r *http.Request, v any, strict bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fulfill.Errorf(fulfill.EInvalidJSON, "Could not read the request body.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fulfill.Errorf(fulfill.EInvalidJSON, "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return fulfill.Errorf(fulfill.EInvalidJSON, "The body holds more than one JSON value.")
	}
	if tok, err := dec.Token(); err != io.EOF {
		return fulfill.Errorf(fulfill.EInvalidJSON, "Unexpected data after the JSON object: %v.", tok)
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return checkNulls(body, t)
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fulfill.Errorf(fulfill.EInvalidJSON, "The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fulfill.Errorf(fulfill.EInvalidJSON, "The JSON body ends too early.")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fulfill.Errorf(fulfill.EInvalidJSON, "The body must be a JSON object.")
		}
		want := typ.Type.String()
		switch {
		case strings.Contains(want, "int"):
			want = "an integer"
			if typ.Value == "number" || strings.HasPrefix(typ.Value, "number ") {
				return fulfill.FieldError(fulfill.EInvalidType, typ.Field, "%s must be a whole number within range.", typ.Field)
			}
		case strings.Contains(want, "string") || strings.Contains(want, "Date"):
			want = "a string"
		case strings.Contains(want, "bool"):
			want = "true or false"
		case strings.Contains(want, "map"):
			want = "an object"
		}
		return fulfill.FieldError(fulfill.EInvalidType, typ.Field, "%s must be %s, not %s.", typ.Field, want, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fulfill.FieldError(fulfill.EUnknownField, f, "Unknown field %q.", f)
	}
	var fe *fulfill.Error
	if errors.As(err, &fe) {
		return fe
	}
	return fulfill.Errorf(fulfill.EInvalidJSON, "The body could not be read as the expected JSON object: %s.", err.Error())
}

func page(r *http.Request) (fulfill.Page, error) {
	p := fulfill.Page{Limit: 20, Cursor: r.URL.Query().Get("starting_after")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return p, fulfill.FieldError(fulfill.EOutOfRange, "limit", "limit must be a whole number from 1 to 100.")
		}
		p.Limit = n
	}
	return p, nil
}

// list is one page of a list answer.
type list[T any] struct {
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func newList[T any](items []T, p fulfill.Page, id func(T) string) list[T] {
	l := list[T]{Data: items}
	if l.Data == nil {
		l.Data = []T{}
	}
	if len(items) == p.Limit && p.Limit > 0 {
		l.HasMore = true
		l.NextCursor = id(items[len(items)-1])
	}
	return l
}

func readAll(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fulfill.Errorf(fulfill.EInvalidJSON, "Could not read the request body.")
	}
	return b, nil
}
