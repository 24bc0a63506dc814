-- Account hardening: abuse limits kept in the database (shared by every request, kept across
-- restarts), and sessions with an idle lifetime. Times are Unix milliseconds.

-- One row per limited subject: failed logins per (client address, username) ('login') and per
-- client address ('login_address'), registrations per client address ('register'). An attempt
-- is counted before it is tried, in the same statement that checks the limit, so parallel
-- attempts cannot all slip under it.
CREATE TABLE throttles (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    hits INTEGER NOT NULL,            -- attempts counted in the current period
    period_start INTEGER NOT NULL,    -- when the current period began
    last_hit_at INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL,   -- refused until then (0: not blocked)
    PRIMARY KEY (scope, subject)
) WITHOUT ROWID;
CREATE INDEX throttles_last_hit ON throttles(last_hit_at);

-- When the session was last used (refreshed at most about once a minute): a session idle for
-- longer than --session-idle-hours ends. Existing sessions count as used when they began.
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;
