package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/fulfillhq/fulfill/commerce"
)

// billingMailFlags adds serve's billing mail settings: the days of the
// renewal notices, and the billing mail kinds the vendor switches off.
func billingMailFlags(fs *flag.FlagSet, c *Config, getenv func(string) string) {
	fs.StringVar(&c.RenewalNoticeDays, "renewal-notice-days", or(getenv("FULFILL_RENEWAL_NOTICE_DAYS"), "30,7"),
		"days before an automatically renewing term ends that its renewal notice is mailed, comma-separated [FULFILL_RENEWAL_NOTICE_DAYS]")
	fs.StringVar(&c.BillingMailOff, "billing-mail-off", getenv("FULFILL_BILLING_MAIL_OFF"),
		"billing mail kinds not to send, comma-separated, of: "+strings.Join(commerce.BillingMailKinds, ", ")+" [FULFILL_BILLING_MAIL_OFF]")
}

// billingMail reads the billing mail settings: the notice days, and the
// set of kinds switched off.
func (c *Config) billingMail() ([]int, map[string]bool, error) {
	days, err := commerce.ParseNoticeDays(c.RenewalNoticeDays)
	if err != nil {
		return nil, nil, usageError{"--renewal-notice-days: " + err.Error()}
	}
	off := map[string]bool{}
	for _, k := range strings.Split(c.BillingMailOff, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(commerce.BillingMailKinds, k) {
			return nil, nil, usageError{fmt.Sprintf("--billing-mail-off: unknown kind %q; known: %s", k, strings.Join(commerce.BillingMailKinds, ", "))}
		}
		off[k] = true
	}
	return days, off, nil
}
