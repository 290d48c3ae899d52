package commerce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/license"
	"github.com/fulfillhq/fulfill/store"
)

// MaxUsagePing bounds a stored service ping.
const MaxUsagePing = 256 << 10

// ActivationInput is what an instance sends to activate.
type ActivationInput struct {
	ActivationCode, InstanceID, Hostname, Version string
}

// Activation is the answer to an activation.
type Activation struct {
	LicenseKey          string               `json:"license_key"`
	SubscriptionID      string               `json:"subscription_id"`
	Plan                string               `json:"plan"`
	Seats               int64                `json:"seats"`
	ExpiresAt           fulfill.Date         `json:"expires_at"`
	FutureSubscriptions []FutureSubscription `json:"future_subscriptions"`
}

func checkInstance(instanceID, hostname, version string) error {
	if strings.TrimSpace(instanceID) == "" {
		return fulfill.FieldError(fulfill.ERequired, "instance_id", "instance_id is required.")
	}
	for f, v := range map[string]string{"instance_id": instanceID, "hostname": hostname, "version": version} {
		if fulfill.TextLen(v) > 255 {
			return fulfill.FieldError(fulfill.EOutOfRange, f, "%s is at most 255 characters.", f)
		}
	}
	return nil
}

// Activate exchanges an activation code for the subscription's license and
// records the instance.
func (s *Service) Activate(ctx context.Context, in ActivationInput) (*Activation, error) {
	code := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(in.ActivationCode), "-", ""))
	if code == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "activation_code", "activation_code is required.")
	}
	if fulfill.TextLen(code) != 24 {
		return nil, fulfill.FieldError(fulfill.EInvalid, "activation_code", "An activation code has 24 characters.")
	}
	if err := checkInstance(in.InstanceID, in.Hostname, in.Version); err != nil {
		return nil, err
	}
	var out *Activation
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		subID, err := tx.SubscriptionByActivationCode(HashSecret(code))
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EActivationCodeInvalid, "activation_code",
				"This activation code is not valid: it may have been regenerated. Find the current code in the customers portal."))
		}
		sub, err := tx.Subscription(subID)
		if err != nil {
			return err
		}
		if sub.State == fulfill.StateExpired {
			return fulfill.Errorf(fulfill.ESubscriptionExpired, "Subscription %s expired on %s; renew it to activate.", sub.ID, sub.EndsOn)
		}
		if sub.LicenseID == nil {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s has no license yet.", sub.ID)
		}
		l, err := tx.License(*sub.LicenseID)
		if err != nil {
			return err
		}
		if err := s.claimInstanceSlot(tx, sub, in.InstanceID); err != nil {
			return err
		}
		if err := tx.UpsertInstance(sub.ID, in.InstanceID, in.Hostname, in.Version, s.now()); err != nil {
			return err
		}
		out = &Activation{LicenseKey: l.File, SubscriptionID: sub.ID, Plan: sub.Plan, Seats: sub.Seats, ExpiresAt: l.ExpiresAt,
			FutureSubscriptions: futureSubscriptions(sub, s.today())}
		return s.audit(tx, Actor("instance:"+in.InstanceID), "instance.activate", "subscription", sub.ID,
			map[string]string{"hostname": in.Hostname, "version": in.Version}, "")
	})
	return out, err
}

// SeatLinkInput is one daily sync from an instance (GitLab's Seat Link).
// The counts are nil when the instance does not know them yet (GitLab sends
// null before its first HistoricalData row): no report is recorded, the
// answer still carries the license state.
type SeatLinkInput struct {
	LicenseKey       string
	Timestamp        time.Time
	MaxHistorical    *int64
	Billable         *int64
	InstanceID       string
	UniqueInstanceID string
	Hostname         string
	Version          string
	AddOnMetrics     []AddOnMetric
	// Source names the report's origin; empty is "instance:<InstanceID>".
	Source string
}

// AddOnMetric is one add-on's seats as an instance reports them (GitLab's
// add_on_metrics entries).
type AddOnMetric = fulfill.AddOnMetric

// MaxAddOnMetrics bounds the add-on entries of one sync.
const MaxAddOnMetrics = 100

// FutureSkewDays is how far ahead of the server's clock a sync's timestamp
// may be: a day covers every time zone; beyond it the instance's clock is
// wrong and the report is refused.
const FutureSkewDays = 1

// SeatLinkResult is the answer to a sync, in the fields GitLab's client
// reads (sync_seat_link_request_worker.rb): license only when the
// instance's license is not the current one; next_reconciliation_date and
// display_alert_from together (GitLab drops its reconciliation record when
// either is blank); future_subscriptions, [] when none.
type SeatLinkResult struct {
	License                *string              `json:"license,omitempty"`
	NextReconciliationDate *fulfill.Date        `json:"next_reconciliation_date"`
	DisplayAlertFrom       *fulfill.Date        `json:"display_alert_from"`
	FutureSubscriptions    []FutureSubscription `json:"future_subscriptions"`
	SubscriptionID         string               `json:"subscription_id"`
	Seats                  int64                `json:"seats"`
	// Recorded says whether the sync recorded a seat report (false when the
	// counts were not known yet).
	Recorded bool `json:"recorded"`
}

func checkSeatLink(in SeatLinkInput, now time.Time) error {
	for f, v := range map[string]*int64{"max_historical_user_count": in.MaxHistorical, "billable_users_count": in.Billable} {
		if v != nil && (*v < 0 || *v > 100*MaxSeats) {
			return fulfill.FieldError(fulfill.EOutOfRange, f, "%s must be between 0 and %d.", f, 100*MaxSeats)
		}
	}
	if in.Timestamp.IsZero() {
		return fulfill.FieldError(fulfill.ERequired, "timestamp", "timestamp (RFC 3339) is required.")
	}
	if in.Timestamp.After(now.AddDate(0, 0, FutureSkewDays)) {
		return fulfill.FieldError(fulfill.EInvalid, "timestamp",
			"timestamp %s is more than a day ahead of the server's clock; check the instance's clock.", in.Timestamp.Format(time.RFC3339))
	}
	if fulfill.TextLen(in.UniqueInstanceID) > 255 {
		return fulfill.FieldError(fulfill.EOutOfRange, "unique_instance_id", "unique_instance_id is at most 255 characters.")
	}
	return checkAddOnMetrics(in.AddOnMetrics)
}

// verifyLicense checks a license file presented by an instance and returns
// its subscription's id.
func (s *Service) verifyLicense(raw string) (*license.Payload, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fulfill.FieldError(fulfill.EUnauthorized, "license_key", "Send the instance's license as license_key.")
	}
	ring, err := s.Keys.Keyring()
	if err != nil {
		return nil, err
	}
	data := []byte(strings.ReplaceAll(raw, "\r\n", "\n"))
	if !strings.HasSuffix(string(data), "\n") {
		data = append(data, '\n')
	}
	p, err := verifyCached(ring, data, s.now())
	if err != nil {
		why := "it is not a Fulfill license"
		switch {
		case errors.Is(err, license.ErrUnknownKey):
			why = "it was signed by a key this server does not trust"
		case errors.Is(err, license.ErrBadSignature):
			why = "its signature does not match: it was changed"
		case errors.Is(err, license.ErrIssuedInFuture):
			why = "it was issued in the future: check the instance's clock"
		}
		return nil, fulfill.FieldError(fulfill.ELicenseInvalid, "license_key", "The license does not verify: %s.", why)
	}
	return p, nil
}

// SeatLink records an instance's daily usage and answers with a newer
// license if there is one. A second report on the same day keeps the day's
// maximum of each count. A sync without counts records no report.
func (s *Service) SeatLink(ctx context.Context, in SeatLinkInput) (*SeatLinkResult, error) {
	if err := checkSeatLink(in, s.now()); err != nil {
		return nil, err
	}
	if err := checkInstance(in.InstanceID, in.Hostname, in.Version); err != nil {
		return nil, err
	}
	addOns, err := json.Marshal(in.AddOnMetrics)
	if err != nil || in.AddOnMetrics == nil {
		addOns = []byte("[]")
	}
	source := in.Source
	if source == "" {
		source = "instance:" + in.InstanceID
	}
	p, err := s.verifyLicense(in.LicenseKey)
	if err != nil {
		return nil, err
	}
	today := s.today()
	day := fulfill.DateOf(in.Timestamp)
	if day.After(today) {
		// The instance's clock is ahead of ours: the report counts for today.
		day = today
	}
	var out *SeatLinkResult
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, inst, err := tx.SubscriptionAndInstance(p.SubscriptionID, in.InstanceID)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ENotFound, "license_key", "The license's subscription is unknown to this server."))
		}
		if sub.State == fulfill.StateExpired {
			if !today.Before(sub.EndsOn.AddDays(CancellationSyncDays)) {
				return fulfill.FieldError(fulfill.ESubscriptionExpired, "license_key", "Subscription %s expired on %s.", sub.ID, sub.EndsOn)
			}
			if err := s.cancellationLicense(tx, sub); err != nil {
				return err
			}
		}
		if err := s.admitSync(tx, sub, inst, in.InstanceID); err != nil {
			return err
		}
		if day.Before(fulfill.DateOf(sub.CreatedAt)) {
			day = fulfill.DateOf(sub.CreatedAt)
		}
		recorded := in.MaxHistorical != nil && in.Billable != nil
		if recorded {
			if err := tx.MergeSeatReport(&fulfill.SeatReport{SubscriptionID: sub.ID, Date: day, MaxUsers: max(*in.MaxHistorical, *in.Billable),
				BillableUsers: *in.Billable, Source: source, CreatedAt: s.now()}); err != nil {
				return err
			}
			if err := recordSeatLinkAddOns(tx, sub.ID, day, source, in.AddOnMetrics); err != nil {
				return err
			}
		}
		if err := tx.SyncInstance(sub.ID, in.InstanceID, in.Hostname, in.Version, s.now(), in.MaxHistorical, in.Billable,
			store.InstanceSync{UniqueInstanceID: in.UniqueInstanceID, AddOnMetrics: string(addOns)}); err != nil {
			return err
		}
		out = &SeatLinkResult{SubscriptionID: sub.ID, Seats: sub.Seats, FutureSubscriptions: futureSubscriptions(sub, today), Recorded: recorded}
		if d := NextReconciliationDate(sub, today); !d.IsZero() {
			alert := d.AddDays(-NoticeDays)
			out.NextReconciliationDate, out.DisplayAlertFrom = &d, &alert
		}
		if sub.LicenseID != nil && *sub.LicenseID != p.ID {
			l, err := tx.License(*sub.LicenseID)
			if err != nil {
				return err
			}
			out.License = &l.File
		}
		return nil
	})
	if err == nil && out.Recorded {
		s.Metrics.SeatLink(ctx, out.SubscriptionID, in.InstanceID, *in.Billable)
	}
	return out, err
}

// UsageDay is one day's active users from GitLab's offline usage file.
type UsageDay struct {
	Date  fulfill.Date
	Users int64
}

// UsageFileResult is what ingesting a usage file did.
type UsageFileResult struct {
	SubscriptionID string `json:"subscription_id"`
	Ingested       int    `json:"ingested"`
	// Skipped counts the days before the subscription began.
	Skipped int `json:"skipped"`
}

// UsageFileSource is the source of the seat reports of a usage file.
const UsageFileSource = "usage_file"

// RecordUsageFile turns the days of GitLab's offline usage file
// (license_usage.csv) into seat reports with source usage_file, in one
// transaction: its license must verify and its subscription must not have
// expired. A day reported twice keeps its maximum; days before the
// subscription began are skipped; a day after today is refused.
func (s *Service) RecordUsageFile(ctx context.Context, actor Actor, licenseKey string, days []UsageDay) (*UsageFileResult, error) {
	p, err := s.verifyLicense(licenseKey)
	if err != nil {
		return nil, err
	}
	today := s.today()
	for _, d := range days {
		if d.Users < 0 || d.Users > 100*MaxSeats {
			return nil, fulfill.FieldError(fulfill.EOutOfRange, "Active User Count", "Active User Count must be between 0 and %d.", 100*MaxSeats)
		}
		if d.Date.After(today) {
			return nil, fulfill.FieldError(fulfill.EInvalid, "Date", "Date %s is after today (%s).", d.Date, today)
		}
	}
	out := &UsageFileResult{SubscriptionID: p.SubscriptionID}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(p.SubscriptionID)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ENotFound, "license_key", "The license's subscription is unknown to this server."))
		}
		if sub.State == fulfill.StateExpired {
			return fulfill.FieldError(fulfill.ESubscriptionExpired, "license_key", "Subscription %s expired on %s.", sub.ID, sub.EndsOn)
		}
		began := fulfill.DateOf(sub.CreatedAt)
		for _, d := range days {
			if d.Date.Before(began) {
				out.Skipped++
				continue
			}
			if err := tx.MergeSeatReport(&fulfill.SeatReport{SubscriptionID: sub.ID, Date: d.Date, MaxUsers: d.Users,
				BillableUsers: d.Users, Source: UsageFileSource, CreatedAt: s.now()}); err != nil {
				return err
			}
			out.Ingested++
		}
		return s.audit(tx, actor, "usage_file.ingest", "subscription", sub.ID,
			map[string]int{"ingested": out.Ingested, "skipped": out.Skipped}, "")
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CancellationSyncDays is how long after a term ended without renewal seat
// links are still answered, with the final license marked
// generated_from_cancellation: GitLab's older clients keep syncing for 14
// days after expiry (sync_seat_link_worker.rb). From then on a sync is
// refused as subscription_expired.
const CancellationSyncDays = 14

// LicenseReasonCancellation is the reason of the final license of a term
// that ended without renewal.
const LicenseReasonCancellation = "cancellation"

// cancellationLicense issues, once, the final license of an expired
// subscription, in the caller's transaction.
func (s *Service) cancellationLicense(tx *store.Tx, sub *fulfill.Subscription) error {
	if sub.LicenseID == nil || sub.Kind != fulfill.KindSelfManaged {
		return nil
	}
	cur, err := tx.License(*sub.LicenseID)
	if err != nil || cur.Reason == LicenseReasonCancellation {
		return err
	}
	cust, err := tx.Customer(sub.CustomerID)
	if err != nil {
		return err
	}
	_, err = s.issueLicense(tx, sub, cust, licenseTerms{reason: LicenseReasonCancellation, expiresAt: cur.ExpiresAt, fromCancellation: true})
	return err
}

// RecordUsagePing stores a service ping from an active instance: its
// license must verify, its subscription must not have expired and the
// instance must have activated or synced under it. The oldest pings beyond
// the UsageCap are deleted in the same transaction.
func (s *Service) RecordUsagePing(ctx context.Context, instanceID, licenseKey string, payload json.RawMessage) (string, error) {
	p, err := s.verifyLicense(licenseKey)
	if err != nil {
		return "", err
	}
	if err := checkInstance(instanceID, "", ""); err != nil {
		return "", err
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", fulfill.FieldError(fulfill.ERequired, "payload", "payload (a JSON object) is required.")
	}
	if len(payload) > MaxUsagePing {
		return "", fulfill.FieldError(fulfill.EOutOfRange, "payload", "payload is larger than %d bytes.", MaxUsagePing)
	}
	id, limit := fulfill.NewID("ping"), s.usageCap()
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(p.SubscriptionID)
		if fulfill.ErrorCode(err) == fulfill.ENotFound {
			return fulfill.FieldError(fulfill.ENotFound, "license_key", "The license's subscription is unknown to this server.")
		}
		if err != nil {
			return err
		}
		if sub.State == fulfill.StateExpired {
			return fulfill.FieldError(fulfill.ESubscriptionExpired, "license_key", "Subscription %s expired on %s.", sub.ID, sub.EndsOn)
		}
		known, err := tx.InstanceKnown(sub.ID, instanceID)
		if err != nil {
			return err
		}
		if !known {
			return fulfill.FieldError(fulfill.EInstanceUnknown, "instance_id",
				"Instance %q has not activated with this license; activate it (or sync once) before sending usage data.", instanceID)
		}
		if err := tx.InsertUsagePing(id, instanceID, &sub.ID, string(payload), s.now()); err != nil {
			return err
		}
		_, err = tx.PruneUsagePings(sub.ID, instanceID, limit.PerInstance, limit.PerSubscription)
		return err
	})
	return id, err
}

// ---- quarterly seat reconciliation ----

// ReconcileArgs is the job for one subscription's quarter end: the notice
// (a week before) or the charge (on the day).
type ReconcileArgs struct {
	SubscriptionID string `json:"subscription_id" river:"unique"`
	QuarterEnd     string `json:"quarter_end" river:"unique"`
	Step           string `json:"step" river:"unique"` // "notice" or "charge"
}

// Kind names the job.
func (ReconcileArgs) Kind() string { return "subscription.reconcile" }

// InsertOpts makes it unique per subscription, quarter and kind.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// dueReconciliations lists the reconciliation notices and charges that fall
// on day.
func (s *Service) dueReconciliations(ctx context.Context, day fulfill.Date) ([]ReconcileArgs, error) {
	subs, err := s.DB.ReconciliationCandidates(ctx, day)
	if err != nil {
		return nil, err
	}
	var due []ReconcileArgs
	for _, sub := range subs {
		for _, q := range billing.QuarterEnds(sub.StartsOn.Time()) {
			qe := fulfill.DateOf(q)
			kind := ""
			switch {
			case qe == day:
				kind = "charge"
			case qe.AddDays(-NoticeDays) == day:
				kind = "notice"
			default:
				continue
			}
			due = append(due, ReconcileArgs{SubscriptionID: sub.ID, QuarterEnd: qe.String(), Step: kind})
		}
	}
	return due, nil
}

// Reconcile runs one quarter's notice or charge. The charge bills
// (max users in the quarter − seats paid) × price / 4 × quarters left,
// raises the seats and issues a new license. Paid by card, the invoice is
// charged in atomic phases: the transaction that raises the seats records
// the payment attempt (phase 1); the provider is called after it commits,
// and the outcome recorded in a transaction of its own (the completer job
// finishes it if this process dies in between). A declined card leaves the
// invoice open with a failed payment: the seats are owed.
func (s *Service) Reconcile(ctx context.Context, args ReconcileArgs) error {
	qe, err := fulfill.ParseDate(args.QuarterEnd)
	if err != nil {
		return err
	}
	var pending *store.PaymentAttempt
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(args.SubscriptionID)
		if err != nil {
			return err
		}
		if !sub.SeatReconciliation || sub.State == fulfill.StateExpired || !sub.StartsOn.Before(qe) || !qe.Before(sub.EndsOn) {
			return nil
		}
		ends := billing.QuarterEnds(sub.StartsOn.Time())
		quarter, qStart := 0, sub.StartsOn
		for i, e := range ends {
			if fulfill.DateOf(e) == qe {
				quarter = i + 1
				break
			}
			qStart = fulfill.DateOf(e)
		}
		if quarter == 0 {
			return fmt.Errorf("%s is not a quarter end of subscription %s", qe, sub.ID)
		}
		maxUsers, err := tx.MaxUsers(sub.ID, qStart, qe)
		if err != nil {
			return err
		}
		cust, err := tx.Customer(sub.CustomerID)
		if err != nil {
			return err
		}
		now := s.now()
		if args.Step == "notice" {
			fresh, err := tx.RecordReconciliation(sub.ID, qe, "notice", nil, now)
			if err != nil || !fresh {
				return err
			}
			over := max(0, maxUsers-sub.Seats)
			if err := s.emit(tx, "reconciliation.upcoming", sub.ID, cust.ID, map[string]any{"subscription_id": sub.ID,
				"quarter_end": qe, "seats": sub.Seats, "max_users": maxUsers}); err != nil {
				return err
			}
			return s.queueEmail(tx, &fulfill.Email{Kind: "reconciliation.upcoming", To: cust.BillingEmail, CustomerID: &cust.ID,
				Subject: fmt.Sprintf("Quarterly seat reconciliation on %s", qe),
				Body: fmt.Sprintf("Hello %s,\n\nSubscription %s (%s) has %d seats. So far this quarter up to %d users were active, %d over the seats paid.\n"+
					"On %s we will invoice the users over license for the rest of the term (%d of 4 quarters) and raise the seats.\n",
					cust.BillingName, sub.ID, sub.Plan, sub.Seats, maxUsers, over, qe, 4-quarter)})
		}
		line, ok, err := billing.Reconciliation(maxUsers, sub.Seats, sub.UnitAmount, quarter, qe.Time(), sub.EndsOn.Time())
		if err != nil {
			return err
		}
		if !ok {
			_, err := tx.RecordReconciliation(sub.ID, qe, "charge", nil, now)
			return err
		}
		inv, err := s.newInvoice(tx, cust, &sub.ID, []billing.Line{line}, qe, sub.EndsOn, sub.PaymentMethod)
		if err != nil {
			return err
		}
		fresh, err := tx.RecordReconciliation(sub.ID, qe, "charge", &inv.ID, now)
		if err != nil || !fresh {
			return err
		}
		if err := s.finalize(ctx, tx, cust, inv); err != nil {
			return err
		}
		if inv.Status == fulfill.InvoiceOpen && inv.PaymentMethod != PayByInvoice && store.DueOf(inv) > 0 {
			// Phase 1 of the charge; the attempt's id derives from the
			// invoice, so a rerun of this job finds the same attempt.
			pending, err = s.paymentIntent(tx, "pat_rec_"+inv.ID, cust, inv, inv.PaymentMethod,
				payIntent{Actor: System, Purpose: "reconciliation"})
			if err != nil {
				return err
			}
		}
		prev := sub.Seats
		sub.Seats = maxUsers
		if err := tx.UpdateSubscription(sub, store.Change{Action: "reconciliation", Actor: string(System), InvoiceID: &inv.ID,
			Reason: fmt.Sprintf("Q%d: %d users over %d seats", quarter, maxUsers-prev, prev), At: now}); err != nil {
			return err
		}
		if _, err = s.issueLicense(tx, sub, cust, licenseTerms{reason: "reconciliation", previousUserCount: prev, email: true, reconciled: true}); err != nil {
			return err
		}
		return s.emit(tx, "reconciliation.done", sub.ID, cust.ID, map[string]any{"subscription_id": sub.ID, "quarter_end": qe,
			"quarter": quarter, "previous_seats": prev, "seats": sub.Seats, "invoice_id": inv.ID})
	})
	if err != nil || pending == nil {
		return err
	}
	s.failpointAt("after-phase1", pending)
	_, err = s.settle(ctx, pending)
	return err
}
