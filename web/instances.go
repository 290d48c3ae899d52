package web

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

// This file holds the pages of issue 13 kept out of the shared files: a
// subscription's instances and add-on seats in the portal and the console,
// deactivating an instance, and staff-issued custom licenses.

func (s *Server) instanceRoutes(handle func(string, access, handlerFunc)) {
	handle("POST /subscriptions/{id}/instances/{instance}/deactivate", customer, s.portalDeactivate)
	handle("POST /admin/subscriptions/{id}/instances/{instance}/deactivate", staffRW, s.adminDeactivate)
	handle("POST /admin/customers/{id}/custom_license", adminRole, s.adminCustomLicense)
}

// instancePanel is what the portal and the console show of a
// subscription's instances and add-on seats.
type instancePanel struct {
	Instances []*fulfill.Instance
	AddOns    []commerce.AddOnUsage
	// Custom is set when the subscription carries a custom license.
	Custom *fulfill.CustomLicense
	// CanChange: the staff member may deactivate instances (console).
	CanChange bool
}

// loadInstancePanel reads a subscription's instances (customerID, when set,
// must own it), its latest add-on seats from its reports, and its custom
// license if any.
func (s *Server) loadInstancePanel(ctx context.Context, customerID, subID string, reports []fulfill.SeatReport) (instancePanel, error) {
	var p instancePanel
	var err error
	if p.Instances, err = s.svc.Instances(ctx, customerID, subID); err != nil {
		return p, err
	}
	p.AddOns = commerce.LatestAddOnUsage(reports)
	c, err := s.db.CustomLicense(ctx, subID)
	switch {
	case err == nil:
		p.Custom = c
	case fulfill.ErrorCode(err) != fulfill.ENotFound:
		return p, err
	}
	return p, nil
}

func (s *Server) portalDeactivate(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	in, err := s.svc.DeactivateInstance(r.Context(), actor(r), clientIP(r), commerce.DeactivateInput{InstanceID: r.PathValue("instance"),
		SubscriptionID: sub.ID, CustomerID: sub.CustomerID})
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, fmt.Sprintf("Instance %s (%s) is deactivated: it no longer counts against your plan's instances.", in.InstanceID, cmp.Or(in.Hostname, "no hostname")))
}

func (s *Server) adminDeactivate(w http.ResponseWriter, r *http.Request) error {
	back, err := s.subscriptionCustomer(r)
	if err != nil {
		return err
	}
	in, err := s.svc.DeactivateInstance(r.Context(), actor(r), clientIP(r), commerce.DeactivateInput{InstanceID: r.PathValue("instance"),
		SubscriptionID: r.PathValue("id")})
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, back, "Instance "+in.InstanceID+" is deactivated.")
}

// parseEntitlements reads the console's entitlements field: one per line
// or comma-separated, "name" (a flag) or "name=N" (a limit), "name=false"
// for a flag not granted.
func parseEntitlements(text string) (fulfill.Entitlements, error) {
	var out fulfill.Entitlements
	for _, item := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' }) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, hasVal := strings.Cut(item, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		switch {
		case !hasVal || val == "true":
			out = out.Merge(fulfill.Entitlements{Flags: []string{name}})
		case val == "false":
		default:
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return out, fulfill.FieldError(fulfill.EInvalid, "entitlements", "Entitlement %q: write name, name=true, name=false or name=a whole number.", name)
			}
			out = out.Merge(fulfill.Entitlements{Limits: map[string]int64{name: n}})
		}
	}
	return out, nil
}

func (s *Server) adminCustomLicense(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	seats, err := strconv.ParseInt(strings.TrimSpace(f.Get("seats")), 10, 64)
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "seats", "Enter a number of seats.")
	}
	ends, err := fulfill.ParseDate(strings.TrimSpace(f.Get("ends_on")))
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "ends_on", "Enter the end date as YYYY-MM-DD.")
	}
	ents, err := parseEntitlements(f.Get("entitlements"))
	if err != nil {
		return err
	}
	res, err := s.svc.IssueCustomLicense(r.Context(), actor(r), clientIP(r), commerce.CustomLicenseInput{CustomerID: r.PathValue("id"),
		Plan: f.Get("plan"), Kind: f.Get("kind"), Seats: seats, EndsOn: ends, Entitlements: ents, Reason: f.Get("reason")})
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/customers/"+r.PathValue("id"), fmt.Sprintf("Custom %s license %s issued until %s (no charge). Activation code: %s",
		strings.ToUpper(res.Custom.Kind), res.License.ID, day(res.Subscription.EndsOn), res.ActivationCode))
}

// addOnOverageRow is a subscription whose instances last reported more
// add-on seats assigned than purchased.
type addOnOverageRow struct {
	SubscriptionID, CustomerID, Company string
	commerce.AddOnUsage
}

// addOnOverage lists, for the dashboard's overage view, the add-ons with
// more seats assigned than purchased in their subscription's latest
// add-on report this term.
func (s *Server) addOnOverage(ctx context.Context) ([]addOnOverageRow, int64, error) {
	subs, err := s.db.AddOnReportsThisTerm(ctx)
	if err != nil {
		return nil, 0, err
	}
	var rows []addOnOverageRow
	var over int64
	for _, sub := range subs {
		for _, u := range commerce.LatestAddOnUsage(sub.Reports) {
			if u.Over > 0 {
				rows = append(rows, addOnOverageRow{SubscriptionID: sub.SubscriptionID, CustomerID: sub.CustomerID, Company: sub.Company, AddOnUsage: u})
				over += u.Over
			}
		}
	}
	return rows, over, nil
}
