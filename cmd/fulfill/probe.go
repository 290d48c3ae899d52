package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill/instance"
	"github.com/fulfillhq/fulfill/internal/requestid"
)

const probeUsage = `Usage: fulfill probe --server URL [--plan CODE] [--payment-method PM] [--timeout D]

Goes through the purchasing workflow against a running server as the probe
customer (created once, left out of the KPIs): a purchase, the instance's
activation, a seat link and the license download; then refunds the
purchase and cancels it, so it leaves no revenue. Prints each step's time
and result; on the first failure prints what failed and exits 1.
The vendor API token comes from FULFILL_PROBE_TOKEN.
`

// probeStep is one timed step of the probe.
type probeStep struct {
	out   io.Writer
	first error
}

// run times fn and prints its result; after a failure it runs nothing but
// the clean-up steps (always).
func (p *probeStep) run(name string, always bool, fn func() (string, error)) bool {
	if p.first != nil && !always {
		return false
	}
	start := time.Now()
	detail, err := fn()
	ms := time.Since(start).Milliseconds()
	if err != nil {
		fmt.Fprintf(p.out, "%-10s FAILED  %6d ms  %v\n", name, ms, err)
		if p.first == nil {
			p.first = fmt.Errorf("probe failed at %s: %w", name, err)
		}
		return false
	}
	fmt.Fprintf(p.out, "%-10s ok      %6d ms  %s\n", name, ms, detail)
	return true
}

// probeClient calls the vendor API with the probe's token.
type probeClient struct {
	base, token string
	http        *http.Client
}

func (c *probeClient) call(ctx context.Context, method, path string, body, out any, idemKey string) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(requestid.Header, "probe-"+requestid.New())
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%d %s: %s (request %s)", resp.StatusCode, e.Error.Code, e.Error.Message, resp.Header.Get(requestid.Header))
		}
		return fmt.Errorf("%d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if s, ok := out.(*string); ok {
		*s = string(raw)
		return nil
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func probeCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, _ := flags("probe", stderr, getenv)
	setUsage(fs, probeUsage)
	server := fs.String("server", getenv("FULFILL_SERVER_URL"), "the Fulfill server [FULFILL_SERVER_URL]")
	plan := fs.String("plan", "sm-premium", "a self-managed plan to buy")
	pm := fs.String("payment-method", "pm_card_visa", "the payment method of the probe purchase")
	timeout := fs.Duration("timeout", 10*time.Second, "the longest a step may take")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if !strings.HasPrefix(*server, "http://") && !strings.HasPrefix(*server, "https://") {
		return usageError{"probe: --server URL (http:// or https://) is required"}
	}
	token := getenv("FULFILL_PROBE_TOKEN")
	if token == "" {
		return usageError{"probe: FULFILL_PROBE_TOKEN (a vendor API token) is required"}
	}
	base := strings.TrimSuffix(*server, "/")
	hc := &http.Client{Timeout: *timeout}
	c := &probeClient{base: base, token: token, http: hc}
	state, err := os.MkdirTemp("", "fulfill-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	inst := &instance.Client{BaseURL: base, HTTP: hc, StateDir: state, Version: "probe", Hostname: "fulfill-probe", MaxAttempts: 1}
	// A server on a simulated clock issues licenses dated by it: verify
	// them at its noon, not at the wall clock.
	var clk struct{ Today string }
	if c.call(ctx, "GET", "/api/v1/test_clock", nil, &clk, "") == nil && clk.Today != "" {
		if day, err := time.Parse(time.DateOnly, clk.Today); err == nil {
			inst.Now = func() time.Time { return day.Add(12 * time.Hour) }
		}
	}

	p := &probeStep{out: stdout}
	var cust struct{ ID string }
	var buy struct {
		Subscription struct{ ID string }
		Invoice      struct {
			ID    string
			Total int64
		}
		ActivationCode string `json:"activation_code"`
	}
	p.run("ready", false, func() (string, error) {
		var body string
		err := c.call(ctx, "GET", "/readyz", nil, &body, "")
		return strings.TrimSpace(body), err
	})
	p.run("customer", false, func() (string, error) {
		err := c.call(ctx, "POST", "/api/v1/customers", map[string]any{"probe": true, "email": "probe@fulfill-probe.invalid",
			"name": "Fulfill probe", "company": "Fulfill probe", "country": "US"}, &cust, "")
		return cust.ID, err
	})
	bought := p.run("purchase", false, func() (string, error) {
		err := c.call(ctx, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cust.ID, "plan": *plan, "seats": 1,
			"payment_method": *pm}, &buy, "probe-"+requestid.New())
		return fmt.Sprintf("%s, invoice %s", buy.Subscription.ID, buy.Invoice.ID), err
	})
	p.run("activate", false, func() (string, error) {
		l, _, err := inst.ActivateResult(ctx, buy.ActivationCode)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("license %s, %d seats", l.ID, l.Seats), nil
	})
	p.run("seat-link", false, func() (string, error) {
		res, err := inst.Sync(ctx, instance.Usage{Billable: 1, MaxHistorical: 1})
		if err != nil {
			return "", err
		}
		return "next reconciliation " + or(res.NextReconciliationDate, "none"), nil
	})
	p.run("license", false, func() (string, error) {
		var file string
		if err := c.call(ctx, "GET", "/api/v1/subscriptions/"+buy.Subscription.ID+"/license", nil, &file, ""); err != nil {
			return "", err
		}
		_, local, err := inst.License()
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(file) != strings.TrimSpace(string(local)) {
			return "", errors.New("the downloaded license differs from the activated one")
		}
		return fmt.Sprintf("%d bytes, same as activated", len(file)), nil
	})
	if bought {
		// Clean up even after a failure: the probe's money goes back.
		p.run("refund", true, func() (string, error) {
			if buy.Invoice.Total == 0 {
				return "nothing to refund", nil
			}
			var cn struct{ ID string }
			err := c.call(ctx, "POST", "/api/v1/invoices/"+buy.Invoice.ID+"/credit_notes", map[string]any{"amount": buy.Invoice.Total,
				"reason": "fulfill probe", "refund": true}, &cn, "probe-refund-"+buy.Invoice.ID)
			return cn.ID, err
		})
		p.run("cancel", true, func() (string, error) {
			return buy.Subscription.ID, c.call(ctx, "POST", "/api/v1/subscriptions/"+buy.Subscription.ID+"/cancel",
				map[string]any{"reason": "fulfill probe"}, nil, "")
		})
	}
	if p.first != nil {
		return p.first
	}
	fmt.Fprintln(stdout, "probe passed")
	return nil
}
