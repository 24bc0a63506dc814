-- Sample rows shown on the Predict page (JSON list of {label, features}); public data only.
ALTER TABLE models ADD COLUMN examples_json TEXT NOT NULL DEFAULT '[]';
