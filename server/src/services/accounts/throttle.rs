//! Abuse limits kept in the database (table `throttles`), so that every request sees the same
//! counts and a restart forgets nothing.
//!
//! - Password guesses (logins, and the current password asked by the account forms) per
//!   (client address, username) and per client address: after the free attempts each further
//!   attempt waits 1 s, doubling up to `--login-max-delay-s`; failures are forgotten after 15
//!   quiet minutes. Someone guessing from elsewhere never delays the owner's own address.
//! - Registrations per client address: at most `--registrations-per-hour` per hour, and per
//!   IPv6 /48 (a site's usual allocation: 65,536 /64s) at most
//!   `--registrations-per-hour-per-ipv6-48`.
//! - Logins per account, right or wrong and from anywhere: at most
//!   `--logins-per-account-per-hour`, so that parallel *correct* logins (which clear their own
//!   guess counts) cannot take every password hasher; a wrong guess gives its count back, so
//!   someone guessing cannot use up the owner's allowance.
//!
//! Usernames are kept keyed ([`NameKey`]): the table holds no name anyone typed.
//!
//! Every attempt is counted *before* it is tried, in the one statement that checks the limit,
//! so parallel attempts cannot all pass a check that none of them has counted yet: once a
//! subject is blocked, no attempt of it reaches the password hash. A successful attempt then
//! takes its count back (a login clears its (address, username) failures; a failed
//! registration does not use up the address's allowance).

use std::net::IpAddr;
use std::path::Path;

use crate::services::{ServiceError, ServiceResult};
use crate::store::db::{Db, now_ms};
use crate::store::throttles::{GuessCount, ThrottleStore};
use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const LOGIN: &str = "login";
const LOGIN_ADDRESS: &str = "login_address";
const REGISTER: &str = "register";
const REGISTER_SITE: &str = "register_48";
const LOGIN_ACCOUNT: &str = "login_account";

/// A subject with no failed guess for this long starts afresh.
pub const FORGET_AFTER_MS: i64 = 15 * 60 * 1000;
/// The period of the registration limit, and of the logins per account.
pub const REGISTRATION_PERIOD_MS: i64 = 3600 * 1000;

/// The limits, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failed guesses for one username from one address before each further one waits.
    pub guesses_per_user: u32,
    /// Failed guesses from one address, all usernames together, before each further one waits.
    pub guesses_per_address: u32,
    /// Longest wait between guesses, in milliseconds.
    pub max_delay_ms: i64,
    /// Accounts one address may create per hour.
    pub registrations_per_hour: u32,
    /// Accounts one IPv6 /48 may create per hour, all its addresses together.
    pub registrations_per_hour_per_48: u32,
    /// Logins one account may have per hour (wrong guesses given back).
    pub logins_per_account_per_hour: u32,
}

pub struct Throttle {
    store: ThrottleStore,
    limits: Limits,
    names: NameKey,
}

/// Keys the usernames the throttle counts: a subject holds `HMAC-SHA-256(key, name)`, never
/// the name typed, which may be someone's password typed into the wrong field or the name of
/// an account that does not exist. Every process of a deployment must hold the same key, or
/// each would count a name apart.
#[derive(Clone)]
pub struct NameKey(Vec<u8>);

impl NameKey {
    /// Shortest key file.
    pub const MIN_FILE_BYTES: usize = 32;

    /// The key from `file`, or without one the deployment's own, made at its first start and
    /// kept in the database (table `server_secrets`).
    pub async fn load(db: &Db, file: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(file) = file {
            let bytes = std::fs::read(file).with_context(|| format!("reading the secret file {}", file.display()))?;
            anyhow::ensure!(
                bytes.len() >= Self::MIN_FILE_BYTES,
                "the secret file {} holds {} bytes; it needs at least {} random bytes",
                file.display(),
                bytes.len(),
                Self::MIN_FILE_BYTES
            );
            return Ok(Self(bytes));
        }
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        let stored = ThrottleStore::new(db.clone())
            .secret(THROTTLE_SECRET, &hex::encode(fresh))
            .await?;
        Ok(Self(hex::decode(stored).context("the stored throttle secret")?))
    }

    /// What the throttle keeps for the username `name_key`.
    pub fn subject(&self, name_key: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(name_key.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The row of `server_secrets` holding the [`NameKey`] made by the server.
const THROTTLE_SECRET: &str = "throttle_names";

/// A counted password guess, to be settled with [`Throttle::guess_succeeded`] when right.
#[derive(Debug)]
pub struct Guess {
    user_subject: String,
    address_subject: String,
}

/// A counted registration, to be given back with [`Throttle::registration_failed`].
#[derive(Debug)]
pub struct Registration {
    subject: String,
    /// The IPv6 /48 it was also counted against.
    site: Option<String>,
}

/// A counted login of an account, to be given back with [`Throttle::account_login_failed`].
#[derive(Debug)]
pub struct AccountLogin {
    subject: String,
}

/// How a client address is counted: IPv4 addresses one by one, IPv6 addresses by /64 (one
/// host or network usually holds a whole /64, so single addresses would be free to rotate).
pub fn address_subject(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

/// The IPv6 /48 an address lies in (none for IPv4 addresses, which are counted one by one).
pub fn site_subject(address: IpAddr) -> Option<String> {
    match address.to_canonical() {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 80) - 1);
            Some(format!("{}/48", std::net::Ipv6Addr::from(network)))
        }
    }
}

impl Throttle {
    pub fn new(db: Db, limits: Limits, names: NameKey) -> Self {
        Self {
            store: ThrottleStore::new(db),
            limits,
            names,
        }
    }

    /// Counts a password guess for `username_key` from `address`, or refuses it with
    /// [`ServiceError::Throttled`] (uncounted) while either subject is blocked.
    pub async fn begin_guess(&self, address: IpAddr, username_key: &str) -> ServiceResult<Guess> {
        let address_subject = address_subject(address);
        let guess = Guess {
            user_subject: format!("{address_subject} {}", self.names.subject(username_key)),
            address_subject,
        };
        let now = now_ms();
        let count = GuessCount {
            pair_scope: LOGIN,
            pair_subject: &guess.user_subject,
            pair_free: self.limits.guesses_per_user,
            address_scope: LOGIN_ADDRESS,
            address_subject: &guess.address_subject,
            address_free: self.limits.guesses_per_address,
            forget_after_ms: FORGET_AFTER_MS,
            max_delay_ms: self.limits.max_delay_ms,
            now,
        };
        if let Err(until) = self.store.count_guess(&count).await? {
            return Err(ServiceError::Throttled {
                retry_after_s: seconds_until(until.unwrap_or(now), now),
            });
        }
        Ok(guess)
    }

    /// The guess was right: the (address, username) failures are forgotten, and the guess
    /// does not count against the address.
    pub async fn guess_succeeded(&self, guess: Guess) -> ServiceResult<()> {
        self.store.delete(LOGIN, &guess.user_subject).await?;
        self.give_back(LOGIN_ADDRESS, &guess.address_subject, self.limits.guesses_per_address)
            .await
    }

    /// Counts a registration from `address`, or refuses it with [`ServiceError::RateLimited`].
    pub async fn begin_registration(&self, address: IpAddr) -> ServiceResult<Registration> {
        let subject = address_subject(address);
        let limit = self.limits.registrations_per_hour;
        self.count_in_period(REGISTER, &subject, limit).await.map_err(|retry| {
            retry.refused(format!(
                "too many new accounts from this address; at most {limit} an hour"
            ))
        })?;
        let site = site_subject(address);
        if let Some(site) = &site {
            let limit = self.limits.registrations_per_hour_per_48;
            if let Err(retry) = self.count_in_period(REGISTER_SITE, site, limit).await {
                self.give_back(REGISTER, &subject, self.limits.registrations_per_hour)
                    .await?;
                return Err(retry.refused(format!(
                    "too many new accounts from this network ({site}); at most {limit} an hour"
                )));
            }
        }
        Ok(Registration { subject, site })
    }

    /// Counts a login of the account `username_key`, or refuses it with
    /// [`ServiceError::RateLimited`] before its password is hashed.
    pub async fn begin_account_login(&self, username_key: &str) -> ServiceResult<AccountLogin> {
        let subject = self.names.subject(username_key);
        let limit = self.limits.logins_per_account_per_hour;
        self.count_in_period(LOGIN_ACCOUNT, &subject, limit)
            .await
            .map_err(|retry| retry.refused(format!("too many logins to this account; at most {limit} an hour")))?;
        Ok(AccountLogin { subject })
    }

    /// The login's password was wrong (or it was refused before its check): it does not use up
    /// the account's allowance.
    pub async fn account_login_failed(&self, login: AccountLogin) -> ServiceResult<()> {
        self.give_back(LOGIN_ACCOUNT, &login.subject, self.limits.logins_per_account_per_hour)
            .await
    }

    /// Counts one hit of `subject` in a fixed period of [`REGISTRATION_PERIOD_MS`] with at most
    /// `limit` hits, in the one statement that checks the limit; refused (uncounted) with the
    /// wait until the period ends.
    async fn count_in_period(&self, scope: &str, subject: &str, limit: u32) -> Result<(), Refusal> {
        let limit = i64::from(limit);
        if limit == 0 {
            return Err(Refusal::For((REGISTRATION_PERIOD_MS / 1000) as u64));
        }
        let now = now_ms();
        match self
            .store
            .count_in_period(scope, subject, limit as u32, REGISTRATION_PERIOD_MS, now)
            .await?
        {
            Ok(()) => Ok(()),
            Err(until) => Err(Refusal::For(seconds_until(until.unwrap_or(now), now))),
        }
    }

    /// The registration did not create an account: it does not use up the allowance.
    pub async fn registration_failed(&self, registration: Registration) -> ServiceResult<()> {
        self.give_back(REGISTER, &registration.subject, self.limits.registrations_per_hour)
            .await?;
        if let Some(site) = &registration.site {
            self.give_back(REGISTER_SITE, site, self.limits.registrations_per_hour_per_48)
                .await?;
        }
        Ok(())
    }

    /// Takes one counted hit back from a subject. A block that hit set is lifted when the
    /// subject is back under its `allowance`; one that was due anyway stays.
    async fn give_back(&self, scope: &str, subject: &str, allowance: u32) -> ServiceResult<()> {
        Ok(self.store.give_back(scope, subject, allowance).await?)
    }

    /// Deletes rows that no longer limit anything (the accounts' maintenance, now and then).
    pub async fn forget_stale(&self) -> ServiceResult<()> {
        let now = now_ms();
        Ok(self
            .store
            .forget_stale(now, now - FORGET_AFTER_MS.max(REGISTRATION_PERIOD_MS))
            .await?)
    }
}

/// Why [`Throttle::count_in_period`] did not count a hit.
enum Refusal {
    /// The subject is at its limit for this many more seconds.
    For(u64),
    /// The database failed.
    Database(ServiceError),
}

impl From<sqlx::Error> for Refusal {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error.into())
    }
}

impl Refusal {
    fn refused(self, detail: String) -> ServiceError {
        match self {
            Self::For(retry_after_s) => ServiceError::RateLimited { detail, retry_after_s },
            Self::Database(error) => error,
        }
    }
}

/// Whole seconds from `now` to `until` (ms), at least 1.
fn seconds_until(until: i64, now: i64) -> u64 {
    ((until - now).max(0) as u64).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "alice";

    /// The subject of Alice's guesses from `address`.
    fn alice_from(t: &Throttle, address: &str) -> String {
        format!("{address} {}", t.names.subject(ALICE))
    }

    async fn throttle(limits: Limits) -> (Throttle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()), 4)
            .await
            .unwrap();
        let names = NameKey::load(&db, None).await.unwrap();
        (Throttle::new(db, limits, names), dir)
    }

    fn limits() -> Limits {
        Limits {
            guesses_per_user: 3,
            guesses_per_address: 5,
            max_delay_ms: 60_000,
            registrations_per_hour: 2,
            registrations_per_hour_per_48: 3,
            logins_per_account_per_hour: 3,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    async fn row(t: &Throttle, scope: &str, subject: &str) -> Option<(i64, i64)> {
        sqlx::query_as("SELECT hits, blocked_until FROM throttles WHERE scope = $1 AND subject = $2")
            .bind(scope)
            .bind(subject)
            .fetch_optional(t.store.pool())
            .await
            .unwrap()
    }

    #[test]
    fn addresses_are_counted_by_host_or_ipv6_network() {
        assert_eq!(address_subject(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(address_subject(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(address_subject(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(
            site_subject(ip("2001:db8:1:2:3:4:5:6")).as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(
            site_subject(ip("2001:db8:1:ffff::1")).as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(site_subject(ip("192.0.2.7")), None);
        assert_eq!(site_subject(ip("::ffff:192.0.2.7")), None);
        assert_eq!(
            address_subject(ip("2001:db8:1:2:ffff::1")),
            address_subject(ip("2001:db8:1:2::9"))
        );
    }

    #[tokio::test]
    async fn guesses_are_counted_before_they_are_tried_and_blocks_double() {
        let (t, _dir) = throttle(limits()).await;
        let from = ip("192.0.2.1");
        for _ in 0..3 {
            t.begin_guess(from, ALICE).await.unwrap();
        }
        // The third counted guess reached the allowance: 1 s until the next.
        let (hits, until) = row(&t, LOGIN, &alice_from(&t, "192.0.2.1")).await.unwrap();
        assert_eq!(hits, 3);
        let wait = until - now_ms();
        assert!((900..=1000).contains(&wait), "{wait}");
        // Both subjects were counted every time, the address below its own allowance.
        assert_eq!(row(&t, LOGIN_ADDRESS, "192.0.2.1").await, Some((3, 0)));
        let refused = t.begin_guess(from, ALICE).await.unwrap_err();
        assert!(
            matches!(refused, ServiceError::Throttled { retry_after_s: 1 }),
            "{refused:?}"
        );
        // A refused guess is not counted anywhere.
        assert_eq!(row(&t, LOGIN_ADDRESS, "192.0.2.1").await, Some((3, 0)));

        // Once the wait is over the next guess doubles it.
        sqlx::query("UPDATE throttles SET blocked_until = 0")
            .execute(t.store.pool())
            .await
            .unwrap();
        t.begin_guess(from, ALICE).await.unwrap();
        let (_, until) = row(&t, LOGIN, &alice_from(&t, "192.0.2.1")).await.unwrap();
        assert!((1900..=2000).contains(&(until - now_ms())));

        // Another address is not affected, nor another username from this one.
        t.begin_guess(ip("198.51.100.1"), ALICE).await.unwrap();
        // The address's allowance (5) is reached by a fifth guess for any username...
        t.begin_guess(from, "bob").await.unwrap();
        // ...after which every username from it waits.
        let refused = t.begin_guess(from, "carol").await.unwrap_err();
        assert!(matches!(refused, ServiceError::Throttled { .. }), "{refused:?}");
    }

    #[tokio::test]
    async fn a_right_guess_clears_its_failures_and_costs_the_address_nothing() {
        let (t, _dir) = throttle(limits()).await;
        let from = ip("192.0.2.1");
        t.begin_guess(from, ALICE).await.unwrap();
        let right = t.begin_guess(from, ALICE).await.unwrap();
        t.guess_succeeded(right).await.unwrap();
        assert_eq!(row(&t, LOGIN, &alice_from(&t, "192.0.2.1")).await, None);
        assert_eq!(row(&t, LOGIN_ADDRESS, "192.0.2.1").await, Some((1, 0)));
    }

    #[tokio::test]
    async fn failures_are_forgotten_after_a_quiet_period_and_delays_are_capped() {
        let (t, _dir) = throttle(Limits {
            max_delay_ms: 4000,
            ..limits()
        })
        .await;
        let from = ip("192.0.2.1");
        sqlx::query(
            "INSERT INTO throttles VALUES ('login', $2, 40, 0, $1, 0), ('login_address', '192.0.2.1', 0, 0, $1, 0)",
        )
        .bind(now_ms())
        .bind(alice_from(&t, "192.0.2.1"))
        .execute(t.store.pool())
        .await
        .unwrap();
        t.begin_guess(from, ALICE).await.unwrap();
        let (hits, until) = row(&t, LOGIN, &alice_from(&t, "192.0.2.1")).await.unwrap();
        assert_eq!(hits, 41);
        assert!(until - now_ms() <= 4000, "capped");

        sqlx::query("UPDATE throttles SET last_hit_at = last_hit_at - $1, blocked_until = 0")
            .bind(FORGET_AFTER_MS)
            .execute(t.store.pool())
            .await
            .unwrap();
        t.begin_guess(from, ALICE).await.unwrap();
        assert_eq!(row(&t, LOGIN, &alice_from(&t, "192.0.2.1")).await, Some((1, 0)));
    }

    #[tokio::test]
    async fn registrations_are_limited_per_address_per_hour() {
        let (t, _dir) = throttle(limits()).await;
        let from = ip("192.0.2.1");
        t.begin_registration(from).await.unwrap();
        let failed = t.begin_registration(from).await.unwrap();
        // A registration that created nothing gives its count back.
        t.registration_failed(failed).await.unwrap();
        t.begin_registration(from).await.unwrap();
        let refused = t.begin_registration(from).await.unwrap_err();
        let ServiceError::RateLimited { retry_after_s, .. } = refused else {
            panic!("{refused:?}")
        };
        assert!((3590..=3600).contains(&retry_after_s), "{retry_after_s}");
        t.begin_registration(ip("192.0.2.2")).await.unwrap();

        // An hour later the address starts afresh.
        sqlx::query("UPDATE throttles SET period_start = period_start - $1, blocked_until = blocked_until - $1")
            .bind(REGISTRATION_PERIOD_MS)
            .execute(t.store.pool())
            .await
            .unwrap();
        t.begin_registration(from).await.unwrap();
        assert_eq!(row(&t, REGISTER, "192.0.2.1").await, Some((1, 0)));
    }
}
