//! The e-mail outbox and each user's notification preferences.

use chrono::{DateTime, Utc};
use licentia_domain::{OrganisationId, Role, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

/// Who may receive a notice, with their preferences.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    pub id: UserId,
    pub organisation_id: OrganisationId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub notify_email: bool,
    pub notify_digest: bool,
    pub time_zone: String,
    pub digest_on: Option<chrono::NaiveDate>,
}

const SELECT_RECIPIENT: &str = "SELECT u.id, u.organisation_id, u.email, u.display_name, u.role, u.notify_email, u.notify_digest, u.time_zone, u.digest_on
     FROM users u JOIN organisations o ON o.id = u.organisation_id WHERE NOT u.disabled AND NOT o.disabled";

/// The enabled users of an organisation (of an enabled organisation) with one of `roles`.
pub async fn members(conn: &mut PgConnection, organisation: OrganisationId, roles: &[Role]) -> Result<Vec<Recipient>, DbError> {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_RECIPIENT} AND u.organisation_id = $1 AND u.role = ANY($2) ORDER BY u.email")))
        .bind(organisation)
        .bind(&roles)
        .fetch_all(conn)
        .await?)
}

/// One enabled user, if enabled.
pub async fn recipient(conn: &mut PgConnection, user: UserId) -> Result<Option<Recipient>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_RECIPIENT} AND u.id = $1"))).bind(user).fetch_optional(conn).await?)
}

/// Every enabled user who wants the daily digest.
pub async fn digest_readers(conn: &mut PgConnection) -> Result<Vec<Recipient>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_RECIPIENT} AND u.notify_digest ORDER BY u.id"))).fetch_all(conn).await?)
}

pub async fn set_preferences(conn: &mut PgConnection, user: UserId, notify_email: bool, notify_digest: bool, time_zone: &str) -> Result<(), DbError> {
    let done = sqlx::query("UPDATE users SET notify_email = $2, notify_digest = $3, time_zone = $4, updated_at = now() WHERE id = $1")
        .bind(user)
        .bind(notify_email)
        .bind(notify_digest)
        .bind(time_zone)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

pub struct NewMail<'a> {
    pub user_id: UserId,
    pub recipient: &'a str,
    pub kind: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub dedupe_key: &'a str,
}

/// Queues a message; `false` when one with the same `dedupe_key` was queued before.
pub async fn queue(conn: &mut PgConnection, m: NewMail<'_>) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO mail_outbox (id, user_id, recipient, kind, subject, body, dedupe_key) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(m.user_id)
    .bind(m.recipient)
    .bind(m.kind)
    .bind(m.subject)
    .bind(m.body)
    .bind(m.dedupe_key)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Mail {
    pub id: Uuid,
    pub user_id: UserId,
    pub recipient: String,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

const SELECT_MAIL: &str = "SELECT id, user_id, recipient, kind, subject, body, created_at, attempts, sent_at, last_error FROM mail_outbox";

/// Up to `limit` unsent messages that are due, locked for this transaction (`SKIP LOCKED`: two
/// senders never send one message twice).
pub async fn claim_due(conn: &mut PgConnection, limit: i64) -> Result<Vec<Mail>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_MAIL} WHERE sent_at IS NULL AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Marks a message sent. A password-reset message loses its body here: it holds a live reset
/// link, which must not stay readable in the database after it left.
pub async fn mark_sent(conn: &mut PgConnection, id: Uuid) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL,
             body = CASE WHEN kind = 'password_reset' THEN '(removed once sent: it held a password reset link)' ELSE body END
         WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn mark_failed(conn: &mut PgConnection, id: Uuid, error: &str, retry_in_seconds: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1")
        .bind(id)
        .bind(error)
        .bind(retry_in_seconds as f64)
        .execute(conn)
        .await?;
    Ok(())
}

/// A user's messages, newest first (the account page lists them).
pub async fn of_user(conn: &mut PgConnection, user: UserId, limit: i64) -> Result<Vec<Mail>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_MAIL} WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2")))
        .bind(user)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// Records that a user's digest for `day` was considered (sent, or nothing waited).
pub async fn set_digest_on(conn: &mut PgConnection, user: UserId, day: chrono::NaiveDate) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET digest_on = $2 WHERE id = $1").bind(user).bind(day).execute(conn).await?;
    Ok(())
}
