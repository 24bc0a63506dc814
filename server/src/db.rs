//! The database: SQLite in WAL mode, migrated at start-up.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// The schema's migrations, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub async fn connect(url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("database URL {url}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit survives a power cut, so files are never removed for a deletion or
        // a finished job that the database then forgets (NORMAL may roll back in WAL mode).
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await.context("running migrations")?;
    Ok(pool)
}

/// Whether the database answers and has every migration this build knows applied (for
/// `/readyz`); the reason when it does not.
pub async fn check_ready(pool: &SqlitePool) -> anyhow::Result<()> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .context("the database does not answer")?;
    let latest = MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .map(|migration| migration.version)
        .max();
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .context("reading the applied migrations")?;
    // At least: a database that a newer build has already migrated further is not this
    // check's concern, which is migrations not yet run.
    anyhow::ensure!(
        applied >= latest,
        "migrations pending: the database is at {applied:?}, this build needs {latest:?}"
    );
    Ok(())
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
