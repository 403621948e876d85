//! Agreements, their append-only versions, covered assets, acceptances, sales reports and the
//! usage ledger. Licensee scoping is in SQL: `$n::uuid IS NULL OR licensee_id = $n`, and a
//! licensee reads only what was shared with it (`shared_version > 0`, versions up to it).

use chrono::{DateTime, NaiveDate, Utc};
use licentia_domain::{AgreementId, AssetId, OrganisationId, SalesReportId, UserId, agreement::AgreementKind, agreement::Status};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AgreementRow {
    pub id: AgreementId,
    pub licensor_id: OrganisationId,
    pub licensee_id: OrganisationId,
    pub parent_id: Option<AgreementId>,
    pub kind: AgreementKind,
    pub title: String,
    pub status: Status,
    pub current_version: i32,
    pub shared_version: i32,
    pub approved_by: Option<UserId>,
    pub approved_version: Option<i32>,
    pub executed_version: Option<i32>,
    pub executed_at: Option<DateTime<Utc>>,
    pub effective_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Joined: the parties' names.
    pub licensor_name: String,
    pub licensee_name: String,
}

/// The licensor's view: the agreement as its current draft has it.
const SELECT: &str = "SELECT a.id, a.licensor_id, a.licensee_id, a.parent_id, a.kind, a.title, a.status, a.current_version, a.shared_version, a.approved_by,
        a.approved_version, a.executed_version, a.executed_at, a.effective_date, a.end_date, a.created_by, a.created_at, a.updated_at,
        lo.name AS licensor_name, le.name AS licensee_name
    FROM agreements a JOIN organisations lo ON lo.id = a.licensor_id JOIN organisations le ON le.id = a.licensee_id";

/// The licensee's view: the agreement as of the version shared with it. Title, parties, dates and
/// the version number come from that version, so a draft saved since (a new title, another asset,
/// other dates) never shows through; the approval fields of a later draft are not the licensee's.
const SELECT_SHARED: &str = "SELECT a.id, a.licensor_id, a.licensee_id, a.parent_id, a.kind, sv.title, a.status, a.shared_version AS current_version,
        a.shared_version, NULL::uuid AS approved_by, CASE WHEN a.approved_version <= a.shared_version THEN a.approved_version END AS approved_version,
        a.executed_version, a.executed_at, (sv.terms->>'effective_date')::date AS effective_date, (sv.terms->>'end_date')::date AS end_date,
        a.created_by, a.created_at, a.updated_at, sv.licensor_name, sv.licensee_name
    FROM agreements a JOIN agreement_versions sv ON sv.agreement_id = a.id AND sv.number = a.shared_version";

fn select(scope: Scope) -> &'static str {
    match scope {
        Scope::All => SELECT,
        Scope::Licensee(_) => SELECT_SHARED,
    }
}

/// What the caller may see: everything, or one licensee's shared agreements.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    All,
    Licensee(OrganisationId),
}

impl Scope {
    fn org(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Licensee(o) => Some(o.as_uuid()),
        }
    }
}

pub struct NewAgreement<'a> {
    pub id: AgreementId,
    pub licensor_id: OrganisationId,
    pub licensee_id: OrganisationId,
    pub parent_id: Option<AgreementId>,
    pub kind: AgreementKind,
    pub title: &'a str,
    pub created_by: UserId,
}

pub async fn insert(conn: &mut PgConnection, a: &NewAgreement<'_>) -> Result<(), DbError> {
    sqlx::query("INSERT INTO agreements (id, licensor_id, licensee_id, parent_id, kind, title, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(a.id)
        .bind(a.licensor_id)
        .bind(a.licensee_id)
        .bind(a.parent_id)
        .bind(a.kind)
        .bind(a.title)
        .bind(a.created_by)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: AgreementId, scope: Scope) -> Result<AgreementRow, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE a.id = $1 AND ($2::uuid IS NULL OR (a.licensee_id = $2 AND a.shared_version > 0))",
        select(scope)
    )))
    .bind(id)
    .bind(scope.org())
    .fetch_one(conn)
    .await?)
}

/// The row locked for a state change (callers hold a transaction).
pub async fn get_for_update(conn: &mut PgConnection, id: AgreementId, scope: Scope) -> Result<AgreementRow, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE a.id = $1 AND ($2::uuid IS NULL OR (a.licensee_id = $2 AND a.shared_version > 0)) FOR UPDATE OF a",
        select(scope)
    )))
    .bind(id)
    .bind(scope.org())
    .fetch_one(conn)
    .await?)
}

pub async fn list(conn: &mut PgConnection, scope: Scope, status: Option<&str>, limit: i64) -> Result<Vec<AgreementRow>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE ($1::uuid IS NULL OR (a.licensee_id = $1 AND a.shared_version > 0)) AND ($2::text IS NULL OR a.status = $2)
         ORDER BY a.created_at DESC, a.id DESC LIMIT $3",
        select(scope)
    )))
    .bind(scope.org())
    .bind(status)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn set_assets(conn: &mut PgConnection, agreement: AgreementId, assets: &[AssetId]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM agreement_assets WHERE agreement_id = $1").bind(agreement).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO agreement_assets (agreement_id, asset_id) SELECT $1, unnest($2::uuid[])").bind(agreement).bind(assets).execute(conn).await?;
    Ok(())
}

pub async fn asset_ids(conn: &mut PgConnection, agreement: AgreementId) -> Result<Vec<AssetId>, DbError> {
    Ok(sqlx::query_scalar("SELECT asset_id FROM agreement_assets WHERE agreement_id = $1 ORDER BY asset_id").bind(agreement).fetch_all(conn).await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VersionRow {
    pub agreement_id: AgreementId,
    pub number: i32,
    pub terms: serde_json::Value,
    pub clauses: serde_json::Value,
    pub text: String,
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, format = "hex")]
    pub text_sha256: Vec<u8>,
    pub author_id: UserId,
    pub author_name: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// What the version says, frozen with it (migration 0010).
    pub title: String,
    pub licensor_name: String,
    pub licensee_name: String,
    pub parent_title: Option<String>,
    pub asset_ids: Vec<AssetId>,
    /// How the text names each asset of `asset_ids`, in the same order.
    pub asset_labels: Vec<String>,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        s.serialize_str(&hex)
    }
}

pub struct NewVersion<'a> {
    pub agreement_id: AgreementId,
    pub number: i32,
    pub terms: &'a serde_json::Value,
    pub clauses: &'a serde_json::Value,
    pub text: &'a str,
    pub text_sha256: &'a [u8],
    pub author_id: UserId,
    pub comment: &'a str,
    pub title: &'a str,
    pub licensor_name: &'a str,
    pub licensee_name: &'a str,
    pub parent_title: Option<&'a str>,
    pub asset_ids: &'a [AssetId],
    pub asset_labels: &'a [String],
}

/// Appends a version and makes it current, copying the scope dates onto the agreement.
pub async fn add_version(conn: &mut PgConnection, v: &NewVersion<'_>, effective: NaiveDate, end: Option<NaiveDate>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO agreement_versions (agreement_id, number, terms, clauses, text, text_sha256, author_id, comment, title, licensor_name, licensee_name,
             parent_title, asset_ids, asset_labels)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(v.agreement_id)
    .bind(v.number)
    .bind(v.terms)
    .bind(v.clauses)
    .bind(v.text)
    .bind(v.text_sha256)
    .bind(v.author_id)
    .bind(v.comment)
    .bind(v.title)
    .bind(v.licensor_name)
    .bind(v.licensee_name)
    .bind(v.parent_title)
    .bind(v.asset_ids)
    .bind(v.asset_labels)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE agreements SET current_version = $2, effective_date = $3, end_date = $4, updated_at = now() WHERE id = $1")
        .bind(v.agreement_id)
        .bind(v.number)
        .bind(effective)
        .bind(end)
        .execute(conn)
        .await?;
    Ok(())
}

/// A version; `max` bounds what a licensee may read (its shared version).
pub async fn version(conn: &mut PgConnection, agreement: AgreementId, number: i32, max: Option<i32>) -> Result<VersionRow, DbError> {
    Ok(sqlx::query_as(
        "SELECT v.agreement_id, v.number, v.terms, v.clauses, v.text, v.text_sha256, v.author_id, coalesce(u.display_name, '') AS author_name, v.comment, v.created_at,
                v.title, v.licensor_name, v.licensee_name, v.parent_title, v.asset_ids, v.asset_labels
         FROM agreement_versions v LEFT JOIN users u ON u.id = v.author_id
         WHERE v.agreement_id = $1 AND v.number = $2 AND ($3::int IS NULL OR v.number <= $3)",
    )
    .bind(agreement)
    .bind(number)
    .bind(max)
    .fetch_one(conn)
    .await?)
}

pub async fn versions(conn: &mut PgConnection, agreement: AgreementId, max: Option<i32>) -> Result<Vec<VersionRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT v.agreement_id, v.number, v.terms, v.clauses, '' AS text, v.text_sha256, v.author_id, coalesce(u.display_name, '') AS author_name, v.comment, v.created_at,
                v.title, v.licensor_name, v.licensee_name, v.parent_title, v.asset_ids, v.asset_labels
         FROM agreement_versions v LEFT JOIN users u ON u.id = v.author_id
         WHERE v.agreement_id = $1 AND ($2::int IS NULL OR v.number <= $2) ORDER BY v.number",
    )
    .bind(agreement)
    .bind(max)
    .fetch_all(conn)
    .await?)
}

/// Renames a draft (its versions keep the titles they were saved with).
pub async fn set_title(conn: &mut PgConnection, id: AgreementId, title: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE agreements SET title = $2, updated_at = now() WHERE id = $1").bind(id).bind(title).execute(conn).await?;
    Ok(())
}

/// Moves the workflow. `shared` sets the version the licensee may read.
pub async fn set_status(conn: &mut PgConnection, id: AgreementId, status: Status, shared: Option<i32>) -> Result<(), DbError> {
    sqlx::query("UPDATE agreements SET status = $2, shared_version = coalesce($3, shared_version), updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(shared)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_approved(conn: &mut PgConnection, id: AgreementId, by: Option<UserId>, version: Option<i32>) -> Result<(), DbError> {
    sqlx::query("UPDATE agreements SET approved_by = $2, approved_version = $3, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(by)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_executed(conn: &mut PgConnection, id: AgreementId, version: i32) -> Result<(), DbError> {
    sqlx::query("UPDATE agreements SET status = 'executed', executed_version = $2, executed_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// Other binding agreements (approved, executed, active) that cover any of `assets`, with the
/// terms of the version that binds them: candidates for an exclusivity conflict.
pub async fn binding_on_assets(
    conn: &mut PgConnection,
    except: AgreementId,
    assets: &[AssetId],
) -> Result<Vec<(AgreementId, String, String, serde_json::Value)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.title, a.kind, v.terms FROM agreements a
         JOIN agreement_versions v ON v.agreement_id = a.id AND v.number = coalesce(a.executed_version, a.approved_version, a.current_version)
         WHERE a.id <> $1 AND a.status IN ('approved', 'executed', 'active')
           AND v.asset_ids && $2::uuid[]",
    )
    .bind(except)
    .bind(assets)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Acceptance {
    pub party: String,
    pub version: i32,
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, format = "hex")]
    pub text_sha256: Vec<u8>,
    pub user_id: UserId,
    pub user_name: String,
    pub accepted_at: DateTime<Utc>,
}

pub async fn accept(conn: &mut PgConnection, agreement: AgreementId, party: &str, version: i32, sha: &[u8], user: UserId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO agreement_acceptances (agreement_id, party, version, text_sha256, user_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (agreement_id, party) DO UPDATE SET version = $3, text_sha256 = $4, user_id = $5, accepted_at = now()",
    )
    .bind(agreement)
    .bind(party)
    .bind(version)
    .bind(sha)
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear_acceptances(conn: &mut PgConnection, agreement: AgreementId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM agreement_acceptances WHERE agreement_id = $1").bind(agreement).execute(conn).await?;
    Ok(())
}

pub async fn acceptances(conn: &mut PgConnection, agreement: AgreementId) -> Result<Vec<Acceptance>, DbError> {
    Ok(sqlx::query_as(
        "SELECT x.party, x.version, x.text_sha256, x.user_id, coalesce(u.display_name, '') AS user_name, x.accepted_at
         FROM agreement_acceptances x LEFT JOIN users u ON u.id = x.user_id WHERE x.agreement_id = $1 ORDER BY x.party",
    )
    .bind(agreement)
    .fetch_all(conn)
    .await?)
}

/// Moves ownership of an assignment's assets to the assignee (its name in `owners`).
pub async fn assign_assets(conn: &mut PgConnection, agreement: AgreementId, assignee: &str) -> Result<u64, DbError> {
    Ok(sqlx::query(
        "UPDATE ip_assets SET owners = ARRAY[$2]::text[], updated_at = now() WHERE id IN (SELECT asset_id FROM agreement_assets WHERE agreement_id = $1)",
    )
    .bind(agreement)
    .bind(assignee)
    .execute(conn)
    .await?
    .rows_affected())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SalesRow {
    pub id: SalesReportId,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub country: String,
    pub net_sales: i64,
    pub sublicence_revenue: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn add_sales(conn: &mut PgConnection, agreement: AgreementId, rows: &[(NaiveDate, NaiveDate, String, i64, i64)], by: UserId) -> Result<(), DbError> {
    for (start, end, country, net, sub) in rows {
        sqlx::query(
            "INSERT INTO sales_reports (id, agreement_id, period_start, period_end, country, net_sales, sublicence_revenue, reported_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(SalesReportId::new())
        .bind(agreement)
        .bind(start)
        .bind(end)
        .bind(country)
        .bind(net)
        .bind(sub)
        .bind(by)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn sales(conn: &mut PgConnection, agreement: AgreementId) -> Result<Vec<SalesRow>, DbError> {
    Ok(sqlx::query_as("SELECT id, period_start, period_end, country, net_sales, sublicence_revenue, created_at FROM sales_reports WHERE agreement_id = $1 ORDER BY period_end, country")
        .bind(agreement)
        .fetch_all(conn)
        .await?)
}

/// Settled usage per day (UTC): runs, compute units, prediction rows, and the runs among them
/// that fine-tuned a published model version.
pub async fn settled_usage(conn: &mut PgConnection, agreement: AgreementId) -> Result<Vec<(NaiveDate, i64, i64, i64, i64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT (u.created_at AT TIME ZONE 'UTC')::date, sum(u.runs)::bigint, sum(u.compute_units)::bigint, sum(u.prediction_rows)::bigint,
                coalesce(sum(u.runs) FILTER (WHERE r.base_version IS NOT NULL), 0)::bigint
         FROM usage_ledger u LEFT JOIN runs r ON r.id = u.run_id
         WHERE u.agreement_id = $1 AND u.entry = 'settle' GROUP BY 1 ORDER BY 1",
    )
    .bind(agreement)
    .fetch_all(conn)
    .await?)
}
