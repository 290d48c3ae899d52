package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// A copy's River client ID says where it runs and which process it is:
//
//	fulfill_<host>_<machine>_<pid>_<random>
//
// <machine> is this kernel boot and PID namespace (Linux's boot_id and the
// inode of /proc/self/ns/pid): two processes with the same <machine> see the
// same process table. That lets a copy starting on the same machine tell
// that the copy which led River's maintenance (the scheduler that makes
// scheduled jobs available, the rescuer, periodic jobs) was killed, and take
// the lead at once instead of waiting out the dead leader's lease, about
// 20 s during which no scheduled job runs (a charge's completer job, say).
const copyIDPrefix = "fulfill"

// machineKey is "<first 8 hex of boot_id>-<pid namespace inode>", or "" where
// it cannot be known (not Linux, no /proc): then a copy never judges another.
func machineKey() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid") // "pid:[4026531836]"
	if err != nil {
		return ""
	}
	b := strings.ReplaceAll(strings.TrimSpace(string(boot)), "-", "")
	ino := strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
	if len(b) < 8 || ino == "" || strings.ContainsAny(ino, "_ ") {
		return ""
	}
	return b[:8] + "-" + ino
}

// newCopyID makes this process's River client ID (at most 100 characters,
// River's limit).
func newCopyID() string {
	host, _ := os.Hostname()
	var clean strings.Builder
	for _, r := range host {
		if clean.Len() == 40 {
			break
		}
		if r < 128 && (r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			clean.WriteRune(r)
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("%s_%s_%s_%d_%s", copyIDPrefix, cmp.Or(clean.String(), "host"), cmp.Or(machineKey(), "unknown"),
		os.Getpid(), hex.EncodeToString(rnd[:]))
}

// deadOnThisMachine reports whether id names a copy that ran on this machine
// (same boot and PID namespace) in a process that no longer exists. Anything
// it cannot be sure of (another machine, another ID format, a live or
// unknowable process) is not dead.
func deadOnThisMachine(id, self string) bool {
	if id == self {
		return false
	}
	parts := strings.Split(id, "_")
	if len(parts) != 5 || parts[0] != copyIDPrefix {
		return false
	}
	here := machineKey()
	if here == "" || parts[2] != here {
		return false
	}
	pid, err := strconv.Atoi(parts[3])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true // that process had our PID, and we are not it
	}
	err = syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

// reclaimDeadLeader removes River's leadership row when it names a copy that
// died on this machine, so this copy's elector wins at its first attempt.
// The row is removed by its exact ID: a leader elected meanwhile is kept.
func (r *Runner) reclaimDeadLeader(ctx context.Context) (bool, error) {
	id, ok, err := r.db.RiverLeaderID(ctx)
	if err != nil || !ok || !deadOnThisMachine(id, r.id) {
		return false, err
	}
	removed, err := r.db.DeleteRiverLeader(ctx, id)
	if err != nil {
		return false, err
	}
	if removed {
		r.log.Info("the copy that led the job maintenance died on this machine: taking the lead at once", "dead_copy", id, "copy", r.id)
	}
	return removed, nil
}
