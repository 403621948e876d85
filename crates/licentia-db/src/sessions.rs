//! Sessions: one row per issued token (`id` = the token's `jti`). A token is honoured only while
//! its row is live, so logout, password change and disabling a user take effect on the next request.

use chrono::{DateTime, Utc};
use licentia_domain::{OrganisationId, Role, SessionId, UserId};
use sqlx::PgConnection;

use crate::DbError;

/// The user behind a live session, as the database says now (a role change applies at once).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveSession {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub organisation_id: OrganisationId,
    pub role: Role,
    pub email: String,
    pub display_name: String,
    pub kind: String,
    pub time_zone: String,
}

pub struct NewSession<'a> {
    pub id: SessionId,
    pub user_id: UserId,
    pub kind: &'a str,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert(conn: &mut PgConnection, s: NewSession<'_>) -> Result<(), DbError> {
    sqlx::query("INSERT INTO sessions (id, user_id, kind, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(s.id)
        .bind(s.user_id)
        .bind(s.kind)
        .bind(s.expires_at)
        .bind(s.ip)
        .bind(s.user_agent.map(|ua| ua.chars().take(512).collect::<String>()))
        .execute(conn)
        .await?;
    Ok(())
}

/// The session if it is live: not revoked, not expired, its user and organisation not disabled.
pub async fn live(conn: &mut PgConnection, id: SessionId) -> Result<Option<LiveSession>, DbError> {
    Ok(sqlx::query_as(
        "SELECT s.id AS session_id, u.id AS user_id, u.organisation_id, u.role, u.email, u.display_name, s.kind, u.time_zone
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN organisations o ON o.id = u.organisation_id
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled AND NOT o.disabled",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn revoke(conn: &mut PgConnection, id: SessionId, reason: &str) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = now(), revoked_reason = $2, updated_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes every credential of `user` together: every live session and API token except `keep`
/// (the one changing its password stays in), and the calendar feed token (a new one must be
/// issued). Password changes, disabling and role changes all come here, so no credential outlives
/// the change that should have ended it.
pub async fn revoke_all_for_user(conn: &mut PgConnection, user: UserId, keep: Option<SessionId>, reason: &str) -> Result<u64, DbError> {
    sqlx::query("DELETE FROM calendar_tokens WHERE user_id = $1").bind(user).execute(&mut *conn).await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3, updated_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user)
    .bind(keep)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes the sessions and calendar tokens of every user of an organisation (when it is disabled).
pub async fn revoke_all_for_organisation(conn: &mut PgConnection, org: OrganisationId, reason: &str) -> Result<u64, DbError> {
    sqlx::query("DELETE FROM calendar_tokens WHERE user_id IN (SELECT id FROM users WHERE organisation_id = $1)").bind(org).execute(&mut *conn).await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2, updated_at = now()
         WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE organisation_id = $1)",
    )
    .bind(org)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A session or API token as its owner sees it in the list of where they are logged in.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionSummary {
    pub id: SessionId,
    /// `browser` (a login in a browser) or `api` (a bearer token).
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The user's live sessions and tokens, newest first.
pub async fn list_live_for_user(conn: &mut PgConnection, user: UserId) -> Result<Vec<SessionSummary>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, ip, user_agent, created_at, expires_at FROM sessions
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC LIMIT 500",
    )
    .bind(user)
    .fetch_all(conn)
    .await?)
}

/// Revokes one of the user's own live sessions; `false` for an id that is not theirs or not live.
pub async fn revoke_own(conn: &mut PgConnection, user: UserId, id: SessionId, reason: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3, updated_at = now()
         WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(user)
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
