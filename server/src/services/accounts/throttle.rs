//! Slows down password guessing: after a few failures for one username, further attempts for
//! it are refused for a delay that doubles with each failure, capped at a few minutes, and
//! forgotten after a quiet period. The real owner is delayed, never locked out for long.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before any delay.
const FREE_ATTEMPTS: u32 = 5;
const MAX_DELAY: Duration = Duration::from_secs(300);
/// A username with no failure for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(900);

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// `Err(seconds)` if this username must wait before trying again.
    pub fn check(&self, username_key: &str) -> Result<(), u64> {
        let failures = self.failures.lock().expect("throttle lock");
        let Some(&(count, last)) = failures.get(username_key) else {
            return Ok(());
        };
        let delay = delay_for(count);
        let elapsed = last.elapsed();
        if elapsed < delay && elapsed < FORGET_AFTER {
            return Err((delay - elapsed).as_secs().max(1));
        }
        Ok(())
    }

    pub fn failed(&self, username_key: &str) {
        let mut failures = self.failures.lock().expect("throttle lock");
        let now = Instant::now();
        failures.retain(|_, (_, last)| now.duration_since(*last) < FORGET_AFTER);
        let entry = failures.entry(username_key.to_owned()).or_insert((0, now));
        entry.0 += 1;
        entry.1 = now;
    }

    pub fn succeeded(&self, username_key: &str) {
        self.failures.lock().expect("throttle lock").remove(username_key);
    }
}

fn delay_for(failures: u32) -> Duration {
    if failures < FREE_ATTEMPTS {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_ATTEMPTS).min(16);
    (Duration::from_secs(1) * 2u32.pow(doublings)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_free_attempts() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_ATTEMPTS - 1 {
            throttle.failed("alice");
            assert!(throttle.check("alice").is_ok());
        }
        throttle.failed("alice");
        assert!(throttle.check("alice").is_err());
        assert!(throttle.check("bob").is_ok());
        throttle.succeeded("alice");
        assert!(throttle.check("alice").is_ok());
        assert_eq!(delay_for(40), MAX_DELAY);
    }
}
