//! `LISTEN/NOTIFY` between the processes that share the queue (PostgreSQL): a job was queued,
//! a job finished.

use super::JobStore;

/// PostgreSQL notification channels: a job was queued (payload empty), a job finished (payload:
/// its id).
pub(super) const QUEUED_CHANNEL: &str = "blindfold_job_queued";
pub(super) const FINISHED_CHANNEL: &str = "blindfold_job_finished";

/// `NOTIFY channel, payload` (PostgreSQL), delivered when the transaction it runs in commits.
pub(super) fn notification<'q>(
    channel: &'q str,
    payload: &'q str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload)
}

/// What another process told this one (PostgreSQL).
pub enum Notification {
    Queued,
    Finished(String),
}

/// Notifications of other processes about jobs (PostgreSQL).
pub struct JobListener(sqlx::postgres::PgListener);

impl JobListener {
    pub async fn connect(url: &str) -> sqlx::Result<Self> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen_all([QUEUED_CHANNEL, FINISHED_CHANNEL]).await?;
        Ok(Self(listener))
    }

    /// The next notification; the listener reconnects by itself after a lost connection.
    pub async fn recv(&mut self) -> sqlx::Result<Notification> {
        let received = self.0.recv().await?;
        Ok(match received.channel() {
            QUEUED_CHANNEL => Notification::Queued,
            _ => Notification::Finished(received.payload().to_owned()),
        })
    }
}

impl JobStore {
    /// Tells every worker process that a job is queued again (PostgreSQL).
    pub async fn notify_queued(&self) -> sqlx::Result<()> {
        if self.is_shared() {
            notification(QUEUED_CHANNEL, "").execute(&self.db.pool).await?;
        }
        Ok(())
    }

    /// Tells the long polls of every web node that this job finished (PostgreSQL).
    pub async fn notify_finished(&self, id: &str) -> sqlx::Result<()> {
        if self.is_shared() {
            notification(FINISHED_CHANNEL, id).execute(&self.db.pool).await?;
        }
        Ok(())
    }
}
