package dbtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cluster is a throwaway PostgreSQL cluster owned by this test process.
type cluster struct {
	dir     string // temp dir holding everything; removed on stop
	dataDir string
	logFile string
	pgCtl   string
	cred    *syscall.Credential // non-nil when running as root: run as postgres
	url     string              // maintenance database URL
	port    int
	// fromCache says the data directory is a copy of an earlier initdb's.
	fromCache bool

	// watchdog is the write end of a pipe whose read end is the stdin of a
	// watchdog process. When this process exits in any way, the kernel closes
	// it, and the watchdog stops the cluster and removes dir. Keep it
	// referenced: a collected *os.File closes its descriptor.
	watchdog *os.File
}

// pgLibGlob is where Debian/Ubuntu install PostgreSQL versions (a var for
// tests).
var pgLibGlob = "/usr/lib/postgresql/*/bin"

var (
	clusterOnce sync.Once
	theCluster  *cluster
	clusterErr  error
)

func getCluster() (*cluster, error) {
	clusterOnce.Do(func() { theCluster, clusterErr = startCluster(false) })
	return theCluster, clusterErr
}

// stopCluster stops the cluster if one was started, and prevents starting
// one afterwards.
func stopCluster() {
	clusterOnce.Do(func() {
		clusterErr = errors.New("dbtest: PostgreSQL cluster already stopped (used after dbtest.Main returned)")
	})
	if theCluster != nil {
		theCluster.stop()
	}
}

// startCluster starts a cluster. A durable one keeps fsync and
// synchronous_commit on (as production must); the shared one turns them
// off for speed.
func startCluster(durable bool) (*cluster, error) {
	pgCtl, initdb, err := findBinaries()
	if err != nil {
		return nil, err
	}

	c := &cluster{pgCtl: pgCtl}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, where initdb/postgres refuse to run, and there is no 'postgres' system user to run them as (%v)", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	c.dir, err = os.MkdirTemp(baseDir(c.cred != nil), "fulfill-pg-")
	if err != nil {
		return nil, fmt.Errorf("create cluster dir: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, uid, gid); err != nil {
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("chown cluster dir to postgres: %w", err)
		}
	}
	c.dataDir = filepath.Join(c.dir, "data")
	c.logFile = filepath.Join(c.dir, "postgres.log")

	if err := c.startWatchdog(); err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("start watchdog: %w", err)
	}
	fail := func(err error) (*cluster, error) {
		c.stop()
		return nil, err
	}

	if err := c.initdb(initdb); err != nil {
		return fail(err)
	}

	conf := fmt.Sprintf(`
# added by fulfill internal/dbtest
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
max_connections = 400
fsync = %s
synchronous_commit = %s
full_page_writes = off
autovacuum = off
jit = off
max_wal_size = 256MB
min_wal_size = 32MB
`, strings.ReplaceAll(c.dir, "'", "''"), onOff(durable), onOff(durable))
	f, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fail(fmt.Errorf("write postgresql.conf: %w", err))
	}

	// A free port can be taken by someone else before postgres binds it;
	// retry with another port then.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(fmt.Errorf("find free port: %w", err))
		}
		out, err := c.run(c.pgCtl, "start", "-w", "-t", "60", "-D", c.dataDir, "-l", c.logFile,
			"-o", "-p "+strconv.Itoa(port))
		if err == nil {
			c.port = port
			c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			return c, nil
		}
		logText, _ := os.ReadFile(c.logFile)
		if attempt < 5 && strings.Contains(string(logText), "could not bind") {
			os.Truncate(c.logFile, 0)
			continue
		}
		return fail(fmt.Errorf("%s start: %v: %s\nserver log:\n%s", c.pgCtl, err,
			strings.TrimSpace(string(out)), tail(string(logText), 2000)))
	}
}

// initdbArgs are the options every cluster is made with.
var initdbArgs = []string{"--username=postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"}

// initdb fills c.dataDir with a new, never started cluster: a copy of the
// one an earlier test binary made with the same initdb, options and user,
// kept beside the clusters (fulfill-pg-initdb-KEY), else made now and kept
// so. initdb was most of a cluster's start, paid by every test binary that
// uses PostgreSQL: about a CPU-second, and 2–4 s on a busy 2-core machine;
// the copy takes a few hundredths.
func (c *cluster) initdb(initdb string) error {
	ver, err := c.run(initdb, "--version")
	if err != nil {
		return fmt.Errorf("%s --version: %v: %s", initdb, err, strings.TrimSpace(string(ver)))
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%q\x00%d\x00%v", initdb, ver, initdbArgs, os.Geteuid(), c.cred)))
	cache := filepath.Join(filepath.Dir(c.dir), "fulfill-pg-initdb-"+hex.EncodeToString(key[:8]))
	if _, err := os.Stat(filepath.Join(cache, "PG_VERSION")); err == nil {
		if exec.Command("cp", "-a", cache, c.dataDir).Run() == nil {
			c.fromCache = true
			return nil
		}
		os.RemoveAll(c.dataDir) // make it anew below
	}
	if out, err := c.run(initdb, append([]string{"-D", c.dataDir}, initdbArgs...)...); err != nil {
		return fmt.Errorf("%s: %v: %s", initdb, err, strings.TrimSpace(string(out)))
	}
	// Kept for the next binary: copied aside, then renamed into place, so
	// that no binary sees half a copy (the rename fails if another binary
	// kept one first: then that one stays).
	if tmp, err := os.MkdirTemp(filepath.Dir(c.dir), ".fulfill-pg-initdb-"); err == nil {
		data := filepath.Join(tmp, "data")
		if exec.Command("cp", "-a", c.dataDir, data).Run() == nil {
			os.Rename(data, cache)
		}
		os.RemoveAll(tmp)
	}
	return nil
}

// baseDir picks where to put the cluster: /dev/shm when it is a roomy
// tmpfs (several times faster than disk for initdb and CREATE DATABASE, even
// with fsync off), else the temp dir.
func baseDir(asOtherUser bool) string {
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic &&
		st.Bavail*uint64(st.Bsize) >= 2<<30 && syscall.Access("/dev/shm", 0o2) == nil {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.Mode().Perm()&0o001 != 0 {
			return "/dev/shm"
		}
	}
	base := os.TempDir()
	if asOtherUser {
		// The postgres user must be able to reach the dir.
		if fi, err := os.Stat(base); err != nil || fi.Mode().Perm()&0o001 == 0 {
			base = "/tmp"
		}
	}
	return base
}

// stop stops the server and removes the cluster dir. Errors are ignored:
// the server may not be running.
func (c *cluster) stop() {
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err == nil {
		c.run(c.pgCtl, "stop", "-D", c.dataDir, "-m", "immediate", "-w")
	}
	os.RemoveAll(c.dir)
	if c.watchdog != nil {
		c.watchdog.Close() // nothing left to do for the watchdog
		c.watchdog = nil
	}
}

func (c *cluster) startWatchdog() error {
	r, w, err := os.Pipe() // close-on-exec: only this process holds w
	if err != nil {
		return err
	}
	defer r.Close()
	const script = `cat >/dev/null; "$0" stop -D "$1" -m immediate -w >/dev/null 2>&1; rm -rf "$2"`
	cmd := exec.Command("/bin/sh", "-c", script, c.pgCtl, c.dataDir, c.dir)
	cmd.Stdin = r
	cmd.Dir = "/"
	// Own session, so a Ctrl-C to the test's process group leaves it alive
	// to clean up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: c.cred}
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	go cmd.Wait() // reap
	c.watchdog = w
	return nil
}

// run runs a PostgreSQL program as the cluster's user.
func (c *cluster) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	// Keep the caller's libpq settings from leaking into pg_ctl's checks.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd.CombinedOutput()
}

// findBinaries finds pg_ctl and initdb in PATH, else in the highest
// /usr/lib/postgresql/<version>/bin.
func findBinaries() (pgCtl, initdb string, err error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		// Prefer the initdb of the same installation.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if i := filepath.Join(filepath.Dir(real), "initdb"); isExecutable(i) {
				return p, i, nil
			}
		}
		if i, err := exec.LookPath("initdb"); err == nil {
			return p, i, nil
		}
	}
	dirs, _ := filepath.Glob(pgLibGlob)
	sort.Slice(dirs, func(i, j int) bool { // highest version first
		return versionLess(filepath.Base(filepath.Dir(dirs[j])), filepath.Base(filepath.Dir(dirs[i])))
	})
	for _, d := range dirs {
		p, i := filepath.Join(d, "pg_ctl"), filepath.Join(d, "initdb")
		if isExecutable(p) && isExecutable(i) {
			return p, i, nil
		}
	}
	return "", "", errors.New("pg_ctl/initdb not found in PATH or /usr/lib/postgresql/*/bin")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// versionLess compares versions like "9.6" and "15" numerically.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
