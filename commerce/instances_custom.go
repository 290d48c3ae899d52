package commerce

import (
	"context"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// CustomLicenseInput is a license staff issue at no charge: not for
// resale, for a proof of concept, or for a partner.
type CustomLicenseInput struct {
	CustomerID string
	Plan       string // a self-managed plan's code
	Kind       string // fulfill.CustomNFR, CustomPOC or CustomPartner
	Seats      int64
	EndsOn     fulfill.Date // exclusive, like a term's end
	// Entitlements are flags and limits, as a plan's.
	Entitlements fulfill.Entitlements
	Reason       string
}

// CustomLicenseResult is the issued license with its subscription and the
// activation code (shown once).
type CustomLicenseResult struct {
	Subscription   *fulfill.Subscription  `json:"subscription"`
	License        *fulfill.License       `json:"license"`
	Custom         *fulfill.CustomLicense `json:"custom"`
	ActivationCode string                 `json:"activation_code"`
}

// MaxCustomDays bounds how far ahead a custom license may run.
const MaxCustomDays = 3 * 366

func (s *Service) checkCustomLicense(in *CustomLicenseInput) error {
	if in.CustomerID == "" {
		return fulfill.FieldError(fulfill.ERequired, "customer_id", "customer_id is required.")
	}
	if in.Plan == "" {
		return fulfill.FieldError(fulfill.ERequired, "plan", "plan is required.")
	}
	switch in.Kind {
	case fulfill.CustomNFR, fulfill.CustomPOC, fulfill.CustomPartner:
	case "":
		return fulfill.FieldError(fulfill.ERequired, "kind", "kind is required: nfr, poc or partner.")
	default:
		return fulfill.FieldError(fulfill.EInvalid, "kind", "kind is nfr (not for resale), poc (proof of concept) or partner.")
	}
	if err := checkSeats(in.Seats, "seats"); err != nil {
		return err
	}
	today := s.today()
	if in.EndsOn.IsZero() {
		return fulfill.FieldError(fulfill.ERequired, "ends_on", "ends_on is required.")
	}
	if !in.EndsOn.After(today) || in.EndsOn.After(today.AddDays(MaxCustomDays)) {
		return fulfill.FieldError(fulfill.EOutOfRange, "ends_on", "ends_on is after today (%s) and at most %d days ahead.", today, MaxCustomDays)
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" {
		return fulfill.FieldError(fulfill.ERequired, "reason", "Say why this license is given (reason).")
	}
	if err := fulfill.CheckText("reason", in.Reason, 500); err != nil {
		return err
	}
	return in.Entitlements.Validate("entitlements")
}

// IssueCustomLicense issues a no-charge license from staff: a subscription
// of a self-managed plan at no price, without auto-renewal, carrying the
// chosen seats, end date and entitlements, and an activation code. It is
// never invoiced (it can be neither changed, renewed nor resumed), is left
// out of MRR, ARR and every other KPI, and is audited with its reason. The
// license is emailed to the customer's contact.
func (s *Service) IssueCustomLicense(ctx context.Context, actor Actor, remote string, in CustomLicenseInput) (*CustomLicenseResult, error) {
	if err := s.checkCustomLicense(&in); err != nil {
		return nil, err
	}
	res := &CustomLicenseResult{}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		cust, err := tx.Customer(in.CustomerID)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ENotFound, "customer_id", "No customer %q.", in.CustomerID))
		}
		plan, err := tx.PlanByCode(in.Plan)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plan", "No plan %q in the catalog.", in.Plan))
		}
		if plan.Kind != fulfill.KindSelfManaged {
			return fulfill.FieldError(fulfill.EInvalid, "plan", "Plan %q is SaaS: a license file is for self-managed plans.", plan.Code)
		}
		today, now := s.today(), s.now()
		sub := &fulfill.Subscription{ID: fulfill.NewID("sub"), CustomerID: cust.ID, PlanID: plan.ID, Plan: plan.Code,
			PlanVersion: plan.Version, Kind: plan.Kind, State: fulfill.StateActive, Seats: in.Seats, StartsOn: today,
			EndsOn: in.EndsOn, AutoRenew: false, Currency: cust.Currency, UnitAmount: 0, PaymentMethod: PayByInvoice,
			CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertSubscription(sub, store.Change{Action: "custom_license", Actor: string(actor), Reason: in.Reason, At: now}); err != nil {
			return err
		}
		c := &fulfill.CustomLicense{SubscriptionID: sub.ID, Kind: in.Kind, Reason: in.Reason, Entitlements: in.Entitlements,
			IssuedBy: string(actor), CreatedAt: now}
		if err := tx.InsertCustomLicense(c); err != nil {
			return err
		}
		l, err := s.issueLicense(tx, sub, cust, licenseTerms{reason: "custom_" + in.Kind, email: true, entitlements: in.Entitlements})
		if err != nil {
			return err
		}
		code := fulfill.NewActivationCode()
		if err := tx.InsertActivationCode(sub.ID, HashSecret(code), now); err != nil {
			return err
		}
		res.Subscription, res.License, res.Custom, res.ActivationCode = sub, l, c, code
		if err := s.emit(tx, "license.custom_issued", sub.ID, cust.ID, map[string]any{"subscription_id": sub.ID,
			"license_id": l.ID, "kind": in.Kind, "seats": in.Seats, "ends_on": in.EndsOn}); err != nil {
			return err
		}
		return s.audit(tx, actor, "license.custom_issue", "subscription", sub.ID, map[string]any{"customer_id": cust.ID,
			"plan": plan.Code, "kind": in.Kind, "seats": in.Seats, "ends_on": in.EndsOn, "entitlements": in.Entitlements,
			"reason": in.Reason, "license_id": l.ID}, remote)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// refuseCustom refuses a charge or change of a subscription that carries a
// custom license: it is given, never invoiced; staff issue a new one.
func refuseCustom(tx *store.Tx, sub *fulfill.Subscription) error {
	custom, err := tx.IsCustomLicense(sub.ID)
	if err != nil {
		return err
	}
	if custom {
		return fulfill.Errorf(fulfill.EConflict,
			"Subscription %s carries a no-charge custom license: it is never invoiced, changed or renewed; issue a new custom license instead.", sub.ID)
	}
	return nil
}
