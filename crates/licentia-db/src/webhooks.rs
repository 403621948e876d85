//! Webhook endpoints, their delivery outbox and the log of attempts.

use chrono::{DateTime, Utc};
use licentia_domain::{OrganisationId, UserId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: Uuid,
    pub organisation_id: OrganisationId,
    /// Joined: the organisation's name.
    pub organisation_name: String,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    #[serde(skip)]
    pub secret_version: i32,
    #[serde(skip)]
    pub secret_sealed: Vec<u8>,
    pub allow_private: bool,
    pub created_at: DateTime<Utc>,
}

const SELECT_ENDPOINT: &str = "SELECT e.id, e.organisation_id, o.name AS organisation_name, e.url, e.description, e.events, e.secret_version, e.secret_sealed,
    e.allow_private, e.created_at FROM webhook_endpoints e JOIN organisations o ON o.id = e.organisation_id WHERE e.deleted_at IS NULL";

pub struct NewEndpoint<'a> {
    pub id: Uuid,
    pub organisation_id: OrganisationId,
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a [String],
    pub secret_version: i32,
    pub secret_sealed: &'a [u8],
    pub allow_private: bool,
    pub created_by: UserId,
}

pub async fn insert(conn: &mut PgConnection, e: NewEndpoint<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, organisation_id, url, description, events, secret_version, secret_sealed, allow_private, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.id)
    .bind(e.organisation_id)
    .bind(e.url)
    .bind(e.description)
    .bind(e.events)
    .bind(e.secret_version)
    .bind(e.secret_sealed)
    .bind(e.allow_private)
    .bind(e.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Live endpoints, of one organisation (`Some`) or all.
pub async fn list(conn: &mut PgConnection, scope: Option<OrganisationId>) -> Result<Vec<Endpoint>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ENDPOINT} AND ($1::uuid IS NULL OR e.organisation_id = $1) ORDER BY o.name, e.created_at")))
        .bind(scope)
        .fetch_all(conn)
        .await?)
}

/// One live endpoint as `scope` may see it.
pub async fn get(conn: &mut PgConnection, id: Uuid, scope: Option<OrganisationId>) -> Result<Endpoint, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ENDPOINT} AND e.id = $1 AND ($2::uuid IS NULL OR e.organisation_id = $2)")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

/// Ends an endpoint (its log stays); pending deliveries stop.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<(), DbError> {
    sqlx::query("UPDATE webhook_endpoints SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL").bind(id).execute(&mut *conn).await?;
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = NULL WHERE endpoint_id = $1 AND next_attempt_at IS NOT NULL").bind(id).execute(conn).await?;
    Ok(())
}

/// The live endpoints of these organisations (the parties of an event).
pub async fn of_organisations(conn: &mut PgConnection, orgs: &[OrganisationId]) -> Result<Vec<Endpoint>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ENDPOINT} AND e.organisation_id = ANY($1) ORDER BY e.id"))).bind(orgs).fetch_all(conn).await?)
}

/// Queues a delivery; with a `dedupe_key`, at most once per endpoint and key (`None` when it was
/// queued before).
pub async fn queue(
    conn: &mut PgConnection,
    endpoint: Uuid,
    event_type: &str,
    payload: &serde_json::Value,
    dedupe_key: Option<&str>,
) -> Result<Option<Uuid>, DbError> {
    let id = Uuid::now_v7();
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, next_attempt_at, dedupe_key) VALUES ($1, $2, $3, $4, now(), $5)
         ON CONFLICT (endpoint_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
    )
    .bind(id)
    .bind(endpoint)
    .bind(event_type)
    .bind(payload)
    .bind(dedupe_key)
    .execute(conn)
    .await?;
    Ok((done.rows_affected() == 1).then_some(id))
}

/// Every live endpoint subscribed to one of `events` (or to all), for the scheduled events.
pub async fn subscribed_to(conn: &mut PgConnection, events: &[&str]) -> Result<Vec<Endpoint>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ENDPOINT} AND (e.events && $1::text[] OR '*' = ANY(e.events)) ORDER BY e.organisation_id, e.id")))
        .bind(events)
        .fetch_all(conn)
        .await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// How many attempts were made (the log's `attempts` lists them).
    #[serde(rename = "attempt_count")]
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const SELECT_DELIVERY: &str = "SELECT id, endpoint_id, event_type, payload, created_at, attempts, next_attempt_at, delivered_at FROM webhook_deliveries";

/// Due deliveries of live endpoints, locked for this transaction (`SKIP LOCKED`: two workers never
/// send one delivery at once).
pub async fn claim_due(conn: &mut PgConnection, limit: i64) -> Result<Vec<Delivery>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_DELIVERY} WHERE next_attempt_at <= now()
           AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE deleted_at IS NULL)
         ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub struct Attempt<'a> {
    pub status: Option<i32>,
    pub response: &'a str,
    pub error: Option<&'a str>,
    pub duration_ms: i32,
}

/// Records an attempt; `retry_in`: when to try again (`None`: delivered, or given up).
pub async fn record(conn: &mut PgConnection, delivery: Uuid, a: Attempt<'_>, delivered: bool, retry_in: Option<std::time::Duration>) -> Result<(), DbError> {
    let n: i32 = sqlx::query_scalar("UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts")
        .bind(delivery)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO webhook_attempts (delivery_id, attempt, status, response, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(delivery)
        .bind(n)
        .bind(a.status)
        .bind(a.response)
        .bind(a.error)
        .bind(a.duration_ms)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET delivered_at = CASE WHEN $2 THEN now() ELSE delivered_at END,
            next_attempt_at = CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $3) END WHERE id = $1",
    )
    .bind(delivery)
    .bind(delivered)
    .bind(retry_in.map(|d| d.as_secs_f64()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Sends a delivery again now (its id, and so its `webhook-id`, stays the same).
pub async fn replay(conn: &mut PgConnection, delivery: Uuid) -> Result<(), DbError> {
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1").bind(delivery).execute(conn).await?;
    Ok(())
}

pub async fn delivery(conn: &mut PgConnection, id: Uuid) -> Result<Delivery, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_DELIVERY} WHERE id = $1"))).bind(id).fetch_one(conn).await?)
}

/// An endpoint's latest deliveries, newest first.
pub async fn deliveries(conn: &mut PgConnection, endpoint: Uuid, limit: i64) -> Result<Vec<Delivery>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_DELIVERY} WHERE endpoint_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2")))
        .bind(endpoint)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status: Option<i32>,
    pub response: String,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// Every attempt of these deliveries, in order.
pub async fn attempts(conn: &mut PgConnection, deliveries: &[Uuid]) -> Result<Vec<AttemptRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT delivery_id, attempt, at, status, response, error, duration_ms FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
    )
    .bind(deliveries)
    .fetch_all(conn)
    .await?)
}

/// Sealed secrets per master key version (key rotation counts them with the data keys).
pub async fn count_by_key_version(conn: &mut PgConnection) -> Result<Vec<(i32, i64)>, DbError> {
    Ok(sqlx::query_as("SELECT secret_version, count(*) FROM webhook_endpoints GROUP BY secret_version").fetch_all(conn).await?)
}

/// Endpoints whose secret is sealed by an older version than `current`: (id, version, sealed).
pub async fn needing_reseal(conn: &mut PgConnection, current: i32, limit: i64) -> Result<Vec<(Uuid, i32, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as("SELECT id, secret_version, secret_sealed FROM webhook_endpoints WHERE secret_version < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED")
        .bind(current)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

pub async fn reseal(conn: &mut PgConnection, id: Uuid, version: i32, sealed: &[u8]) -> Result<(), DbError> {
    sqlx::query("UPDATE webhook_endpoints SET secret_version = $2, secret_sealed = $3 WHERE id = $1").bind(id).bind(version).bind(sealed).execute(conn).await?;
    Ok(())
}
