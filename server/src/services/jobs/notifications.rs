//! What other processes sharing the queue (PostgreSQL) say about jobs: a queued job wakes an
//! idle worker of this process, a finished job the long polls waiting on it here.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::JobQueue;
use crate::store::jobs::{JobListener, Notification};

impl JobQueue {
    /// Listens until `stop` (with PostgreSQL; `url` is the database's). The listener
    /// reconnects by itself after a lost connection; what it missed meanwhile, idle workers
    /// find by looking at the queue every few seconds and long polls when they time out.
    pub async fn listen(self: Arc<Self>, url: String, stop: CancellationToken) {
        if !self.store.is_shared() {
            return;
        }
        let mut listener = loop {
            match JobListener::connect(&url).await {
                Ok(listener) => break listener,
                Err(error) => tracing::warn!(error = format!("{error:#}"), "listening for job notifications"),
            }
            if !pause(&stop).await {
                return;
            }
        };
        loop {
            let notification = tokio::select! {
                received = listener.recv() => received,
                () = stop.cancelled() => return,
            };
            match notification {
                Ok(Notification::Queued) => self.queued.notify_one(),
                Ok(Notification::Finished(id)) if self.waiters.is_watched(&id) => match self.store.get_any(&id).await {
                    Ok(Some(job)) if job.status.is_finished() => self.waiters.announce(&job),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(error = format!("{error:#}"), "reading a finished job"),
                },
                Ok(Notification::Finished(_)) => {}
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "job notifications");
                    if !pause(&stop).await {
                        return;
                    }
                }
            }
        }
    }
}

/// A second before trying again; false when stopped meanwhile.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(1)) => true,
        () = stop.cancelled() => false,
    }
}
