package commerce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
)

// The optional online check of EU VAT ids (issue 12, --vies-url). The
// offline check (checkCountryTaxID) comes first; an EU VAT id that passes
// it is then checked against the EU's VIES REST service, before the
// transaction that stores it (never inside one). The behaviour:
//
//   - VIES answers "valid": true → the id is stored with the result
//     "valid", the date of the consultation and VIES's request identifier
//     (its consultation number, given when the seller's own EU VAT id is
//     configured);
//   - VIES answers "valid": false → 422 on tax_id: the id is not a
//     registered VAT number, and nothing is stored;
//   - VIES does not answer in time (VIESClient.Timeout), answers an error
//     (a member state's service down, too many requests) or something
//     that is not its documented answer → the id, valid offline, is
//     accepted and stored with the result "unavailable": an outage of the
//     EU's service never blocks a purchase.
//
// Only a stored id puts a buyer under the reverse charge, so only an id
// that passed the offline check and was not reported invalid by VIES does.

// DefaultVIESTimeout bounds one VIES consultation when VIESClient.Timeout
// is unset: the buyer waits for it.
const DefaultVIESTimeout = 5 * time.Second

// maxVIESAnswer bounds the answer read from VIES.
const maxVIESAnswer = 64 << 10

// VIESClient checks EU VAT ids against the VIES REST service: POST
// {BaseURL}/check-vat-number with {"countryCode":"DE","vatNumber":"…"},
// answered with {"countryCode","vatNumber","requestDate","valid","name",
// "address","requestIdentifier",…} (the EU's documented shape; the
// production base is
// https://ec.europa.eu/taxation_customs/vies/rest-api).
type VIESClient struct {
	BaseURL string
	// Timeout bounds one consultation (zero: DefaultVIESTimeout).
	Timeout time.Duration
	// HTTP sends the requests; nil is a client that follows no redirects.
	HTTP *http.Client
	// Requester is the seller's own EU VAT id ("FR40303265045"), sent as
	// the requester so that VIES gives a request identifier; empty sends
	// none.
	Requester string
	// Logger is told why a consultation was unavailable; nil logs nothing.
	Logger *slog.Logger
}

// VIESAnswer is VIES's answer about one VAT id.
type VIESAnswer struct {
	CountryCode       string `json:"countryCode"`
	VATNumber         string `json:"vatNumber"`
	RequestDate       string `json:"requestDate"`
	Valid             *bool  `json:"valid"`
	Name              string `json:"name"`
	Address           string `json:"address"`
	RequestIdentifier string `json:"requestIdentifier"`
	// Errors VIES reports instead of an answer (MS_UNAVAILABLE, …).
	ActionSucceed *bool `json:"actionSucceed"`
	ErrorWrappers []struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	} `json:"errorWrappers"`
	UserError string `json:"userError"`
}

// ErrVIESUnavailable is a consultation VIES did not answer.
var ErrVIESUnavailable = errors.New("VIES unavailable")

// viesParts splits a normalised EU VAT id into VIES's country code (EL
// for Greece) and number.
func viesParts(country, id string) (string, string) {
	code := country
	if country == "GR" {
		code = "EL"
	}
	return code, strings.TrimPrefix(id, code)
}

// Check asks VIES whether id (normalised, of EU member state country) is a
// registered VAT number. Any failure to get VIES's documented answer is
// ErrVIESUnavailable (wrapped with why).
func (v *VIESClient) Check(ctx context.Context, country, id string) (*VIESAnswer, error) {
	timeout := v.Timeout
	if timeout <= 0 {
		timeout = DefaultVIESTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, number := viesParts(country, id)
	req := map[string]string{"countryCode": code, "vatNumber": number}
	if rc, rn := v.requester(); rc != "" {
		req["requesterMemberStateCode"], req["requesterNumber"] = rc, rn
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(v.BaseURL, "/")+"/check-vat-number", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVIESUnavailable, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	resp, err := v.client().Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVIESUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxVIESAnswer))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrVIESUnavailable, err)
	}
	var a VIESAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("%w: HTTP %d, not its JSON answer: %v", ErrVIESUnavailable, resp.StatusCode, err)
	}
	switch {
	case len(a.ErrorWrappers) > 0:
		return nil, fmt.Errorf("%w: HTTP %d: %s %s", ErrVIESUnavailable, resp.StatusCode, a.ErrorWrappers[0].Error, a.ErrorWrappers[0].Message)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: HTTP %d", ErrVIESUnavailable, resp.StatusCode)
	case a.ActionSucceed != nil && !*a.ActionSucceed, a.Valid == nil:
		return nil, fmt.Errorf("%w: no answer about the number", ErrVIESUnavailable)
	case a.UserError != "" && a.UserError != "VALID" && a.UserError != "INVALID":
		return nil, fmt.Errorf("%w: %s", ErrVIESUnavailable, a.UserError)
	}
	return &a, nil
}

// requester is the seller's VAT id as VIES's requester fields, when it is
// an EU VAT id.
func (v *VIESClient) requester() (string, string) {
	id := billing.NormalizeTaxID(v.Requester)
	if len(id) < 3 {
		return "", ""
	}
	country := id[:2]
	if country == "EL" {
		country = "GR"
	}
	if !billing.ValidVATID(country, id) {
		return "", ""
	}
	return viesParts(country, id)
}

func (v *VIESClient) client() *http.Client {
	if v.HTTP != nil {
		return v.HTTP
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// vatCheck is the result of a VIES consultation, to store with the id.
type vatCheck struct {
	result, ref string
	at          *time.Time
}

// apply records the consultation on a billing account.
func (v vatCheck) apply(c *fulfill.Customer) {
	c.VATCheck, c.VATCheckedAt, c.VATCheckRef = v.result, v.at, v.ref
}

// checkVIES consults VIES about a billing account's tax id (country and id
// normalised and valid offline), outside any transaction. Without
// --vies-url, for an empty id or outside the EU it makes none (a zero
// vatCheck). An id VIES reports invalid is EInvalid on tax_id; VIES
// unavailable records "unavailable" and accepts the id.
func (s *Service) checkVIES(ctx context.Context, country, taxID string) (vatCheck, error) {
	if s.VIES == nil || s.VIES.BaseURL == "" || taxID == "" || !billing.IsEU(country) {
		return vatCheck{}, nil
	}
	now := s.now()
	a, err := s.VIES.Check(ctx, country, taxID)
	if errors.Is(err, ErrVIESUnavailable) {
		if s.VIES.Logger != nil {
			s.VIES.Logger.Warn("VIES check unavailable: VAT id accepted on its offline check", "tax_id", taxID, "err", err)
		}
		return vatCheck{result: fulfill.VATCheckUnavailable, at: &now}, nil
	}
	if err != nil {
		return vatCheck{}, err
	}
	if !*a.Valid {
		return vatCheck{}, fulfill.FieldError(fulfill.EInvalid, "tax_id",
			"The EU's VIES service reports %s as not a valid VAT number: check it, or leave the field empty to be charged VAT.", taxID)
	}
	ref := a.RequestIdentifier
	if fulfill.TextLen(ref) > 100 || !fulfill.ValidText(ref) {
		ref = ""
	}
	return vatCheck{result: fulfill.VATCheckValid, at: &now, ref: ref}, nil
}
