-- Model owners (#11): accounts with the `owner` role upload models, which the server compiles
-- in the background; an owner publishes a compiled model to the catalogue. Models installed by
-- `blindfold-server import-model` (and the default model) have no owner and stay published.
-- Times are Unix milliseconds.

-- What an account may do besides predicting: 'user', or 'owner' (granted with
-- `blindfold-server grant-owner USERNAME`, or to the first account with --first-account-owner).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'owner'));

-- The owner's account; NULL for models installed by the CLI. Deleting the account deletes its
-- models (and, through them, the predictions queued on them).
ALTER TABLE models ADD COLUMN owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
-- compiling (spec_json and plan_json empty until compiled), failed (see `error`), draft (only
-- its owner sees it), published (in the catalogue).
ALTER TABLE models ADD COLUMN state TEXT NOT NULL DEFAULT 'published'
    CHECK (state IN ('compiling', 'failed', 'draft', 'published'));
-- What the model predicts, in its owner's words.
ALTER TABLE models ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- Every input in the model's order: JSON list of {name, description, unit}.
ALTER TABLE models ADD COLUMN inputs_json TEXT NOT NULL DEFAULT '[]';
-- The compiler's report (JSON ModelReport); NULL until compiled, and for models installed
-- before reports.
ALTER TABLE models ADD COLUMN report_json TEXT;
-- While compiling: JSON {stage, done, total}.
ALTER TABLE models ADD COLUMN progress_json TEXT;
-- Why compilation failed.
ALTER TABLE models ADD COLUMN error TEXT;
-- Bumped whenever the model or its details change: every process's catalogue compares it with
-- the copy it holds in memory.
ALTER TABLE models ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- Last change; while compiling, also the compiling process's heartbeat (every ~15 s).
ALTER TABLE models ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE models SET updated_at = created_at;
CREATE INDEX models_owner ON models(owner_id);
