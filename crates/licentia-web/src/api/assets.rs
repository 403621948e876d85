//! The IP registry over HTTP: `/api/v1/assets` (list with filters, full-text search and keyset
//! pagination; create; detail with rule-driven deadlines; partial update; delete),
//! `/api/v1/deadlines` (the next N days), and the registry pages.

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use licentia_audit::Outcome;
use licentia_db::assets::{self, AssetFilter, AssetRow, AssetScope, Cursor, Sort};
use licentia_domain::AssetId;
use licentia_domain::ip::deadlines::{self, Deadline};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

pub use licentia_app::assets::{DeadlineView, ManualInput, MarkInput, deadlines_of, new_row, row_input, rule_deadlines};

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
    Ok(HttpResponse::Created().json(json!({ "rule": deadlines::MANUAL, "ordinal": added.ordinal, "title": added.title, "due": added.due, "note": added.note })))
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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

#[derive(Debug, Deserialize)]
pub struct DeadlineQuery {
    pub days: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct UpcomingDeadline {
    /// The asset, or for an agreement's obligation the agreement.
    pub asset_id: Uuid,
    /// Where the deadline's page is (`/assets/..` or `/agreements/..`).
    pub href: String,
    pub asset_title: String,
    pub jurisdiction: Option<String>,
    #[serde(flatten)]
    pub deadline: Deadline,
    /// `done`, `waived` or `missed`; `None` while open.
    pub state: Option<String>,
    /// Open, in grace, overdue, or as marked (`licentia_domain::ip::deadlines::standing`).
    pub standing: deadlines::Standing,
    /// From when the registry is answerable for it: the day the asset was entered (rule deadlines
    /// due before then predate the docket), the execution (obligations), or ever (manual ones).
    #[serde(skip)]
    pub tracked_from: NaiveDate,
}

impl UpcomingDeadline {
    pub fn standing_label(&self) -> &'static str {
        self.standing.label()
    }
}

/// Every deadline (rule-driven and manual) whose due date or grace period touches `from..=to`,
/// across the caller's registry, with marks.
pub async fn deadlines_between(state: &AppState, user: &CurrentUser, from: NaiveDate, to: NaiveDate) -> AppResult<Vec<UpcomingDeadline>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut out = Vec::new();
    let mut filter = AssetFilter::default();
    loop {
        let rows = assets::list(&mut conn, &filter, scope(user), 1000).await?;
        let Some(last) = rows.last() else { break };
        filter.after = Some(Cursor::after(filter.sort, last));
        for row in &rows {
            for v in deadlines_of(&mut conn, row, &user.actor()).await.unwrap_or_default() {
                let d = v.deadline;
                let effective_end = d.grace_ends.unwrap_or(d.due);
                if effective_end >= from && d.due <= to {
                    out.push(UpcomingDeadline {
                        asset_id: row.id.into(),
                        href: format!("/assets/{}", row.id),
                        asset_title: row.title.clone(),
                        jurisdiction: row.jurisdiction.clone(),
                        tracked_from: if d.rule == deadlines::MANUAL { NaiveDate::MIN } else { row.created_at.date_naive() },
                        deadline: d,
                        state: v.state,
                        standing: v.standing,
                    });
                }
            }
        }
        if rows.len() < 1000 {
            break;
        }
    }
    // The obligations of executed agreements, shown to both parties (licensees: their own).
    for a in licentia_db::agreements::list(&mut conn, licentia_app::policy::agreement_scope(&user.actor()), None, 500).await? {
        let (Some(n), Some(executed_at)) = (a.executed_version, a.executed_at) else { continue };
        if matches!(a.status, licentia_domain::agreement::Status::Terminated | licentia_domain::agreement::Status::Expired) {
            continue;
        }
        let v = licentia_db::agreements::version(&mut conn, a.id, n, None).await?;
        let Ok(terms) = serde_json::from_value::<licentia_domain::agreement::Terms>(v.terms) else { continue };
        for o in licentia_domain::agreement::obligations(&terms, executed_at.date_naive()) {
            if o.due >= from && o.due <= to {
                let deadline = Deadline {
                    rule: match o.kind {
                        "upfront" => "obligation-upfront",
                        "milestone" => "obligation-milestone",
                        _ => "obligation-report",
                    },
                    ordinal: o.ordinal,
                    title: o.title,
                    due: o.due,
                    last_day: o.due,
                    opens: None,
                    grace_ends: None,
                    grace_last_day: None,
                    surcharge: deadlines::Surcharge::None,
                    source: "agreement terms",
                };
                let standing = deadlines::standing(&deadline, None, Utc::now().date_naive());
                out.push(UpcomingDeadline {
                    asset_id: a.id.into(),
                    href: format!("/agreements/{}", a.id),
                    asset_title: a.title.clone(),
                    jurisdiction: None,
                    deadline,
                    state: None,
                    standing,
                    tracked_from: executed_at.date_naive(),
                });
            }
        }
    }
    out.sort_by_key(|u| (u.deadline.due, u.asset_id));
    Ok(out)
}

/// How far back an unmarked deadline is still listed as overdue.
const OVERDUE_LOOKBACK_DAYS: i64 = 2 * 366;

/// What waits for someone: every overdue deadline first (past its last day and any grace period,
/// nobody marked it; until it is marked, up to two years back, and only since the registry tracks
/// it), then the open ones and those in their grace period up to `days` from now. Marked ones
/// (done, waived, missed) leave the list.
pub async fn upcoming(state: &AppState, user: &CurrentUser, days: i64) -> AppResult<Vec<UpcomingDeadline>> {
    let today = Utc::now().date_naive();
    let mut all = deadlines_between(state, user, today - chrono::Duration::days(OVERDUE_LOOKBACK_DAYS), today + chrono::Duration::days(days)).await?;
    all.retain(|u| u.standing.is_pending() && (u.standing != deadlines::Standing::Overdue || u.deadline.due >= u.tracked_from));
    // Overdue first; stable, so each group keeps its date order.
    all.sort_by_key(|u| u.standing != deadlines::Standing::Overdue);
    Ok(all)
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
