-- One server key per user and TFHE parameter set, serving every model of that set (before:
-- one key per user and model). Each user keeps the key they uploaded last; predictions
-- queued under the others fail as "key replaced".
CREATE TABLE user_keys (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parameter_set TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    fingerprint TEXT NOT NULL, -- SHA-256 of the uploaded bytes
    uploaded_at BIGINT NOT NULL,
    key_bytes BYTEA NOT NULL, -- the compressed server key (~30 MB)
    PRIMARY KEY (user_id, parameter_set)
);
-- Ciphertext-like bytes do not compress: store them out of line, uncompressed.
ALTER TABLE user_keys ALTER COLUMN key_bytes SET STORAGE EXTERNAL;

INSERT INTO user_keys (user_id, parameter_set, size_bytes, fingerprint, uploaded_at, key_bytes)
SELECT DISTINCT ON (user_id)
    user_id, 'V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128', size_bytes, fingerprint, uploaded_at, key_bytes
FROM server_keys
ORDER BY user_id, uploaded_at DESC, model_id DESC;

DROP TABLE server_keys;
