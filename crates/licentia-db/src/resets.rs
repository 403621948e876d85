//! Password resets: the e-mailed token's SHA-256, spent once while unexpired.

use chrono::{DateTime, Utc};
use licentia_domain::UserId;
use sqlx::PgConnection;

use crate::DbError;

pub async fn insert(conn: &mut PgConnection, token_hash: &[u8; 32], user: UserId, forced_by: Option<UserId>, expires_at: DateTime<Utc>) -> Result<(), DbError> {
    sqlx::query("INSERT INTO password_resets (token_hash, user_id, forced_by, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash.as_slice())
        .bind(user)
        .bind(forced_by)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Spends the token: one UPDATE that only an unused, unexpired token of an enabled user passes,
/// so a link works once even when clicked twice at the same moment. Also spends the user's other
/// outstanding tokens (one reset ends them all).
pub async fn spend(conn: &mut PgConnection, token_hash: &[u8; 32]) -> Result<Option<UserId>, DbError> {
    let user: Option<UserId> = sqlx::query_scalar(
        "UPDATE password_resets r SET used_at = now(), updated_at = now()
         FROM users u JOIN organisations o ON o.id = u.organisation_id
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now() AND u.id = r.user_id AND NOT u.disabled AND NOT o.disabled
         RETURNING r.user_id",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(u) = user {
        sqlx::query("UPDATE password_resets SET used_at = now(), updated_at = now() WHERE user_id = $1 AND used_at IS NULL").bind(u).execute(conn).await?;
    }
    Ok(user)
}

/// Whether the token is live (the form that sets the new password is only shown for one).
pub async fn is_live(conn: &mut PgConnection, token_hash: &[u8; 32]) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now())")
        .bind(token_hash.as_slice())
        .fetch_one(conn)
        .await?)
}

/// Forget tokens spent or expired more than a day ago (housekeeping).
pub async fn prune(conn: &mut PgConnection) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'").execute(conn).await?.rows_affected())
}
