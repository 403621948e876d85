//! Organisations: the licensor and its licensees.

use chrono::{DateTime, Utc};
use licentia_domain::{OrgKind, OrgName, OrganisationId};
use serde::Serialize;
use sqlx::PgConnection;

use crate::DbError;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: String,
    pub kind: OrgKind,
    pub disabled: bool,
    /// ISO 3166 country where it is established (export control; `None` until recorded).
    pub country: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, name: &OrgName, kind: OrgKind) -> Result<Organisation, DbError> {
    Ok(sqlx::query_as("INSERT INTO organisations (id, name, kind) VALUES ($1, $2, $3) RETURNING id, name, kind, disabled, country, created_at")
        .bind(OrganisationId::new())
        .bind(name.as_str())
        .bind(kind.as_str())
        .fetch_one(conn)
        .await?)
}

pub async fn find_by_name(conn: &mut PgConnection, name: &OrgName) -> Result<Option<Organisation>, DbError> {
    Ok(sqlx::query_as("SELECT id, name, kind, disabled, country, created_at FROM organisations WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(conn)
        .await?)
}

/// One organisation as `scope` may see it: `None` sees every organisation, `Some(own)` only its own.
/// A foreign id is indistinguishable from a missing one.
pub async fn get_scoped(conn: &mut PgConnection, id: OrganisationId, scope: Option<OrganisationId>) -> Result<Organisation, DbError> {
    Ok(sqlx::query_as("SELECT id, name, kind, disabled, country, created_at FROM organisations WHERE id = $1 AND ($2::uuid IS NULL OR id = $2)")
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

pub async fn list_scoped(conn: &mut PgConnection, scope: Option<OrganisationId>) -> Result<Vec<Organisation>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, name, kind, disabled, country, created_at FROM organisations WHERE ($1::uuid IS NULL OR id = $1) ORDER BY kind DESC, name LIMIT 1000",
    )
    .bind(scope)
    .fetch_all(conn)
    .await?)
}

pub async fn set_disabled(conn: &mut PgConnection, id: OrganisationId, disabled: bool) -> Result<Organisation, DbError> {
    Ok(sqlx::query_as("UPDATE organisations SET disabled = $2, updated_at = now() WHERE id = $1 RETURNING id, name, kind, disabled, country, created_at")
        .bind(id)
        .bind(disabled)
        .fetch_one(conn)
        .await?)
}

/// Records where an organisation is established (`None` clears it).
pub async fn set_country(conn: &mut PgConnection, id: OrganisationId, country: Option<&str>) -> Result<Organisation, DbError> {
    Ok(sqlx::query_as("UPDATE organisations SET country = $2, updated_at = now() WHERE id = $1 RETURNING id, name, kind, disabled, country, created_at")
        .bind(id)
        .bind(country)
        .fetch_one(conn)
        .await?)
}

pub async fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM organisations").fetch_one(conn).await?)
}
