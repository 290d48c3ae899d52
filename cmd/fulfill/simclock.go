package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/store"
)

// serveClock picks the clock of `serve`. With --simulated-clock (start) it
// is the simulated clock stored in the database, shared by every copy: on a
// database without one it starts at start; a stored date stands whatever
// start says, because moving it without doing the work that falls due in
// between would skip renewals, and moving it back would do them twice.
// Without --simulated-clock it is the real clock, refused on a database
// that has a simulated clock: its dates may lie in the future, and the real
// clock would date work before work already done.
func serveClock(ctx context.Context, db *store.DB, start *fulfill.Date, log *slog.Logger) (fulfill.Clock, jobs.SimulatedClock, error) {
	if start == nil {
		st, err := db.ClockState(ctx)
		if err != nil {
			return nil, nil, err
		}
		if st != nil {
			return nil, nil, fmt.Errorf("this database runs on a simulated clock (at %s): serve it with --simulated-clock, or use another database for the real clock", st.Today)
		}
		return fulfill.ClockFunc(time.Now), nil, nil
	}
	st, err := db.InitClock(ctx, *start)
	if err != nil {
		return nil, nil, err
	}
	if st.Today != *start {
		log.Info("the database has a simulated clock: keeping its date, not --simulated-clock", "stored", st.Today.String(),
			"flag", start.String())
	}
	if st.AdvanceTo != nil {
		log.Warn("an advance of the simulated clock was interrupted; the next advance continues from the stored date",
			"at", st.Today.String(), "was_to", st.AdvanceTo.String())
	}
	c := db.SimClock()
	return c, c, nil
}
