//! Login attempts, counted for throttling. Kept in the database so that every web node sees them.

use chrono::{DateTime, Duration, Utc};
use licentia_domain::throttle::RecentAttempts;
use sqlx::PgConnection;

use crate::DbError;

pub async fn record(conn: &mut PgConnection, email: &str, ip: &str, succeeded: bool, at: DateTime<Utc>) -> Result<(), DbError> {
    insert(conn, email, ip, succeeded, false, at).await
}

/// An attempt the throttle refused: it counts against the address, never as a failure on the
/// account (so a lock expires on time however often an attacker knocks).
pub async fn record_throttled(conn: &mut PgConnection, email: &str, ip: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    insert(conn, email, ip, false, true, at).await
}

async fn insert(conn: &mut PgConnection, email: &str, ip: &str, succeeded: bool, throttled: bool, at: DateTime<Utc>) -> Result<(), DbError> {
    sqlx::query("INSERT INTO login_attempts (email, ip, succeeded, throttled, attempted_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(email.chars().take(320).collect::<String>())
        .bind(ip)
        .bind(succeeded)
        .bind(throttled)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Failures on `email` since `now - account_window`, attempts from `ip` since `now - ip_window`.
pub async fn recent(
    conn: &mut PgConnection,
    email: &str,
    ip: &str,
    now: DateTime<Utc>,
    account_window: Duration,
    ip_window: Duration,
) -> Result<RecentAttempts, DbError> {
    type Counts = (i64, Option<DateTime<Utc>>, i64, Option<DateTime<Utc>>, i64, Option<DateTime<Utc>>);
    let (pair_failures, oldest_pair_failure, account_failures, oldest_account_failure, ip_attempts, oldest_ip_attempt): Counts = sqlx::query_as(
        "SELECT
               (SELECT count(*) FROM login_attempts WHERE email = $1 AND ip = $2 AND NOT succeeded AND NOT throttled AND attempted_at > $3 AND attempted_at <= $5),
               (SELECT min(attempted_at) FROM login_attempts WHERE email = $1 AND ip = $2 AND NOT succeeded AND NOT throttled AND attempted_at > $3 AND attempted_at <= $5),
               (SELECT count(*) FROM login_attempts WHERE email = $1 AND NOT succeeded AND NOT throttled AND attempted_at > $3 AND attempted_at <= $5),
               (SELECT min(attempted_at) FROM login_attempts WHERE email = $1 AND NOT succeeded AND NOT throttled AND attempted_at > $3 AND attempted_at <= $5),
               (SELECT count(*) FROM login_attempts WHERE ip = $2 AND attempted_at > $4 AND attempted_at <= $5),
               (SELECT min(attempted_at) FROM login_attempts WHERE ip = $2 AND attempted_at > $4 AND attempted_at <= $5)",
    )
    .bind(email)
    .bind(ip)
    .bind(now - account_window)
    .bind(now - ip_window)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(RecentAttempts {
        pair_failures: u32::try_from(pair_failures).unwrap_or(u32::MAX),
        oldest_pair_failure,
        account_failures: u32::try_from(account_failures).unwrap_or(u32::MAX),
        oldest_account_failure,
        ip_attempts: u32::try_from(ip_attempts).unwrap_or(u32::MAX),
        oldest_ip_attempt,
    })
}

/// Forget attempts older than a day; called from the periodic housekeeping task.
pub async fn prune(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM login_attempts WHERE attempted_at < $1").bind(before).execute(conn).await?.rows_affected())
}
