// Package fulfill holds Fulfill's domain: the types that flow between the
// HTTP surfaces, the services and the store, the error codes every layer
// speaks, and the clock that every rule reads time from. It imports no
// database or HTTP code.
package fulfill

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Plan kinds.
const (
	KindSelfManaged = "self_managed" // gets a license file
	KindSaaS        = "saas"         // provisioned onto a namespace
)

// Plan prices one seat for one term. Plans in use are never edited in place:
// a price change creates a new version of the same code, and subscriptions
// keep the version they bought until renewal.
type Plan struct {
	ID         string           `json:"id"`
	Code       string           `json:"code"`
	Version    int              `json:"version"`
	Name       string           `json:"name"`
	Kind       string           `json:"kind"`
	TermMonths int              `json:"term_months"`
	Prices     map[string]int64 `json:"prices"`
	// Entitlements are what the plan grants (flags and limits); a new
	// version may change them, subscriptions keep their version's until
	// renewal.
	Entitlements Entitlements `json:"entitlements"`
	CreatedAt    time.Time    `json:"created_at"`
	// MaxInstances is how many instances a subscription may have active
	// at once; 0 is unlimited.
	MaxInstances int `json:"max_instances"`
}

// AddOn is an extra sold beside a plan: priced per seat or per unit for the
// subscription's term (recurring), or once (one-off), in the plan's
// currencies, for the plan kinds it lists.
type AddOn struct {
	Code         string           `json:"code"`
	Name         string           `json:"name"`
	Recurring    bool             `json:"recurring"`
	TermMonths   int              `json:"term_months,omitempty"`
	Prices       map[string]int64 `json:"prices"`
	Pricing      string           `json:"pricing"` // PricingPerSeat, PricingPerUnit, PricingOneOff
	Kinds        []string         `json:"kinds"`   // plan kinds it fits
	Entitlements Entitlements     `json:"entitlements"`
}

// Customer is a billing account: who pays, where, and who to write to.
type Customer struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Company      string    `json:"company"`
	Address      string    `json:"address"`
	City         string    `json:"city"`
	PostalCode   string    `json:"postal_code"`
	Country      string    `json:"country"`
	TaxID        string    `json:"tax_id"`
	Currency     string    `json:"currency"`
	ContactName  string    `json:"subscription_contact_name"`
	ContactEmail string    `json:"subscription_contact_email"`
	BillingName  string    `json:"billing_contact_name"`
	BillingEmail string    `json:"billing_contact_email"`
	Credit       int64     `json:"credit_balance"`
	CreditHold   bool      `json:"credit_hold"`
	Probe        bool      `json:"probe"` // the customer of `fulfill probe`, left out of the KPIs
	CreatedAt    time.Time `json:"created_at"`
	// Payment terms (see commerce/terms.go): days until an invoice paid by
	// transfer is due (0: on issue), the buyer's purchase order number and
	// whether one is required before paying by invoice, and further billing
	// recipients, comma-separated.
	TermsDays  int    `json:"payment_terms_days"`
	PONumber   string `json:"po_number"`
	PORequired bool   `json:"po_required"`
	BillingCC  string `json:"billing_cc"`
	// The last online check of TaxID against the EU's VIES service
	// (commerce/vies.go): VATCheckValid, VATCheckUnavailable (VIES did not
	// answer; the id passed the offline check), or "" when none was made;
	// when, and VIES's request identifier (its consultation number) if any.
	VATCheck     string     `json:"vat_check"`
	VATCheckedAt *time.Time `json:"vat_checked_at"`
	VATCheckRef  string     `json:"vat_check_ref"`
}

// Results of an online VAT id check (Customer.VATCheck).
const (
	VATCheckValid       = "valid"
	VATCheckUnavailable = "unavailable"
)

// Subscription states.
const (
	StateActive   = "active"
	StatePastDue  = "past_due"
	StateCanceled = "canceled" // auto-renew off, runs to term end
	StateExpired  = "expired"
)

// Subscription is a customer's right to a plan for a term. The term is
// StartsOn..EndsOn with EndsOn exclusive.
type Subscription struct {
	ID                 string    `json:"id"`
	CustomerID         string    `json:"customer_id"`
	PlanID             string    `json:"plan_id"`
	Plan               string    `json:"plan"`
	PlanVersion        int       `json:"plan_version"`
	Kind               string    `json:"kind"`
	State              string    `json:"state"`
	Trial              bool      `json:"trial"`
	Seats              int64     `json:"seats"`
	StartsOn           Date      `json:"starts_on"`
	EndsOn             Date      `json:"ends_on"`
	AutoRenew          bool      `json:"auto_renew"`
	Currency           string    `json:"currency"`
	UnitAmount         int64     `json:"unit_amount"`
	PaymentMethod      string    `json:"payment_method"`
	SeatReconciliation bool      `json:"seat_reconciliation"`
	Namespace          string    `json:"namespace,omitempty"`
	CancelReason       string    `json:"cancel_reason,omitempty"`
	Version            int       `json:"version"`
	LicenseID          *string   `json:"license_id"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	// AddOns are the add-ons on the subscription, loaded when one
	// subscription is read (not in lists).
	AddOns []SubscriptionAddOn `json:"add_ons,omitempty"`
}

// SubscriptionVersion records one change to a subscription: what, when, by
// whom and why.
type SubscriptionVersion struct {
	Version   int       `json:"version"`
	Action    string    `json:"action"`
	Plan      string    `json:"plan"`
	Seats     int64     `json:"seats"`
	State     string    `json:"state"`
	StartsOn  Date      `json:"starts_on"`
	EndsOn    Date      `json:"ends_on"`
	AutoRenew bool      `json:"auto_renew"`
	InvoiceID *string   `json:"invoice_id"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// Invoice statuses.
const (
	InvoiceDraft         = "draft"
	InvoiceOpen          = "open"
	InvoicePaid          = "paid"
	InvoiceVoid          = "void"
	InvoiceUncollectible = "uncollectible"
)

// Invoice is a bill. Total = Subtotal + Tax = the sum of its lines, exactly.
type Invoice struct {
	ID             string        `json:"id"`
	Number         string        `json:"number"`
	CustomerID     string        `json:"customer_id"`
	SubscriptionID *string       `json:"subscription_id"`
	Status         string        `json:"status"`
	Currency       string        `json:"currency"`
	Subtotal       int64         `json:"subtotal"`
	Tax            int64         `json:"tax"`
	Total          int64         `json:"total"`
	AmountPaid     int64         `json:"amount_paid"`
	AmountCredited int64         `json:"amount_credited"`
	AmountRefunded int64         `json:"amount_refunded"`
	AmountDue      int64         `json:"amount_due"`
	NetRevenue     int64         `json:"-"` // subtotal less credit notes: what revenue recognition spreads
	Recognized     int64         `json:"-"` // revenue recognised so far
	PeriodStart    Date          `json:"period_start"`
	PeriodEnd      Date          `json:"period_end"`
	PONumber       string        `json:"po_number,omitempty"` // the buyer's purchase order, printed on the invoice
	TaxRateBP      int64         `json:"tax_rate_basis_points"`
	ReverseCharge  bool          `json:"reverse_charge"`
	TaxNote        string        `json:"tax_note,omitempty"`
	IssuedOn       Date          `json:"issued_on"`
	DueOn          Date          `json:"due_on"`
	PaidAt         *time.Time    `json:"paid_at"`
	PaymentMethod  string        `json:"payment_method"`
	Lines          []InvoiceLine `json:"lines"`
	CreatedAt      time.Time     `json:"created_at"`
}

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitAmount  int64  `json:"unit_amount"`
	Amount      int64  `json:"amount"`
	PeriodStart Date   `json:"period_start"`
	PeriodEnd   Date   `json:"period_end"`
	Proration   bool   `json:"proration"`
}

// Payment is one attempt to collect money for an invoice.
type Payment struct {
	ID          string    `json:"id"`
	InvoiceID   string    `json:"invoice_id"`
	Provider    string    `json:"provider"`
	ProviderRef string    `json:"provider_ref"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	FailureCode string    `json:"failure_code,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// SeatReport is one day's seat usage of a subscription, from the vendor's
// API or from an instance's Seat Link.
type SeatReport struct {
	SubscriptionID string    `json:"subscription_id"`
	Date           Date      `json:"date"`
	MaxUsers       int64     `json:"max_users"`
	BillableUsers  int64     `json:"billable_users"`
	Source         string    `json:"source"`
	CreatedAt      time.Time `json:"created_at"`
	// AddOnMetrics are the add-on seats an instance reported that day ([]
	// when none).
	AddOnMetrics []AddOnMetric `json:"add_on_metrics"`
}

// License is one issued license file of a subscription.
type License struct {
	ID                string    `json:"id"`
	SubscriptionID    string    `json:"subscription_id"`
	Seq               int       `json:"seq"`
	KeyID             string    `json:"kid"`
	Reason            string    `json:"reason"`
	Plan              string    `json:"plan"`
	Seats             int64     `json:"seats"`
	PreviousUserCount int64     `json:"previous_user_count"`
	TrueUpQuantity    int64     `json:"trueup_quantity"`
	StartsAt          Date      `json:"starts_at"`
	ExpiresAt         Date      `json:"expires_at"`
	Trial             bool      `json:"trial"`
	File              string    `json:"-"`
	IssuedAt          time.Time `json:"issued_at"`
}

// Email is a message in the outbox.
type Email struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind"`
	To             string     `json:"to"`
	Subject        string     `json:"subject"`
	Body           string     `json:"body"`
	AttachmentName string     `json:"attachment_name,omitempty"`
	Attachment     string     `json:"attachment,omitempty"`
	CustomerID     *string    `json:"customer_id"`
	Status         string     `json:"status"` // pending, sent, outbox (no SMTP configured), failed
	Error          string     `json:"error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	SentAt         *time.Time `json:"sent_at"`
	// Secret marks a message that carries a one-time link (sign-in, reset,
	// confirmation, invitation): once sent, its stored copy loses the link;
	// while it waits in the outbox only admins read it.
	Secret bool `json:"secret"`
	// AttachmentSource is what the mail job renders the attachment from
	// when it is not rendered yet (an invoice PDF: the document as issued);
	// empty once Attachment holds it.
	AttachmentSource string `json:"-"`
}

// IsSecretEmailKind reports whether emails of this kind carry a one-time
// link: the auth.* mails (sign-in link, password reset, confirmation) and
// invitations.
func IsSecretEmailKind(kind string) bool {
	return strings.HasPrefix(kind, "auth.") || kind == "account.invitation"
}

// LinkRemoved replaces the links of a secret email in its stored copy once
// it has been sent.
const LinkRemoved = "[link removed after sending]"

// LinkHidden replaces the links of an unsent secret email for staff who are
// not admins.
const LinkHidden = "[link hidden: only admins see one-time links]"

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// RedactLinks replaces every http(s) link in body with note.
func RedactLinks(body, note string) string { return linkRE.ReplaceAllLiteralString(body, note) }

// AuditEntry is one line of the audit log. It is never edited.
type AuditEntry struct {
	ID          string    `json:"id"`
	At          time.Time `json:"at"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`
	SubjectType string    `json:"subject_type"`
	SubjectID   string    `json:"subject_id"`
	Detail      string    `json:"detail"`
	RemoteAddr  string    `json:"remote_addr"`
}

// Page asks for one page of a list, newest first.
type Page struct {
	Limit  int
	Cursor string // the id after which to continue
}

// ChargeRequest asks a payment provider to take money for an invoice.
type ChargeRequest struct {
	CustomerID     string
	InvoiceID      string
	Amount         int64
	Currency       string
	PaymentMethod  string
	IdempotencyKey string // derived from the invoice: identical across retries
	Description    string
}

// ChargeResult is a successful charge.
type ChargeResult struct {
	Provider string
	Ref      string
}

// PaymentProvider takes money. A decline is an *Error with code
// ECardDeclined (or a more precise decline code) and HTTP status 402.
type PaymentProvider interface {
	Name() string
	// ValidMethod reports whether a payment method id can be charged at all.
	ValidMethod(method string) bool
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
}

// CardDetails is what a payment provider reports of a saved card: its
// brand ("visa"), last 4 digits and expiry month (1–12) and year.
type CardDetails struct {
	Brand    string
	Last4    string
	ExpMonth int
	ExpYear  int
}

// CardDescriber is a PaymentProvider that can describe a saved card. It is
// called outside any transaction; a provider without it reports no expiry,
// and its cards get no card-expiring notice.
type CardDescriber interface {
	DescribeCard(ctx context.Context, method string) (CardDetails, error)
}

// Clock tells the time. Every rule reads it; nothing outside cmd/ calls
// time.Now.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SimulatedClock is a clock that only moves when told to, so a year of
// renewals can be run in seconds. Never used in production.
type SimulatedClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewSimulatedClock starts a simulated clock at t.
func NewSimulatedClock(t time.Time) *SimulatedClock { return &SimulatedClock{now: t.UTC()} }

// Now returns the simulated time.
func (c *SimulatedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t; it never moves backwards.
func (c *SimulatedClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t.UTC()
	}
}

// Today is the calendar day of the clock, in UTC.
func Today(c Clock) Date { return DateOf(c.Now()) }

type remoteAddrKey struct{}

// WithRemoteAddr records where a request came from, for the audit log.
func WithRemoteAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, addr)
}

// RemoteAddr is the address WithRemoteAddr recorded, or "".
func RemoteAddr(ctx context.Context) string {
	s, _ := ctx.Value(remoteAddrKey{}).(string)
	return s
}
