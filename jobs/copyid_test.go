package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/store"
)

// TestCopyTakesOverTheLeadOfACopyKilledOnThisMachine: River's maintenance
// leader (the scheduler that makes scheduled jobs available, among others)
// was a copy on this machine that was killed, its lease an hour from ending.
// A copy starting now takes the lead at once instead of waiting the lease
// out; before, a killed server's scheduled jobs (a charge's completer) waited
// about 20 s after its restart.
func TestCopyTakesOverTheLeadOfACopyKilledOnThisMachine(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		if _, err := os.Stat("/proc/self/ns/pid"); err != nil {
			t.Skip("no /proc: copies cannot judge each other here")
		}
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		runner, err := jobs.New(jobs.Config{Service: env.Svc, Clock: fulfill.Clock(env.Clock), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		// A dead copy: this machine's key (from our own ID), an exited pid.
		gone := exec.Command("true")
		if err := gone.Run(); err != nil {
			t.Fatal(err)
		}
		machine := strings.Split(runner.ID(), "_")[2]
		dead := fmt.Sprintf("fulfill_oldhost_%s_%d_deadbeef", machine, gone.Process.Pid)
		insert := `INSERT INTO river_leader (leader_id, elected_at, expires_at) VALUES ($1, datetime('now', 'subsec'), datetime('now', 'subsec', '+1 hour'))`
		if env.DB.Dialect == store.Postgres {
			insert = `INSERT INTO river_leader (leader_id, elected_at, expires_at) VALUES ($1, now(), now() + interval '1 hour')`
		}
		if _, err := env.DB.Write.Exec(insert, dead); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := runner.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			runner.Stop(sctx)
		})
		// River's elector tries once at start, then every 5 s: the lead is
		// ours long before the dead copy's hour is out.
		deadline := time.Now().Add(30 * time.Second)
		for {
			id, _, err := env.DB.RiverLeaderID(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if id == runner.ID() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the leader is still %q, not this copy %q", id, runner.ID())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
