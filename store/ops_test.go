package store

import (
	"context"
	"sync"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Issue 11, acceptance 2 (in-process half): two Opens with their own pools
// migrate one empty database at the same instant, ten rounds on each
// database; both succeed and the schema is complete once.
func TestMigrateConcurrentStartsSerialize(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{SQLite, Postgres} {
		t.Run(dialect, func(t *testing.T) {
			for round := 0; round < 10; round++ {
				url := dbtest.SQLiteURL(t)
				if dialect == Postgres {
					url = dbtest.PostgresURL(t)
				}
				ctx := context.Background()
				start := make(chan struct{})
				errs := make([]error, 2)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						db, err := Open(ctx, url)
						if err != nil {
							errs[i] = err
							return
						}
						defer db.Close()
						<-start
						errs[i] = db.Migrate(ctx)
					}()
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("round %d: process %d: %v", round, i, err)
					}
				}
				db := openMigrated(t, url)
				if applied, latest, err := db.SchemaStatus(ctx); err != nil || applied != latest {
					t.Fatalf("round %d: schema at %d of %d (%v)", round, applied, latest, err)
				}
			}
		})
	}
}
