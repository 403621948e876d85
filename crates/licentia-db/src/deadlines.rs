//! Marks on computed deadlines, and calendar feed tokens.

use licentia_domain::{AssetId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Mark {
    pub rule: String,
    pub ordinal: i32,
    pub state: String,
    pub note: String,
}

pub async fn marks(conn: &mut PgConnection, asset: AssetId) -> Result<Vec<Mark>, DbError> {
    Ok(sqlx::query_as("SELECT rule, ordinal, state, note FROM deadline_marks WHERE asset_id = $1").bind(asset).fetch_all(conn).await?)
}

pub async fn set_mark(conn: &mut PgConnection, asset: AssetId, rule: &str, ordinal: i32, state: &str, note: &str, by: UserId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO deadline_marks (asset_id, rule, ordinal, state, note, marked_by) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (asset_id, rule, ordinal) DO UPDATE SET state = $4, note = $5, marked_by = $6, updated_at = now()",
    )
    .bind(asset)
    .bind(rule)
    .bind(ordinal)
    .bind(state)
    .bind(note)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every (asset, rule, ordinal) marked done or waived: settled, so not forecast.
pub async fn closed_marks(conn: &mut PgConnection) -> Result<std::collections::HashSet<(AssetId, String, i32)>, DbError> {
    let rows: Vec<(AssetId, String, i32)> =
        sqlx::query_as("SELECT asset_id, rule, ordinal FROM deadline_marks WHERE state IN ('done', 'waived')").fetch_all(conn).await?;
    Ok(rows.into_iter().collect())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManualDeadline {
    pub ordinal: i32,
    pub title: String,
    pub due: chrono::NaiveDate,
    pub note: String,
}

pub async fn manual(conn: &mut PgConnection, asset: AssetId) -> Result<Vec<ManualDeadline>, DbError> {
    Ok(sqlx::query_as("SELECT ordinal, title, due, note FROM manual_deadlines WHERE asset_id = $1 ORDER BY due, ordinal").bind(asset).fetch_all(conn).await?)
}

/// Adds a manual deadline with the asset's next ordinal. Two concurrent adds to one asset meet
/// the primary key; the loser reports a conflict rather than overwriting.
pub async fn add_manual(
    conn: &mut PgConnection,
    asset: AssetId,
    title: &str,
    due: chrono::NaiveDate,
    note: &str,
    by: UserId,
) -> Result<ManualDeadline, DbError> {
    Ok(sqlx::query_as(
        "INSERT INTO manual_deadlines (asset_id, ordinal, title, due, note, created_by)
         VALUES ($1, (SELECT coalesce(max(ordinal), 0) + 1 FROM manual_deadlines WHERE asset_id = $1), $2, $3, $4, $5)
         RETURNING ordinal, title, due, note",
    )
    .bind(asset)
    .bind(title)
    .bind(due)
    .bind(note)
    .bind(by)
    .fetch_one(conn)
    .await?)
}

/// Deletes a manual deadline and its mark (so that a later deadline given the same ordinal does
/// not inherit it); `NotFound` when the asset has no such deadline.
pub async fn delete_manual(conn: &mut PgConnection, asset: AssetId, ordinal: i32) -> Result<ManualDeadline, DbError> {
    let gone: Option<ManualDeadline> = sqlx::query_as("DELETE FROM manual_deadlines WHERE asset_id = $1 AND ordinal = $2 RETURNING ordinal, title, due, note")
        .bind(asset)
        .bind(ordinal)
        .fetch_optional(&mut *conn)
        .await?;
    let gone = gone.ok_or(DbError::NotFound)?;
    sqlx::query("DELETE FROM deadline_marks WHERE asset_id = $1 AND rule = 'manual' AND ordinal = $2").bind(asset).bind(ordinal).execute(conn).await?;
    Ok(gone)
}

/// Replaces the user's feed token (the old feed URL stops working).
pub async fn set_calendar_token(conn: &mut PgConnection, user: Uuid, token_hash: &[u8]) -> Result<(), DbError> {
    sqlx::query("INSERT INTO calendar_tokens (user_id, token_hash) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET token_hash = $2, updated_at = now()")
        .bind(user)
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// The enabled user a feed token belongs to.
pub async fn calendar_user(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<crate::users::Credentials>, DbError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.organisation_id, u.role, u.disabled, o.disabled AS organisation_disabled, u.password_hash,
                u.role = ANY (o.second_factor_roles) AS second_factor_required
         FROM calendar_tokens t JOIN users u ON u.id = t.user_id JOIN organisations o ON o.id = u.organisation_id
         WHERE t.token_hash = $1 AND NOT u.disabled AND NOT o.disabled",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}
