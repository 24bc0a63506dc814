-- Secrets a deployment makes at its first start and shares between its processes (when no
-- --secret-file is given): `throttle_names` keys the usernames the throttle table counts.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);
-- Counts kept under the names as typed go (the login throttle starts afresh once).
DELETE FROM throttles WHERE scope IN ('login', 'login_account');
