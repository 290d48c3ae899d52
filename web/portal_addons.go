package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

// addOnsPage is the portal's add-on page of a subscription: what it has,
// what it may buy, and the preview of a chosen quantity.
type addOnsPage struct {
	*subDetail
	Catalog  []*fulfill.AddOn
	Have     map[string]int64
	AddOn    string
	Quantity string
}

func (s *Server) addOnsForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.subDetail(r)
	if err != nil {
		return err
	}
	all, err := s.db.AddOns(r.Context())
	if err != nil {
		return err
	}
	p := &addOnsPage{subDetail: d, Have: map[string]int64{}}
	for _, a := range d.Sub.AddOns {
		p.Have[a.Code] = a.Quantity
	}
	for _, a := range all {
		if _, ok := a.Prices[d.Sub.Currency]; ok && a.Fits(d.Sub.Kind) {
			p.Catalog = append(p.Catalog, a)
		}
	}
	q := r.URL.Query()
	p.AddOn, p.Quantity = strings.TrimSpace(q.Get("add_on")), strings.TrimSpace(q.Get("quantity"))
	if p.AddOn != "" || p.Quantity != "" {
		n, err := strconv.ParseInt(p.Quantity, 10, 64)
		if err != nil {
			d.Err, d.Field = "Enter a whole number.", "quantity"
		} else if d.Preview, _, err = s.svc.SetAddOn(r.Context(), actor(r), d.Sub.ID, p.AddOn, n, true); err != nil {
			if err := d.previewFailed(err, fieldOf(err)); err != nil {
				return err
			}
		}
	}
	return s.render(w, r, 200, "addons", "Add-ons", p)
}

func (s *Server) setAddOn(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.ownSubscription(r)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(r.PostForm.Get("quantity")), 10, 64)
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "quantity", "Enter a whole number.")
	}
	code := r.PostForm.Get("add_on")
	_, res, err := s.svc.SetAddOn(r.Context(), actor(r), sub.ID, code, n, false)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/subscriptions/"+sub.ID, fmt.Sprintf("You now have %d of %s. Invoice %s: %s.",
		commerce.AddOnQuantities(res.Subscription.AddOns)[code], code, res.Invoice.Number, res.Invoice.Status))
}

// fieldOf is the field an error names, "" if none.
func fieldOf(err error) string {
	var fe *fulfill.Error
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// formEntitlements reads the catalog form's entitlements, a JSON object such
// as {"sso": true, "max_projects": 100}; a form without the field keeps the
// plan's current ones, an empty field grants none.
func formEntitlements(v string, current fulfill.Entitlements, present bool) (fulfill.Entitlements, error) {
	if !present {
		return current, nil
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return fulfill.Entitlements{}, nil
	}
	e, err := fulfill.ParseEntitlements(v)
	if err != nil {
		return e, fulfill.FieldError(fulfill.EInvalid, "entitlements",
			`Write the entitlements as a JSON object of flags and limits, e.g. {"sso": true, "max_projects": 100}.`)
	}
	return e, nil
}
