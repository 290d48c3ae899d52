package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/web"
)

// afterListen is the start-up work that need not come before the first
// answer: it runs while the server already serves. Nothing in it decides
// an answer. River's start (a write per queue, the leader election, the
// listener) only makes jobs run: requests insert jobs without it, and they
// run once it is done. The page templates are parsed in the background by
// web.New and a page waits for them. The dashboard's figures are computed
// ahead of the first visit.
//
// A failure of River's start or of the templates stops the server, as it
// did when they ran before it served.
type afterListen struct {
	started chan struct{} // closed when River's Start returned
	failed  chan error    // one error at most
	runner  *jobs.Runner
	log     *slog.Logger
}

// startAfterListen starts the deferred work; call stop (after the HTTP
// server stopped) to stop the jobs once their start finished.
func startAfterListen(ctx context.Context, runner *jobs.Runner, webSrv *web.Server, log *slog.Logger) *afterListen {
	a := &afterListen{started: make(chan struct{}), failed: make(chan error, 2), runner: runner, log: log}
	go func() {
		defer close(a.started)
		// Not ctx: SIGTERM must not hard-stop running jobs (stop stops
		// softly after the HTTP server has finished its requests).
		if err := runner.Start(context.WithoutCancel(ctx)); err != nil {
			a.failed <- fmt.Errorf("start the jobs: %w", err)
		}
	}()
	go func() {
		if err := webSrv.TemplatesReady(ctx); err != nil {
			if ctx.Err() == nil {
				a.failed <- err
			}
			return
		}
		if err := webSrv.WarmDashboard(ctx); err != nil && ctx.Err() == nil {
			log.Warn("dashboard warm-up", "err", err)
		}
	}()
	return a
}

// stop waits for River's start to finish, then stops the jobs softly.
func (a *afterListen) stop() {
	<-a.started
	stopJobs(a.runner, a.log)
}
