-- Stored service pings are capped per instance and per subscription
-- (commerce.UsageCap): the newest are kept, found through these indexes.
CREATE INDEX usage_pings_instance ON usage_pings (subscription_id, instance_id, id);
CREATE INDEX usage_pings_subscription ON usage_pings (subscription_id, id);
CREATE INDEX instances_instance ON instances (instance_id);
