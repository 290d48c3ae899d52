package commerce

import (
	"testing"

	"github.com/fulfillhq/fulfill"
)

// cardNoticeDue: a card's notice is owed from 30 days before its expiry
// month ends (the month is valid through its last day) until it ends, so
// a day missed is caught up late but never after the card has expired;
// December wraps into the next year and February is short.
func TestCardNoticeDue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		month, year int
		day         string
		want        bool
	}{
		{12, 2026, "2026-12-01", false},
		{12, 2026, "2026-12-02", true},
		{12, 2026, "2026-12-31", true},
		{12, 2026, "2027-01-01", false},
		{2, 2027, "2027-01-29", false},
		{2, 2027, "2027-01-30", true}, // 1 March − 30 days
		{2, 2027, "2027-02-28", true},
		{2, 2027, "2027-03-01", false},
		{1, 2027, "2026-12-01", false},
		{1, 2027, "2027-01-02", true},
	} {
		day, err := fulfill.ParseDate(c.day)
		if err != nil {
			t.Fatal(err)
		}
		if got := cardNoticeDue(fulfill.CardDetails{ExpMonth: c.month, ExpYear: c.year}, day); got != c.want {
			t.Errorf("card %02d/%d on %s: due %v, want %v", c.month, c.year, c.day, got, c.want)
		}
	}
	if got := expiryCause(fulfill.CardDetails{ExpMonth: 3, ExpYear: 2027}); got != "2027-03" {
		t.Errorf("cause %q", got)
	}
}
