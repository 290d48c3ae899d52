package dbtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL cluster of one test's own, which the test may stop
// and start again (on the same port) to play an outage. Unlike the shared
// cluster it runs durably: fsync and synchronous_commit on. It is removed
// when the test ends.
type Cluster struct {
	c *cluster
	t testing.TB
}

// NewCluster starts a cluster for t alone. Like PostgresURL it skips the
// test when PostgreSQL is not installed (fails with CI=true).
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster(true)
	if err != nil {
		if !isCI() {
			t.Skipf("PostgreSQL not available (%v)", err)
		}
		t.Fatalf("dbtest: own cluster: %v", err)
	}
	t.Cleanup(c.stop)
	return &Cluster{c: c, t: t}
}

// NewDatabase creates a database on the cluster and returns its URL.
func (c *Cluster) NewDatabase(name string) string {
	c.t.Helper()
	c.Exec("CREATE DATABASE " + pgx.Identifier{name}.Sanitize())
	u, err := withDatabase(c.c.url, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return u
}

// Exec runs SQL on the cluster's maintenance database.
func (c *Cluster) Exec(sql string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.c.url)
	if err != nil {
		c.t.Fatalf("dbtest: connect to own cluster: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		c.t.Fatalf("dbtest: %s: %v", sql, err)
	}
}

// Stop stops the server (fast shutdown: sessions are ended), as an outage.
func (c *Cluster) Stop() {
	c.t.Helper()
	if out, err := c.c.run(c.c.pgCtl, "stop", "-D", c.c.dataDir, "-m", "fast", "-w", "-t", "60"); err != nil {
		c.t.Fatalf("dbtest: pg_ctl stop: %v: %s", err, strings.TrimSpace(string(out)))
	}
}

// Start starts the stopped server again on its port.
func (c *Cluster) Start() {
	c.t.Helper()
	out, err := c.c.run(c.c.pgCtl, "start", "-w", "-t", "60", "-D", c.c.dataDir, "-l", c.c.logFile, "-o", "-p "+strconv.Itoa(c.c.port))
	if err != nil {
		c.t.Fatalf("dbtest: pg_ctl start: %v: %s", err, strings.TrimSpace(string(out)))
	}
}

// String names the cluster for messages.
func (c *Cluster) String() string { return fmt.Sprintf("PostgreSQL on port %d", c.c.port) }
