package store

import (
	"context"
	"testing"
)

// Issue 18: a sync's instance writes are one statement. A new instance is
// made with what it reported; a later sync without counts keeps the
// earlier counts and takes the rest; one with counts replaces them.
func TestSyncInstanceRecordsASyncInOneStatement(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_sync", "sub_sync")
		n := func(v int64) *int64 { return &v }
		sync := func(host string, maxUsers, billable *int64, uid string) {
			inTx(t, db, func(tx *Tx) error {
				return tx.SyncInstance("sub_sync", "gl-1", host, "18.0", t0, maxUsers, billable,
					InstanceSync{UniqueInstanceID: uid, AddOnMetrics: `[{"add_on_type":"duo_pro"}]`})
			})
		}
		check := func(what, host string, maxUsers, billable int64, uid string) {
			t.Helper()
			ins, err := db.Instances(ctx, "sub_sync")
			if err != nil || len(ins) != 1 {
				t.Fatalf("%s: %d instances, %v", what, len(ins), err)
			}
			in := ins[0]
			if in.Hostname != host || in.MaxUsers == nil || *in.MaxUsers != maxUsers || in.BillableUsers == nil || *in.BillableUsers != billable ||
				!in.LastSeenAt.Equal(t0) {
				t.Errorf("%s: %+v, want %s with %d/%d users", what, in, host, maxUsers, billable)
			}
			s, err := db.InstanceSyncOf(ctx, "sub_sync", "gl-1")
			if err != nil || s.UniqueInstanceID != uid || s.AddOnMetrics != `[{"add_on_type":"duo_pro"}]` {
				t.Errorf("%s: sync %+v, %v; want %s", what, s, err, uid)
			}
		}
		sync("a.example", n(7), n(5), "u1")
		check("new", "a.example", 7, 5, "u1")
		sync("b.example", nil, nil, "u2")
		check("without counts", "b.example", 7, 5, "u2")
		sync("b.example", n(3), nil, "u2") // half known: not recorded
		check("half the counts", "b.example", 7, 5, "u2")
		sync("c.example", n(9), n(8), "u3")
		check("with counts", "c.example", 9, 8, "u3")
	})
}
