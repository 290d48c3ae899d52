package fulfill_test

import (
	"encoding/json"
	"testing"

	"github.com/fulfillhq/fulfill"
)

// The resolution rule of issue 13: flags are united, the larger limit wins,
// and a name that is a limit on either side is a limit.
func TestEntitlementsMergeTakesTheLargerLimit(t *testing.T) {
	t.Parallel()
	plan, err := fulfill.ParseEntitlements(`{"sso": true, "max_projects": 100, "max_runners": 10, "audit": true}`)
	if err != nil {
		t.Fatal(err)
	}
	addOn, err := fulfill.ParseEntitlements(`{"max_projects": 500, "max_runners": 5, "duo": true, "audit": 3, "off": false}`)
	if err != nil {
		t.Fatal(err)
	}
	got := plan.Merge(addOn).String()
	if want := `{"audit":3,"duo":true,"max_projects":500,"max_runners":10,"sso":true}`; got != want {
		t.Fatalf("merged = %s, want %s", got, want)
	}
	if got := addOn.Merge(plan).String(); got != `{"audit":3,"duo":true,"max_projects":500,"max_runners":10,"sso":true}` {
		t.Fatalf("merge is not symmetric: %s", got)
	}
	if !(fulfill.Entitlements{}).Merge(fulfill.Entitlements{}).IsZero() {
		t.Fatal("merging nothing grants something")
	}
}

func TestEntitlementsJSONAndValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		decodes bool
		valid   bool
	}{
		{`{"sso": true, "max_projects": 100}`, true, true},
		{`{}`, true, true},
		{`null`, true, true},
		{`{"sso": "yes"}`, false, false},
		{`{"n": 1.5}`, false, false},
		{`{"n": 1e3}`, false, false},
		{`["sso"]`, false, false},
		{`{"n": -1}`, true, false},
		{`{"Bad": true}`, true, false},
		{`{"n": 1000000000001}`, true, false},
	} {
		var e fulfill.Entitlements
		err := json.Unmarshal([]byte(tc.in), &e)
		if (err == nil) != tc.decodes {
			t.Errorf("%s: decode error %v, want decodes=%v", tc.in, err, tc.decodes)
			continue
		}
		if err != nil {
			if fulfill.ErrorCode(err) != fulfill.EInvalidType {
				t.Errorf("%s: error code %s, want %s", tc.in, fulfill.ErrorCode(err), fulfill.EInvalidType)
			}
			continue
		}
		if verr := e.Validate("entitlements"); (verr == nil) != tc.valid {
			t.Errorf("%s: Validate = %v, want valid=%v", tc.in, verr, tc.valid)
		}
	}
	many := map[string]bool{}
	for i := range fulfill.MaxEntitlements + 1 {
		many[string(rune('a'+i/26))+string(rune('a'+i%26))] = true
	}
	b, _ := json.Marshal(many)
	var e fulfill.Entitlements
	if err := json.Unmarshal(b, &e); err != nil || e.Validate("entitlements") == nil {
		t.Errorf("%d entitlements accepted (err %v)", len(many), err)
	}
}
