// Package commerce holds Fulfill's use cases: the catalog, customers and
// their accounts, purchase, seat and tier changes, renewal with true-up,
// cancel and resume, seat reports and reconciliation, licenses and
// instance activation, invoices, payments in atomic phases, receivables and
// dunning, imports, and the portal's: sign-up, emailed links, sessions, staff
// accounts, invitations, saved cards, EULA acceptances, impersonation and
// support requests. Each use case owns its database transaction (or, for a
// card payment, its phases), with the audit entry, events and jobs it
// triggers; web and api only parse, call and render.
package commerce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/metrics"
	"github.com/fulfillhq/fulfill/store"
)

// MaxSeats bounds a seat count: beyond it a request is a mistake, and the
// money math stays far from int64 limits.
const MaxSeats = 1_000_000

// InvoiceTermsDays is how long an invoice paid by bank transfer stays open.
const InvoiceTermsDays = 30

// LapseDays is how long a past-due subscription keeps running before it lapses.
const LapseDays = 14

// PayByInvoice is the payment method that leaves the invoice open (net 30).
const PayByInvoice = "invoice"

// Service runs the use cases.
type Service struct {
	DB       *store.DB
	Clock    fulfill.Clock
	Payments fulfill.PaymentProvider
	Tax      billing.TaxTable
	Keys     KeyStore // signs licenses; nil only where no self-managed plan is sold
	// PublicURL is where customers reach the portal, for links in emails.
	PublicURL string
	// Seller is the seller profile printed on invoices and billing mail
	// (legal name, address, tax id, bank details for transfers).
	Seller invoicepdf.Party
	// UsageCap bounds the stored service pings (zero: DefaultUsageCap).
	UsageCap UsageCap
	// Wall is the real clock, for scheduling jobs (the business clock may
	// be simulated); nil uses Clock.
	Wall fulfill.Clock
	// CompleteAfter is how long a payment attempt is left to its request
	// before the completer job finishes it (default CompleteAttemptAfter).
	CompleteAfter time.Duration
	// Failpoint, when set, is called at named points of a payment
	// ("after-phase1", "after-charge", "after-phase3", each also as
	// "name:kind" with the attempt's kind, e.g. "after-charge:refund"; the
	// API adds "before-answer"): tests kill the process there.
	Failpoint func(name string)
	// Metrics counts and logs business events after they commit; nil
	// records nothing.
	Metrics *metrics.Recorder
	// RenewalNoticeDays are the days before an automatically renewing
	// term ends that its renewal notice goes out (nil: 30 and 7).
	RenewalNoticeDays []int
	// BillingMailOff lists the billing mail kinds (BillingMailKinds) the
	// vendor switched off.
	BillingMailOff map[string]bool
	// VIES, when set, checks EU VAT ids online before they are stored
	// (--vies-url; see vies.go); nil checks them offline only.
	VIES *VIESClient
}

// Actor says who asks, for version histories and the audit trail.
type Actor string

// System is the actor for work the scheduler does.
const System Actor = "system"

func (s *Service) now() time.Time      { return s.Clock.Now().UTC() }
func (s *Service) today() fulfill.Date { return fulfill.DateOf(s.now()) }

// ---- catalog ----

var codeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// PlanInput is a new plan or a new version of a plan.
type PlanInput struct {
	Code       string
	Name       string
	Kind       string
	TermMonths int
	Prices     map[string]int64
	// Entitlements the plan grants (flags and limits); a new version may
	// change them.
	Entitlements fulfill.Entitlements
	// MaxInstances is the most active instances a subscription may have
	// (0: unlimited).
	MaxInstances int
}

// CreatePlan adds a plan; an existing code gets a new version, and
// subscriptions on older versions keep their price until renewal.
func (s *Service) CreatePlan(ctx context.Context, actor Actor, in PlanInput) (*fulfill.Plan, error) {
	if !codeRE.MatchString(in.Code) {
		return nil, fulfill.FieldError(fulfill.EInvalid, "code", "A plan code is 1 to 63 lower-case letters, digits and dashes.")
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "name", "A plan needs a name.")
	}
	if fulfill.TextLen(in.Name) > 200 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "name", "At most 200 characters.")
	}
	if in.Kind != fulfill.KindSelfManaged && in.Kind != fulfill.KindSaaS {
		return nil, fulfill.FieldError(fulfill.EInvalid, "kind", "Kind must be %q or %q.", fulfill.KindSelfManaged, fulfill.KindSaaS)
	}
	if in.TermMonths == 0 {
		in.TermMonths = 12
	}
	if in.TermMonths < 1 || in.TermMonths > 60 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "term_months", "A term is 1 to 60 months.")
	}
	if in.MaxInstances < 0 || in.MaxInstances > MaxInstances {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "max_instances", "max_instances is 0 (unlimited) to %d.", MaxInstances)
	}
	if err := checkPrices("A plan", in.Prices); err != nil {
		return nil, err
	}
	if err := in.Entitlements.Validate("entitlements"); err != nil {
		return nil, err
	}
	p := &fulfill.Plan{ID: fulfill.NewID("plan"), Code: in.Code, Name: strings.TrimSpace(in.Name), Kind: in.Kind,
		TermMonths: in.TermMonths, Prices: in.Prices, Entitlements: in.Entitlements, CreatedAt: s.now(),
		MaxInstances: in.MaxInstances}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var before map[string]int64
		if prev, err := tx.PlanByCode(p.Code); err == nil {
			before = prev.Prices
		} else if fulfill.ErrorCode(err) != fulfill.ENotFound {
			return err
		}
		if err := tx.InsertPlan(p); err != nil {
			return err
		}
		action := "plan.create"
		if before != nil {
			action = "plan.price_change"
		}
		return s.audit(tx, actor, action, "plan", p.ID, map[string]any{"code": p.Code, "version": p.Version, "from": before, "to": p.Prices,
			"entitlements": p.Entitlements}, "")
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// LoadDemoCatalog adds the demo plans and add-ons to an empty catalog.
func (s *Service) LoadDemoCatalog(ctx context.Context) (bool, error) {
	empty, err := s.DB.CatalogEmpty(ctx)
	if err != nil || !empty {
		return false, err
	}
	now := s.now()
	plans := []fulfill.Plan{
		{Code: "sm-premium", Name: "Premium (self-managed)", Kind: fulfill.KindSelfManaged, Prices: map[string]int64{"USD": 34800, "EUR": 32400}},
		{Code: "sm-ultimate", Name: "Ultimate (self-managed)", Kind: fulfill.KindSelfManaged, Prices: map[string]int64{"USD": 118800, "EUR": 110400}},
		{Code: "saas-premium", Name: "Premium (SaaS)", Kind: fulfill.KindSaaS, Prices: map[string]int64{"USD": 34800, "EUR": 32400}},
		{Code: "saas-ultimate", Name: "Ultimate (SaaS)", Kind: fulfill.KindSaaS, Prices: map[string]int64{"USD": 118800, "EUR": 110400}},
	}
	both := []string{fulfill.KindSelfManaged, fulfill.KindSaaS}
	addons := []fulfill.AddOn{
		{Code: "compute-minutes-1000", Name: "1,000 compute minutes", Recurring: false, Prices: map[string]int64{"USD": 1000, "EUR": 1000},
			Pricing: fulfill.PricingOneOff, Kinds: both},
		{Code: "duo-pro", Name: "Duo Pro", Recurring: true, TermMonths: 12, Prices: map[string]int64{"USD": 22800, "EUR": 21200},
			Pricing: fulfill.PricingPerSeat, Kinds: both},
		{Code: "storage-10gb", Name: "10 GB storage", Recurring: true, TermMonths: 12, Prices: map[string]int64{"USD": 6000, "EUR": 5600},
			Pricing: fulfill.PricingPerUnit, Kinds: both},
	}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		for i := range plans {
			p := plans[i]
			p.ID, p.TermMonths, p.CreatedAt = fulfill.NewID("plan"), 12, now
			if err := tx.InsertPlan(&p); err != nil {
				return err
			}
		}
		for i := range addons {
			if err := tx.InsertAddOn(&addons[i], now); err != nil {
				return err
			}
		}
		return nil
	})
	if fulfill.ErrorCode(err) == fulfill.EConflict {
		// Another copy starting at the same time loaded it first.
		if empty, cerr := s.DB.CatalogEmpty(ctx); cerr == nil && !empty {
			return false, nil
		}
	}
	return err == nil, err
}

// ---- customers ----

// CustomerInput is a new customer.
type CustomerInput struct {
	Email, Name, Company, Address, City, PostalCode, Country, TaxID, Currency string
	ContactName, ContactEmail, BillingName, BillingEmail                      string
	// Probe asks for the probe customer: created once, then the same one
	// is returned; it is left out of the KPIs.
	Probe bool
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// CreateCustomer adds a customer with its billing account, and the
// request's answer in the same transaction. The subscription and billing
// contacts default to the customer's own name and email.
func (s *Service) CreateCustomer(ctx context.Context, in CustomerInput) (*fulfill.Customer, error) {
	c, err := newCustomer(in, s.now())
	if err != nil {
		return nil, err
	}
	// Derived from the request's Idempotency-Key: a re-run could only hit
	// the same id, never create a second customer.
	c.ID = fulfill.NewIDFor(ctx, "cus")
	c.Probe = in.Probe
	check, err := s.checkVIES(ctx, c.Country, c.TaxID) // before the transaction: a network call
	if err != nil {
		return nil, err
	}
	check.apply(c)
	if err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if in.Probe {
			if p, err := tx.ProbeCustomer(); err == nil {
				c = p
				return nil
			} else if fulfill.ErrorCode(err) != fulfill.ENotFound {
				return err
			}
		}
		if err := tx.InsertCustomer(c); err != nil {
			return err
		}
		if err := s.emit(tx, "customer.created", c.ID, c.ID, c); err != nil {
			return err
		}
		return s.finish(tx, c)
	}); err != nil {
		return nil, err
	}
	return c, nil
}

func or(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return strings.TrimSpace(a)
	}
	return strings.TrimSpace(b)
}

// HashSecret hashes an activation code or API token for storage. These are
// random, high-entropy secrets, so a plain SHA-256 suffices (no password
// stretching needed).
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func checkSeats(seats int64, field string) error {
	if seats < 1 {
		return fulfill.FieldError(fulfill.EOutOfRange, field, "Seats must be at least 1.")
	}
	if seats > MaxSeats {
		return fulfill.FieldError(fulfill.EOutOfRange, field, "Seats must be at most %d.", MaxSeats)
	}
	return nil
}

func priceIn(p *fulfill.Plan, currency string) (int64, error) {
	amt, ok := p.Prices[currency]
	if !ok {
		return 0, fulfill.FieldError(fulfill.EInvalid, "plan", "Plan %q has no price in %s, the customer's currency.", p.Code, currency)
	}
	return amt, nil
}

// emit records a business event in the caller's transaction.
func (s *Service) emit(tx *store.Tx, typ, subjectID, customerID string, data any) error {
	var cid *string
	if customerID != "" {
		cid = &customerID
	}
	if _, err := tx.EmitEvent(typ, subjectID, cid, data, s.now()); err != nil {
		return err
	}
	ctx := tx.Context()
	tx.AfterCommit(func() { s.Metrics.Event(ctx, typ, subjectID, customerID) })
	return nil
}

// emitAll records events of one type, as emit does, in one statement.
func (s *Service) emitAll(tx *store.Tx, typ string, es []store.NewEvent) error {
	if len(es) == 0 {
		return nil
	}
	evs, err := tx.EmitEvents(typ, es, s.now())
	if err != nil {
		return err
	}
	ids := make([][2]string, len(evs)) // not the events: their data waits for nothing
	for i, e := range evs {
		ids[i][0] = e.SubjectID
		if e.CustomerID != nil {
			ids[i][1] = *e.CustomerID
		}
	}
	ctx := tx.Context()
	tx.AfterCommit(func() {
		for _, id := range ids {
			s.Metrics.Event(ctx, typ, id[0], id[1])
		}
	})
	return nil
}

func plural(n int64, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// checkPrices validates a catalog item's prices (what names it in the
// message): at least one, each in an ISO 4217 currency, from 0 to
// 10000000000 minor units.
func checkPrices(what string, prices map[string]int64) error {
	if len(prices) == 0 {
		return fulfill.FieldError(fulfill.ERequired, "prices", "%s needs a price in at least one currency.", what)
	}
	for cur, amt := range prices {
		if billing.ValidateCurrency(cur) != nil {
			return fulfill.FieldError(fulfill.EInvalid, "prices", "%q is not an ISO 4217 currency code.", cur)
		}
		if amt < 0 || amt > 100_000_000_00 {
			return fulfill.FieldError(fulfill.EOutOfRange, "prices", "The %s price must be between 0 and 10000000000.", cur)
		}
	}
	return nil
}
