//! Artifact metadata and wrapped data keys.

use chrono::{DateTime, Utc};
use licentia_domain::{ArtifactId, OrganisationId, UserId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Artifact {
    pub id: ArtifactId,
    pub organisation_id: OrganisationId,
    pub attached_kind: String,
    pub attached_id: Uuid,
    pub version: i32,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    #[serde(serialize_with = "hex32")]
    #[schema(value_type = String, format = "hex")]
    pub sha256: Vec<u8>,
    #[serde(skip)]
    pub storage_key: String,
    pub key_version: i32,
    #[serde(skip)]
    pub wrapped_key: Vec<u8>,
    #[serde(skip)]
    pub segment_size: i32,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    /// When its data key was destroyed (crypto-shredding): the content is unreadable from then on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shredded_at: Option<DateTime<Utc>>,
}

fn hex32<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

const COLUMNS: &str = "id, organisation_id, attached_kind, attached_id, version, filename, content_type, size_bytes, sha256, storage_key, key_version, wrapped_key, segment_size, created_by, created_at, shredded_at";

pub async fn insert(conn: &mut PgConnection, a: &Artifact) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO artifacts (id, organisation_id, attached_kind, attached_id, version, filename, content_type, size_bytes, sha256,
                                storage_key, key_version, wrapped_key, segment_size, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(a.id)
    .bind(a.organisation_id)
    .bind(&a.attached_kind)
    .bind(a.attached_id)
    .bind(a.version)
    .bind(&a.filename)
    .bind(&a.content_type)
    .bind(a.size_bytes)
    .bind(&a.sha256)
    .bind(&a.storage_key)
    .bind(a.key_version)
    .bind(&a.wrapped_key)
    .bind(a.segment_size)
    .bind(a.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// One artifact as `scope` may see it (`None`: every organisation).
pub async fn get_scoped(conn: &mut PgConnection, id: ArtifactId, scope: Option<OrganisationId>) -> Result<Artifact, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM artifacts WHERE id = $1 AND ($2::uuid IS NULL OR organisation_id = $2)")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

pub async fn list_scoped(conn: &mut PgConnection, scope: Option<OrganisationId>, attached: Option<(&str, Uuid)>, limit: i64) -> Result<Vec<Artifact>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM artifacts WHERE ($1::uuid IS NULL OR organisation_id = $1)
           AND ($2::text IS NULL OR (attached_kind = $2 AND attached_id = $3)) ORDER BY created_at DESC LIMIT $4"
    )))
    .bind(scope)
    .bind(attached.map(|a| a.0))
    .bind(attached.map(|a| a.1))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Data keys still wrapped by a version older than `current`, a batch at a time.
pub async fn needing_rewrap(conn: &mut PgConnection, current: i32, limit: i64) -> Result<Vec<(ArtifactId, i32, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as("SELECT id, key_version, wrapped_key FROM artifacts WHERE key_version < $1 AND shredded_at IS NULL ORDER BY id LIMIT $2")
        .bind(current)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// Replaces a wrapped key only if it is still the one that was read (compare-and-set), so a
/// resumed or concurrent rotation never wraps a key twice.
pub async fn rewrap(conn: &mut PgConnection, id: ArtifactId, from_version: i32, to_version: i32, wrapped: &[u8]) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE artifacts SET key_version = $3, wrapped_key = $4, updated_at = now() WHERE id = $1 AND key_version = $2")
        .bind(id)
        .bind(from_version)
        .bind(to_version)
        .bind(wrapped)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// How many data keys each master key version wraps.
pub async fn count_by_key_version(conn: &mut PgConnection) -> Result<Vec<(i32, i64)>, DbError> {
    Ok(sqlx::query_as("SELECT key_version, count(*) FROM artifacts WHERE shredded_at IS NULL GROUP BY key_version ORDER BY key_version")
        .fetch_all(conn)
        .await?)
}

/// Every storage key a row refers to (garbage collection of blobs compares the store with this).
pub async fn storage_keys(conn: &mut PgConnection) -> Result<std::collections::HashSet<String>, DbError> {
    let keys: Vec<String> = sqlx::query_scalar("SELECT storage_key FROM artifacts").fetch_all(conn).await?;
    Ok(keys.into_iter().collect())
}

/// Crypto-shredding: the wrapped data key is overwritten with nothing, so the ciphertext, wherever
/// a copy of it lies, can no longer be decrypted with any master key. Returns the storage key.
pub async fn shred(conn: &mut PgConnection, id: ArtifactId) -> Result<String, DbError> {
    Ok(sqlx::query_scalar("UPDATE artifacts SET wrapped_key = '\\x'::bytea, shredded_at = now(), updated_at = now() WHERE id = $1 RETURNING storage_key")
        .bind(id)
        .fetch_one(conn)
        .await?)
}
