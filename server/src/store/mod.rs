//! Storage: every SQL string, every SQLite/PostgreSQL difference and every file or `bytea`
//! the server keeps, one module per table family, each exposing typed operations. Services
//! ([`crate::services`]) hold the policy (quotas, fairness, retries) and call these. Beneath
//! them: [`db`] connects and migrates, [`disk`] writes the data directory's files durably and
//! privately.

pub mod accounts;
pub mod db;
pub mod disk;
pub mod jobs;
pub mod keys;
pub mod models;
pub mod throttles;
