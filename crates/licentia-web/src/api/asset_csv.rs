//! CSV import (dry run with a per-line report; all-or-nothing apply) and CSV/JSON export of the
//! registry. Export writes the import's columns, so an export imports back unchanged.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use licentia_audit::Outcome;
use licentia_domain::ip::asset::{AssetInput, ValidAsset};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::assets::{AssetQuery, row_input, scope};
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

/// The columns, in export order. List columns hold `;`-separated values.
pub const COLUMNS: &[&str] = &[
    "kind",
    "status",
    "title",
    "jurisdiction",
    "application_number",
    "publication_number",
    "grant_number",
    "priority_date",
    "filing_date",
    "publication_date",
    "grant_date",
    "lapsed_on",
    "owners",
    "tags",
    "abstract",
    "inventors",
    "applicants",
    "claims_count",
    "term_adjustment_days",
    "pct",
    "validations",
    "mark_text",
    "mark_type",
    "nice_classes",
    "goods_services",
    "work_type",
    "authors",
    "version",
    "creation_date",
    "description",
    "custodian",
    "template",
    "internal_notes",
];
/// Columns that hold lists, and whole numbers (the browser form reads them the same way).
pub const LISTS: &[&str] = &["owners", "tags", "inventors", "applicants", "authors", "validations"];
pub const NUMBERS: &[&str] = &["claims_count", "term_adjustment_days"];

/// Largest CSV accepted (10,000 rows of a wide registry fit in a few MiB).
const MAX_CSV: usize = 32 * 1024 * 1024;
const MAX_ROWS: usize = 100_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// What an import found: every bad row with its line and field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub valid: usize,
    pub errors: Vec<RowError>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Imported {
    /// How many assets were created.
    pub imported: usize,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    #[serde(default)]
    pub dry_run: bool,
}

fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation { field: field.into(), message: message.into() }
}

/// One CSV record as the JSON the API takes.
fn record_json(headers: &[String], record: &csv::StringRecord) -> Result<Value, (String, String)> {
    let mut o = serde_json::Map::new();
    for (h, v) in headers.iter().zip(record.iter()) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let value = if LISTS.contains(&h.as_str()) {
            json!(v.split(';').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>())
        } else if h == "nice_classes" {
            let classes: Result<Vec<i64>, _> = v.split(';').map(|c| c.trim().parse::<i64>()).collect();
            json!(classes.map_err(|_| (h.clone(), "must be numbers separated by ;".to_owned()))?)
        } else if NUMBERS.contains(&h.as_str()) {
            json!(v.parse::<i64>().map_err(|_| (h.clone(), "must be a whole number".to_owned()))?)
        } else if h == "pct" {
            json!(matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1"))
        } else {
            json!(v)
        };
        o.insert(h.clone(), value);
    }
    Ok(Value::Object(o))
}

/// Parses and validates every row; returns the valid assets or every problem with its line.
pub fn validate(csv_bytes: &[u8]) -> AppResult<(Vec<ValidAsset>, Vec<RowError>)> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(csv_bytes);
    let headers: Vec<String> =
        reader.headers().map_err(|e| bad("csv", format!("line 1: {e}")))?.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_owned()).collect();
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(bad("csv", format!("line 1: unknown column {}", h.chars().take(60).collect::<String>())));
        }
    }
    if !headers.iter().any(|h| h == "kind") || !headers.iter().any(|h| h == "title") {
        return Err(bad("csv", "line 1: the columns kind and title are required"));
    }
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (n, result) in reader.records().enumerate() {
        if n >= MAX_ROWS {
            return Err(bad("csv", format!("more than {MAX_ROWS} rows")));
        }
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError { line, field: "csv".into(), message: e.to_string() });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let parsed = record_json(&headers, &record)
            .map_err(|(field, message)| RowError { line, field, message })
            .and_then(|v| serde_json::from_value::<AssetInput>(v).map_err(|e| RowError { line, field: "row".into(), message: e.to_string() }))
            .and_then(|input| ValidAsset::parse(&input).map_err(|e| RowError { line, field: e.field.into(), message: e.message }));
        match parsed {
            Ok(a) => valid.push(a),
            Err(e) => errors.push(e),
        }
    }
    Ok((valid, errors))
}

async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> AppResult<web::Bytes> {
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
        && len > MAX_CSV
    {
        return Err(AppError::PayloadTooLarge { limit: MAX_CSV });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest { message: e.to_string() })?;
        if body.len() + chunk.len() > MAX_CSV {
            return Err(AppError::PayloadTooLarge { limit: MAX_CSV });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `POST /api/v1/assets/import[?dry_run=true]` with a `text/csv` body. A dry run reports; a real
/// run writes every row in one transaction, or none when any row is bad (422 with the report).
pub async fn import(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    req: HttpRequest,
    q: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Reply<HttpResponse> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !ct.starts_with("text/csv") {
        return Err(AppError::UnsupportedMediaType { expected: "text/csv" }.into());
    }
    let body = read_body(&req, payload).await?;
    let (valid, errors) = tokio::task::spawn_blocking(move || validate(&body)).await.map_err(AppError::internal)??;
    let report = ImportReport { rows: valid.len() + errors.len(), valid: valid.len(), errors, dry_run: q.dry_run };
    if q.dry_run {
        return Ok(HttpResponse::Ok().json(report));
    }
    if !report.errors.is_empty() {
        return Ok(HttpResponse::UnprocessableEntity().json(json!({
            "error": { "code": "validation_failed", "field": "csv", "message": format!("{} bad row(s); nothing was imported", report.errors.len()) },
            "report": report,
        })));
    }
    let imported = licentia_app::assets::import(&state, &user.actor_in(&ctx), &valid).await?;
    Ok(HttpResponse::Created().json(Imported { imported }))
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    pub format: Option<String>,
    #[serde(flatten)]
    pub filters: AssetQuery,
}

/// How one entry of a list column reads: text as it is, a European patent's validation as
/// `"FR lapsed 2027-03-01"` (what the import and the form read back).
pub fn item_text(i: &Value) -> String {
    if let Some(s) = i.as_str() {
        return s.to_owned();
    }
    match serde_json::from_value::<licentia_domain::ip::european::Validation>(i.clone()) {
        Ok(v) => v.label(),
        Err(_) => i.to_string(),
    }
}

fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(items)) => items.iter().map(item_text).collect::<Vec<_>>().join(";"),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `GET /api/v1/assets/export?format=csv|json` with the list's filters, scoped like the list.
pub async fn export(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<ExportQuery>) -> Reply<HttpResponse> {
    let format = match q.format.as_deref().unwrap_or("csv") {
        f @ ("csv" | "json") => f,
        _ => return Err(bad("format", "must be csv or json").into()),
    };
    let (mut filter, _) = q.filters.filter()?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut rows = Vec::new();
    loop {
        let page = licentia_db::assets::list(&mut conn, &filter, scope(&user), 1000).await?;
        let Some(last) = page.last() else { break };
        filter.after = Some(licentia_db::assets::Cursor::after(filter.sort, last));
        let done = page.len() < 1000;
        rows.extend(page);
        if done {
            break;
        }
    }
    drop(conn);
    state.audit_alone(user.event(&ctx, "asset.exported", Outcome::Success).details(json!({ "format": format, "rows": rows.len() }))).await?;
    let licensee = !licentia_app::policy::sees_internal_notes(&user.actor());
    if format == "json" {
        let items: Vec<Value> = rows.iter().map(|r| crate::api::assets::view(r, &user)).collect();
        return Ok(HttpResponse::Ok().insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"licentia-assets.json\"")).json(items));
    }
    let mut w = crate::csv_export::SafeCsv::new();
    w.record(COLUMNS)?;
    for r in &rows {
        let v = row_input(r);
        w.record(COLUMNS.iter().map(|c| if *c == "internal_notes" && licensee { String::new() } else { csv_cell(v.get(*c)) }))?;
    }
    let body = w.finish()?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"licentia-assets.csv\""))
        .body(body))
}
