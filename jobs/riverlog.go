package jobs

import (
	"context"
	"log/slog"
)

// riverLogger is the logger River gets: ours, with River's own chatter
// below warning left out. River logs routine bookkeeping at info (a
// "Producer job counts" line per queue every few seconds) that would fill
// an operator's log; its warnings and errors still show.
func riverLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return slog.New(minLevel{h: l.Handler(), min: slog.LevelWarn})
}

// minLevel is a handler that drops records below min.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}

func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(as), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h: m.h.WithGroup(name), min: m.min}
}
