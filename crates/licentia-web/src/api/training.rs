//! Metered training over HTTP: the JSON face of `licentia_app::training` (licences, datasets,
//! runs, predictions), the CSV body reader, and the run's server-sent events.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use licentia_app::policy;
use licentia_audit::Outcome;
use licentia_db::training::{self as db, Run};
use licentia_domain::OrganisationId;
use licentia_domain::{DatasetId, LicenceId, RunId};
use licentia_train::Hyper;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::auth::not_found;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

use licentia_app::training as uc;
pub use licentia_app::training::{LicenceInput, period_start};

/// Licensees see their organisation's objects; the licensor side sees every licensee's.
fn scope(user: &CurrentUser) -> Option<OrganisationId> {
    policy::licensee_scope(&user.actor())
}

/// `POST /api/v1/licences`: a licence under an executed (or active) agreement, for its licensee.
pub async fn create_licence(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<LicenceInput>) -> Reply<HttpResponse> {
    let v = uc::create_licence(&state, &user.actor_in(&ctx), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(v))
}

pub async fn licences(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let mut items = Vec::new();
    for l in db::licences(&mut conn, scope(&user)).await? {
        items.push(uc::licence_json(&mut conn, &l).await?);
    }
    state.audit_alone(user.event(&ctx, "licence.listed", licentia_audit::Outcome::Success)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

pub async fn licence(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<LicenceId>) -> Reply<HttpResponse> {
    let uid = *id;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    match db::licence(&mut conn, uid, scope(&user)).await {
        Ok(l) => {
            let v = uc::licence_json(&mut conn, &l).await?;
            drop(conn);
            state.audit_alone(user.event(&ctx, "licence.read", Outcome::Success).target("licence", l.id)).await?;
            Ok(HttpResponse::Ok().json(v))
        }
        Err(licentia_db::DbError::NotFound) => Err(not_found(&state, &ctx, &user, "licence", &id.to_string()).await.into()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    pub name: Option<String>,
    /// Whether the dataset holds personal data (then `lawful_basis` is required).
    #[serde(default)]
    pub personal_data: bool,
    /// GDPR Art. 6(1): consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests.
    pub lawful_basis: Option<String>,
    /// Only workers started with this region train on it.
    pub region: Option<String>,
    /// The last day it is kept (YYYY-MM-DD); its data key is destroyed the day after.
    pub retain_until: Option<String>,
}

/// `POST /api/v1/datasets?name=...` with a `text/csv` body: streamed with a line-length guard,
/// parsed and typed, then encrypted into the artifact store. A bad file is a 422 naming its line
/// and column, and nothing is stored.
pub async fn upload_dataset(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    req: HttpRequest,
    q: web::Query<UploadQuery>,
    body: web::Payload,
) -> Reply<HttpResponse> {
    let name = q.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("dataset.csv").to_owned();
    uc::check_dataset_name(&name)?;
    // The declaration is checked before the body is read: a bad one costs no upload.
    let residency = licentia_domain::residency::Residency::parse(
        q.personal_data,
        q.lawful_basis.as_deref(),
        q.region.as_deref(),
        q.retain_until.as_deref(),
        chrono::Utc::now().date_naive(),
    )
    .map_err(AppError::from)?;
    let upload = read_csv_body(&state, &req, body).await?;
    let d = uc::store_dataset(&state, &user.actor_in(&ctx), &name, upload, &residency).await?;
    Ok(HttpResponse::Created().json(d))
}

pub async fn datasets(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let actor = user.actor();
    let items: Vec<policy::DatasetView> = db::datasets(&mut conn, scope(&user)).await?.iter().map(|d| policy::dataset(&actor, d)).collect();
    drop(conn);
    state.audit_alone(user.event(&ctx, "dataset.listed", Outcome::Success).details(json!({ "count": items.len() }))).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /api/v1/datasets/{id}/erase`: its owner erases a dataset (crypto-shredding).
pub async fn erase_dataset(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<DatasetId>,
    body: web::Json<uc::EraseInput>,
) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(uc::erase_dataset(&state, &user.actor_in(&ctx), *id, &body.reason).await?))
}

/// The schema, the column actions, and a preview of the first rows with masked columns hidden.
pub async fn dataset(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<DatasetId>) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(uc::dataset_detail(&state, &user.actor_in(&ctx), *id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"columns": {"customer_name": "drop", "postcode": "mask"}}))]
#[serde(deny_unknown_fields)]
pub struct ColumnsInput {
    /// Column name → `keep`, `drop` or `mask`.
    pub columns: BTreeMap<String, String>,
}

pub async fn set_columns(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<DatasetId>,
    body: web::Json<ColumnsInput>,
) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(uc::set_columns(&state, &user.actor_in(&ctx), *id, &body.columns).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"licence_id": "0193a6c2-7d1e-7c3a-9b1f-2f6a1c0e5d41", "dataset_id": "0193a6c2-7d1e-7c3a-9b1f-2f6a1c0e5d41", "hyper": {"template": "tabular-binary-mlp", "target": "defect", "epochs": 20, "batch_size": 32, "learning_rate": 0.001}, "name": "line 3, spring data"}))]
#[serde(deny_unknown_fields)]
pub struct LaunchInput {
    pub licence_id: String,
    pub dataset_id: String,
    pub hyper: Hyper,
    /// Also accepted as the `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// A name for the run (shown beside its number under the licence).
    pub name: Option<String>,
    /// The field of use (required when the agreement limits its fields).
    pub field_of_use: Option<String>,
    /// ISO 3166 country where the model will be used (default: the licensee's country).
    pub country: Option<String>,
    /// Fine-tuning: the granted model version the run starts from (absent: random weights).
    pub base_version: Option<String>,
    /// Fine-tuning: layers from the input that keep the base's weights.
    #[serde(default)]
    pub freeze_layers: u32,
    /// Fine-tuning: transform the data with the base version's statistics.
    #[serde(default)]
    pub base_preprocessing: bool,
}

/// What a launch would reserve, and how it was computed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct EstimateReply {
    pub estimate: uc::Estimate,
    pub formula: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"dataset_id": "0193a6c2-7d1e-7c3a-9b1f-2f6a1c0e5d41", "hyper": {"template": "tabular-binary-mlp", "target": "defect", "epochs": 20}}))]
#[serde(deny_unknown_fields)]
pub struct EstimateInput {
    pub dataset_id: String,
    pub hyper: Hyper,
    /// Fine-tuning: the licence that grants `base_version` (both or neither).
    pub licence_id: Option<String>,
    /// Fine-tuning: the granted model version the run would start from.
    pub base_version: Option<String>,
}

/// `POST /api/v1/runs/estimate`: what a launch would reserve (compute units and memory), with
/// the formula's terms, before launching.
pub async fn estimate(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<EstimateInput>) -> Reply<HttpResponse> {
    let i = body.into_inner();
    let dataset_id = DatasetId::parse(i.dataset_id.trim()).ok_or_else(|| uc::bad("dataset_id", "is not a dataset id"))?;
    let fine_tune = match (&i.licence_id, &i.base_version) {
        (Some(l), Some(v)) => Some((
            LicenceId::parse(l.trim()).ok_or_else(|| uc::bad("licence_id", "is not a licence id"))?,
            uc::FineTune { base_version: v.clone(), freeze_layers: 0, base_preprocessing: false },
        )),
        (None, None) => None,
        _ => return Err(uc::bad("base_version", "send licence_id and base_version together").into()),
    };
    let e = uc::estimate_for(&state, &user.actor_in(&ctx), dataset_id, &i.hyper, fine_tune.as_ref().map(|(l, f)| (*l, f))).await?;
    let formula = format!("{} training rows × {} epochs × 3 × {} multiply-adds ÷ 1,000,000, rounded up", e.train_rows, i.hyper.epochs, e.forward_macs);
    Ok(HttpResponse::Ok().json(EstimateReply { estimate: e, formula }))
}

/// A run as the caller may see it (the policy's view).
fn run_json(user: &CurrentUser, r: &Run) -> Value {
    serde_json::to_value(policy::run(&user.actor(), r)).unwrap_or(Value::Null)
}

/// `POST /api/v1/runs`.
pub async fn launch(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, body: web::Json<LaunchInput>) -> Reply<HttpResponse> {
    let i = body.into_inner();
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned).or(i.idempotency_key.clone());
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 200 || k.chars().any(char::is_control)) {
        return Err(uc::bad("idempotency_key", "1 to 200 characters without control characters").into());
    }
    i.hyper.check().map_err(|e| match e {
        licentia_train::TrainError::Invalid { field, message } => AppError::Validation { field: format!("hyper.{field}"), message },
        other => uc::bad("hyper", other.to_string()),
    })?;
    let licence_id = LicenceId::parse(i.licence_id.trim()).ok_or_else(|| uc::bad("licence_id", "is not a licence id"))?;
    let dataset_id = DatasetId::parse(i.dataset_id.trim()).ok_or_else(|| uc::bad("dataset_id", "is not a dataset id"))?;
    let declared = uc::Declared { field_of_use: i.field_of_use.clone(), country: i.country.clone() };
    let fine_tune =
        i.base_version.as_ref().map(|v| uc::FineTune { base_version: v.clone(), freeze_layers: i.freeze_layers, base_preprocessing: i.base_preprocessing });
    match uc::launch(&state, &user.actor_in(&ctx), licence_id, dataset_id, &i.hyper, key.as_deref(), i.name.as_deref(), &declared, fine_tune.as_ref()).await {
        Ok((run, created)) => Ok(if created { HttpResponse::Accepted().json(run_json(&user, &run)) } else { HttpResponse::Ok().json(run_json(&user, &run)) }),
        Err(e @ AppError::Refused { .. }) => {
            let AppError::Refused { code, details, .. } = &e else { return Err(e.into()) };
            let event = user
                .event(&ctx, "run.refused", Outcome::Denied)
                .target("licence", licence_id)
                .details(json!({ "reason": code, "details": details, "dataset": dataset_id }));
            state.audit_alone(event).await?;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn runs(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let items: Vec<Value> = db::runs(&mut conn, scope(&user)).await?.iter().map(|r| run_json(&user, r)).collect();
    drop(conn);
    state.audit_alone(user.event(&ctx, "run.listed", Outcome::Success).details(json!({ "count": items.len() }))).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

pub async fn run(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<RunId>) -> Reply<HttpResponse> {
    let r = uc::load_run(&state, &user.actor_in(&ctx), *id).await?;
    state.audit_alone(user.event(&ctx, "run.read", Outcome::Success).target("run", r.id)).await?;
    let mut view = policy::run(&user.actor(), &r);
    view.waiting = uc::waiting_reason(&state, &r).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/runs/{id}/cancel`: a queued run is cancelled at once and its reservation
/// released; a running one is stopped by its worker before the next batch and billed for the
/// epochs it finished.
pub async fn cancel(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<RunId>) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(run_json(&user, &uc::cancel(&state, &user.actor_in(&ctx), *id).await?)))
}

/// `GET /api/v1/runs/{id}/events[?from=N]`: server-sent events with the run's progress until it
/// ends (polled from the database, so any node can serve any run). Each event carries only the
/// epochs' metrics not sent before (`metrics_from` is the index of the first one; a reconnecting
/// client passes how many it has as `from`), and nothing but a keep-alive comment when nothing
/// changed since the last event.
pub async fn events(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<RunId>,
    q: web::Query<EventsQuery>,
) -> Reply<HttpResponse> {
    let r = uc::load_run(&state, &user.actor_in(&ctx), *id).await?;
    state.audit_alone(user.event(&ctx, "run.events_read", Outcome::Success).target("run", r.id)).await?;
    let state = state.into_inner();
    let run_id = r.id;
    let actor = std::sync::Arc::new(user.actor());
    let start = Stream { n: 0, done: false, sent: q.from.unwrap_or(0), last: String::new() };
    let stream = futures_util::stream::unfold((state, start), move |(state, mut st)| {
        let actor = actor.clone();
        async move {
            if st.done || st.n > 4 * 3600 {
                return None;
            }
            if st.n > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            st.n += 1;
            let row = match state.db.pool.acquire().await {
                Ok(mut c) => db::run(&mut c, run_id, None).await.ok(),
                Err(_) => None,
            };
            let Some(row) = row else {
                st.done = true;
                return Some((Ok::<_, actix_web::Error>(web::Bytes::from_static(b"event: error\ndata: {}\n\n")), (state, st)));
            };
            let terminal = matches!(row.status.as_str(), "succeeded" | "failed" | "cancelled");
            let row = policy::run(&actor, &row);
            let all = row.metrics.as_array().map(Vec::as_slice).unwrap_or_default();
            let from = st.sent.min(all.len());
            let key = json!([row.status, row.progress, row.epochs_done, row.error]).to_string();
            if !terminal && from == all.len() && key == st.last {
                return Some((Ok(web::Bytes::from_static(b": unchanged\n\n")), (state, st)));
            }
            let data = json!({ "status": row.status, "progress": row.progress, "metrics_from": from, "metrics": &all[from..], "epochs_done": row.epochs_done, "error": row.error });
            st.sent = all.len();
            st.done = terminal;
            st.last = key;
            let kind = if terminal { "done" } else { "progress" };
            Some((Ok(web::Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))), (state, st)))
        }
    });
    Ok(HttpResponse::Ok().content_type("text/event-stream").insert_header((header::CACHE_CONTROL, "no-cache")).streaming(stream))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// How many epochs' metrics the client already has.
    pub from: Option<usize>,
}

/// Where an event stream is: polls made, ended, metrics sent, the last event's data.
struct Stream {
    n: u32,
    done: bool,
    sent: usize,
    last: String,
}

/// Checks that the body is `text/csv` and not announced larger than the dataset limit, then types
/// it as it streams in (see [`licentia_app::upload`]): 413 past the limit, 422 naming line and
/// column for a bad file.
async fn read_csv_body(state: &AppState, req: &HttpRequest, body: web::Payload) -> AppResult<licentia_app::upload::ParsedCsv> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("text/csv") {
        return Err(AppError::UnsupportedMediaType { expected: "text/csv" });
    }
    let limits = state.settings.dataset_limits();
    // 413 before reading a byte when the client announces too much.
    if req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > limits.max_bytes as u64)
    {
        return Err(AppError::PayloadTooLarge { limit: limits.max_bytes });
    }
    licentia_app::upload::parse_csv_stream(body, limits).await
}

/// `POST /api/v1/runs/{id}/predict` with a `text/csv` body: scores every row with the run's
/// model, metered in prediction rows against the licence (refused with `quota_exceeded` before
/// any result is returned).
pub async fn predict(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    req: HttpRequest,
    id: web::Path<RunId>,
    body: web::Payload,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let r = uc::load_run(&state, &actor, *id).await?;
    let upload = read_csv_body(&state, &req, body).await?;
    let preds = uc::predict(&state, &actor, &r, upload.table).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["row", "label", "probability", "value"]).map_err(AppError::internal)?;
    for (i, p) in preds.iter().enumerate() {
        w.write_record([
            (i + 1).to_string(),
            crate::audit_query::defuse_formula(p.label.as_deref().unwrap_or("")),
            p.probability.map(|x| format!("{x:.6}")).unwrap_or_default(),
            p.value.map(|x| format!("{x:.6}")).unwrap_or_default(),
        ])
        .map_err(AppError::internal)?;
    }
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(w.into_inner().map_err(AppError::internal)?))
}

/// `GET /api/v1/runs/{id}/model`: the weights, only where the licence allows the download.
pub async fn model(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<RunId>) -> Reply<HttpResponse> {
    let r = uc::load_run(&state, &user.actor_in(&ctx), *id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(uc::db_err)?;
    let l = db::licence(&mut conn, r.licence_id, None).await?;
    drop(conn);
    if !l.allow_model_download {
        state.audit_alone(user.event(&ctx, "run.model_download_refused", Outcome::Denied).target("run", r.id)).await?;
        return Err(AppError::Refused {
            code: "model_download_not_allowed",
            message: "the licence does not allow downloading the model; use predict".into(),
            details: json!({ "licence": l.id }),
        }
        .into());
    }
    let (weights, _, _) = uc::trained(&state, &r).await?;
    state.audit_alone(user.event(&ctx, "run.model_downloaded", Outcome::Success).target("run", r.id)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"run-{}-weights.burnpack\"", r.id)))
        .body(weights))
}
