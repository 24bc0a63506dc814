//! Accounts: registration rules, password hashing, sessions with CSRF tokens, the abuse limits
//! on password guesses and registrations, and the account lifecycle (change password, delete).
//!
//! Every request is bounded before it costs anything: over-long usernames and passwords are
//! refused first, then the abuse limits are checked (one statement each), and only then does
//! CPU-heavy work (rules, argon2) run, on blocking threads, a bounded number at once.

pub mod password;
pub mod rules;
pub mod sessions;
pub mod throttle;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use blindfold_api::Role;

use crate::services::jobs::JobQueue;
use crate::services::keystore::ServerKeyStore;
use crate::services::{ServiceError, ServiceResult};
use crate::settings::Settings;
use crate::store::accounts::AccountStore;
use crate::store::db::{Db, now_ms};
use password::PasswordWork;
use sessions::{Session, Sessions};
use throttle::{Limits, NameKey, Throttle};

/// A user who proved who they are.
#[derive(Clone)]
pub struct Account {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// The password hash the proof was checked against: a session is started only while it is
    /// still the account's (a password changed meanwhile ends the login).
    pub password_hash: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

const TAKEN: &str = "A user with that username already exists.";

/// How often ended sessions and stale throttle rows are deleted.
const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The accounts service.
pub struct Accounts {
    store: AccountStore,
    passwords: PasswordWork,
    throttle: Throttle,
    /// Whether the first account registered is made an owner.
    first_account_owner: bool,
    pub sessions: Sessions,
    /// What a deleted account leaves in the job queue and key store.
    jobs: Arc<JobQueue>,
    keys: Arc<ServerKeyStore>,
}

/// Refuses fields over their length limits, before any other check.
fn refuse_oversized(username: Option<&str>, passwords: &[(&'static str, &str)]) -> ServiceResult<()> {
    let fields = rules::length_problems(username, passwords);
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Validation(fields))
    }
}

/// How a password change went on its blocking thread.
enum Change {
    WrongPassword,
    Refused(Vec<String>),
    Hashed(String),
}

impl Accounts {
    pub fn new(db: Db, settings: &Settings, names: NameKey, jobs: Arc<JobQueue>, keys: Arc<ServerKeyStore>) -> Self {
        let store = AccountStore::new(db.clone());
        let limits = Limits {
            guesses_per_user: settings.login_attempts_per_user,
            guesses_per_address: settings.login_attempts_per_address,
            max_delay_ms: i64::try_from(settings.login_max_delay_s.saturating_mul(1000)).unwrap_or(i64::MAX),
            registrations_per_hour: settings.registrations_per_hour,
            registrations_per_hour_per_48: settings.registrations_per_hour_per_ipv6_48,
            logins_per_account_per_hour: settings.logins_per_account_per_hour,
        };
        Self {
            passwords: PasswordWork::new(settings.password_hashers(), password::MAX_WAIT),
            throttle: Throttle::new(db, limits, names),
            sessions: Sessions::new(
                store.clone(),
                settings.session_idle(),
                settings.session_lifetime(),
                settings.max_sessions_per_user,
            ),
            first_account_owner: settings.first_account_owner,
            jobs,
            keys,
            store,
        }
    }

    /// Creates an account after checking every rule; all broken rules are reported together.
    pub async fn register(
        &self,
        address: IpAddr,
        username: &str,
        password: String,
        confirmation: String,
    ) -> ServiceResult<Account> {
        refuse_oversized(
            Some(username),
            &[("password", &password), ("password_confirmation", &confirmation)],
        )?;
        let counted = self.throttle.begin_registration(address).await?;
        let created = self.create(username, password, confirmation).await;
        // A refused form does not use up the address's allowance, unless it learnt that a
        // username is taken: that answer must stay as rare as registrations, or it would list
        // who has an account.
        let revealed_taken = matches!(
            &created,
            Err(ServiceError::Validation(fields))
                if fields.get("username").is_some_and(|problems| problems.iter().any(|p| p == TAKEN))
        );
        if created.is_err()
            && !revealed_taken
            && let Err(error) = self.throttle.registration_failed(counted).await
        {
            tracing::warn!(%error, "could not give back a failed registration's count");
        }
        created
    }

    async fn create(&self, typed: &str, password: String, confirmation: String) -> ServiceResult<Account> {
        let username = rules::normalize_username(typed);
        let key = rules::username_key(&username);
        let taken = self.store.key_taken(&key).await?;
        let checked = username.clone();
        let hash = self
            .passwords
            .run(move || {
                let mut fields = BTreeMap::new();
                let mut username_problems = rules::username_problems(&checked);
                if taken {
                    username_problems.push(TAKEN.to_owned());
                }
                if !username_problems.is_empty() {
                    fields.insert("username", username_problems);
                }
                let password_problems = rules::password_problems(&password, &confirmation, &checked);
                if !password_problems.is_empty() {
                    fields.insert("password", password_problems);
                }
                if !fields.is_empty() {
                    return Err(ServiceError::Validation(fields));
                }
                Ok(password::hash(&password)?)
            })
            .await??;
        let inserted = self
            .store
            .insert_user(&username, &key, &hash, now_ms(), self.first_account_owner)
            .await;
        match inserted {
            Ok((user_id, role)) => Ok(Account {
                user_id,
                username,
                role,
                password_hash: hash,
            }),
            // Registered by someone else since the check above.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(ServiceError::validation("username", TAKEN))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a username and password, under the password-guess limits.
    pub async fn log_in(&self, address: IpAddr, username: &str, password: String) -> ServiceResult<Account> {
        refuse_oversized(Some(username), &[("password", &password)])?;
        let key = rules::username_key(username);
        let login = self.throttle.begin_account_login(&key).await?;
        let guess = match self.throttle.begin_guess(address, &key).await {
            Ok(guess) => guess,
            Err(error) => {
                self.throttle.account_login_failed(login).await?;
                return Err(error);
            }
        };
        let row = self.store.user_by_key(&key).await?;
        let stored = row.as_ref().map(|user| user.password_hash.clone());
        let valid = self
            .passwords
            .run(move || password::verify(&password, stored.as_deref()))
            .await
            .and_then(|valid| Ok(valid?));
        // Only a correct login uses up the account's allowance.
        if !matches!(valid, Ok(true)) {
            self.throttle.account_login_failed(login).await?;
        }
        match (valid?, row) {
            (true, Some(user)) => {
                self.throttle.guess_succeeded(guess).await?;
                Ok(Account {
                    user_id: user.id,
                    username: user.username,
                    role: user.role,
                    password_hash: user.password_hash,
                })
            }
            _ => Err(ServiceError::InvalidCredentials),
        }
    }

    /// Forgets ended sessions, throttle rows that no longer limit anything and server keys
    /// past their retention, every
    /// [`MAINTENANCE_EVERY`] until `stop` (logins never scan those tables).
    pub async fn maintain(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        loop {
            let swept = async {
                let sessions = self.sessions.sweep().await?;
                self.throttle.forget_stale().await?;
                let keys = self.keys.sweep_unused().await?;
                ServiceResult::Ok((sessions, keys))
            };
            match swept.await {
                Ok((0, 0)) => {}
                Ok((sessions, keys)) => tracing::info!(sessions, keys, "forgot ended sessions and unused keys"),
                Err(error) => tracing::warn!(%error, "account maintenance"),
            }
            tokio::select! {
                () = tokio::time::sleep(MAINTENANCE_EVERY) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// The username key and password hash of a user.
    async fn credentials(&self, user_id: i64) -> ServiceResult<(String, String)> {
        self.store
            .credentials(user_id)
            .await?
            .ok_or(ServiceError::NotFound("account"))
    }

    /// Sets a new password, given the current one (a password guess like a login's), and ends
    /// every other session of the user. Answers the number of sessions ended.
    pub async fn change_password(
        &self,
        address: IpAddr,
        session: &Session,
        current: String,
        new: String,
        confirmation: String,
    ) -> ServiceResult<u64> {
        refuse_oversized(
            None,
            &[
                ("current_password", &current),
                ("new_password", &new),
                ("new_password_confirmation", &confirmation),
            ],
        )?;
        let (key, stored) = self.credentials(session.user_id).await?;
        let guess = self.throttle.begin_guess(address, &key).await?;
        let username = session.username.clone();
        let change = self
            .passwords
            .run(move || -> anyhow::Result<Change> {
                if !password::verify(&current, Some(&stored))? {
                    return Ok(Change::WrongPassword);
                }
                let problems = rules::password_problems(&new, &confirmation, &username);
                if !problems.is_empty() {
                    return Ok(Change::Refused(problems));
                }
                Ok(Change::Hashed(password::hash(&new)?))
            })
            .await??;
        let hash = match change {
            Change::WrongPassword => return Err(ServiceError::WrongPassword),
            Change::Refused(problems) => {
                self.throttle.guess_succeeded(guess).await?;
                return Err(ServiceError::Validation(BTreeMap::from([("new_password", problems)])));
            }
            Change::Hashed(hash) => {
                self.throttle.guess_succeeded(guess).await?;
                hash
            }
        };
        self.store.set_password(session.user_id, &hash).await?;
        let ended = self
            .sessions
            .destroy_all(session.user_id, Some(&session.token_hash))
            .await?;
        tracing::info!(user_id = session.user_id, ended, "password changed");
        Ok(ended)
    }

    /// Deletes the account, given its password: its sessions, keys, jobs and every file of
    /// theirs, and an owner's models with every job queued on them (whoever's). A job being
    /// evaluated loses its row at once; its worker finds nothing to update when it finishes.
    pub async fn delete(&self, address: IpAddr, user_id: i64, password: String) -> ServiceResult<()> {
        refuse_oversized(None, &[("password", &password)])?;
        let (key, stored) = self.credentials(user_id).await?;
        let guess = self.throttle.begin_guess(address, &key).await?;
        let valid = self
            .passwords
            .run(move || password::verify(&password, Some(&stored)))
            .await??;
        if !valid {
            return Err(ServiceError::WrongPassword);
        }
        self.throttle.guess_succeeded(guess).await?;

        // Rows first, in one transaction, then files: a crash in between leaves files no row
        // refers to, never a row without its file.
        let job_ids = self.store.delete_user(user_id).await?;
        self.jobs.remove_deleted(&job_ids).await;
        self.keys.forget_user(user_id).await;
        tracing::info!(user_id, jobs = job_ids.len(), "account deleted");
        Ok(())
    }
}

/// Gives the account `username` (as it logs in: any case, NFKC) the role `role`, from its
/// sessions' next request on. The account's name as registered, or None without such an
/// account. For `blindfold-server grant-owner`.
pub async fn set_role(db: Db, username: &str, role: Role) -> anyhow::Result<Option<String>> {
    Ok(AccountStore::new(db)
        .set_role(&rules::username_key(username), role)
        .await?)
}
