//! The `throttles` table (counts per scope and subject, each counted in the one statement that
//! checks its limit) and `server_secrets`. What is counted and how much is allowed is
//! [`crate::services::accounts::throttle`]'s.
//!
//! Statements are written for both databases: no two-argument MIN (PostgreSQL's is LEAST), a
//! 64-bit shift, and columns qualified in an upsert's update (PostgreSQL finds a bare name
//! ambiguous with `excluded`).

use crate::store::db::{self, Db};

/// A password guess to count against two subjects at once: an (address, username) pair and
/// the address alone.
pub struct GuessCount<'a> {
    pub pair_scope: &'a str,
    pub pair_subject: &'a str,
    pub pair_free: u32,
    pub address_scope: &'a str,
    pub address_subject: &'a str,
    pub address_free: u32,
    /// A subject with no hit for this long starts afresh.
    pub forget_after_ms: i64,
    /// Longest wait between guesses.
    pub max_delay_ms: i64,
    pub now: i64,
}

#[derive(Clone)]
pub struct ThrottleStore {
    db: Db,
}

/// The number of hits after counting one more: 1 when the subject's period is over.
fn next_hits(period_over: &str) -> String {
    format!("(CASE WHEN {period_over} THEN 1 ELSE throttles.hits + 1 END)")
}

/// `blocked_until` after `hits` failed guesses with `free` of them allowed: unblocked below
/// `free`, then 1 s doubling with each further guess, at most `$3` ms (`$1` is now).
fn guess_block(hits: &str, free: &str) -> String {
    let doublings = format!("CAST(CASE WHEN {hits} - {free} < 30 THEN {hits} - {free} ELSE 30 END AS INTEGER)");
    let delay = format!("(CAST(1000 AS BIGINT) << {doublings})");
    format!("(CASE WHEN {hits} >= {free} THEN $1 + (CASE WHEN $3 < {delay} THEN $3 ELSE {delay} END) ELSE 0 END)")
}

impl ThrottleStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The pool, for tests that set up or age rows.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    /// Counts a guess against both of its subjects, or neither while either is blocked; the
    /// time the block ends when it was not counted. Guesses from one address take turns: with
    /// PostgreSQL the NOT EXISTS reads what was committed when the statement began, so
    /// parallel guesses could otherwise all pass a block that one of them is setting.
    pub async fn count_guess(&self, guess: &GuessCount<'_>) -> sqlx::Result<Result<(), Option<i64>>> {
        // The NOT EXISTS reads the table before the insert writes it (SQLite evaluates a SELECT
        // from the table it inserts into in full first).
        let period_over = "throttles.last_hit_at <= $1 - $2";
        let hits = next_hits(period_over);
        let free = "(CASE throttles.scope WHEN $8 THEN $4 ELSE $6 END)";
        let sql = format!(
            "INSERT INTO throttles (scope, subject, hits, period_start, last_hit_at, blocked_until)
             SELECT v.column1, v.column2, 1, $1, $1, {first_block}
             FROM (VALUES ($8, $5, $4), ($9, $7, $6)) AS v
             WHERE NOT EXISTS (
                 SELECT 1 FROM throttles t WHERE t.blocked_until > $1
                 AND ((t.scope = $8 AND t.subject = $5) OR (t.scope = $9 AND t.subject = $7)))
             ON CONFLICT (scope, subject) DO UPDATE SET
                 hits = {hits},
                 period_start = CASE WHEN {period_over} THEN $1 ELSE throttles.period_start END,
                 last_hit_at = $1,
                 blocked_until = {block}
             RETURNING scope",
            first_block = guess_block("1", "v.column3"),
            block = guess_block(&hits, free),
        );
        let mut transaction = self.db.pool.begin().await?;
        let turn = format!("guess {}", guess.address_subject);
        db::take_turn(&mut transaction, self.db.backend, &turn).await?;
        let counted: Vec<(String,)> = sqlx::query_as(&sql)
            .bind(guess.now)
            .bind(guess.forget_after_ms)
            .bind(guess.max_delay_ms)
            .bind(i64::from(guess.pair_free))
            .bind(guess.pair_subject)
            .bind(i64::from(guess.address_free))
            .bind(guess.address_subject)
            .bind(guess.pair_scope)
            .bind(guess.address_scope)
            .fetch_all(&mut *transaction)
            .await?;
        transaction.commit().await?;
        if !counted.is_empty() {
            return Ok(Ok(()));
        }
        let until: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(blocked_until) FROM throttles
             WHERE (scope = $1 AND subject = $2) OR (scope = $3 AND subject = $4)",
        )
        .bind(guess.pair_scope)
        .bind(guess.pair_subject)
        .bind(guess.address_scope)
        .bind(guess.address_subject)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(Err(until))
    }

    /// Counts one hit of `subject` in a fixed period of `period_ms` with at most `limit` hits,
    /// in the one statement that checks the limit; when refused (uncounted), the time the
    /// subject's block ends.
    pub async fn count_in_period(
        &self,
        scope: &str,
        subject: &str,
        limit: u32,
        period_ms: i64,
        now: i64,
    ) -> sqlx::Result<Result<(), Option<i64>>> {
        let period_over = "throttles.period_start <= $1 - $4";
        let hits = next_hits(period_over);
        let start = format!("(CASE WHEN {period_over} THEN $1 ELSE throttles.period_start END)");
        let sql = format!(
            "INSERT INTO throttles (scope, subject, hits, period_start, last_hit_at, blocked_until)
             VALUES ($5, $2, 1, $1, $1, CASE WHEN 1 >= $3 THEN $1 + $4 ELSE 0 END)
             ON CONFLICT (scope, subject) DO UPDATE SET
                 hits = {hits},
                 period_start = {start},
                 last_hit_at = $1,
                 blocked_until = CASE WHEN {hits} >= $3 THEN {start} + $4 ELSE 0 END
             WHERE throttles.blocked_until <= $1
             RETURNING hits"
        );
        let counted: Option<i64> = sqlx::query_scalar(&sql)
            .bind(now)
            .bind(subject)
            .bind(i64::from(limit))
            .bind(period_ms)
            .bind(scope)
            .fetch_optional(&self.db.pool)
            .await?;
        if counted.is_some() {
            return Ok(Ok(()));
        }
        let until: Option<i64> =
            sqlx::query_scalar("SELECT blocked_until FROM throttles WHERE scope = $1 AND subject = $2")
                .bind(scope)
                .bind(subject)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(Err(until))
    }

    /// Forgets a subject's counts.
    pub async fn delete(&self, scope: &str, subject: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM throttles WHERE scope = $1 AND subject = $2")
            .bind(scope)
            .bind(subject)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Takes one counted hit back from a subject. A block that hit set is lifted when the
    /// subject is back under its `allowance`; one that was due anyway stays.
    pub async fn give_back(&self, scope: &str, subject: &str, allowance: u32) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE throttles SET hits = CASE WHEN hits > 0 THEN hits - 1 ELSE 0 END,
                 blocked_until = CASE WHEN hits - 1 < $3 THEN 0 ELSE blocked_until END
             WHERE scope = $1 AND subject = $2",
        )
        .bind(scope)
        .bind(subject)
        .bind(i64::from(allowance))
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Deletes rows not blocked at `now` and without a hit since `quiet_since`.
    pub async fn forget_stale(&self, now: i64, quiet_since: i64) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM throttles WHERE blocked_until <= $1 AND last_hit_at <= $2")
            .bind(now)
            .bind(quiet_since)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// The deployment's secret `name`: `fresh` unless another process stored one first (each
    /// process starting offers one; the first stored is everyone's).
    pub async fn secret(&self, name: &str, fresh: &str) -> sqlx::Result<String> {
        sqlx::query("INSERT INTO server_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(fresh)
            .execute(&self.db.pool)
            .await?;
        sqlx::query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.db.pool)
            .await
    }
}
