package web

import (
	"regexp"
	"strconv"
	"testing"
)

// TestChartTicksAreRoundNumbers: every y-axis tick is a multiple of a step
// of 1, 2 or 5 × a power of ten, from 0 to a top at or above the data's.
func TestChartTicksAreRoundNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ top, step, newTop int64 }{
		{50, 10, 50}, {20, 5, 20}, {1, 1, 1}, {2, 1, 2}, {7, 2, 8}, {100, 20, 100}, {10000, 2000, 10000}, {0, 1, 1}, {37, 10, 40},
	} {
		if step, top := ticks(tc.top); step != tc.step || top != tc.newTop {
			t.Errorf("ticks(%d) = %d, %d; want %d, %d", tc.top, step, top, tc.step, tc.newTop)
		}
	}
	var b svgBuf
	yAxis(&b, 50, func(v int64) string { return strconv.FormatInt(v, 10) })
	var got []string
	for _, m := range regexp.MustCompile(`text-anchor="end">([0-9]+)<`).FindAllStringSubmatch(b.String(), -1) {
		got = append(got, m[1])
	}
	if want := "[0 10 20 30 40 50]"; strconvList(got) != want {
		t.Fatalf("ticks %v, want %s", got, want)
	}
}

func strconvList(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}
