package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/keys"
	"github.com/fulfillhq/fulfill/store"
)

// keySharingHint says how copies get the same keys.
const keySharingHint = "give every copy the same keys: FULFILL_SIGNING_KEY_FILE=FILE, or --keys-dir DIR (FULFILL_SIGNING_KEY_DIR) holding the keys of the copy that issued them"

// checkSigningKeys makes sure this copy signs and verifies with the keys
// that signed the licenses in the database. Keys are never in the
// database: every copy gets them from the same file or folder. A copy that
// does not hold the key of the newest license refuses to start, and a
// first key is generated only for a database without licenses.
func checkSigningKeys(ctx context.Context, db *store.DB, ks *keys.Store, stdout io.Writer, log *slog.Logger) error {
	list, err := ks.List()
	if err != nil {
		return err
	}
	newest, all, err := db.LicenseKeyIDs(ctx)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, k := range list {
		held[k.KID] = true
	}
	if newest != "" && !held[newest] {
		return fmt.Errorf("licenses in the database are signed by key %s, which this copy does not hold (it has %s in %s): %s",
			newest, heldList(list), keyPlace(ks), keySharingHint)
	}
	var unknown []string
	for _, kid := range all {
		if !held[kid] {
			unknown = append(unknown, kid)
		}
	}
	if len(unknown) > 0 {
		log.Warn("licenses signed by keys this copy does not hold will not verify here (removed keys?)", "kids", strings.Join(unknown, ","))
	}
	if len(list) == 0 {
		kid, err := ks.Generate(true)
		if err != nil {
			return fmt.Errorf("generate the first license signing key: %w", err)
		}
		fmt.Fprintf(stdout, "Generated license signing key %s in %s.\n", kid, ks.Dir)
		log.Warn("generated a new license signing key: every other copy of the server on this database needs it", "kid", kid, "dir", ks.Dir)
	}
	_, err = ks.Signer()
	return err
}

func heldList(list []keys.Key) string {
	if len(list) == 0 {
		return "no keys"
	}
	ids := make([]string, len(list))
	for i, k := range list {
		ids[i] = k.KID
	}
	return "keys " + strings.Join(ids, ", ")
}

func keyPlace(ks *keys.Store) string {
	if ks.File != "" {
		return ks.File + " and " + ks.Dir
	}
	return ks.Dir
}

// checkDurability refuses a database that may lose acknowledged commits in
// a crash, unless the operator accepted that; then it says so at every
// start.
func checkDurability(ctx context.Context, db *store.DB, accept bool, log *slog.Logger) error {
	err := db.Durability(ctx)
	if err != nil && !accept {
		return fmt.Errorf("refusing to start: %w; fix the setting, or start with --accept-data-loss (FULFILL_ACCEPT_DATA_LOSS=1) if losing the last commits in a crash is acceptable (tests, demos)", err)
	}
	if err != nil {
		log.Warn("DATA LOSS ACCEPTED (--accept-data-loss): "+err.Error(), "database", db.Dialect)
	} else if accept {
		log.Warn("started with --accept-data-loss; the database is durable now, but a later setting that is not will go unnoticed", "database", db.Dialect)
	}
	return nil
}

// HTTPStopBound is how long a stopping server waits for requests in flight.
const HTTPStopBound = 20 * time.Second

// stopHTTP stops accepting connections and lets the requests in flight
// finish, within HTTPStopBound; then it closes what is left.
func stopHTTP(srv *http.Server, log *slog.Logger) error {
	log.Info("stopping: no new connections; finishing the requests in flight", "bound", HTTPStopBound)
	ctx, cancel := context.WithTimeout(context.Background(), HTTPStopBound)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("requests still running at the end of the stop bound: closing their connections", "err", err)
		return srv.Close()
	}
	return nil
}

// stopJobs lets running jobs finish within jobs.StopBound, then cancels the
// rest (they are retried).
func stopJobs(runner *jobs.Runner, log *slog.Logger) {
	if err := runner.Shutdown(jobs.StopBound); err != nil {
		log.Error("stop jobs", "err", err)
	}
	log.Info("stopped")
}
