-- When each server key last served a prediction (or was uploaded): a key unused for
-- --key-retention-days is deleted. Keys stored before count as used now, so that each gets a
-- whole retention period from this upgrade on, and the Keys page tells its user in time.
ALTER TABLE user_keys ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;
UPDATE user_keys SET last_used_at = CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT);
