//! SQL of the audit log. The chain logic (canonical bytes, hashing, verification) lives in
//! `licentia-audit`; this module only stores and fetches.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

/// One stored audit row, exactly as in the table.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub organisation_id: Option<Uuid>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    #[serde(serialize_with = "hex_bytes")]
    #[schema(value_type = String, format = "hex")]
    pub prev_hash: Vec<u8>,
    #[serde(serialize_with = "hex_bytes")]
    #[schema(value_type = String, format = "hex")]
    pub hash: Vec<u8>,
    #[serde(skip)]
    pub canonical: Vec<u8>,
    /// HMAC-SHA256 over the hash link under audit MAC key `mac_key` (absent on entries written
    /// before the chain was keyed).
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, format = "hex")]
    pub mac: Option<Vec<u8>>,
    pub mac_key: Option<i32>,
}

fn hex_opt<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => hex_bytes(b, s),
        None => s.serialize_none(),
    }
}

fn hex_bytes<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(b.len() * 2);
    for byte in b {
        out.push_str(&format!("{byte:02x}"));
    }
    s.serialize_str(&out)
}

const COLUMNS: &str = "seq, occurred_at, actor_id, actor_label, organisation_id, action, target_kind, target_id, outcome, ip, user_agent, request_id, details, prev_hash, hash, canonical, mac, mac_key";

/// The advisory lock that serialises chaining (an arbitrary constant: "licentia audit" in ASCII).
const APPEND_LOCK: i64 = 0x6c69_6365_6175_6469;

/// Takes the chain's lock until the caller's transaction ends, waiting for it.
pub async fn lock(conn: &mut PgConnection) -> Result<(), DbError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(conn).await?;
    Ok(())
}

/// Takes the chain's lock if it is free; `false` when another transaction holds it.
pub async fn try_lock(conn: &mut PgConnection) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(APPEND_LOCK).fetch_one(conn).await?)
}

/// An entry written but not yet chained (see `audit_pending`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingRow {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub organisation_id: Option<Uuid>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

pub async fn insert_pending(conn: &mut PgConnection, r: &PendingRow) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit_pending (occurred_at, actor_id, actor_label, organisation_id, action, target_kind, target_id, outcome, ip, user_agent, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(r.occurred_at)
    .bind(r.actor_id)
    .bind(&r.actor_label)
    .bind(r.organisation_id)
    .bind(&r.action)
    .bind(&r.target_kind)
    .bind(&r.target_id)
    .bind(&r.outcome)
    .bind(&r.ip)
    .bind(&r.user_agent)
    .bind(&r.request_id)
    .bind(&r.details)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes and returns up to `limit` committed pending entries, oldest first. Call with the lock
/// held; a rollback puts them back.
pub async fn take_pending(conn: &mut PgConnection, limit: i64) -> Result<Vec<PendingRow>, DbError> {
    let mut rows: Vec<PendingRow> = sqlx::query_as(
        "DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending ORDER BY id LIMIT $1)
         RETURNING id, occurred_at, actor_id, actor_label, organisation_id, action, target_kind, target_id, outcome, ip, user_agent, request_id, details",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Inserts the row.
pub async fn insert(conn: &mut PgConnection, row: &AuditRow) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit_log (seq, occurred_at, actor_id, actor_label, organisation_id, action, target_kind, target_id,
                                outcome, ip, user_agent, request_id, details, prev_hash, hash, canonical, mac, mac_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(row.seq)
    .bind(row.occurred_at)
    .bind(row.actor_id)
    .bind(&row.actor_label)
    .bind(row.organisation_id)
    .bind(&row.action)
    .bind(&row.target_kind)
    .bind(&row.target_id)
    .bind(&row.outcome)
    .bind(&row.ip)
    .bind(&row.user_agent)
    .bind(&row.request_id)
    .bind(&row.details)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .bind(&row.canonical)
    .bind(&row.mac)
    .bind(row.mac_key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts several rows in one statement (a seal's batch).
pub async fn insert_many(conn: &mut PgConnection, rows: &[AuditRow]) -> Result<(), DbError> {
    if let [row] = rows {
        return insert(conn, row).await;
    }
    sqlx::query(
        "INSERT INTO audit_log (seq, occurred_at, actor_id, actor_label, organisation_id, action, target_kind, target_id,
                                outcome, ip, user_agent, request_id, details, prev_hash, hash, canonical, mac, mac_key)
         SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[],
                              $9::text[], $10::text[], $11::text[], $12::text[], $13::jsonb[], $14::bytea[], $15::bytea[], $16::bytea[], $17::bytea[], $18::int[])",
    )
    .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.actor_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.actor_label.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.organisation_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.action.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.target_kind.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.target_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.ip.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.user_agent.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.request_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.details.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.prev_hash.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.hash.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.canonical.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.mac.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.mac_key).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest row's (sequence number, hash): the chain's end.
pub async fn last_entry(conn: &mut PgConnection) -> Result<Option<(i64, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(conn).await?)
}

/// Rows with `seq > after`, in order, at most `limit` (used by verification, page by page).
pub async fn page_after(conn: &mut PgConnection, after: i64, limit: i64) -> Result<Vec<AuditRow>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")))
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

pub async fn get(conn: &mut PgConnection, seq: i64) -> Result<AuditRow, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM audit_log WHERE seq = $1"))).bind(seq).fetch_one(conn).await?)
}

/// Search filters; every one optional. `before` is the keyset cursor (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    /// The actor's label as recorded (their e-mail address at the time).
    pub actor_label: Option<String>,
    pub organisation_id: Option<Uuid>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub before: Option<i64>,
    /// The other way: entries with a larger sequence number (a "newer" page), still listed
    /// newest first.
    pub after: Option<i64>,
}

const FILTER: &str = "($1::uuid IS NULL OR actor_id = $1)
           AND ($2::uuid IS NULL OR organisation_id = $2)
           AND ($3::text IS NULL OR action LIKE replace(replace(replace($3, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
           AND ($4::text IS NULL OR target_id = $4 OR target_kind = $4)
           AND ($5::text IS NULL OR outcome = $5)
           AND ($6::timestamptz IS NULL OR occurred_at >= $6)
           AND ($7::timestamptz IS NULL OR occurred_at < $7)
           AND ($8::text IS NULL OR actor_label = $8)";

/// How many entries the filter matches, cursors aside (the pages' total).
/// Binds the eight parameters of `FILTER` ($1–$8), for every query that filters the log.
macro_rules! bind_filter {
    ($query:expr, $f:expr) => {
        $query.bind($f.actor_id).bind($f.organisation_id).bind(&$f.action).bind(&$f.target).bind(&$f.outcome).bind($f.from).bind($f.to).bind(&$f.actor_label)
    };
}

/// How many entries the filter matches, counting no further than `cap` (a count over a log of
/// millions would scan it on every page; past the cap, "at least" is what a reader needs).
pub async fn count(conn: &mut PgConnection, f: &AuditFilter, cap: i64) -> Result<i64, DbError> {
    let query = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE {FILTER} LIMIT $9) capped")));
    Ok(bind_filter!(query, f).bind(cap).fetch_one(conn).await?)
}

/// Newest first, keyset-paginated on `seq`. `action` matches a prefix (`auth.` finds every
/// authentication event); `target` matches the target id exactly or the kind.
pub async fn search(conn: &mut PgConnection, f: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>, DbError> {
    // A newer page is the `limit` entries just above the cursor: read upwards, then turned round.
    let order = if f.after.is_some() { "ASC" } else { "DESC" };
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log
         WHERE {FILTER}
           AND ($9::bigint IS NULL OR seq < $9)
           AND ($10::bigint IS NULL OR seq > $10)
         ORDER BY seq {order} LIMIT $11"
    )));
    let mut rows: Vec<AuditRow> = bind_filter!(query, f).bind(f.before).bind(f.after).bind(limit).fetch_all(conn).await?;
    if f.after.is_some() {
        rows.reverse();
    }
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub key_id: String,
    pub signature: Vec<u8>,
    pub signed_at: DateTime<Utc>,
}

/// Stores a checkpoint; a second node checkpointing the same head is not an error.
pub async fn insert_checkpoint(conn: &mut PgConnection, c: &CheckpointRow) -> Result<bool, DbError> {
    let done = sqlx::query("INSERT INTO audit_checkpoints (seq, hash, key_id, signature, signed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING")
        .bind(c.seq)
        .bind(&c.hash)
        .bind(&c.key_id)
        .bind(&c.signature)
        .bind(c.signed_at)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn checkpoints(conn: &mut PgConnection) -> Result<Vec<CheckpointRow>, DbError> {
    Ok(sqlx::query_as("SELECT seq, hash, key_id, signature, signed_at FROM audit_checkpoints ORDER BY seq").fetch_all(conn).await?)
}

/// The checkpoint with the highest sequence number.
pub async fn latest_checkpoint(conn: &mut PgConnection) -> Result<Option<CheckpointRow>, DbError> {
    Ok(sqlx::query_as("SELECT seq, hash, key_id, signature, signed_at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1").fetch_optional(conn).await?)
}

pub async fn latest_checkpoint_seq(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM audit_checkpoints").fetch_one(conn).await?)
}

/// Every entry about one object (its id as target), oldest first, at most `limit`.
pub async fn for_target(conn: &mut PgConnection, target_id: &str, limit: i64) -> Result<Vec<AuditRow>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM audit_log WHERE target_id = $1 ORDER BY seq LIMIT $2")))
        .bind(target_id)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// The chain's links (sequence number, previous hash, hash) from `from` to `to`, inclusive.
pub async fn links(conn: &mut PgConnection, from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as("SELECT seq, prev_hash, hash FROM audit_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq").bind(from).bind(to).fetch_all(conn).await?)
}

/// The first checkpoint at or past `seq`.
pub async fn checkpoint_covering(conn: &mut PgConnection, seq: i64) -> Result<Option<CheckpointRow>, DbError> {
    Ok(sqlx::query_as("SELECT seq, hash, key_id, signature, signed_at FROM audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1")
        .bind(seq)
        .fetch_optional(conn)
        .await?)
}
