//! User accounts.

use chrono::{DateTime, Utc};
use licentia_domain::{Email, OrganisationId, Role, UserId};
use serde::Serialize;
use sqlx::PgConnection;

use crate::DbError;

/// A user as shown to other users: never the password hash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub organisation_id: OrganisationId,
    pub organisation_name: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// What login needs: the user and the stored hash, and whether the organisation is disabled.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credentials {
    pub id: UserId,
    pub organisation_id: OrganisationId,
    pub role: Role,
    pub disabled: bool,
    pub organisation_disabled: bool,
    pub password_hash: String,
    /// The organisation requires a second factor of this user's role.
    pub second_factor_required: bool,
}

pub struct NewUser<'a> {
    pub organisation_id: OrganisationId,
    pub email: &'a Email,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

const SELECT_USER: &str = "SELECT u.id, u.organisation_id, o.name AS organisation_name, u.email, u.display_name, u.role, u.disabled, u.created_at FROM users u JOIN organisations o ON o.id = u.organisation_id";

pub async fn insert(conn: &mut PgConnection, new: NewUser<'_>) -> Result<UserId, DbError> {
    let id = UserId::new();
    sqlx::query("INSERT INTO users (id, organisation_id, email, display_name, password_hash, role) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(new.organisation_id)
        .bind(new.email.as_str())
        .bind(new.display_name)
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .execute(conn)
        .await?;
    Ok(id)
}

pub async fn credentials_by_email(conn: &mut PgConnection, email: &Email) -> Result<Option<Credentials>, DbError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.organisation_id, u.role, u.disabled, o.disabled AS organisation_disabled, u.password_hash,
                u.role = ANY (o.second_factor_roles) AS second_factor_required
         FROM users u JOIN organisations o ON o.id = u.organisation_id WHERE u.email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(conn)
    .await?)
}

pub async fn password_hash(conn: &mut PgConnection, id: UserId) -> Result<String, DbError> {
    Ok(sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1").bind(id).fetch_one(conn).await?)
}

/// A user as `scope` may see it (`None`: every organisation).
pub async fn get_scoped(conn: &mut PgConnection, id: UserId, scope: Option<OrganisationId>) -> Result<User, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_USER} WHERE u.id = $1 AND ($2::uuid IS NULL OR u.organisation_id = $2)")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

pub async fn list(conn: &mut PgConnection, scope: Option<OrganisationId>) -> Result<Vec<User>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_USER} WHERE ($1::uuid IS NULL OR u.organisation_id = $1) ORDER BY o.name, u.email LIMIT 1000")))
        .bind(scope)
        .fetch_all(conn)
        .await?)
}

pub async fn set_password_hash(conn: &mut PgConnection, id: UserId, hash: &str) -> Result<(), DbError> {
    let done = sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
}

pub async fn set_disabled(conn: &mut PgConnection, id: UserId, disabled: bool) -> Result<(), DbError> {
    let done = sqlx::query("UPDATE users SET disabled = $2, updated_at = now() WHERE id = $1").bind(id).bind(disabled).execute(conn).await?;
    if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
}

pub async fn set_role(conn: &mut PgConnection, id: UserId, role: Role) -> Result<(), DbError> {
    let done = sqlx::query("UPDATE users SET role = $2, updated_at = now() WHERE id = $1").bind(id).bind(role.as_str()).execute(conn).await?;
    if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
}

pub async fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(conn).await?)
}
