package store

import "time"

// SyncInstance records an instance's sync in one statement (it was three):
// the instance (made if new) is seen now under hostname and version, with
// the counts of its latest report when it knows them (both set; otherwise
// the earlier ones stay) and what it told of itself (InstanceSync). On PostgreSQL it is sent with the transaction's
// next statement (execLater).
func (t *Tx) SyncInstance(subscriptionID, instanceID, hostname, version string, now time.Time, maxUsers, billable *int64,
	in InstanceSync) error {
	if maxUsers == nil || billable == nil {
		maxUsers, billable = nil, nil
	}
	if in.AddOnMetrics == "" {
		in.AddOnMetrics = "[]"
	}
	return t.execLater(`INSERT INTO instances (subscription_id, instance_id, hostname, version, activated_at, last_seen_at,
			max_users, billable_users, unique_instance_id, add_on_metrics)
		VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)
		ON CONFLICT (subscription_id, instance_id) DO UPDATE SET hostname = excluded.hostname, version = excluded.version,
			last_seen_at = excluded.last_seen_at,
			max_users = COALESCE(excluded.max_users, instances.max_users),
			billable_users = COALESCE(excluded.billable_users, instances.billable_users),
			unique_instance_id = excluded.unique_instance_id, add_on_metrics = excluded.add_on_metrics`,
		subscriptionID, instanceID, hostname, version, now.UTC(), maxUsers, billable, in.UniqueInstanceID, in.AddOnMetrics)
}
