package jobs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
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
		runner := newRunner(t, env)
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
		start(t, runner)
		ctx := context.Background()
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
