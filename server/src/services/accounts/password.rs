//! Password hashing with argon2id, and the bound on CPU-heavy password work.
//!
//! Hashing, verifying and checking the password rules (the similarity check is quadratic in
//! the lengths) run on blocking threads, never on the async runtime, and only
//! [`PasswordWork`]'s number of them at once: a flood of account requests queues here while
//! every other request is still answered. A request that waits too long for a turn is told to
//! come back later.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::services::{ServiceError, ServiceResult};

/// Longest a request waits for a turn before it is answered "busy".
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// argon2id with OWASP's minimum (19 MiB, 2 passes, 1 lane): ~50 ms here.
fn hasher() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid params"),
    )
}

/// A new argon2id hash of `password` (blocking: run it through [`PasswordWork`]).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))
}

/// Verifies `password` against `stored`, or against a dummy hash when there is no such user
/// so that both failures take the same time (blocking: run it through [`PasswordWork`]).
pub fn verify(password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
    let stored = stored.unwrap_or(DUMMY_HASH);
    let parsed = PasswordHash::new(stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    Ok(hasher().verify_password(password.as_bytes(), &parsed).is_ok() && stored != DUMMY_HASH)
}

/// An argon2id hash of a random password nobody knows, with the same parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$gZiV/M1gPc22ElAH/Jh1Hw$CWOrkoo7oJBQ/iyh7uJ0LO2aLEfrHwTWllSAxT0zRno";

/// Runs password work on blocking threads, a bounded number at once.
pub struct PasswordWork {
    turns: Arc<Semaphore>,
    max_wait: Duration,
}

impl PasswordWork {
    /// At most `at_once` jobs run together; a job waits at most `max_wait` for its turn.
    pub fn new(at_once: usize, max_wait: Duration) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(at_once.max(1))),
            max_wait,
        }
    }

    /// Runs `work` on a blocking thread once a turn is free, or answers
    /// [`ServiceError::Busy`] after waiting `max_wait` for one.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> ServiceResult<T> {
        let turn = tokio::time::timeout(self.max_wait, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| ServiceError::Busy {
                what: "password checks",
                retry_after_s: self.max_wait.as_secs().max(1),
            })?
            .map_err(|e| ServiceError::Internal(e.into()))?;
        // The turn is held by the blocking task itself: a request that gives up (its client
        // went away) does not free a turn while its work still runs.
        Ok(tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_unknown_users_never_do() {
        let stored = hash("correct horse").unwrap();
        assert!(verify("correct horse", Some(&stored)).unwrap());
        assert!(!verify("wrong horse", Some(&stored)).unwrap());
        assert!(!verify("anything", None).unwrap());
    }

    #[tokio::test]
    async fn work_beyond_the_bound_waits_then_is_refused_as_busy() {
        let work = Arc::new(PasswordWork::new(1, Duration::from_millis(100)));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let work = work.clone();
            async move { work.run(move || wait.recv().is_ok()).await }
        });
        // The first job holds the only turn until it is released.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = work.run(|| ()).await.unwrap_err();
        assert!(
            matches!(
                refused,
                ServiceError::Busy {
                    what: "password checks",
                    ..
                }
            ),
            "{refused:?}"
        );
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        // The turn is free again.
        assert_eq!(work.run(|| 7).await.unwrap(), 7);
    }
}
