//! Long polls on jobs within one process: each user's open waits are counted, and each job
//! waited on has one channel on which its finish is announced to every waiter at once, so a
//! long poll reads the database once, then waits without polling it.

use std::collections::HashMap;
use std::sync::Mutex;

use blindfold_api::JobInfo;
use tokio::sync::watch;

use crate::services::{ServiceError, ServiceResult};

#[derive(Default)]
pub struct Waiters {
    /// The finished job, for the long polls waiting on it, by job id.
    watchers: Mutex<HashMap<String, watch::Sender<Option<JobInfo>>>>,
    /// Open long polls by user.
    waits: Mutex<HashMap<i64, usize>>,
}

impl Waiters {
    /// One of the user's at most `max_per_user` long-poll slots, released when dropped.
    pub fn slot(&self, user_id: i64, max_per_user: usize) -> ServiceResult<WaitSlot<'_>> {
        let mut waits = self.waits.lock().expect("waits lock");
        let open = waits.entry(user_id).or_default();
        if *open >= max_per_user {
            return Err(ServiceError::RateLimited {
                detail: format!("at most {max_per_user} predictions can be waited on at once"),
                retry_after_s: 1,
            });
        }
        *open += 1;
        Ok(WaitSlot { waiters: self, user_id })
    }

    /// Subscribes to the finish of job `id`: subscribe before reading the job's status, so a
    /// finish in between is not missed.
    pub fn watch(&self, id: &str) -> Watcher<'_> {
        let mut watchers = self.watchers.lock().expect("watchers lock");
        let receiver = watchers
            .entry(id.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe();
        Watcher {
            waiters: self,
            id: id.to_owned(),
            receiver,
        }
    }

    /// Whether anyone here waits on job `id`.
    pub fn is_watched(&self, id: &str) -> bool {
        self.watchers.lock().expect("watchers lock").contains_key(id)
    }

    /// Tells the long polls waiting on this job that it finished.
    pub fn announce(&self, job: &JobInfo) {
        if let Some(sender) = self.watchers.lock().expect("watchers lock").remove(&job.id) {
            sender.send_replace(Some(job.clone()));
        }
    }
}

/// An open long poll of a user, counted until dropped.
pub struct WaitSlot<'a> {
    waiters: &'a Waiters,
    user_id: i64,
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        let mut waits = self.waiters.waits.lock().expect("waits lock");
        if let Some(open) = waits.get_mut(&self.user_id) {
            *open -= 1;
            if *open == 0 {
                waits.remove(&self.user_id);
            }
        }
    }
}

/// A subscription to a job's finish; the job's channel is dropped with its last subscriber.
pub struct Watcher<'a> {
    waiters: &'a Waiters,
    id: String,
    receiver: watch::Receiver<Option<JobInfo>>,
}

impl Watcher<'_> {
    /// The finished job once it is announced.
    pub async fn finished(&mut self) -> Option<JobInfo> {
        self.receiver
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|seen| seen.clone())
    }
}

impl Drop for Watcher<'_> {
    fn drop(&mut self) {
        let mut watchers = self.waiters.watchers.lock().expect("watchers lock");
        // Our own receiver still counts here.
        let last = watchers.get(&self.id).is_some_and(|sender| {
            // The entry may be a newer channel for the same job.
            let ours = sender.subscribe().same_channel(&self.receiver);
            ours && sender.receiver_count() <= 1
        });
        if last {
            watchers.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> JobInfo {
        serde_json::from_value(serde_json::json!({
            "id": id, "model_id": "m", "status": "done", "error": null, "input_bytes": 1,
            "key_fingerprint": "k", "spec_sha256": "s", "bootstraps": 1, "created_at": 0,
            "started_at": 0, "finished_at": 1
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_finish_reaches_every_waiter_and_the_channel_goes_with_the_last() {
        let waiters = Waiters::default();
        let (mut a, mut b) = (waiters.watch("j"), waiters.watch("j"));
        assert!(waiters.is_watched("j"));
        waiters.announce(&job("j"));
        assert_eq!(a.finished().await.unwrap().id, "j");
        assert_eq!(b.finished().await.unwrap().id, "j");
        drop((a, b));
        assert!(!waiters.is_watched("j"));
        let c = waiters.watch("k");
        drop(c);
        assert!(!waiters.is_watched("k"), "dropped with its only subscriber");
    }

    #[test]
    fn each_user_has_a_bounded_number_of_waits() {
        let waiters = Waiters::default();
        let first = waiters.slot(1, 2).unwrap();
        let _second = waiters.slot(1, 2).unwrap();
        assert!(matches!(waiters.slot(1, 2), Err(ServiceError::RateLimited { .. })));
        let _other_user = waiters.slot(2, 2).unwrap();
        drop(first);
        assert!(waiters.slot(1, 2).is_ok());
    }
}
