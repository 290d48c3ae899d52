package fulfill

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the api package.
const (
	EInvalid          = "invalid"                // 422: a value is not acceptable
	EInvalidJSON      = "invalid_json"           // 400: the body is not JSON
	EInvalidType      = "invalid_type"           // 400: a field has the wrong JSON type
	EUnknownField     = "unknown_field"          // 400: a field we do not know
	ERequired         = "required"               // 422: a field is missing
	EOutOfRange       = "out_of_range"           // 422: a number or date outside its range
	ENotFound         = "not_found"              // 404
	EConflict         = "conflict"               // 409: the state does not allow it
	EUnauthorized     = "unauthorized"           // 401
	EForbidden        = "forbidden"              // 403
	ECardDeclined     = "card_declined"          // 402
	EPaymentFailed    = "payment_failed"         // 402
	EIdempotencyReuse = "idempotency_key_reused" // 422: same key, other body
	EIdempotencyBusy  = "idempotency_key_in_use" // 409: same key still running
	ETooLarge         = "request_too_large"      // 413
	ERateLimited      = "rate_limited"           // 429: too many requests; Retry-After says when to retry
	EUnavailable      = "database_unavailable"   // 503: the database cannot be reached; Retry-After says when to retry
	EInternal         = "internal"               // 500

	// Codes of one domain, each saying what went wrong more precisely.
	EUnknownPlan           = "unknown_plan"            // 422: no such plan in the catalog
	EUnknownAddOn          = "unknown_add_on"          // 422: no such add-on in the catalog
	EDowngradeNotAllowed   = "downgrade_not_allowed"   // 422: a mid-term change to a cheaper plan
	EActivationCodeInvalid = "activation_code_invalid" // 404: no such (or a spent) activation code
	ESubscriptionExpired   = "subscription_expired"    // 409: the subscription's term has ended
	ELicenseInvalid        = "license_invalid"         // 401: an instance's license does not verify
	EInstanceUnknown       = "instance_unknown"        // 403: the instance is not activated on the subscription
	EInstanceLimit         = "instance_limit"          // 422: the plan's maximum of active instances is reached
	ESignatureInvalid      = "signature_invalid"       // 400: a provider webhook's signature does not verify
	ECouponInvalid         = "coupon_invalid"          // 422: no such coupon, or it is archived, expired or not for this plan
	ECouponExhausted       = "coupon_exhausted"        // 422: the coupon reached its max_redemptions
	EPONumberRequired      = "po_number_required"      // 422: the account needs a purchase order number to pay by invoice
)

// Error is an error meant for the user: a stable code, a safe message and,
// for validation errors, the field at fault. Anything that is not an *Error
// reaches the user as "Internal error." and is logged in full.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an *Error about one field.
func FieldError(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode is the code of err, or EInternal for errors that are not ours.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EInternal
}

// ErrorMessage is the user-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// NotFoundAs returns instead when err is the store's "not found", to name the
// missing thing as the caller knows it (the field, the plan code); any other
// error, a lock timeout or a lost connection included, is returned as it is.
// Only the store decides what is not found.
func NotFoundAs(err error, instead *Error) error {
	if err != nil && ErrorCode(err) == ENotFound {
		return instead
	}
	return err
}
