//! Organisations: the licensor and its licensees.

use chrono::{DateTime, Utc};
use licentia_domain::{OrgKind, OrgName, OrganisationId, Role};
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
    /// The roles whose users must present a second factor after their password.
    pub second_factor_roles: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A new organisation, with the second-factor policy its kind starts with
/// ([`OrgKind::default_second_factor_roles`]).
pub async fn insert(conn: &mut PgConnection, name: &OrgName, kind: OrgKind) -> Result<Organisation, DbError> {
    let roles: Vec<&str> = kind.default_second_factor_roles().iter().map(|r| r.as_str()).collect();
    Ok(sqlx::query_as("INSERT INTO organisations (id, name, kind, second_factor_roles) VALUES ($1, $2, $3, $4) RETURNING id, name, kind, disabled, country, second_factor_roles, created_at")
        .bind(OrganisationId::new())
        .bind(name.as_str())
        .bind(kind.as_str())
        .bind(roles)
        .fetch_one(conn)
        .await?)
}

pub async fn find_by_name(conn: &mut PgConnection, name: &OrgName) -> Result<Option<Organisation>, DbError> {
    Ok(sqlx::query_as("SELECT id, name, kind, disabled, country, second_factor_roles, created_at FROM organisations WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(conn)
        .await?)
}

/// One organisation as `scope` may see it: `None` sees every organisation, `Some(own)` only its own.
/// A foreign id is indistinguishable from a missing one.
pub async fn get_scoped(conn: &mut PgConnection, id: OrganisationId, scope: Option<OrganisationId>) -> Result<Organisation, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, name, kind, disabled, country, second_factor_roles, created_at FROM organisations WHERE id = $1 AND ($2::uuid IS NULL OR id = $2)",
    )
    .bind(id)
    .bind(scope)
    .fetch_one(conn)
    .await?)
}

pub async fn list_scoped(conn: &mut PgConnection, scope: Option<OrganisationId>) -> Result<Vec<Organisation>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, name, kind, disabled, country, second_factor_roles, created_at FROM organisations WHERE ($1::uuid IS NULL OR id = $1) ORDER BY kind DESC, name LIMIT 1000",
    )
    .bind(scope)
    .fetch_all(conn)
    .await?)
}

pub async fn set_disabled(conn: &mut PgConnection, id: OrganisationId, disabled: bool) -> Result<Organisation, DbError> {
    Ok(sqlx::query_as(
        "UPDATE organisations SET disabled = $2, updated_at = now() WHERE id = $1 RETURNING id, name, kind, disabled, country, second_factor_roles, created_at",
    )
    .bind(id)
    .bind(disabled)
    .fetch_one(conn)
    .await?)
}

/// Records where an organisation is established (`None` clears it).
pub async fn set_country(conn: &mut PgConnection, id: OrganisationId, country: Option<&str>) -> Result<Organisation, DbError> {
    Ok(sqlx::query_as(
        "UPDATE organisations SET country = $2, updated_at = now() WHERE id = $1 RETURNING id, name, kind, disabled, country, second_factor_roles, created_at",
    )
    .bind(id)
    .bind(country)
    .fetch_one(conn)
    .await?)
}

pub async fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM organisations").fetch_one(conn).await?)
}

/// Sets which roles of the organisation must present a second factor.
pub async fn set_second_factor_roles(conn: &mut PgConnection, id: OrganisationId, roles: &[Role]) -> Result<Organisation, DbError> {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Ok(sqlx::query_as(
        "UPDATE organisations SET second_factor_roles = $2, updated_at = now() WHERE id = $1 RETURNING id, name, kind, disabled, country, second_factor_roles, created_at",
    )
    .bind(id)
    .bind(roles)
    .fetch_one(conn)
    .await?)
}
