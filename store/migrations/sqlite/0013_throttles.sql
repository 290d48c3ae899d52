-- Throttles shared by every copy of the server: counts of events (failed
-- sign-ins, sign-ups, mails sent) per key in fixed windows.
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,   -- e.g. "signin:acct-ip:<email>|<ip>"
    window_start TIMESTAMP NOT NULL, -- start of the window the hits count in
    hits         INTEGER NOT NULL,
    last_at      TIMESTAMP NOT NULL  -- the latest hit
);
CREATE INDEX throttles_window ON throttles (window_start);
