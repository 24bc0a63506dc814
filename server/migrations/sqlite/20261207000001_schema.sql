-- Blindfold 0.1.0's schema for SQLite. Server keys, encrypted rows and results are files in
-- the data directory, named by the rows here. Times are Unix milliseconds.
-- From 0.1.0 on, every change to stored data is a new migration with a line in CHANGELOG.md.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE, -- NFKC, lower-cased: usernames are unique ignoring case
    password_hash TEXT NOT NULL,       -- argon2id, PHC string
    created_at INTEGER NOT NULL,
    -- What the account may do besides predicting: owners upload models (granted with
    -- `blindfold-server grant-owner USERNAME`, or to the first account with --first-account-owner).
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'owner')),
    -- Round robin between users: the queue turn at which a job of this user was last started.
    -- The next job started is the oldest one of the user whose turn is furthest back.
    last_turn INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_last_turn ON users(last_turn);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY, -- SHA-256 of the cookie value: a database leak reveals no session
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Refreshed at most about once a minute: a session idle for --session-idle-hours ends.
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- One row per limited subject (`scope`: what is counted; `subject`: an address, or a typed
-- username keyed with HMAC-SHA-256, never as typed). An attempt is counted before it is tried,
-- in the same statement that checks the limit, so parallel attempts cannot all slip under it.
CREATE TABLE throttles (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    hits INTEGER NOT NULL,          -- attempts counted in the current period
    period_start INTEGER NOT NULL,  -- when the current period began
    last_hit_at INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL, -- refused until then (0: not blocked)
    PRIMARY KEY (scope, subject)
) WITHOUT ROWID;
CREATE INDEX throttles_last_hit ON throttles(last_hit_at);

-- Secrets a deployment makes at its first start and shares between its processes (when no
-- --secret-file is given): `throttle_names` keys the usernames the throttle table counts.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);

-- One server key per user and TFHE parameter set, serving every model of that set.
-- Its bytes are the file `keys/<user>/<parameter set>-<fingerprint>.key`.
CREATE TABLE user_keys (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parameter_set TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,     -- SHA-256 of the uploaded bytes
    uploaded_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL, -- a key unused for --key-retention-days is deleted
    PRIMARY KEY (user_id, parameter_set)
);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    spec_json TEXT NOT NULL, -- empty until compiled
    plan_json TEXT NOT NULL, -- empty until compiled
    -- Sample rows shown on the Predict page (JSON list of {label, features}); public data only.
    examples_json TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    -- The owner's account; NULL for models installed by `blindfold-server import-model` and
    -- the default model. Deleting the account deletes its models and their predictions.
    owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    -- compiling, failed (see `error`), draft (only its owner sees it), published (in the
    -- catalogue).
    state TEXT NOT NULL CHECK (state IN ('compiling', 'failed', 'draft', 'published')),
    description TEXT NOT NULL DEFAULT '',   -- what the model predicts, in its owner's words
    inputs_json TEXT NOT NULL DEFAULT '[]', -- JSON list of {name, description, unit, valid range}
    report_json TEXT,   -- the compiler's report (JSON ModelReport); NULL until compiled
    progress_json TEXT, -- while compiling: JSON {stage, done, total}
    error TEXT,         -- why compilation failed
    -- Bumped whenever the model or its details change: every process's catalogue compares it
    -- with the copy it holds in memory.
    version INTEGER NOT NULL DEFAULT 1,
    -- Last change; while compiling, also the compiling process's heartbeat (every ~15 s).
    updated_at INTEGER NOT NULL
);
CREATE INDEX models_owner ON models(owner_id);

-- Prediction jobs. The encrypted row is the file `jobs/<id>.row` until it is evaluated, the
-- result `jobs/<id>-<attempt>.result`.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    key_fingerprint TEXT NOT NULL, -- the server key the row was encrypted for
    spec_sha256 TEXT NOT NULL,     -- the client spec the row was encrypted against
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    error TEXT,
    input_bytes INTEGER NOT NULL,
    bootstraps INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, -- starts, a crash mid-job included; past the limit it fails
    lease_until INTEGER, -- renewed by the running worker; a job whose lease ran out is queued again
    result_sha256 TEXT, -- of the stored result, written in the update that marks the job done
    worker TEXT         -- which process runs (or last ran) it: `<host>:<pid>`
);
CREATE INDEX jobs_queue ON jobs(status, created_at);
CREATE INDEX jobs_user ON jobs(user_id, created_at);
CREATE INDEX jobs_finished ON jobs(finished_at);
CREATE INDEX jobs_user_status ON jobs(user_id, status);
-- Key affinity: which process last started a job with a given key (and so likely holds it).
CREATE INDEX jobs_key_started ON jobs(user_id, key_fingerprint, started_at);
