// Package hsts adds HTTP Strict Transport Security to the answers of a
// server reached over HTTPS (ASVS 5.0 3.4.1: at least a year).
package hsts

import (
	"net/http"
	"strings"
)

// Value is the Strict-Transport-Security header: one year, subdomains too.
const Value = "max-age=31536000; includeSubDomains"

// Handler sets Strict-Transport-Security on every answer of h served over
// TLS, and on every answer when publicURL is https (TLS then ends at a proxy
// in front of this server).
func Handler(h http.Handler, publicURL string) http.Handler {
	always := strings.HasPrefix(strings.ToLower(publicURL), "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if always || r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", Value)
		}
		h.ServeHTTP(w, r)
	})
}
