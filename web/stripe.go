package web

import (
	_ "embed"
	"net/http"
)

// stripeCardJS mounts Stripe's card element on the review page and, on
// submit, turns the card into a PaymentMethod id at Stripe; only that id is
// posted here.
//
//go:embed static/stripe-card.js
var stripeCardJS []byte

func serveStripeJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(stripeCardJS)
}

// copyJS enables the copy buttons (activation codes).
//
//go:embed static/copy.js
var copyJS []byte

func serveCopyJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(copyJS)
}
