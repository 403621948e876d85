//! The audit log for auditors: search, one entry, export (CSV, JSON Lines), verification. Reading
//! the log is itself audited.

use actix_web::{HttpResponse, web};
use futures_util::stream;
use licentia_audit::Outcome;
use licentia_db::audit::AuditRow;
use serde_json::json;

use crate::audit_query::{AuditQuery, csv_field};
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

/// One page of a search, newest first.
pub struct Page {
    pub rows: Vec<AuditRow>,
    /// The cursor of the next older page, when there is one.
    pub older: Option<i64>,
    /// The cursor of the next newer page, when there is one.
    pub newer: Option<i64>,
    /// Entries the filter matches in all, counted up to [`TOTAL_CAP`].
    pub total: i64,
    /// Whether `total` is exact (false: at least that many).
    pub total_exact: bool,
}

/// Counting stops here: past it the page says "at least", and a search over a long log does not
/// scan all of it for the number.
pub const TOTAL_CAP: i64 = 100_000;

pub async fn search(state: &AppState, ctx: &RequestContext, user: &CurrentUser, q: &AuditQuery) -> AppResult<Page> {
    let filter = q.filter()?;
    let limit = q.limit()?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut rows = licentia_db::audit::search(&mut conn, &filter, limit + 1).await?;
    let total = licentia_db::audit::count(&mut conn, &filter, TOTAL_CAP).await?;
    drop(conn);
    let more = rows.len() as i64 > limit;
    let (older, newer) = if filter.after.is_some() {
        // Read upwards: the extra row is the newest one.
        if more {
            rows.remove(0);
        }
        (rows.last().map(|r| r.seq), if more { rows.first().map(|r| r.seq) } else { None })
    } else {
        rows.truncate(limit as usize);
        (if more { rows.last().map(|r| r.seq) } else { None }, if filter.before.is_some() { rows.first().map(|r| r.seq) } else { None })
    };
    let event = user.event(ctx, "audit.searched", Outcome::Success).details(json!({ "query": q.as_query(), "results": rows.len() }));
    state.audit_alone(event).await?;
    Ok(Page { rows, older, newer, total, total_exact: total < TOTAL_CAP })
}

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<AuditQuery>) -> Reply<HttpResponse> {
    let page = search(&state, &ctx, &user, &q).await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        items: page.rows,
        next_before: page.older,
        newer_after: page.newer,
        total: page.total,
        total_exact: page.total_exact,
    }))
}

/// One page of the audit log, newest first, with keyset cursors.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
    /// Pass as `after` for the newer page.
    pub newer_after: Option<i64>,
    /// Matching entries, counted up to 100,000.
    pub total: i64,
    /// Whether `total` is exact (false when the count stopped at its cap).
    pub total_exact: bool,
}

/// One entry and the canonical bytes its hash covers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub entry: AuditRow,
    /// The canonical JSON that was hashed and MACed.
    pub canonical: String,
}

/// The chain check: `ok` and the full report.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct VerifyReply {
    pub ok: bool,
    #[schema(value_type = Object)]
    pub report: licentia_audit::VerifyReport,
}

pub async fn get(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, seq: web::Path<i64>) -> Reply<HttpResponse> {
    let row = entry(&state, &ctx, &user, *seq).await?;
    let canonical = String::from_utf8_lossy(&row.canonical).into_owned();
    Ok(HttpResponse::Ok().json(AuditEntry { entry: row, canonical }))
}

pub async fn entry(state: &AppState, ctx: &RequestContext, user: &CurrentUser, seq: i64) -> AppResult<AuditRow> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let row = licentia_db::audit::get(&mut conn, seq).await?;
    drop(conn);
    state.audit_alone(user.event(ctx, "audit.entry_read", Outcome::Success).target("audit_entry", seq)).await?;
    Ok(row)
}

const CSV_HEADER: &str = "seq,occurred_at,actor_id,actor_label,organisation_id,action,target_kind,target_id,outcome,ip,user_agent,request_id,details,hash\n";

fn csv_line(r: &AuditRow) -> String {
    let opt = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
    let uuid = |v: &Option<uuid::Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        r.seq,
        r.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        uuid(&r.actor_id),
        opt(&r.actor_label),
        uuid(&r.organisation_id),
        csv_field(&r.action),
        opt(&r.target_kind),
        opt(&r.target_id),
        csv_field(&r.outcome),
        opt(&r.ip),
        opt(&r.user_agent),
        opt(&r.request_id),
        csv_field(&r.details.to_string()),
        hex::encode(&r.hash),
    )
}

/// Streams every entry matching the filters, newest first, 1,000 rows per query: memory stays flat
/// whatever the size of the log.
pub async fn export(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<AuditQuery>) -> Reply<HttpResponse> {
    let filter = q.filter()?;
    let format = match q.format.as_deref().unwrap_or("csv") {
        "csv" => "csv",
        "jsonl" => "jsonl",
        _ => return Err(AppError::Validation { field: "format".into(), message: "must be csv or jsonl".into() }.into()),
    };
    let event = user.event(&ctx, "audit.exported", Outcome::Success).details(json!({ "format": format, "query": q.as_query() }));
    state.audit_alone(event).await?;
    let db = state.db.clone();
    let first = if format == "csv" { Some(web::Bytes::from_static(CSV_HEADER.as_bytes())) } else { None };
    // State: (filter with cursor, finished?, pending header)
    let body = stream::unfold((filter, false, first), move |(mut filter, done, header)| {
        let db = db.clone();
        async move {
            if let Some(h) = header {
                return Some((Ok::<_, actix_web::Error>(h), (filter, done, None)));
            }
            if done {
                return None;
            }
            let rows = match db.pool.acquire().await {
                Ok(mut conn) => licentia_db::audit::search(&mut conn, &filter, 1000).await,
                Err(e) => Err(e.into()),
            };
            let rows = match rows {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "audit export aborted");
                    return Some((Err(actix_web::error::ErrorServiceUnavailable("export aborted")), (filter, true, None)));
                }
            };
            if rows.is_empty() {
                return None;
            }
            let finished = rows.len() < 1000;
            filter.before = rows.last().map(|r| r.seq);
            let mut chunk = String::new();
            for r in &rows {
                if format == "csv" {
                    chunk.push_str(&csv_line(r));
                } else {
                    chunk.push_str(&serde_json::to_string(r).unwrap_or_default());
                    chunk.push('\n');
                }
            }
            Some((Ok(web::Bytes::from(chunk)), (filter, finished, None)))
        }
    });
    let (content_type, ext) = if format == "csv" { ("text/csv; charset=utf-8", "csv") } else { ("application/x-ndjson", "jsonl") };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"licentia-audit.{ext}\"")))
        .streaming(body))
}

pub async fn run_verify(state: &AppState, ctx: &RequestContext, user: &CurrentUser) -> AppResult<licentia_audit::VerifyReport> {
    let report = licentia_app::checkpoints::verify(state).await?;
    let outcome = if report.ok() { Outcome::Success } else { Outcome::Failure };
    let event = user.event(ctx, "audit.verified", outcome).details(json!({
        "entries": report.entries,
        "checkpoints": report.checkpoints_checked,
        "problem": report.problem.as_ref().map(ToString::to_string),
        "witnesses": report.witnesses_checked,
        "alerts": report.alerts,
    }));
    state.audit_alone(event).await?;
    Ok(report)
}

pub async fn verify(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let report = run_verify(&state, &ctx, &user).await?;
    Ok(HttpResponse::Ok().json(VerifyReply { ok: report.ok(), report }))
}
