//! Accounts: registration rules, password hashing, sessions with CSRF tokens, and the
//! failed-login throttle.

pub mod password;
pub mod rules;
pub mod session;
pub mod throttle;
