package commerce

import (
	"testing"

	"github.com/fulfillhq/fulfill"
)

// noticeWindow: a yearly term gets the 30- and 7-day notices on their
// days, a monthly one only the 7-day notice, a day missed (server down)
// is caught up once, late, and nothing is owed before the first window.
func TestNoticeWindow(t *testing.T) {
	t.Parallel()
	d := func(s string) fulfill.Date {
		v, err := fulfill.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	yearly := &fulfill.Subscription{StartsOn: d("2026-01-01"), EndsOn: d("2027-01-01")}
	monthly := &fulfill.Subscription{StartsOn: d("2026-02-01"), EndsOn: d("2026-03-01")}
	for _, tt := range []struct {
		sub  *fulfill.Subscription
		day  string
		want int
	}{
		{yearly, "2026-12-01", 0}, {yearly, "2026-12-02", 30}, {yearly, "2026-12-20", 30}, {yearly, "2026-12-24", 30},
		{yearly, "2026-12-25", 7}, {yearly, "2026-12-31", 7},
		{monthly, "2026-02-02", 0}, {monthly, "2026-02-21", 0}, {monthly, "2026-02-22", 7},
	} {
		got, ok := noticeWindow(tt.sub, DefaultRenewalNoticeDays, d(tt.day))
		if got != tt.want || ok != (tt.want > 0) {
			t.Errorf("%s–%s on %s: %d %v, want %d", tt.sub.StartsOn, tt.sub.EndsOn, tt.day, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "0", "30,x", "400", "-1"} {
		if _, err := ParseNoticeDays(bad); err == nil {
			t.Errorf("ParseNoticeDays(%q) accepted", bad)
		}
	}
	if got, err := ParseNoticeDays(" 45, 15,15 "); err != nil || len(got) != 2 || got[0] != 45 || got[1] != 15 {
		t.Errorf("ParseNoticeDays: %v %v", got, err)
	}
}
