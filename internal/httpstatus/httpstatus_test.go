package httpstatus

import (
	"net/http"
	"testing"

	"github.com/fulfillhq/fulfill"
)

// A code the table does not know is our mistake: 500, never a 4xx that an
// Idempotency-Key would keep.
func TestUnknownCodeIs500(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]int{
		"no_such_code":       http.StatusInternalServerError,
		"":                   http.StatusInternalServerError,
		fulfill.EInternal:    http.StatusInternalServerError,
		fulfill.ENotFound:    http.StatusNotFound,
		fulfill.EConflict:    http.StatusConflict,
		fulfill.EInvalid:     http.StatusUnprocessableEntity,
		"insufficient_funds": http.StatusPaymentRequired,
	} {
		if got := Of(code); got != want {
			t.Errorf("Of(%q) = %d, want %d", code, got, want)
		}
	}
}
