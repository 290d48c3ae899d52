package jobs

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCopyIDJudgesOnlyCopiesOfThisMachine: a River client ID names the
// machine and process it runs in; only a copy of this machine whose process
// is gone counts as dead.
func TestCopyIDJudgesOnlyCopiesOfThisMachine(t *testing.T) {
	t.Parallel()
	here := machineKey()
	if here == "" {
		t.Skip("no /proc: copies cannot judge each other here")
	}
	self := newCopyID()
	if len(self) > 100 || !strings.HasPrefix(self, "fulfill_") || strings.Count(self, "_") != 4 {
		t.Fatalf("copy id %q: want fulfill_<host>_<machine>_<pid>_<random>, at most 100 characters", self)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	id := func(machine string, pid int) string { return fmt.Sprintf("fulfill_h_%s_%d_abcd1234", machine, pid) }
	for _, c := range []struct {
		name string
		id   string
		dead bool
	}{
		{"a process that exited", id(here, gone.Process.Pid), true},
		{"an earlier process that had our pid", id(here, os.Getpid()), true},
		{"a live process (our parent)", id(here, os.Getppid()), false},
		{"itself", self, false},
		{"another machine or namespace", id("0badf00d-4026531836", gone.Process.Pid), false},
		{"River's own ID format", "myhost_2026_12_01T18_00_00_123456", false},
		{"not a pid", id(here, 0), false},
	} {
		if got := deadOnThisMachine(c.id, self); got != c.dead {
			t.Errorf("%s (%s): dead = %v, want %v", c.name, c.id, got, c.dead)
		}
	}
}
