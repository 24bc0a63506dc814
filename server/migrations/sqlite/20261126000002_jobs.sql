-- Jobs that survive crashes and are shared fairly between users (#9).

-- Times the job was started; a crash mid-job counts. Past the limit the job is failed.
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- A running job's worker renews this lease (Unix ms); a job whose lease ran out has no live
-- worker and is queued again.
ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
-- SHA-256 (hex) of the stored result, written in the same update that marks the job done and
-- checked before the result is served.
ALTER TABLE jobs ADD COLUMN result_sha256 TEXT;
CREATE INDEX jobs_finished ON jobs(finished_at);
CREATE INDEX jobs_user_status ON jobs(user_id, status);

-- Round robin between users: the queue turn at which a job of this user was last started.
-- The next job started is the oldest one of the user whose turn is furthest back.
ALTER TABLE users ADD COLUMN last_turn INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_last_turn ON users(last_turn);
