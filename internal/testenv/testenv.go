// Package testenv builds, for tests, what every test of a use case needs: a
// migrated database, a simulated clock, a signing key, the test payment
// provider and the demo catalog.
package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/keys"
	"github.com/fulfillhq/fulfill/payments/testpay"
	"github.com/fulfillhq/fulfill/store"
)

// PublicURL is the service's public URL in tests: emailed links point here,
// whatever host a test's requests name.
const PublicURL = "http://fulfill.test"

// Env is a ready service and the parts tests look into.
type Env struct {
	DB    *store.DB
	Svc   *commerce.Service
	Clock *fulfill.SimulatedClock
	Keys  *keys.Store
	Pay   *testpay.Provider
}

// New opens and migrates the database at url and builds the service, its
// clock starting at start, selling from sellerCountry.
func New(t testing.TB, url string, start time.Time, sellerCountry string) *Env {
	t.Helper()
	ctx := context.Background()
	// A fresh database starts as a copy of one migrated once per test
	// binary (much cheaper than migrating each); Migrate below then finds
	// nothing left to do.
	if err := dbtest.FromTemplate(ctx, url, "migrated", migrated); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ks := keys.New(t.TempDir(), "")
	if _, err := ks.Generate(true); err != nil {
		t.Fatal(err)
	}
	clock := fulfill.NewSimulatedClock(start)
	pay := testpay.New()
	svc := &commerce.Service{DB: db, Clock: clock, Payments: pay, Tax: billing.DefaultTaxTable(sellerCountry), Keys: ks,
		PublicURL: PublicURL, Wall: fulfill.ClockFunc(time.Now)}
	if _, err := svc.LoadDemoCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	return &Env{DB: db, Svc: svc, Clock: clock, Keys: ks, Pay: pay}
}

// migrated builds the template database: what Migrate makes of an empty one.
func migrated(url string) error {
	ctx := context.Background()
	db, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}
