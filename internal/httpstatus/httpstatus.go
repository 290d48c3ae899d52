// Package httpstatus is the one table from Fulfill's error codes to HTTP
// statuses, shared by the JSON API and the web pages.
package httpstatus

import (
	"net/http"

	"github.com/fulfillhq/fulfill"
)

var statuses = map[string]int{
	fulfill.EInvalid:               http.StatusUnprocessableEntity,
	fulfill.EInvalidJSON:           http.StatusBadRequest,
	fulfill.EInvalidType:           http.StatusBadRequest,
	fulfill.EUnknownField:          http.StatusBadRequest,
	fulfill.ERequired:              http.StatusUnprocessableEntity,
	fulfill.EOutOfRange:            http.StatusUnprocessableEntity,
	fulfill.ENotFound:              http.StatusNotFound,
	fulfill.EConflict:              http.StatusConflict,
	fulfill.EUnauthorized:          http.StatusUnauthorized,
	fulfill.EForbidden:             http.StatusForbidden,
	fulfill.ECardDeclined:          http.StatusPaymentRequired,
	fulfill.EPaymentFailed:         http.StatusPaymentRequired,
	fulfill.EIdempotencyReuse:      http.StatusUnprocessableEntity,
	fulfill.EIdempotencyBusy:       http.StatusConflict,
	fulfill.ETooLarge:              http.StatusRequestEntityTooLarge,
	fulfill.ERateLimited:           http.StatusTooManyRequests,
	fulfill.EUnknownPlan:           http.StatusUnprocessableEntity,
	fulfill.EUnknownAddOn:          http.StatusUnprocessableEntity,
	fulfill.EActivationCodeInvalid: http.StatusNotFound,
	fulfill.ESignatureInvalid:      http.StatusBadRequest,
	fulfill.ELicenseInvalid:        http.StatusUnauthorized, // an instance's credential
	fulfill.EInstanceUnknown:       http.StatusForbidden,
	fulfill.EInstanceLimit:         http.StatusUnprocessableEntity,
	fulfill.ESubscriptionExpired:   http.StatusConflict,
	fulfill.EDowngradeNotAllowed:   http.StatusUnprocessableEntity,
	fulfill.ECouponInvalid:         http.StatusUnprocessableEntity,
	fulfill.ECouponExhausted:       http.StatusUnprocessableEntity,
	fulfill.EPONumberRequired:      http.StatusUnprocessableEntity,
	// Card decline codes, as Stripe names them.
	"insufficient_funds": http.StatusPaymentRequired,
	"lost_card":          http.StatusPaymentRequired,
	"stolen_card":        http.StatusPaymentRequired,
	"expired_card":       http.StatusPaymentRequired,
	"incorrect_cvc":      http.StatusPaymentRequired,
	"processing_error":   http.StatusPaymentRequired,
	"too_many_requests":  http.StatusTooManyRequests,
	fulfill.EUnavailable: http.StatusServiceUnavailable,
	fulfill.EInternal:    http.StatusInternalServerError,
}

// Of is the HTTP status of an error code. A code not in the table is a
// mistake on our side, never the client's: it is a 500, so that it is
// logged and the answer is not kept for an Idempotency-Key.
func Of(code string) int {
	if st, ok := statuses[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}
