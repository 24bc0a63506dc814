-- One server key per user and TFHE parameter set, serving every model of that set (before:
-- one key per user and model). Each user keeps the key they uploaded last; the files of the
-- others are removed by the start-up sweep, and predictions queued under them fail as "key
-- replaced". The kept key's file, named after its old model, is renamed at start-up
-- (`ServerKeyStore::sweep_orphans`).
CREATE TABLE user_keys (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parameter_set TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, -- SHA-256 of the uploaded bytes
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, parameter_set)
);

INSERT INTO user_keys (user_id, parameter_set, size_bytes, fingerprint, uploaded_at)
SELECT k.user_id, 'V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128', k.size_bytes, k.fingerprint, k.uploaded_at
FROM server_keys k
WHERE NOT EXISTS (
    SELECT 1 FROM server_keys newer
    WHERE newer.user_id = k.user_id
      AND (newer.uploaded_at > k.uploaded_at
           OR (newer.uploaded_at = k.uploaded_at AND newer.model_id > k.model_id))
);

DROP TABLE server_keys;
