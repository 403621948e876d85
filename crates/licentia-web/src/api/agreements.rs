//! Agreements over HTTP: the JSON face of the agreement use cases (`licentia_app::agreements`),
//! and royalty statements. Each handler parses, calls one use case, and renders.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{Datelike as _, NaiveDate, Utc};
use licentia_app::policy;
use licentia_audit::Outcome;
use licentia_db::agreements::{self as db, AgreementRow, Scope};
use licentia_db::assets::AssetRow;
use licentia_domain::AgreementId;
use licentia_domain::agreement::Status;
use licentia_domain::agreement::statement::{self, Lapse, SalesLine, Statement, UsageEntry};
use licentia_domain::ip::AssetStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

use licentia_app::agreements as uc;
pub use licentia_app::agreements::{
    AcceptInput, Document, Draft, NewAgreementInput, Redline, SalesInput, SalesLineInput, VersionInput, detail_json, document_of, draft_of,
    insert_with_first_version, parse_period, version_pdf,
};

pub fn scope(user: &CurrentUser) -> Scope {
    policy::agreement_scope(&user.actor())
}

/// The highest version a caller may read: licensees see what was shared with them.
pub fn readable_max(user: &CurrentUser, a: &AgreementRow) -> Option<i32> {
    policy::readable_max(&user.actor(), a)
}

/// The version a caller sees by default: the licensee's shared one, everyone else's current one.
pub fn visible_version(user: &CurrentUser, a: &AgreementRow) -> i32 {
    policy::visible_version(&user.actor(), a)
}

/// `POST /api/v1/agreements`: a new draft with its first version.
pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<NewAgreementInput>) -> Reply<HttpResponse> {
    let id = uc::create(&state, &user.actor_in(&ctx), body.into_inner()).await?;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let row = db::get(&mut conn, id, Scope::All).await?;
    Ok(HttpResponse::Created().json(uc::detail_json(&mut conn, &user.actor(), &row).await?))
}

pub async fn get(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AgreementId>) -> Reply<HttpResponse> {
    let a = uc::load(&state, &user.actor_in(&ctx), *id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let body = uc::detail_json(&mut conn, &user.actor(), &a).await?;
    drop(conn);
    state.audit_alone(user.event(&ctx, "agreement.read", Outcome::Success).target("agreement", a.id)).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// One line of the agreement list.
#[derive(Serialize, ToSchema)]
pub struct AgreementSummary {
    pub id: AgreementId,
    pub kind: licentia_domain::agreement::AgreementKind,
    pub title: String,
    pub status: Status,
    pub licensee: Party,
    /// The version the caller sees (a licensee: the one shared with it).
    pub version: i32,
    pub effective_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub updated_at: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct Party {
    pub id: licentia_domain::OrganisationId,
    pub name: String,
}

/// A version without its text.
#[derive(Serialize, ToSchema)]
pub struct VersionSummary {
    pub number: i32,
    pub author: String,
    pub comment: String,
    pub created_at: chrono::DateTime<Utc>,
    /// SHA-256 of the version's text, hex.
    pub text_sha256: String,
}

/// A version with its text, terms and clause wordings.
#[derive(Serialize, ToSchema)]
pub struct VersionText {
    #[serde(flatten)]
    pub summary: VersionSummary,
    pub text: String,
    #[schema(value_type = Object)]
    pub terms: Value,
    #[schema(value_type = Object)]
    pub clauses: Value,
}

/// Where an agreement's workflow stands after a transition.
#[derive(Serialize, ToSchema)]
pub struct StatusChange {
    pub id: AgreementId,
    pub status: Status,
}

#[derive(Serialize, ToSchema)]
pub struct SalesRecorded {
    pub agreement: AgreementId,
    /// How many lines were recorded.
    pub lines: usize,
}

/// A royalty statement with the agreement it belongs to.
#[derive(Serialize, ToSchema)]
pub struct StatementReply {
    pub agreement: AgreementId,
    pub title: String,
    pub licensee: String,
    pub statement: Statement,
}

fn version_summary(v: &db::VersionRow) -> VersionSummary {
    VersionSummary {
        number: v.number,
        author: v.author_name.clone(),
        comment: v.comment.clone(),
        created_at: v.created_at,
        text_sha256: hex::encode(&v.text_sha256),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub status: Option<String>,
}

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<ListQuery>) -> Reply<HttpResponse> {
    let status = q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse::<Status>()).transpose()?;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let rows = db::list(&mut conn, scope(&user), status.map(Status::as_str), 500).await?;
    let items: Vec<AgreementSummary> = rows
        .iter()
        .map(|a| AgreementSummary {
            id: a.id,
            kind: a.kind,
            title: a.title.clone(),
            status: a.status,
            licensee: Party { id: a.licensee_id, name: a.licensee_name.clone() },
            version: visible_version(&user, a),
            effective_date: a.effective_date,
            end_date: a.end_date,
            updated_at: a.updated_at,
        })
        .collect();
    state.audit_alone(user.event(&ctx, "agreement.listed", licentia_audit::Outcome::Success)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /api/v1/agreements/{id}/versions`: a new numbered version (drafts only).
pub async fn save(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    body: web::Json<VersionInput>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, *id).await?;
    let (number, sha) = uc::save(&state, &actor, a.id, body.into_inner()).await?;
    let _ = sha;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let row = db::get(&mut conn, a.id, Scope::All).await?;
    let mut v = uc::detail_json(&mut conn, &user.actor(), &row).await?;
    v.saved_version = Some(number);
    Ok(HttpResponse::Created().json(v))
}

pub async fn versions(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AgreementId>) -> Reply<HttpResponse> {
    let a = uc::load(&state, &user.actor_in(&ctx), *id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let items: Vec<VersionSummary> = db::versions(&mut conn, a.id, readable_max(&user, &a)).await?.iter().map(version_summary).collect();
    state.audit_alone(user.event(&ctx, "agreement.versions_listed", licentia_audit::Outcome::Success).target("agreement", a.id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

pub async fn version(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<(AgreementId, String)>) -> Reply<HttpResponse> {
    let (id, n) = path.into_inner();
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, id).await?;
    let v = uc::load_version(&state, &actor, &a, &n).await?;
    state.audit_alone(user.event(&ctx, "agreement.version_read", Outcome::Success).target("agreement", a.id).details(json!({ "version": v.number }))).await?;
    Ok(HttpResponse::Ok().json(VersionText { summary: version_summary(&v), text: v.text.clone(), terms: v.terms.clone(), clauses: v.clauses.clone() }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub from: String,
    pub to: String,
}

/// `GET /api/v1/agreements/{id}/diff?from=1&to=2`
pub async fn diff_api(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    q: web::Query<DiffQuery>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, *id).await?;
    state.audit_alone(user.event(&ctx, "agreement.diff_read", licentia_audit::Outcome::Success).target("agreement", a.id)).await?;
    Ok(HttpResponse::Ok().json(uc::redline(&state, &actor, &a, &q.from, &q.to).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"to": "in_review", "comment": "Ready for review"}))]
#[serde(deny_unknown_fields)]
pub struct TransitionInput {
    pub to: String,
    #[serde(default)]
    pub comment: String,
    /// Ignored: the browser forms' CSRF token.
    pub csrf: Option<String>,
}

/// `POST /api/v1/agreements/{id}/transition`: submit for review, send back to draft, withdraw an
/// approval, activate, expire or terminate. Approval and execution have their own routes (four
/// eyes, acceptance by both parties).
pub async fn transition(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    body: web::Json<TransitionInput>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, *id).await?;
    let to = uc::transition(&state, &actor, a.id, &body.to, &body.comment).await?;
    Ok(HttpResponse::Ok().json(StatusChange { id: a.id, status: to }))
}

/// `POST /api/v1/agreements/{id}/approve`: four eyes, then the exclusivity check.
pub async fn approve(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AgreementId>) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, *id).await?;
    uc::approve(&state, &actor, a.id).await?;
    Ok(HttpResponse::Ok().json(StatusChange { id: a.id, status: Status::Approved }))
}

/// `POST /api/v1/agreements/{id}/accept`: the caller accepts the approved version for its party;
/// when both parties have accepted the same text, the agreement is executed.
pub async fn accept(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    body: web::Json<AcceptInput>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, *id).await?;
    let status = uc::accept(&state, &actor, a.id, body.text_sha256.as_deref()).await?;
    Ok(HttpResponse::Ok().json(StatusChange { id: a.id, status }))
}

/// `POST /api/v1/agreements/{id}/request-changes`: the licensee sends a version under review
/// back to draft with its comments.
pub async fn request_changes(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    body: web::Json<TransitionInput>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, *id).await?;
    uc::request_changes(&state, &actor, a.id, &body.comment).await?;
    Ok(HttpResponse::Ok().json(StatusChange { id: a.id, status: Status::Draft }))
}

/// `POST /api/v1/agreements/{id}/sales`: the licensee's net sales per period and country, all
/// lines or none.
pub async fn report_sales(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    body: web::Json<SalesInput>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, *id).await?;
    let n = uc::report_sales(&state, &actor, &a, &body.lines).await?;
    Ok(HttpResponse::Created().json(SalesRecorded { agreement: a.id, lines: n }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    /// The agreement; without it the answer says which parameter is missing (it used to be the
    /// query parser's "missing field" text).
    pub agreement: Option<String>,
    /// `2027`, `2027-Q3`, `2027-H1` or `2027-05`; or `from` and `to`.
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

impl StatementQuery {
    /// The agreement asked for: 422 naming the parameter when it is absent, and a 404 like any
    /// missing object when it is not an agreement id.
    pub fn agreement_id(&self) -> AppResult<AgreementId> {
        match self.agreement.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => Err(uc::bad("agreement", "name the agreement (?agreement=ID); statements open from an agreement's page or from Revenue")),
            Some(a) => AgreementId::parse(a).ok_or(AppError::NotFound),
        }
    }
}

/// Countries where every covered patent has stopped being in force, and since when.
fn lapses(assets: &[AssetRow], notes: &mut Vec<String>) -> Vec<Lapse> {
    let mut by_country: BTreeMap<String, Vec<Option<NaiveDate>>> = BTreeMap::new();
    for a in assets.iter().filter(|a| a.kind.is_patent_like()) {
        let Some(j) = &a.jurisdiction else { continue };
        let dead = a.status.is_dead();
        let ended = if dead {
            let on = a
                .details
                .get("lapsed_on")
                .and_then(Value::as_str)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .or(a.expiry_date.filter(|_| a.status == AssetStatus::Expired));
            if on.is_none() {
                notes.push(format!("{} is {} without a lapse date; royalties in {j} are not stopped.", a.title, a.status));
            }
            on.or(Some(NaiveDate::MAX))
        } else {
            None
        };
        by_country.entry(j.clone()).or_default().push(ended);
    }
    by_country
        .into_iter()
        .filter_map(|(country, ends)| {
            // In force until the last of them ends; `MAX` marks a lapse of unknown date.
            let all: Option<Vec<NaiveDate>> = ends.into_iter().collect();
            let last = all?.into_iter().max()?;
            (last != NaiveDate::MAX).then_some(Lapse { country, from: last })
        })
        .collect()
}

pub async fn statement_for(state: &AppState, user: &CurrentUser, a: &AgreementRow, from: NaiveDate, to: NaiveDate) -> AppResult<Statement> {
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let n = a.executed_version.unwrap_or_else(|| visible_version(user, a));
    let v = db::version(&mut conn, a.id, n, readable_max(user, a)).await?;
    let terms = uc::terms_of(&v)?;
    let sales: Vec<SalesLine> = db::sales(&mut conn, a.id)
        .await?
        .into_iter()
        .map(|s| SalesLine {
            period_start: s.period_start,
            period_end: s.period_end,
            country: s.country,
            net_sales: s.net_sales,
            sublicence_revenue: s.sublicence_revenue,
        })
        .collect();
    let usage: Vec<UsageEntry> = db::settled_usage(&mut conn, a.id)
        .await?
        .into_iter()
        .map(|(at, runs, compute_units, prediction_rows, fine_tuning_runs)| UsageEntry { at, runs, compute_units, prediction_rows, fine_tuning_runs })
        .collect();
    let ids = db::asset_ids(&mut conn, a.id).await?;
    let assets = uc::covered_assets(&mut conn, &ids).await?;
    let mut notes = Vec::new();
    let lapses = lapses(&assets, &mut notes);
    // Patent costs: the official fees of the covered assets due in the period, in the
    // agreement's currency (fees in other currencies are not converted).
    let mut patent_costs = 0i64;
    if terms.patent_cost_share_bp > 0 {
        for row in &assets {
            let (_, due) = crate::api::assets::rule_deadlines(&mut conn, row).await?;
            let basis = licentia_domain::ip::fees::FeeBasis {
                claims: row.details.get("claims_count").and_then(Value::as_u64).unwrap_or(0).min(10_000) as u32,
                classes: row.details.get("nice_classes").and_then(Value::as_array).map_or(0, |c| c.len() as u32),
            };
            let in_period: Vec<_> = due.into_iter().filter(|d| d.due >= from && d.due <= to).collect();
            for c in licentia_domain::ip::fees::costs(&in_period, basis) {
                if c.fee.currency == terms.currency {
                    patent_costs += c.fee.standard;
                } else {
                    notes.push(format!("{} of {} is in {}, not converted.", c.title, row.title, c.fee.currency));
                }
            }
        }
    }
    let mut st = statement::compute(&statement::Input { terms: &terms, from, to, sales: &sales, usage: &usage, lapses: &lapses, patent_costs })?;
    st.notes.extend(notes);
    Ok(st)
}

pub fn statement_period(q: &StatementQuery) -> AppResult<(NaiveDate, NaiveDate)> {
    match (&q.period, &q.from, &q.to) {
        (Some(p), None, None) => uc::parse_period(p).ok_or_else(|| uc::bad("period", "must be like 2027, 2027-Q3, 2027-H1 or 2027-05")),
        (None, Some(f), Some(t)) => {
            let d = |raw: &str, field: &str| NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| uc::bad(field, "must be a date YYYY-MM-DD"));
            let (from, to) = (d(f, "from")?, d(t, "to")?);
            if to < from || (to - from).num_days() > 3660 {
                return Err(uc::bad("to", "must be after from, at most ten years later"));
            }
            Ok((from, to))
        }
        (None, None, None) => {
            let y = Utc::now().year();
            uc::parse_period(&y.to_string()).ok_or_else(|| AppError::internal("year"))
        }
        _ => Err(uc::bad("period", "give a period, or from and to")),
    }
}

/// `GET /api/v1/statements?agreement=ID&period=2027-Q4[&format=csv]`
pub async fn statements(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<StatementQuery>) -> Reply<HttpResponse> {
    let a = uc::load(&state, &user.actor_in(&ctx), q.agreement_id()?).await?;
    let (from, to) = statement_period(&q)?;
    let st = statement_for(&state, &user, &a, from, to).await?;
    state
        .audit_alone(
            user.event(&ctx, "statement.read", Outcome::Success).target("agreement", a.id).details(json!({ "from": from, "to": to, "total": st.total })),
        )
        .await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(HttpResponse::Ok().json(StatementReply { agreement: a.id, title: a.title.clone(), licensee: a.licensee_name.clone(), statement: st })),
        "csv" => {
            let mut w = crate::csv_export::SafeCsv::new();
            w.record(["kind", "description", "country", "basis", "rate", "amount_minor", "currency"])?;
            for l in &st.lines {
                let kind = serde_json::to_value(l.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                w.record([
                    kind,
                    l.description.clone(),
                    l.country.clone().unwrap_or_default(),
                    l.basis.to_string(),
                    l.rate.clone(),
                    l.amount.to_string(),
                    st.currency.clone(),
                ])?;
            }
            w.record(["total".to_owned(), String::new(), String::new(), String::new(), String::new(), st.total.to_string(), st.currency.clone()])?;
            let body = w.finish()?;
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"statement-{}-{from}-{to}.csv\"", a.id)))
                .body(body))
        }
        _ => Err(uc::bad("format", "must be json or csv").into()),
    }
}

/// `GET /api/v1/agreements/{id}/versions/{n}/pdf`
pub async fn pdf(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<(AgreementId, String)>) -> Reply<HttpResponse> {
    let (id, n) = path.into_inner();
    let actor = user.actor_in(&ctx);
    let a = uc::load(&state, &actor, id).await?;
    let v = uc::load_version(&state, &actor, &a, &n).await?;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let accepted = db::acceptances(&mut conn, a.id).await?;
    let bytes = uc::version_pdf(&mut conn, &a, &v, &accepted).await?;
    drop(conn);
    state.audit_alone(user.event(&ctx, "agreement.pdf_downloaded", Outcome::Success).target("agreement", a.id).details(json!({ "version": v.number }))).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"agreement-{}-v{}.pdf\"", a.id, v.number)))
        .body(bytes))
}
