-- Which process runs (or last ran) a job: `<host>:<pid>`, for operators and for the tests
-- that kill it.
ALTER TABLE jobs ADD COLUMN worker TEXT;
-- Key affinity: which process last started a job with a given key (and so likely holds it).
CREATE INDEX jobs_key_started ON jobs(user_id, key_fingerprint, started_at);
