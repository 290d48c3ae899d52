package commerce

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/license"
	"github.com/fulfillhq/fulfill/store"
)

// KeyStore gives the license signing key and the trusted verification keys.
type KeyStore interface {
	Signer() (*license.Signer, error)
	Keyring() (*license.Keyring, error)
}

// TrialDays is how long a trial runs.
const TrialDays = 30

// ExtensionDays is how far past the term end a temporary extension reaches.
const ExtensionDays = 21

// NoticeDays is how long before a quarterly reconciliation its notice goes out.
const NoticeDays = 7

// LicenseFileName is the attachment name of license emails.
const LicenseFileName = "fulfill.license"

// licenseTerms are what a new license says beyond the subscription itself.
type licenseTerms struct {
	reason            string
	previousUserCount int64
	trueUp            int64
	trueUpFrom        fulfill.Date
	trueUpTo          fulfill.Date
	expiresAt         fulfill.Date // zero: the term end
	email             bool
	// fromCancellation marks the final license after a term ended
	// without renewal (GitLab's generated_from_cancellation).
	fromCancellation bool
	// trueUpPeriodSeats is the seats the true-up period was billed for
	// (GitLab's trueup_period_seat_count); 0 when there is no true-up.
	trueUpPeriodSeats int64
	// reconciled marks a license issued by a quarterly seat reconciliation
	// (GitLab's reconciliation_completed).
	reconciled bool
	// entitlements are what a staff-issued custom license grants, beside
	// the plan's and the add-ons'.
	entitlements fulfill.Entitlements
	// signer, if set, signs instead of the key store's active key, read
	// for each license otherwise (an import reads it once a batch).
	signer *license.Signer
}

func toLicenseDate(d fulfill.Date) license.Date {
	if d.IsZero() {
		return license.Date{}
	}
	return license.DateOf(d.Time())
}

// issueLicense signs a new license for a self-managed subscription, stores it
// as current and, unless told not to, emails it to the subscription contact,
// all in the caller's transaction.
func (s *Service) issueLicense(tx *store.Tx, sub *fulfill.Subscription, cust *fulfill.Customer, t licenseTerms) (*fulfill.License, error) {
	if sub.Kind != fulfill.KindSelfManaged {
		return nil, nil
	}
	if s.Keys == nil {
		return nil, fmt.Errorf("no license signing keys configured")
	}
	grants, err := s.licenseGrants(tx, sub)
	if err != nil {
		return nil, err
	}
	l, err := s.signLicense(sub, cust, grants, t)
	if err != nil {
		return nil, err
	}
	if err := tx.InsertLicense(l); err != nil {
		return nil, err
	}
	if err := tx.SetSubscriptionLicense(sub.ID, l.ID); err != nil {
		return nil, err
	}
	sub.LicenseID = &l.ID
	if err := s.emit(tx, "license.issued", l.ID, cust.ID, l); err != nil {
		return nil, err
	}
	if t.email {
		if err := s.emailLicense(tx, sub, cust, l, cust.ContactEmail, "license"); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// signLicense makes and signs a license for a self-managed subscription,
// carrying grants (licenseGrants) beside its seats; it writes nothing.
func (s *Service) signLicense(sub *fulfill.Subscription, cust *fulfill.Customer, grants license.Payload, t licenseTerms) (*fulfill.License, error) {
	signer := t.signer
	if signer == nil {
		if s.Keys == nil {
			return nil, fmt.Errorf("no license signing keys configured")
		}
		var err error
		if signer, err = s.Keys.Signer(); err != nil {
			return nil, err
		}
	}
	now := s.now().Truncate(time.Second)
	expires := sub.EndsOn
	if !t.expiresAt.IsZero() {
		expires = t.expiresAt
	}
	notice := 15
	if sub.Trial {
		notice = 7
	}
	l := &fulfill.License{ID: fulfill.NewID("lic"), SubscriptionID: sub.ID, KeyID: signer.KeyID(), Reason: t.reason,
		Plan: sub.Plan, Seats: sub.Seats, PreviousUserCount: t.previousUserCount, TrueUpQuantity: t.trueUp,
		StartsAt: sub.StartsOn, ExpiresAt: expires, Trial: sub.Trial, IssuedAt: now}
	p := license.Payload{
		ID: l.ID, Version: license.PayloadVersion,
		Licensee: license.Licensee{Name: cust.ContactName, Company: cust.Company, Email: cust.ContactEmail},
		Plan:     sub.Plan, Seats: int(sub.Seats), PreviousUserCount: int(t.previousUserCount),
		TrueUpQuantity: int(t.trueUp), TrueUpFrom: toLicenseDate(t.trueUpFrom), TrueUpTo: toLicenseDate(t.trueUpTo),
		StartsAt: toLicenseDate(sub.StartsOn), ExpiresAt: toLicenseDate(expires),
		NotifyAdminsAt: toLicenseDate(expires.AddDays(-notice)), NotifyUsersAt: toLicenseDate(expires),
		BlockChangesAt: toLicenseDate(expires.AddDays(license.GracePeriodDays)),
		IssuedAt:       now, SubscriptionID: sub.ID, AddOns: grants.AddOns, Trial: sub.Trial,
		CloudLicensing: true, AutoRenew: sub.AutoRenew, SeatReconciliation: sub.SeatReconciliation,
		GeneratedFromCancellation: t.fromCancellation,
	}
	ents := fulfill.Entitlements{Flags: grants.Features, Limits: grants.Limits}.Merge(t.entitlements)
	p.Features, p.Limits = ents.Flags, ents.Limits
	// GitLab's restrictions: the subscription's name is its id here (GitLab
	// uses its billing system's subscription number the same way).
	p.SubscriptionName = sub.ID
	p.TrueUpPeriodSeatCount = int(t.trueUpPeriodSeats)
	p.ReconciliationCompleted = t.reconciled
	file, err := signer.Sign(p)
	if err != nil {
		return nil, err
	}
	l.File = string(file)
	return l, nil
}

// SendEmailArgs is the job that sends mail from the outbox (store.SendEmailArgs).
type SendEmailArgs = store.SendEmailArgs

// queueEmail puts a message in the outbox and enqueues its sending, in the
// caller's transaction: a rolled-back change sends nothing. The mails of
// one transaction are sent by one job (store.Tx.EnqueueEmail).
func (s *Service) queueEmail(tx *store.Tx, e *fulfill.Email) error {
	e.ID, e.Status, e.CreatedAt = fulfill.NewID("em"), "pending", s.now()
	if err := tx.InsertEmail(e); err != nil {
		return err
	}
	tx.EnqueueEmail(e.ID)
	return nil
}

func (s *Service) emailLicense(tx *store.Tx, sub *fulfill.Subscription, cust *fulfill.Customer, l *fulfill.License, to, kind string) error {
	plan := l.Plan
	if p, err := tx.PlanByCode(l.Plan); err == nil {
		plan = p.Name
	} else if fulfill.ErrorCode(err) != fulfill.ENotFound {
		return err
	}
	body := fmt.Sprintf(`Hello %s,

Your %s license for %s is attached.

  Plan:      %s
  Seats:     %d
  Valid:     %s
  License:   %s

Upload the attached file in your instance's license settings, or activate the
instance with its activation code to keep the license in sync automatically.

— The %s team
`, cust.ContactName, plan, cust.Company, plan, l.Seats, invoicepdf.Period(l.StartsAt, l.ExpiresAt), l.ID, "Fulfill")
	return s.queueEmail(tx, &fulfill.Email{Kind: kind, To: to, Subject: fmt.Sprintf("Your %s license (%d seats)", plan, l.Seats),
		Body: body, AttachmentName: LicenseFileName, Attachment: l.File, CustomerID: &cust.ID})
}

// audit appends to the audit log in the caller's transaction.
func (s *Service) audit(tx *store.Tx, actor Actor, action, subjectType, subjectID string, detail any, remote string) error {
	if remote == "" {
		remote = fulfill.RemoteAddr(tx.Context())
	}
	e, err := fulfill.NewAuditEntry(s.now(), string(actor), action, subjectType, subjectID, detail, remote)
	if err != nil {
		return err
	}
	return tx.Audit(e)
}

// CurrentLicense returns a subscription's current license.
func (s *Service) CurrentLicense(ctx context.Context, subscriptionID string) (*fulfill.License, error) {
	sub, err := s.DB.Subscription(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	if sub.LicenseID == nil {
		return nil, fulfill.Errorf(fulfill.ENotFound, "Subscription %s has no license (%s plans are provisioned, not licensed).", sub.ID, sub.Kind)
	}
	return s.DB.License(ctx, *sub.LicenseID)
}

// ResendLicense emails the current license again to the subscription
// contact named in it. It is audited.
func (s *Service) ResendLicense(ctx context.Context, actor Actor, remote, subscriptionID string) (*fulfill.Email, error) {
	return s.sendLicense(ctx, actor, remote, subscriptionID, "")
}

// ForwardLicense emails the current license to another person, who must be
// linked to the billing account (its contacts); anyone else gets 403.
func (s *Service) ForwardLicense(ctx context.Context, actor Actor, remote, subscriptionID, to string) (*fulfill.Email, error) {
	addr, err := mail.ParseAddress(to)
	if err != nil || addr.Name != "" || !emailRE.MatchString(to) {
		return nil, fulfill.FieldError(fulfill.EInvalid, "email", "%q is not an email address.", to)
	}
	return s.sendLicense(ctx, actor, remote, subscriptionID, to)
}

func (s *Service) sendLicense(ctx context.Context, actor Actor, remote, subscriptionID, forwardTo string) (*fulfill.Email, error) {
	var sent *fulfill.Email
	var denied *fulfill.Error
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(subscriptionID)
		if err != nil {
			return err
		}
		if sub.LicenseID == nil {
			return fulfill.Errorf(fulfill.ENotFound, "Subscription %s has no license.", sub.ID)
		}
		cust, err := tx.Customer(sub.CustomerID)
		if err != nil {
			return err
		}
		l, err := tx.License(*sub.LicenseID)
		if err != nil {
			return err
		}
		p, err := license.Parse([]byte(l.File))
		if err != nil {
			return err
		}
		to, action := p.Payload.Licensee.Email, "license.resend"
		if forwardTo != "" {
			linked := map[string]bool{}
			for _, a := range []string{cust.Email, cust.ContactEmail, cust.BillingEmail, p.Payload.Licensee.Email} {
				linked[strings.ToLower(a)] = true
			}
			if !linked[strings.ToLower(forwardTo)] {
				if err := s.audit(tx, actor, "license.forward_denied", "subscription", sub.ID,
					map[string]string{"license_id": l.ID, "to": forwardTo}, remote); err != nil {
					return err
				}
				// Commit the audit entry, then refuse.
				denied = fulfill.FieldError(fulfill.EForbidden, "email",
					"%s is not linked to this billing account: a license can only be forwarded to the account's contacts or managers. Add the person to the billing account first.", forwardTo)
				return nil
			}
			to, action = forwardTo, "license.forward"
		}
		if err := s.emailLicense(tx, sub, cust, l, to, action); err != nil {
			return err
		}
		if err := s.audit(tx, actor, action, "subscription", sub.ID, map[string]string{"license_id": l.ID, "to": to}, remote); err != nil {
			return err
		}
		sent = &fulfill.Email{To: to, Kind: action, Status: "pending"}
		return nil
	})
	if err == nil && denied != nil {
		return nil, denied
	}
	return sent, err
}

// RegenerateActivationCode replaces a subscription's activation code; the
// old one stops working.
func (s *Service) RegenerateActivationCode(ctx context.Context, actor Actor, remote, subscriptionID string) (string, error) {
	code := fulfill.NewActivationCode()
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(subscriptionID)
		if err != nil {
			return err
		}
		if sub.Kind != fulfill.KindSelfManaged {
			return fulfill.Errorf(fulfill.EConflict, "Only self-managed subscriptions have activation codes.")
		}
		if err := tx.InsertActivationCode(sub.ID, HashSecret(code), s.now()); err != nil {
			return err
		}
		return s.audit(tx, actor, "activation_code.regenerate", "subscription", sub.ID, nil, remote)
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// StartTrial starts a 30-day trial with a license; one per customer.
func (s *Service) StartTrial(ctx context.Context, actor Actor, customerID, planCode string, seats int64) (*PurchaseResult, error) {
	if customerID == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "customer_id", "customer_id is required.")
	}
	if planCode == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "plan", "plan is required.")
	}
	if err := checkSeats(seats, "seats"); err != nil {
		return nil, err
	}
	var res PurchaseResult
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		cust, err := tx.Customer(customerID)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ENotFound, "customer_id", "No customer %q.", customerID))
		}
		had, err := tx.CustomerHadTrial(cust.ID)
		if err != nil {
			return err
		}
		if had {
			return fulfill.FieldError(fulfill.EConflict, "customer_id", "Customer %s already had a trial; there is one per customer.", cust.ID)
		}
		plan, err := tx.PlanByCode(planCode)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plan", "No plan %q in the catalog.", planCode))
		}
		price, err := priceIn(plan, cust.Currency)
		if err != nil {
			return err
		}
		today, now := s.today(), s.now()
		sub := &fulfill.Subscription{ID: fulfill.NewID("sub"), CustomerID: cust.ID, PlanID: plan.ID, Plan: plan.Code,
			PlanVersion: plan.Version, Kind: plan.Kind, State: fulfill.StateActive, Trial: true, Seats: seats, StartsOn: today,
			EndsOn: today.AddDays(TrialDays), AutoRenew: false, Currency: cust.Currency, UnitAmount: price,
			PaymentMethod: PayByInvoice, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertSubscription(sub, store.Change{Action: "trial", Actor: string(actor), At: now}); err != nil {
			return err
		}
		if _, err := s.issueLicense(tx, sub, cust, licenseTerms{reason: "trial", email: true}); err != nil {
			return err
		}
		if plan.Kind == fulfill.KindSelfManaged {
			res.ActivationCode = fulfill.NewActivationCode()
			if err := tx.InsertActivationCode(sub.ID, HashSecret(res.ActivationCode), now); err != nil {
				return err
			}
		}
		res.Subscription = sub
		if err := s.emit(tx, "trial.started", sub.ID, cust.ID, sub); err != nil {
			return err
		}
		return s.audit(tx, actor, "trial.start", "subscription", sub.ID, map[string]any{"plan": plan.Code, "seats": seats}, "")
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// TemporaryExtension issues a license valid until 21 days after the term
// end, once per term, and never to a customer on credit hold.
func (s *Service) TemporaryExtension(ctx context.Context, actor Actor, remote, subscriptionID string) (*fulfill.License, error) {
	var l *fulfill.License
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(subscriptionID)
		if err != nil {
			return err
		}
		if sub.Kind != fulfill.KindSelfManaged {
			return fulfill.Errorf(fulfill.EConflict, "Only self-managed subscriptions have licenses to extend.")
		}
		if sub.Trial {
			return fulfill.Errorf(fulfill.EConflict, "A trial can not be extended; start a subscription instead.")
		}
		cust, err := tx.Customer(sub.CustomerID)
		if err != nil {
			return err
		}
		if cust.CreditHold {
			return fulfill.Errorf(fulfill.EForbidden, "Customer %s is on credit hold: no temporary extension.", cust.ID)
		}
		n, err := tx.CountLicenses(sub.ID, "temporary_extension", sub.StartsOn)
		if err != nil {
			return err
		}
		if n > 0 {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s already had its temporary extension for the term ending %s.", sub.ID, sub.EndsOn)
		}
		if sub.State == fulfill.StateExpired && s.today().After(sub.EndsOn.AddDays(ExtensionDays)) {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s ended on %s, more than %d days ago.", sub.ID, sub.EndsOn, ExtensionDays)
		}
		l, err = s.issueLicense(tx, sub, cust, licenseTerms{reason: "temporary_extension", expiresAt: sub.EndsOn.AddDays(ExtensionDays), email: true})
		if err != nil {
			return err
		}
		return s.audit(tx, actor, "license.temporary_extension", "subscription", sub.ID, map[string]string{"license_id": l.ID, "expires_at": l.ExpiresAt.String()}, remote)
	})
	return l, err
}

// SetCreditHold puts a customer on credit hold or takes it off.
func (s *Service) SetCreditHold(ctx context.Context, actor Actor, remote, customerID string, on bool) (*fulfill.Customer, error) {
	var c *fulfill.Customer
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if c, err = tx.Customer(customerID); err != nil {
			return err
		}
		if err := tx.SetCreditHold(c.ID, on); err != nil {
			return err
		}
		c.CreditHold = on
		return s.audit(tx, actor, "customer.credit_hold", "customer", c.ID, map[string]bool{"enabled": on}, remote)
	})
	return c, err
}

// SetSeatReconciliation turns quarterly seat reconciliation on or off.
func (s *Service) SetSeatReconciliation(ctx context.Context, actor Actor, subscriptionID string, on bool) (*fulfill.Subscription, error) {
	var sub *fulfill.Subscription
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if sub, err = tx.Subscription(subscriptionID); err != nil {
			return err
		}
		if sub.State == fulfill.StateExpired || sub.Trial {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s can not have seat reconciliation (%s).", sub.ID, map[bool]string{true: "trial", false: sub.State}[sub.Trial])
		}
		if sub.SeatReconciliation == on {
			return nil
		}
		if on {
			if err := refuseCustom(tx, sub); err != nil {
				return err
			}
		}
		sub.SeatReconciliation = on
		return tx.UpdateSubscription(sub, store.Change{Action: "seat_reconciliation", Actor: string(actor),
			Reason: map[bool]string{true: "enabled", false: "disabled"}[on], At: s.now()})
	})
	return sub, err
}

// NextReconciliationDate is the next quarter end of a subscription with
// reconciliation, or zero.
func NextReconciliationDate(sub *fulfill.Subscription, today fulfill.Date) fulfill.Date {
	if !sub.SeatReconciliation {
		return fulfill.Date{}
	}
	for _, q := range billing.QuarterEnds(sub.StartsOn.Time()) {
		if d := fulfill.DateOf(q); !d.Before(today) {
			return d
		}
	}
	return fulfill.Date{}
}
