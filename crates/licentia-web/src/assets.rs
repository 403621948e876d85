//! The IP registry over HTTP: `/api/v1/assets` (list with filters, full-text search and keyset
//! pagination; create; detail with rule-driven deadlines; partial update; delete),
//! `/api/v1/deadlines` (the next N days), and the registry pages.

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use licentia_audit::Outcome;
use licentia_db::assets::{self, AssetFilter, AssetRow, AssetScope, Cursor, Sort};
use licentia_domain::ip::asset::{AssetInput, ValidAsset};
use licentia_domain::ip::deadlines::{self, Deadline};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::users::not_found;
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

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

/// Rebuilds the input form of a stored row (for partial updates and deadline computation).
pub fn row_input(row: &AssetRow) -> Value {
    let mut v = json!({
        "kind": row.kind,
        "status": row.status,
        "title": row.title,
        "jurisdiction": row.jurisdiction,
        "application_number": row.application_number,
        "publication_number": row.publication_number,
        "grant_number": row.grant_number,
        "priority_date": row.priority_date,
        "filing_date": row.filing_date,
        "publication_date": row.publication_date,
        "grant_date": row.grant_date,
        "parent_id": row.parent_id,
        "owners": row.owners,
        "tags": row.tags,
        "internal_notes": row.internal_notes,
    });
    if let (Some(o), Some(d)) = (v.as_object_mut(), row.details.as_object()) {
        for (k, val) in d {
            if !val.is_null() {
                o.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

fn parse_input(v: Value) -> AppResult<ValidAsset> {
    let input: AssetInput = serde_json::from_value(v).map_err(|e| bad("body", e.to_string()))?;
    Ok(ValidAsset::parse(&input)?)
}

/// A row for a new asset.
pub fn new_row(org: licentia_domain::OrganisationId, a: &ValidAsset) -> AssetRow {
    to_row(Uuid::now_v7(), org, a)
}

fn to_row(id: Uuid, org: licentia_domain::OrganisationId, a: &ValidAsset) -> AssetRow {
    let mut details = a.details.clone();
    if let Some(o) = details.as_object_mut() {
        o.insert("pct".into(), json!(a.pct));
        o.insert("relation".into(), json!(a.relation.map(|r| r.as_str())));
    }
    AssetRow {
        id,
        organisation_id: org,
        kind: a.kind.as_str().into(),
        status: a.status.as_str().into(),
        title: a.title.clone(),
        jurisdiction: a.jurisdiction.as_ref().map(|j| j.as_str().to_owned()),
        application_number: a.application_number.clone(),
        publication_number: a.publication_number.clone(),
        grant_number: a.grant_number.clone(),
        priority_date: a.dates.priority,
        filing_date: a.dates.filing,
        publication_date: a.dates.publication,
        grant_date: a.dates.grant,
        expiry_date: a.expiry,
        parent_id: a.parent_id,
        owners: a.owners.clone(),
        tags: a.tags.clone(),
        details,
        internal_notes: a.internal_notes.clone(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

/// A computed deadline with what people did about it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadlineView {
    #[serde(flatten)]
    pub deadline: Deadline,
    /// `done`, `waived` or `missed`; `None` while open.
    pub state: Option<String>,
    pub note: String,
}

/// The rule-driven deadlines of a stored asset (divisionals and national phase entries count from
/// the parent's filing date), without marks or manual ones: what fees attach to.
pub async fn rule_deadlines(conn: &mut licentia_db::PgConnection, row: &AssetRow) -> AppResult<(ValidAsset, Vec<Deadline>)> {
    let valid = parse_input(row_input(row))?;
    let parent_filing = match (row.parent_id, valid.relation) {
        (Some(p), Some(rel)) if rel.inherits_filing_date() => assets::get(conn, p, AssetScope::All).await.ok().and_then(|p| p.filing_date),
        _ => None,
    };
    let computed = deadlines::compute(&valid.facts(parent_filing));
    Ok((valid, computed))
}

/// Every deadline of a stored asset: the rules' and the manual ones (rule `manual`), with marks.
/// The deadlines of an asset as `actor` may see them: licensees get the statutory ones only, with
/// their state but without the licensor's notes or hand-entered deadlines.
pub async fn deadlines_of(conn: &mut licentia_db::PgConnection, row: &AssetRow, actor: &licentia_app::Actor) -> AppResult<Vec<DeadlineView>> {
    let internal = licentia_app::policy::sees_internal_notes(actor);
    let (_, mut computed) = rule_deadlines(conn, row).await?;
    let manual = if internal { licentia_db::deadlines::manual(conn, row.id).await? } else { Vec::new() };
    for m in manual {
        computed.push(Deadline {
            rule: deadlines::MANUAL,
            ordinal: m.ordinal.max(0) as u32,
            title: m.title,
            due: m.due,
            opens: None,
            grace_ends: None,
            surcharge: deadlines::Surcharge::None,
            source: "entered by hand",
        });
    }
    computed.sort_by_key(|d| (d.due, d.rule, d.ordinal));
    let marks = licentia_db::deadlines::marks(conn, row.id).await?;
    Ok(computed
        .into_iter()
        .map(|d| {
            let mark = marks.iter().find(|m| m.rule == d.rule && m.ordinal == d.ordinal as i32);
            let note = if internal { mark.map(|m| m.note.clone()).unwrap_or_default() } else { String::new() };
            DeadlineView { state: mark.map(|m| m.state.clone()), note, deadline: d }
        })
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    pub rule: String,
    pub ordinal: u32,
    /// `done`, `waived` or `missed`.
    pub state: String,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/assets/{id}/deadlines`: marks one of the asset's computed deadlines.
pub async fn mark(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<String>,
    body: web::Json<MarkInput>,
) -> Reply<HttpResponse> {
    let row = load(&state, &ctx, &user, &id).await?;
    let m = body.into_inner();
    if !["done", "waived", "missed"].contains(&m.state.as_str()) {
        return Err(bad("state", "must be done, waived or missed").into());
    }
    if m.note.chars().count() > 2000 {
        return Err(bad("note", "must be at most 2000 characters").into());
    }
    let mut tx = state.db.begin().await?;
    let known = deadlines_of(&mut tx, &row, &user.actor()).await?;
    if !known.iter().any(|d| d.deadline.rule == m.rule && d.deadline.ordinal == m.ordinal) {
        return Err(bad("rule", "this asset has no such deadline").into());
    }
    licentia_db::deadlines::set_mark(&mut tx, row.id, &m.rule, m.ordinal as i32, &m.state, m.note.trim(), user.id.as_uuid()).await?;
    let event = user
        .event(&ctx, "deadline.marked", Outcome::Success)
        .target("asset", row.id)
        .details(json!({ "rule": m.rule, "ordinal": m.ordinal, "state": m.state }));
    let seq = state.audit(&mut tx, event).await?;
    let after = deadlines_of(&mut tx, &row, &user.actor()).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(HttpResponse::Ok().json(json!({ "deadlines": after })))
}

/// The parent must exist, be a patent-like filing, and not sit below the asset itself (a family
/// is a tree).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualInput {
    pub title: String,
    /// YYYY-MM-DD.
    pub due: String,
    #[serde(default)]
    pub note: String,
    /// Ignored: the browser form's CSRF token.
    pub csrf: Option<String>,
}

/// `POST /api/v1/assets/{id}/manual-deadlines`: a deadline no rule knows (an office action, an
/// option date). It is listed, marked and fed to calendars like the others.
pub async fn add_manual(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<String>,
    body: web::Json<ManualInput>,
) -> Reply<HttpResponse> {
    let row = load(&state, &ctx, &user, &id).await?;
    let added = insert_manual(&state, &ctx, &user, &row, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(json!({ "rule": deadlines::MANUAL, "ordinal": added.ordinal, "title": added.title, "due": added.due, "note": added.note })))
}

pub async fn insert_manual(
    state: &AppState,
    ctx: &RequestContext,
    user: &CurrentUser,
    row: &AssetRow,
    m: ManualInput,
) -> AppResult<licentia_db::deadlines::ManualDeadline> {
    let title = m.title.trim();
    if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
        return Err(bad("title", "must be 1 to 200 characters without control characters"));
    }
    let due = NaiveDate::parse_from_str(m.due.trim(), "%Y-%m-%d").map_err(|_| bad("due", "must be a date YYYY-MM-DD"))?;
    if m.note.chars().count() > 2000 || m.note.contains('\0') {
        return Err(bad("note", "must be at most 2000 characters"));
    }
    let mut tx = state.db.begin().await?;
    let added = licentia_db::deadlines::add_manual(&mut tx, row.id, title, due, m.note.trim(), user.id.as_uuid()).await.map_err(|e| match e {
        licentia_db::DbError::Conflict { .. } => {
            AppError::Conflict { message: "another deadline was added to this asset at the same moment; try again".into() }
        }
        other => other.into(),
    })?;
    let event = user
        .event(ctx, "deadline.added", Outcome::Success)
        .target("asset", row.id)
        .details(json!({ "ordinal": added.ordinal, "title": added.title, "due": added.due }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(added)
}

async fn check_parent(conn: &mut licentia_db::PgConnection, a: &ValidAsset, own_id: Option<Uuid>) -> AppResult<()> {
    if let Some(p) = a.parent_id {
        if Some(p) == own_id {
            return Err(bad("parent_id", "an asset cannot be its own parent"));
        }
        match assets::get(conn, p, AssetScope::All).await {
            Ok(parent) if !parent.kind.parse::<licentia_domain::ip::AssetKind>().is_ok_and(|k| k.is_patent_like()) => {
                return Err(bad("parent_id", "must be a patent, utility model or design"));
            }
            Ok(_) => {}
            Err(licentia_db::DbError::NotFound) => return Err(bad("parent_id", "no such asset")),
            Err(e) => return Err(e.into()),
        }
        if let Some(own) = own_id
            && assets::ancestors(conn, p).await?.contains(&own)
        {
            return Err(bad("parent_id", "would make the family a cycle: that asset descends from this one"));
        }
    }
    Ok(())
}

pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<Value>) -> Reply<HttpResponse> {
    let valid = parse_input(body.into_inner())?;
    let mut tx = state.db.begin().await?;
    check_parent(&mut tx, &valid, None).await?;
    let row = assets::upsert(&mut tx, &to_row(Uuid::now_v7(), user.organisation_id, &valid), Some(user.id.as_uuid())).await?;
    let event = user.event(&ctx, "asset.created", Outcome::Success).target("asset", row.id).details(json!({ "kind": row.kind, "title": row.title }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(HttpResponse::Created().json(view(&row, &user)))
}

pub async fn load_for_page(state: &AppState, ctx: &RequestContext, user: &CurrentUser, id: &str) -> AppResult<AssetRow> {
    load(state, ctx, user, id).await
}

async fn load(state: &AppState, ctx: &RequestContext, user: &CurrentUser, id: &str) -> AppResult<AssetRow> {
    let Ok(uid) = Uuid::parse_str(id) else { return Err(not_found(state, ctx, user, "asset", id).await) };
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    match assets::get(&mut conn, uid, scope(user)).await {
        Ok(r) => Ok(r),
        Err(licentia_db::DbError::NotFound) => Err(not_found(state, ctx, user, "asset", id).await),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<String>) -> Reply<HttpResponse> {
    let row = load(&state, &ctx, &user, &id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let deadlines = deadlines_of(&mut conn, &row, &user.actor()).await?;
    drop(conn);
    state.audit_alone(user.event(&ctx, "asset.read", Outcome::Success).target("asset", row.id)).await?;
    let mut v = view(&row, &user);
    v["deadlines"] = json!(deadlines);
    Ok(HttpResponse::Ok().json(v))
}

/// Partial update: the given fields over the stored ones, then the whole asset validated again.
/// The kind cannot change.
pub async fn update(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<String>, body: web::Json<Value>) -> Reply<HttpResponse> {
    let current = load(&state, &ctx, &user, &id).await?;
    let Value::Object(patch) = body.into_inner() else { return Err(bad("body", "must be a JSON object").into()) };
    if patch.get("kind").is_some_and(|k| k.as_str() != Some(current.kind.as_str())) {
        return Err(bad("kind", "cannot be changed; create a new asset").into());
    }
    let mut merged = row_input(&current);
    if let Some(o) = merged.as_object_mut() {
        for (k, v) in &patch {
            o.insert(k.clone(), v.clone());
        }
    }
    let valid = parse_input(merged)?;
    let mut tx = state.db.begin().await?;
    check_parent(&mut tx, &valid, Some(current.id)).await?;
    let mut row = to_row(current.id, current.organisation_id, &valid);
    row.created_at = current.created_at;
    let row = assets::upsert(&mut tx, &row, None).await?;
    let changed: Vec<&String> = patch.keys().filter(|k| k.as_str() != "csrf").collect();
    let event = user.event(&ctx, "asset.updated", Outcome::Success).target("asset", row.id).details(json!({ "fields": changed }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(HttpResponse::Ok().json(view(&row, &user)))
}

pub async fn delete(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<String>) -> Reply<HttpResponse> {
    let current = load(&state, &ctx, &user, &id).await?;
    let mut tx = state.db.begin().await?;
    assets::delete(&mut tx, current.id).await.map_err(|e| match e {
        licentia_db::DbError::Conflict { .. } => AppError::Conflict { message: "other assets name this one as their parent".into() },
        other => other.into(),
    })?;
    let event = user.event(&ctx, "asset.deleted", Outcome::Success).target("asset", current.id).details(json!({ "title": current.title }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(HttpResponse::NoContent().finish())
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
    let id = v["id"].as_str().and_then(|i| Uuid::parse_str(i).ok()).ok_or_else(not_ours)?;
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
                        asset_id: row.id,
                        href: format!("/assets/{}", row.id),
                        asset_title: row.title.clone(),
                        jurisdiction: row.jurisdiction.clone(),
                        deadline: d,
                        state: v.state,
                    });
                }
            }
        }
        if rows.len() < 1000 {
            break;
        }
    }
    // The obligations of executed agreements, shown to both parties (licensees: their own).
    for a in licentia_db::agreements::list(&mut conn, crate::agreements::scope(user), None, 500).await? {
        let (Some(n), Some(executed_at)) = (a.executed_version, a.executed_at) else { continue };
        if matches!(a.status.as_str(), "terminated" | "expired") {
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
                    opens: None,
                    grace_ends: None,
                    surcharge: deadlines::Surcharge::None,
                    source: "agreement terms",
                };
                out.push(UpcomingDeadline {
                    asset_id: a.id,
                    href: format!("/agreements/{}", a.id),
                    asset_title: a.title.clone(),
                    jurisdiction: None,
                    deadline,
                    state: None,
                });
            }
        }
    }
    out.sort_by_key(|u| (u.deadline.due, u.asset_id));
    Ok(out)
}

/// The open (and missed) deadlines from today to `days` from now: done and waived ones leave the
/// list, missed ones stay visible.
pub async fn upcoming(state: &AppState, user: &CurrentUser, days: i64) -> AppResult<Vec<UpcomingDeadline>> {
    let today = Utc::now().date_naive();
    let mut all = deadlines_between(state, user, today, today + chrono::Duration::days(days)).await?;
    all.retain(|u| !matches!(u.state.as_deref(), Some("done" | "waived")));
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
