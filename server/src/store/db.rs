//! The database: SQLite (the zero-setup default: one process, files beside it) or PostgreSQL
//! (any number of web nodes and workers), through sqlx's `Any` driver so that every query is
//! written once. Queries use `$N` parameters, which both accept, and only SQL both speak;
//! what differs (where large bytes live, how a job is claimed) is chosen by [`Backend`].
//!
//! Each backend has its own migrations (`migrations/sqlite`, `migrations/postgres`), applied at
//! start-up. With PostgreSQL, nodes starting together take turns: sqlx's migrator holds an
//! advisory lock while it migrates.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            _ => anyhow::bail!("unsupported database URL (use sqlite://PATH or postgres://…)"),
        }
    }

    /// The database behind a pool.
    pub fn of_pool(pool: &AnyPool) -> Self {
        match pool.connect_options().database_url.scheme() {
            "postgres" | "postgresql" => Self::Postgres,
            _ => Self::Sqlite,
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// A connection pool and the database behind it.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// SQLite's settings, per connection: FULL synchronous so a commit survives a power cut (files
/// are never removed for a deletion or a finished job that the database then forgets; NORMAL
/// may roll back in WAL mode), foreign keys for the cascades, and a wait for the write lock.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                              PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

/// Opens the database at `url` with at most `connections` connections and applies its
/// migrations. A SQLite file is created when missing.
pub async fn connect(url: &str, connections: u32) -> anyhow::Result<Db> {
    let db = open(url, connections).await?;
    db.backend
        .migrator()
        .run(&db.pool)
        .await
        .context("running migrations")?;
    Ok(db)
}

/// Like [`connect`], but applies only the migrations before `version`: the database an earlier
/// release left, for the tests of later migrations.
#[cfg(feature = "test-support")]
pub async fn connect_as_of(url: &str, version: i64) -> anyhow::Result<Db> {
    let db = open(url, 1).await?;
    let full = db.backend.migrator();
    let earlier = Migrator {
        migrations: std::borrow::Cow::Owned(
            full.migrations
                .iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect(),
        ),
        ignore_missing: full.ignore_missing,
        locking: full.locking,
        no_tx: full.no_tx,
    };
    earlier.run(&db.pool).await.context("running the earlier migrations")?;
    Ok(db)
}

async fn open(url: &str, connections: u32) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url)?;
    if backend == Backend::Sqlite
        && let Some(path) = sqlite_file(url)
    {
        // Made before SQLite opens it, so that its log and shared memory get its mode too.
        crate::store::disk::private_file(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    let url = match backend {
        Backend::Sqlite if !url.contains("mode=") => {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        }
        _ => url.to_owned(),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(connections.max(1))
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    connection.execute(SQLITE_PRAGMAS).await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .with_context(|| format!("connecting to the {backend:?} database"))?;
    Ok(Db { pool, backend })
}

/// The database file of a `sqlite:` URL; none for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

impl Db {
    /// Now, in Unix milliseconds, by the database's clock when several machines share it:
    /// leases written by one machine and judged by another must not depend on how well their
    /// clocks agree.
    pub async fn now_ms(&self) -> sqlx::Result<i64> {
        match self.backend {
            Backend::Sqlite => Ok(now_ms()),
            Backend::Postgres => {
                sqlx::query_scalar("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")
                    .fetch_one(&self.pool)
                    .await
            }
        }
    }

    /// Whether the database answers and has every migration this build knows applied (for
    /// `/readyz`); the reason when it does not.
    pub async fn check_ready(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("the database does not answer")?;
        let latest = self
            .backend
            .migrator()
            .iter()
            .filter(|migration| !migration.migration_type.is_down_migration())
            .map(|migration| migration.version)
            .max();
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
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
}

/// Makes the rest of the transaction on `connection` take turns with every other transaction
/// that takes the turn `name` (a PostgreSQL advisory lock, released at commit or rollback),
/// whichever node runs it. Needed where a statement checks a limit and then writes: under
/// PostgreSQL's READ COMMITTED, parallel statements would each see the state before the
/// others' writes; the next statement after the turn sees them. A no-op with SQLite, whose
/// one writer at a time already serializes them.
pub async fn take_turn(connection: &mut AnyConnection, backend: Backend, name: &str) -> sqlx::Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(name)
            .execute(connection)
            .await?;
    }
    Ok(())
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
