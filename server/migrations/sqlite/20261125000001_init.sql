-- Accounts, sessions, the model catalogue, stored server keys and prediction jobs.
-- Times are Unix milliseconds.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE, -- lower-cased: usernames are unique ignoring case
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY, -- SHA-256 of the cookie value: a database leak reveals no session
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE server_keys (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    size_bytes INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, -- SHA-256 of the uploaded bytes
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, model_id)
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    key_fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    error TEXT,
    input_bytes INTEGER NOT NULL,
    bootstraps INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX jobs_queue ON jobs(status, created_at);
CREATE INDEX jobs_user ON jobs(user_id, created_at);
