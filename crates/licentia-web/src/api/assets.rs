//! The IP registry over HTTP: `/api/v1/assets` (list with filters, full-text search and keyset
//! pagination; create; detail with rule-driven deadlines; partial update; delete),
//! `/api/v1/deadlines` (the next N days), and the registry pages.

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use licentia_audit::Outcome;
use licentia_db::assets::{self, AssetFilter, AssetRow, AssetScope, Cursor, Sort};
use licentia_domain::AssetId;
use licentia_domain::ip::deadlines;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

pub use licentia_app::assets::{DeadlineView, ManualInput, MarkInput, deadlines_of, new_row, row_input, rule_deadlines};
pub use licentia_app::docket::UpcomingDeadline;

pub fn scope(user: &CurrentUser) -> AssetScope {
    licentia_app::policy::asset_scope(&user.actor())
}

fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation { field: field.into(), message: message.into() }
}

/// What a caller may see of an asset: licensees never see internal notes.
pub fn view(row: &AssetRow, user: &CurrentUser) -> Value {
    serde_json::to_value(licentia_app::policy::asset(&user.actor(), row)).unwrap_or(Value::Null)
}

/// `POST /api/v1/assets/{id}/deadlines`: marks one of the asset's computed deadlines.
pub async fn mark(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AssetId>,
    body: web::Json<MarkInput>,
) -> Reply<HttpResponse> {
    let row = load(&state, &ctx, &user, *id).await?;
    let after = licentia_app::assets::mark_deadline(&state, &user.actor_in(&ctx), &row, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "deadlines": after })))
}

/// `POST /api/v1/assets/{id}/manual-deadlines`: a deadline no rule knows (an office action, an
/// option date). It is listed, marked and fed to calendars like the others.
pub async fn add_manual(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AssetId>,
    body: web::Json<ManualInput>,
) -> Reply<HttpResponse> {
    let row = load(&state, &ctx, &user, *id).await?;
    let added = insert_manual(&state, &ctx, &user, &row, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(ManualAdded { rule: deadlines::MANUAL, ordinal: added.ordinal, title: added.title, due: added.due, note: added.note }))
}

/// A hand-entered deadline as stored; `rule` and `ordinal` identify it for marking and deleting.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ManualAdded {
    /// Always `manual`.
    pub rule: &'static str,
    pub ordinal: i32,
    pub title: String,
    pub due: NaiveDate,
    pub note: String,
}

/// `DELETE /api/v1/assets/{id}/manual-deadlines/{ordinal}`: 204, or 422 when there is no such
/// hand-entered deadline.
pub async fn delete_manual(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<(AssetId, u32)>) -> Reply<HttpResponse> {
    let (id, ordinal) = path.into_inner();
    let row = load(&state, &ctx, &user, id).await?;
    licentia_app::assets::delete_manual(&state, &user.actor_in(&ctx), &row, ordinal).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The manual-deadline use case for the portfolio page's form.
pub async fn insert_manual(
    state: &AppState,
    ctx: &RequestContext,
    user: &CurrentUser,
    row: &AssetRow,
    m: ManualInput,
) -> AppResult<licentia_db::deadlines::ManualDeadline> {
    licentia_app::assets::add_manual(state, &user.actor_in(ctx), row, m).await
}

pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<Value>) -> Reply<HttpResponse> {
    let row = licentia_app::assets::create(&state, &user.actor_in(&ctx), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view(&row, &user)))
}

pub async fn load_for_page(state: &AppState, ctx: &RequestContext, user: &CurrentUser, id: AssetId) -> AppResult<AssetRow> {
    load(state, ctx, user, id).await
}

async fn load(state: &AppState, ctx: &RequestContext, user: &CurrentUser, id: AssetId) -> AppResult<AssetRow> {
    licentia_app::assets::load(state, &user.actor_in(ctx), id).await
}

/// Partial update: the given fields over the stored ones (the use case validates the whole).
pub async fn update(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AssetId>, body: web::Json<Value>) -> Reply<HttpResponse> {
    let current = load(&state, &ctx, &user, *id).await?;
    let row = licentia_app::assets::update(&state, &user.actor_in(&ctx), &current, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&row, &user)))
}

pub async fn delete(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AssetId>) -> Reply<HttpResponse> {
    let current = load(&state, &ctx, &user, *id).await?;
    licentia_app::assets::delete(&state, &user.actor_in(&ctx), &current).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn get(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AssetId>) -> Reply<HttpResponse> {
    let row = load(&state, &ctx, &user, *id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let deadlines = deadlines_of(&mut conn, &row, &user.actor()).await?;
    drop(conn);
    state.audit_alone(user.event(&ctx, "asset.read", Outcome::Success).target("asset", row.id)).await?;
    let mut v = view(&row, &user);
    v["deadlines"] = json!(deadlines);
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetQuery {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub jurisdiction: Option<String>,
    pub owner: Option<String>,
    pub tag: Option<String>,
    pub q: Option<String>,
    pub expiring_before: Option<String>,
    /// `recent` (default), `title`, `filing` or `expiry`.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A cursor is opaque to clients: base64 of a small JSON object naming its sort, so a cursor from
/// one order is refused in another rather than silently skipping rows.
pub fn encode_cursor(sort: Sort, row: &AssetRow) -> String {
    let v = match Cursor::after(sort, row) {
        Cursor::Recent(at, id) => json!({ "s": sort.as_str(), "t": at.timestamp_micros(), "id": id }),
        Cursor::Title(t, id) => json!({ "s": sort.as_str(), "k": t, "id": id }),
        Cursor::Date(d, id) => json!({ "s": sort.as_str(), "d": d, "id": id }),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_cursor(sort: Sort, c: &str) -> AppResult<Cursor> {
    let not_ours = || bad("cursor", "is not a cursor from this API for this sort order");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c.as_bytes()).map_err(|_| not_ours())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| not_ours())?;
    if v["s"].as_str() != Some(sort.as_str()) {
        return Err(not_ours());
    }
    let id = v["id"].as_str().and_then(AssetId::parse).ok_or_else(not_ours)?;
    Ok(match sort {
        Sort::Recent => Cursor::Recent(v["t"].as_i64().and_then(DateTime::<Utc>::from_timestamp_micros).ok_or_else(not_ours)?, id),
        Sort::Title => Cursor::Title(v["k"].as_str().filter(|t| !t.chars().any(char::is_control)).ok_or_else(not_ours)?.to_owned(), id),
        Sort::Filing | Sort::Expiry => match &v["d"] {
            Value::Null => Cursor::Date(None, id),
            Value::String(d) => Cursor::Date(Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| not_ours())?), id),
            _ => return Err(not_ours()),
        },
    })
}

impl AssetQuery {
    pub fn filter(&self) -> AppResult<(AssetFilter, i64)> {
        // PostgreSQL text cannot hold NUL: refuse control characters here rather than let a
        // `%00` in a query string reach the database as a 500.
        for (field, v) in [
            ("kind", &self.kind),
            ("status", &self.status),
            ("jurisdiction", &self.jurisdiction),
            ("owner", &self.owner),
            ("tag", &self.tag),
            ("q", &self.q),
            ("sort", &self.sort),
            ("cursor", &self.cursor),
        ] {
            if v.as_deref().is_some_and(|s| s.chars().any(char::is_control)) {
                return Err(bad(field, "must not contain control characters"));
            }
        }
        let limit = match self.limit {
            None => 50,
            Some(n) if (1..=500).contains(&n) => n,
            Some(_) => return Err(bad("limit", "must be between 1 and 500")),
        };
        let kind = non_empty(&self.kind);
        if let Some(k) = &kind {
            k.parse::<licentia_domain::ip::AssetKind>()?;
        }
        let status = non_empty(&self.status);
        if let Some(s) = &status {
            s.parse::<licentia_domain::ip::AssetStatus>()?;
        }
        let jurisdiction = non_empty(&self.jurisdiction).map(|j| licentia_domain::ip::Jurisdiction::parse(&j).map(|j| j.as_str().to_owned())).transpose()?;
        let expiring_before = non_empty(&self.expiring_before)
            .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| bad("expiring_before", "must be a date YYYY-MM-DD")))
            .transpose()?;
        let sort = match non_empty(&self.sort) {
            None => Sort::Recent,
            Some(s) => Sort::parse(&s).ok_or_else(|| bad("sort", "must be recent, title, filing or expiry"))?,
        };
        let after = non_empty(&self.cursor).map(|c| decode_cursor(sort, &c)).transpose()?;
        let q = non_empty(&self.q);
        if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(bad("q", "must be at most 200 characters"));
        }
        Ok((AssetFilter { kind, status, jurisdiction, tag: non_empty(&self.tag), owner: non_empty(&self.owner), q, expiring_before, sort, after }, limit))
    }
}

/// One page of the registry and the cursor of the next one.
pub async fn page(state: &AppState, user: &CurrentUser, q: &AssetQuery) -> AppResult<(Vec<AssetRow>, Option<String>)> {
    let (filter, limit) = q.filter()?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut rows = assets::list(&mut conn, &filter, scope(user), limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor(filter.sort, r))
    } else {
        None
    };
    Ok((rows, next))
}

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<AssetQuery>) -> Reply<HttpResponse> {
    let (rows, next) = page(&state, &user, &q).await?;
    let items: Vec<Value> = rows.iter().map(|r| view(r, &user)).collect();
    state.audit_alone(user.event(&ctx, "asset.listed", licentia_audit::Outcome::Success)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineQuery {
    pub days: Option<i64>,
}

/// The docket of [`licentia_app::docket`] for the signed-in user.
pub async fn deadlines_between(state: &AppState, user: &CurrentUser, from: NaiveDate, to: NaiveDate) -> AppResult<Vec<UpcomingDeadline>> {
    licentia_app::docket::deadlines_between(state, &user.actor(), from, to).await
}

pub async fn upcoming(state: &AppState, user: &CurrentUser, days: i64) -> AppResult<Vec<UpcomingDeadline>> {
    licentia_app::docket::upcoming(state, &user.actor(), days).await
}

pub async fn deadlines_api(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<DeadlineQuery>) -> Reply<HttpResponse> {
    let days = match q.days {
        None => 90,
        Some(d) if (1..=3660).contains(&d) => d,
        Some(_) => return Err(bad("days", "must be between 1 and 3660").into()),
    };
    let items = upcoming(&state, &user, days).await?;
    state.audit_alone(user.event(&ctx, "deadline.listed", licentia_audit::Outcome::Success)).await?;
    Ok(HttpResponse::Ok().json(json!({ "days": days, "items": items })))
}
