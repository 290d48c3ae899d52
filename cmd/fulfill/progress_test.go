package main

import (
	"strings"
	"testing"
	"time"
)

// TestProgressBarLastLineSaysHowLongItTook: work that finishes within a
// fraction of a second still ends with its rate and duration (the billing run
// test once found no rate when the last batches were quick), and the rate
// counts from when the work began, not from the first finished batch.
func TestProgressBarLastLineSaysHowLongItTook(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	bar := newProgressBar(&out, "billing run")
	bar.unit = "items"
	bar.update(5, 14)
	bar.update(14, 14)
	bar.done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "billing run: 14/14 items (100%), ") || !strings.Contains(last, "/s, took ") {
		t.Fatalf("last line %q: want the rate and the time it took\n%s", last, out.String())
	}

	out.Reset()
	slow := newProgressBar(&out, "importing")
	slow.start = time.Now().Add(-10 * time.Second) // the work began 10 s ago
	slow.update(10, 40)
	if got := out.String(); !strings.Contains(got, "(25%), 1/s, 30s left") {
		t.Fatalf("first update after 10 s for 10 of 40 rows: %q, want 1/s and 30s left", got)
	}
}
