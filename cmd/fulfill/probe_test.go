package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

func runProbe(t *testing.T, s *server, extra ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Main(context.Background(), append([]string{"probe", "--server", s.addr}, extra...), &out, &errOut,
		env(map[string]string{"FULFILL_PROBE_TOKEN": e2eToken}))
	return out.String() + errOut.String(), err
}

// Issue 11, acceptance 7: the probe goes through purchase, activation, seat
// link and license download against a demo server, twice with one probe
// customer, and leaves nothing in the KPIs and no money in the ledger.
func TestProbePassesAndLeavesNoRevenue(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		s := startServer(t, url)
		var first string
		for round := range 2 {
			out, err := runProbe(t, s)
			if err != nil || !strings.Contains(out, "probe passed") {
				t.Fatalf("round %d: %v\n%s", round, err, out)
			}
			for _, step := range []string{"purchase", "activate", "seat-link", "license", "refund", "cancel"} {
				if !regexpLine(out, step+` +ok +\d+ ms`) {
					t.Errorf("round %d: no timed ok line for %s:\n%s", round, step, out)
				}
			}
			cust := regexpFind(out, `customer +ok +\d+ ms +(\S+)`)
			if round == 0 {
				first = cust
			} else if cust != first {
				t.Errorf("second probe used customer %s, first %s: want one probe customer", cust, first)
			}
		}
		dbURL := url
		if !strings.HasPrefix(url, "postgres") {
			dbURL = s.dataDir + "/fulfill.db"
		}
		db, err := store.Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		today, _ := fulfill.ParseDate("2026-01-01")
		figs, err := db.DashboardFigures(context.Background(), store.DashboardQuery{Today: today, On: []fulfill.Date{today}})
		if err != nil {
			t.Fatal(err)
		}
		if figs.Customers != 0 || len(figs.ByCurrency) != 0 {
			t.Errorf("the probe counts in the KPIs: %+v", figs)
		}
		var bal struct{ Data []map[string]any }
		s.call("GET", "/api/v1/ledger/balances", nil, &bal)
		if len(bal.Data) == 0 {
			t.Fatal("no ledger balances: the probe booked nothing?")
		}
		for _, b := range bal.Data {
			if n, ok := b["amount"].(float64); !ok || n != 0 {
				raw, _ := json.Marshal(bal.Data)
				t.Errorf("ledger not back to zero after the probe's refund: %s", raw)
				break
			}
		}
	})
}

// The probe stops at the first failure with a clear message and exit code:
// a declined card, and a payment provider that cannot be reached.
func TestProbeFailsClearlyWhenPaymentFails(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	out, err := runProbe(t, s, "--payment-method", "pm_card_chargeDeclined")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "probe failed at purchase") || !strings.Contains(out, "card_declined") {
		t.Fatalf("declined: err %v\n%s", err, out)
	}
	if strings.Contains(out, "activate ") {
		t.Errorf("the probe went on after the failed purchase:\n%s", out)
	}

	down := startServerEnv(t, "", map[string]string{"FULFILL_STRIPE_SECRET_KEY": "sk_test_probe"},
		"--payments", "stripe", "--stripe-api-base", "http://127.0.0.1:1")
	out, err = runProbe(t, down, "--timeout", "5s")
	if err == nil || !strings.Contains(err.Error(), "probe failed at purchase") {
		t.Fatalf("provider down: err %v\n%s", err, out)
	}
	t.Logf("provider down:\n%s%v", out, err)
}

func regexpLine(text, re string) bool { return regexpFind(text, "(?m)^("+re+")") != "" }

func regexpFind(text, re string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(text)
	if len(m) < 2 {
		return ""
	}
	return m[1]
}
