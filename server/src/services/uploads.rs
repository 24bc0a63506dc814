//! Upload slots: how many uploads of each kind (server keys, encrypted rows, owners' models)
//! this process reads at once, and how many of them one user may hold.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::services::{ServiceError, ServiceResult};
use crate::shares::{Share, Shares};

/// A bounded number of upload slots of one kind (key uploads, rows, model uploads), of which
/// each user holds at most a share: an upload takes one before its body is read and holds it
/// until the upload is stored, so one account's slow uploads cannot take every slot. None
/// free answers 503 with `Retry-After` (429 when the user's own share is taken) rather than
/// queueing the body. Per process, like the connections they arrive on.
pub struct UploadSlots {
    what: &'static str,
    retry_after_s: u64,
    total: Arc<Semaphore>,
    per_user: usize,
    held: Shares<i64>,
}

/// A held upload slot, given back when dropped.
pub struct UploadSlot {
    _total: OwnedSemaphorePermit,
    _mine: Share<i64>,
}

impl UploadSlots {
    /// `total` slots of the kind `what` (plural, as answers name it), at most `per_user` of
    /// them held by one user.
    pub fn new(what: &'static str, total: usize, per_user: usize, retry_after_s: u64) -> Self {
        Self {
            what,
            retry_after_s,
            total: Arc::new(Semaphore::new(total.max(1))),
            per_user: per_user.max(1),
            held: Shares::default(),
        }
    }

    /// A slot for one of `user_id`'s uploads.
    pub fn take(&self, user_id: i64) -> ServiceResult<UploadSlot> {
        let mine = self
            .held
            .take(user_id, self.per_user)
            .map_err(|mine| ServiceError::RateLimited {
                detail: format!(
                    "you have {mine} {} in progress, the most one account may have at once; wait for them to finish",
                    self.what
                ),
                retry_after_s: self.retry_after_s,
            })?;
        // None free: the user's share just taken goes back with `mine`.
        let total = self.total.clone().try_acquire_owned().map_err(|_| ServiceError::Busy {
            what: self.what,
            retry_after_s: self.retry_after_s,
        })?;
        Ok(UploadSlot {
            _total: total,
            _mine: mine,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_a_share_and_others_get_the_rest() {
        let slots = UploadSlots::new("key uploads", 3, 1, 5);
        let alice = slots.take(1).expect("alice's first");
        assert!(matches!(slots.take(1), Err(ServiceError::RateLimited { .. })));
        let bob = slots.take(2).expect("bob's first");
        let carol = slots.take(3).expect("carol's first");
        // Every slot held: the next user waits for one (503).
        assert!(matches!(slots.take(4), Err(ServiceError::Busy { .. })));
        drop(alice);
        let _again = slots.take(1).expect("alice's share is back");
        drop((bob, carol));
        assert_eq!(slots.held.holders(), 1, "no entry outlives its uploads");
    }
}
