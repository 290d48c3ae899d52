package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// fakeVIES stands in for the EU's VIES REST service
// (https://ec.europa.eu/taxation_customs/vies/rest-api), which cannot be
// reached from the machines these tests run on (no internet). It follows
// VIES's documented REST shape: POST /check-vat-number with
// {"countryCode":"DE","vatNumber":"123456789"} (and, optionally, the
// requester's requesterMemberStateCode and requesterNumber), answered with
// {"countryCode","vatNumber","requestDate","valid","requestIdentifier",
// "name","address"}; a member state's outage is VIES's error answer
// {"actionSucceed":false,"errorWrappers":[{"error":"MS_UNAVAILABLE",…}]}
// with HTTP 500, and a hang is a request never answered.
type fakeVIES struct {
	srv     *httptest.Server
	valid   map[string]bool // "FR40303265045" → registered or not
	hang    map[string]bool
	down    map[string]bool
	mu      sync.Mutex
	request []map[string]string
}

func startFakeVIES(t *testing.T) *fakeVIES {
	t.Helper()
	f := &fakeVIES{valid: map[string]bool{}, hang: map[string]bool{}, down: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/check-vat-number" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var req map[string]string
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.request = append(f.request, req)
		f.mu.Unlock()
		id := req["countryCode"] + req["vatNumber"]
		w.Header().Set("Content-Type", "application/json")
		switch {
		case f.hang[id]:
			<-r.Context().Done() // until the client gives up
			return
		case f.down[id]:
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(map[string]any{"actionSucceed": false,
				"errorWrappers": []map[string]string{{"error": "MS_UNAVAILABLE", "message": "The member state service is unavailable."}}})
			return
		}
		valid := f.valid[id]
		answer := map[string]any{"countryCode": req["countryCode"], "vatNumber": req["vatNumber"],
			"requestDate": "2026-01-01T10:00:00.000Z", "valid": valid, "name": "---", "address": "---"}
		if valid {
			answer["name"], answer["address"] = "EXAMPLE SAS", "1 RUE DE LA PAIX, 75002 PARIS"
		}
		if req["requesterNumber"] != "" {
			answer["requestIdentifier"] = "WAPIAAAAZ" + req["vatNumber"]
		}
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVIES) requests() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.request...)
}

type vatCustomer struct {
	ID           string     `json:"id"`
	TaxID        string     `json:"tax_id"`
	VATCheck     string     `json:"vat_check"`
	VATCheckedAt *time.Time `json:"vat_checked_at"`
	VATCheckRef  string     `json:"vat_check_ref"`
}

// TestVIESCheckOfVATIDs: with --vies-url, an EU VAT id valid offline is
// checked against VIES (a local fake of its REST service) before it is
// stored. Registered: stored with "valid", the date and the request
// identifier, and the invoice is reverse charged. Not registered: 422 on
// tax_id, nothing stored. VIES hanging past the timeout or answering an
// outage: accepted as "unavailable" and reverse charged on its offline
// check. An id changed on the account is checked again; without
// --vies-url nothing is asked.
func TestVIESCheckOfVATIDs(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		f := startFakeVIES(t)
		f.valid["FR40303265045"], f.valid["EL094259216"], f.valid["NL000099998B57"] = true, true, true
		f.valid["NL004495445B01"] = false
		f.hang["IT00743110157"], f.down["ATU13585627"] = true, true
		e := newEnvAPI(t, url, "2026-01-01", func(a *api.Server) {
			a.Svc.VIES = &commerce.VIESClient{BaseURL: f.srv.URL, Timeout: 300 * time.Millisecond, Requester: "DE 136 695 976"}
		})
		create := func(country, taxID string, want int) (vatCustomer, apiError) {
			t.Helper()
			var raw json.RawMessage
			got := e.do("POST", "/api/v1/customers", map[string]any{"email": "buyer@example.com", "name": "Ann Buyer",
				"company": "Example SAS", "country": country, "tax_id": taxID}, &raw)
			if got != want {
				t.Fatalf("customer %s %q: status %d, want %d: %s", country, taxID, got, want, raw)
			}
			var c vatCustomer
			var ae apiError
			json.Unmarshal(raw, &c)
			json.Unmarshal(raw, &ae)
			if want == 201 {
				var read vatCustomer
				e.must(200, "GET", "/api/v1/customers/"+c.ID, nil, &read)
				if read.VATCheck != c.VATCheck || read.VATCheckRef != c.VATCheckRef {
					t.Errorf("read back %+v, created %+v", read, c)
				}
			}
			return c, ae
		}
		reverseCharged := func(cus string) bool {
			t.Helper()
			var p purchase
			e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 2,
				"payment_method": "invoice"}, &p)
			return p.Invoice.Tax == 0 && p.Invoice.Total == p.Invoice.Subtotal && p.Invoice.Subtotal > 0
		}
		now := e.clock.Now().UTC()

		fr, _ := create("FR", "fr 40303265045", 201)
		if fr.TaxID != "FR40303265045" || fr.VATCheck != "valid" || fr.VATCheckedAt == nil || !fr.VATCheckedAt.Equal(now) ||
			fr.VATCheckRef != "WAPIAAAAZ40303265045" {
			t.Errorf("registered id: %+v", fr)
		}
		reqs := f.requests()
		if len(reqs) != 1 || reqs[0]["countryCode"] != "FR" || reqs[0]["vatNumber"] != "40303265045" ||
			reqs[0]["requesterMemberStateCode"] != "DE" || reqs[0]["requesterNumber"] != "136695976" {
			t.Errorf("VIES requests %v", reqs)
		}
		if !reverseCharged(fr.ID) {
			t.Error("a VIES-valid id is not reverse charged")
		}
		if gr, _ := create("GR", "EL094259216", 201); gr.VATCheck != "valid" {
			t.Errorf("Greek id (EL): %+v", gr)
		}

		var before struct{ Data []vatCustomer }
		e.must(200, "GET", "/api/v1/customers?limit=100", nil, &before)
		_, ae := create("NL", "NL004495445B01", 422)
		if ae.Error.Code != fulfill.EInvalid || ae.Error.Field != "tax_id" || !strings.Contains(ae.Error.Message, "not a valid VAT number") {
			t.Errorf("VIES-invalid id: %+v", ae.Error)
		}
		var after struct{ Data []vatCustomer }
		e.must(200, "GET", "/api/v1/customers?limit=100", nil, &after)
		if len(after.Data) != len(before.Data) {
			t.Errorf("a refused id stored a customer: %d → %d", len(before.Data), len(after.Data))
		}
		// Invalid offline: VIES is never asked.
		n := len(f.requests())
		create("FR", "FR40303265046", 422)
		if len(f.requests()) != n {
			t.Error("VIES asked about an id that failed the offline check")
		}

		for _, id := range []struct{ country, id string }{{"IT", "IT00743110157"}, {"AT", "ATU13585627"}} {
			c, _ := create(id.country, id.id, 201)
			if c.VATCheck != "unavailable" || c.VATCheckedAt == nil || c.VATCheckRef != "" {
				t.Errorf("VIES out, %s: %+v", id.id, c)
			}
			if !reverseCharged(c.ID) {
				t.Errorf("VIES out, %s: not reverse charged on the offline check", id.id)
			}
		}

		// The account's id changed: checked again, a refusal changes nothing.
		nl, _ := create("NL", "", 201)
		if nl.VATCheck != "" || nl.VATCheckedAt != nil {
			t.Errorf("no id, yet checked: %+v", nl)
		}
		upd := commerce.CustomerUpdate{Name: "Ann Buyer", Company: "Example BV", Country: "NL", TaxID: "NL004495445B01",
			ContactName: "Ann Buyer", ContactEmail: "buyer@example.com", BillingName: "Ann Buyer", BillingEmail: "buyer@example.com"}
		ctx := context.Background()
		if _, err := e.svc.UpdateCustomer(ctx, "test", "", nl.ID, upd); fulfill.ErrorCode(err) != fulfill.EInvalid {
			t.Errorf("update to a VIES-invalid id: %v", err)
		}
		if c, err := e.db.Customer(ctx, nl.ID); err != nil || c.TaxID != "" || c.Company != "Example SAS" {
			t.Errorf("refused update stored: %+v, %v", c, err)
		}
		upd.TaxID = "NL000099998B57"
		if c, err := e.svc.UpdateCustomer(ctx, "test", "", nl.ID, upd); err != nil || c.VATCheck != "valid" || c.TaxID != "NL000099998B57" {
			t.Errorf("update to a VIES-valid id: %+v, %v", c, err)
		}
		if !reverseCharged(nl.ID) {
			t.Error("updated VIES-valid id not reverse charged")
		}

		// Without --vies-url (the default) nothing is asked.
		off := newEnv(t, url, "2026-01-02")
		n = len(f.requests())
		var c vatCustomer
		off.must(201, "POST", "/api/v1/customers", map[string]any{"email": "b@example.com", "name": "B", "country": "NL",
			"tax_id": "NL004495445B01"}, &c)
		if c.VATCheck != "" || c.VATCheckedAt != nil || len(f.requests()) != n {
			t.Errorf("VIES off: %+v, %d requests", c, len(f.requests())-n)
		}
	})
}
