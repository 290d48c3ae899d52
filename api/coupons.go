package api

import (
	"net/http"

	"github.com/fulfillhq/fulfill/commerce"
)

// couponRoutes are coupons, contract prices and changes scheduled for
// renewal (issue 14).
func (s *Server) couponRoutes() []route {
	return []route{
		{"GET", "/api/v1/coupons", true, false, s.listCoupons},
		{"POST", "/api/v1/coupons", true, true, s.createCoupon},
		{"GET", "/api/v1/coupons/{code}", true, false, s.getCoupon},
		{"POST", "/api/v1/coupons/{code}/archive", true, false, s.archiveCoupon},
		{"POST", "/api/v1/subscriptions/{id}/price", true, false, s.setContractPrice},
		{"GET", "/api/v1/subscriptions/{id}/renewal", true, false, s.getRenewal},
		{"POST", "/api/v1/subscriptions/{id}/renewal", true, false, s.scheduleRenewal},
		{"DELETE", "/api/v1/subscriptions/{id}/renewal", true, false, s.clearRenewal},
		{"POST", "/api/v1/subscriptions/{id}/renew/preview", true, false, s.previewRenew},
	}
}

type couponRequest struct {
	Code           string           `json:"code"`
	PercentOff     int64            `json:"percent_off"`
	AmountOff      map[string]int64 `json:"amount_off"`
	Duration       string           `json:"duration"`
	DurationTerms  int64            `json:"duration_terms"`
	Plans          []string         `json:"plans"`
	MaxRedemptions *int64           `json:"max_redemptions"`
	ExpiresOn      string           `json:"expires_on"`
}

func (s *Server) createCoupon(w http.ResponseWriter, r *http.Request) error {
	var req couponRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in := commerce.CouponInput{Code: req.Code, PercentOff: req.PercentOff, AmountOff: req.AmountOff, Duration: req.Duration,
		DurationTerms: req.DurationTerms, Plans: req.Plans, MaxRedemptions: req.MaxRedemptions}
	if d, err := optDate(req.ExpiresOn, "expires_on"); err != nil {
		return err
	} else if d != nil {
		in.ExpiresOn = *d
	}
	c, err := s.Svc.CreateCoupon(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listCoupons(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.Svc.Coupons(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": cs})
}

func (s *Server) getCoupon(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Svc.Coupon(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) archiveCoupon(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Svc.ArchiveCoupon(r.Context(), actor(r), r.PathValue("code"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

type contractPriceRequest struct {
	UnitAmount *int64 `json:"unit_amount"`
	Reason     string `json:"reason"`
}

func (s *Server) setContractPrice(w http.ResponseWriter, r *http.Request) error {
	var req contractPriceRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := s.Svc.SetContractPrice(r.Context(), actor(r), r.PathValue("id"),
		commerce.ContractPriceInput{UnitAmount: req.UnitAmount, Reason: req.Reason})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

type renewalRequest struct {
	Seats *int64 `json:"seats"`
	Plan  string `json:"plan"`
}

func (s *Server) scheduleRenewal(w http.ResponseWriter, r *http.Request) error {
	var req renewalRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := s.Svc.ScheduleRenewal(r.Context(), actor(r), r.PathValue("id"), commerce.ScheduleInput{Seats: req.Seats, Plan: req.Plan})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) clearRenewal(w http.ResponseWriter, r *http.Request) error {
	out, err := s.Svc.ClearRenewal(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRenewal(w http.ResponseWriter, r *http.Request) error {
	out, err := s.Svc.Renewal(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) previewRenew(w http.ResponseWriter, r *http.Request) error {
	var req seatsRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	pv, err := s.Svc.PreviewRenewal(r.Context(), r.PathValue("id"), req.Seats)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pv)
}
