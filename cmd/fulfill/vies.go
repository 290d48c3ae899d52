package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/fulfillhq/fulfill/commerce"
)

// viesFlags adds serve's optional online check of EU VAT ids against the
// EU's VIES REST service: its base URL (off when unset) and the time one
// check may take.
func viesFlags(fs *flag.FlagSet, c *Config, getenv func(string) string) error {
	fs.StringVar(&c.VIESURL, "vies-url", getenv("FULFILL_VIES_URL"),
		"base URL of the EU's VIES REST service, e.g. https://ec.europa.eu/taxation_customs/vies/rest-api, to check EU VAT ids online before they are stored: "+
			"an id VIES reports invalid is refused, and when VIES does not answer the id is accepted on its offline check and recorded as unavailable; unset checks offline only [FULFILL_VIES_URL]")
	timeout, err := envDuration(getenv, "FULFILL_VIES_TIMEOUT")
	if err != nil {
		return err
	}
	if timeout == 0 {
		timeout = commerce.DefaultVIESTimeout
	}
	fs.DurationVar(&c.VIESTimeout, "vies-timeout", timeout,
		"how long a VIES check may take before the VAT id is accepted as unavailable (the buyer waits for it) [FULFILL_VIES_TIMEOUT]")
	return nil
}

// checkVIES validates the VIES settings.
func (c *Config) checkVIES() error {
	if c.VIESURL == "" {
		return nil
	}
	u, err := url.Parse(c.VIESURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("--vies-url %q: want an http:// or https:// URL", c.VIESURL)}
	}
	if c.VIESTimeout <= 0 || c.VIESTimeout > time.Minute {
		return usageError{"--vies-timeout must be more than 0 and at most 1m"}
	}
	return nil
}

// viesClient is the VIES client of the service, nil when --vies-url is
// unset. The seller's tax id is sent as the requester, so that VIES gives
// a request identifier when it is an EU VAT id.
func (c *Config) viesClient() *commerce.VIESClient {
	if c.VIESURL == "" {
		return nil
	}
	return &commerce.VIESClient{BaseURL: c.VIESURL, Timeout: c.VIESTimeout, Requester: c.Seller.TaxID, Logger: slog.Default()}
}
