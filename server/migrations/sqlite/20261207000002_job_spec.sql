-- Every job records the client spec its row was encrypted against (its SHA-256), beside the
-- server key's fingerprint it records already: a result is read only with that spec. Jobs
-- queued before say nothing about their spec, so they go (rows and results are short-lived
-- anyway; the start-up sweep removes their files).
DELETE FROM jobs;
ALTER TABLE jobs ADD COLUMN spec_sha256 TEXT NOT NULL DEFAULT '';
