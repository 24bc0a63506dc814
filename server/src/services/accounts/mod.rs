//! Accounts: registration rules, password hashing, sessions with CSRF tokens, and the
//! failed-login throttle.

pub mod password;
pub mod rules;
pub mod sessions;
pub mod throttle;

use std::collections::BTreeMap;

use sqlx::SqlitePool;

use crate::db::now_ms;
use crate::services::{ServiceError, ServiceResult};
use throttle::LoginThrottle;

/// A user who proved who they are.
#[derive(Debug, Clone)]
pub struct Account {
    pub user_id: i64,
    pub username: String,
}

/// Usernames are unique ignoring case.
fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Creates an account after checking every rule; all broken rules are reported together.
pub async fn register(
    pool: &SqlitePool,
    username: &str,
    password: String,
    confirmation: &str,
) -> ServiceResult<Account> {
    let username = username.trim().to_owned();
    let mut fields = BTreeMap::new();
    let username_problems = rules::username_problems(&username);
    if !username_problems.is_empty() {
        fields.insert("username", username_problems);
    }
    let password_problems = rules::password_problems(&password, confirmation, &username);
    if !password_problems.is_empty() {
        fields.insert("password", password_problems);
    }
    if !fields.is_empty() {
        return Err(ServiceError::Validation(fields));
    }
    let hash = password::hash(password).await?;
    let inserted =
        sqlx::query("INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)")
            .bind(&username)
            .bind(username_key(&username))
            .bind(hash)
            .bind(now_ms())
            .execute(pool)
            .await;
    match inserted {
        Ok(result) => Ok(Account {
            user_id: result.last_insert_rowid(),
            username,
        }),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(ServiceError::validation(
            "username",
            "A user with that username already exists.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Checks a username and password, under the failed-login throttle.
pub async fn authenticate(
    pool: &SqlitePool,
    throttle: &LoginThrottle,
    username: &str,
    password: String,
) -> ServiceResult<Account> {
    let key = username_key(username);
    if let Err(retry_after_s) = throttle.check(&key) {
        return Err(ServiceError::Throttled { retry_after_s });
    }
    let row: Option<(i64, String, String)> =
        sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username_key = ?")
            .bind(&key)
            .fetch_optional(pool)
            .await?;
    let stored_hash = row.as_ref().map(|(_, _, hash)| hash.clone());
    let valid = password::verify(password, stored_hash).await?;
    match (valid, row) {
        (true, Some((user_id, username, _))) => {
            throttle.succeeded(&key);
            Ok(Account { user_id, username })
        }
        _ => {
            throttle.failed(&key);
            Err(ServiceError::InvalidCredentials)
        }
    }
}
