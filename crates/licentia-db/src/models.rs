//! Model versions: a model asset's published weights (an artifact of the licensor), numbered per
//! asset, and the lineage of the fine-tuning runs that started from them.

use chrono::{DateTime, Utc};
use licentia_domain::{ArtifactId, AssetId, ModelVersionId, OrganisationId, RunStatus, UserId};
use serde::Serialize;
use sqlx::PgConnection;

use crate::DbError;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ModelVersion {
    pub id: ModelVersionId,
    pub asset_id: AssetId,
    pub organisation_id: OrganisationId,
    pub number: i32,
    pub template: String,
    pub hyper: serde_json::Value,
    pub preprocessing: serde_json::Value,
    pub metrics: serde_json::Value,
    pub weights_artifact: ArtifactId,
    pub weights_sha256: Vec<u8>,
    pub source: String,
    pub dataset_sha256: Option<Vec<u8>>,
    pub notes: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

const VERSION: &str = "SELECT id, asset_id, organisation_id, number, template, hyper, preprocessing, metrics, weights_artifact, weights_sha256, source,
    dataset_sha256, notes, created_by, created_at FROM model_versions";

/// The next number for `asset`, with the asset row locked so two publications cannot take the
/// same one.
pub async fn next_number(conn: &mut PgConnection, asset: AssetId) -> Result<i32, DbError> {
    sqlx::query("SELECT id FROM ip_assets WHERE id = $1 FOR UPDATE").bind(asset).fetch_one(&mut *conn).await?;
    Ok(sqlx::query_scalar("SELECT coalesce(max(number), 0) + 1 FROM model_versions WHERE asset_id = $1").bind(asset).fetch_one(conn).await?)
}

pub async fn insert(conn: &mut PgConnection, v: &ModelVersion) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO model_versions (id, asset_id, organisation_id, number, template, hyper, preprocessing, metrics, weights_artifact, weights_sha256,
                                     source, dataset_sha256, notes, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(v.id)
    .bind(v.asset_id)
    .bind(v.organisation_id)
    .bind(v.number)
    .bind(&v.template)
    .bind(&v.hyper)
    .bind(&v.preprocessing)
    .bind(&v.metrics)
    .bind(v.weights_artifact)
    .bind(&v.weights_sha256)
    .bind(&v.source)
    .bind(&v.dataset_sha256)
    .bind(&v.notes)
    .bind(v.created_by)
    .bind(v.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One version; `scope` limits it to the organisation that published it.
pub async fn get(conn: &mut PgConnection, id: ModelVersionId, scope: Option<OrganisationId>) -> Result<ModelVersion, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{VERSION} WHERE id = $1 AND ($2::uuid IS NULL OR organisation_id = $2)")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

/// The versions of an asset, newest first.
pub async fn of_asset(conn: &mut PgConnection, asset: AssetId) -> Result<Vec<ModelVersion>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{VERSION} WHERE asset_id = $1 ORDER BY number DESC"))).bind(asset).fetch_all(conn).await?)
}

/// The versions of several assets (an agreement's), by asset and number.
pub async fn of_assets(conn: &mut PgConnection, assets: &[AssetId]) -> Result<Vec<ModelVersion>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{VERSION} WHERE asset_id = ANY($1) ORDER BY asset_id, number"))).bind(assets).fetch_all(conn).await?)
}

/// Versions by id (the ones a licence grants), in number order.
pub async fn by_ids(conn: &mut PgConnection, ids: &[ModelVersionId]) -> Result<Vec<ModelVersion>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{VERSION} WHERE id = ANY($1) ORDER BY asset_id, number"))).bind(ids).fetch_all(conn).await?)
}

/// A fine-tuning run of one of an asset's versions, as the licensor's lineage sees it: whose,
/// how it ended and its last epoch's metrics; never the data, the weights or the settings.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Descendant {
    pub version_id: ModelVersionId,
    pub organisation_id: OrganisationId,
    pub organisation_name: String,
    pub status: RunStatus,
    pub last_metrics: Option<serde_json::Value>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub async fn descendants(conn: &mut PgConnection, asset: AssetId) -> Result<Vec<Descendant>, DbError> {
    Ok(sqlx::query_as(
        "SELECT r.base_version AS version_id, r.organisation_id, o.name AS organisation_name, r.status,
                CASE WHEN jsonb_array_length(r.metrics) > 0 THEN r.metrics -> -1 END AS last_metrics, r.finished_at
         FROM runs r JOIN model_versions v ON v.id = r.base_version JOIN organisations o ON o.id = r.organisation_id
         WHERE v.asset_id = $1 ORDER BY v.number DESC, o.name, r.created_at",
    )
    .bind(asset)
    .fetch_all(conn)
    .await?)
}
