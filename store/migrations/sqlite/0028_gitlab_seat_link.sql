-- GitLab's Seat Link (issue 15): the instance's unique_instance_id
-- (GlobalAnonymousId.instance_uuid) and the add-on metrics of its latest
-- sync, a JSON array of {add_on_type, purchased_seats, assigned_seats}.
ALTER TABLE instances ADD COLUMN unique_instance_id TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN add_on_metrics TEXT NOT NULL DEFAULT '[]';
