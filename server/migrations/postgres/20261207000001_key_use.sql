-- When each server key last served a prediction (or was uploaded): a key unused for
-- --key-retention-days is deleted.
ALTER TABLE user_keys ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;
UPDATE user_keys SET last_used_at = uploaded_at;
