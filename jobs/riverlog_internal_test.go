package jobs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRiverLoggerDropsRiversInfoChatter: River's info lines ("Producer job
// counts") stay out of the log; its warnings and errors, with their
// attributes, still reach it.
func TestRiverLoggerDropsRiversInfoChatter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Info("producer: Producer job counts", "queue", "email")
	l.With("client", "c1").Warn("producer: slow fetch")
	l.Error("producer: fetch failed")
	got := buf.String()
	if strings.Contains(got, "Producer job counts") {
		t.Errorf("info line logged:\n%s", got)
	}
	if !strings.Contains(got, "slow fetch") || !strings.Contains(got, "client=c1") || !strings.Contains(got, "fetch failed") {
		t.Errorf("warning or error lost:\n%s", got)
	}
}
