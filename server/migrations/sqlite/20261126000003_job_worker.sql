-- Which process runs (or last ran) a job: `<host>:<pid>`, for operators and for the tests
-- that kill it.
ALTER TABLE jobs ADD COLUMN worker TEXT;
