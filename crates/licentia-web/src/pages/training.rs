//! The training portal: licences with their quota used, datasets (uploaded from the browser by
//! the page's script), runs, a launch form that shows what the run will reserve before it is
//! sent, and a run page whose progress bar and loss curves follow the run live (server-sent
//! events).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::Utc;
use licentia_db::training::{self as db, Dataset};
use licentia_domain::Permission;
use licentia_domain::RunId;
use licentia_train::{Hyper, Template as ModelTemplate};

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::pages::{Nav, flash_from, see_other_with};
use crate::state::AppState;

pub struct LicenceView {
    pub id: licentia_domain::LicenceId,
    pub agreement: String,
    pub templates: Vec<String>,
    pub valid_until: String,
    /// (label, used, quota, percent used) per limited quota.
    pub quotas: Vec<(&'static str, i64, i64, i64)>,
    pub remaining_units: Option<i64>,
    /// Model versions the licence grants: (id, "version N of template").
    pub versions: Vec<(String, String, String)>,
}

/// A column as the launch form previews it.
#[derive(serde::Serialize)]
pub struct ColumnChoice {
    pub name: String,
    pub kind: String,
    pub missing: i64,
    /// Dropped or masked columns are shown but cannot be the target.
    pub action: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "training/index.html")]
pub struct TrainingPage {
    nav: Nav,
    licences: Vec<LicenceView>,
    datasets: Vec<Dataset>,
    runs: Vec<licentia_app::policy::RunView>,
    can_launch: bool,
    flash: Option<(bool, String)>,
    /// What a refused launch sent, shown again in the form.
    kept: Pairs,
}

/// Columns a launch form lists for a dataset (at most this many: a wide table is summarised).
const PREVIEW_COLUMNS: usize = 200;

impl TrainingPage {
    /// A launch field as sent before a refusal, else its default.
    fn kept<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.kept.iter().find(|(k, _)| k == name).map_or(default, |(_, v)| v.as_str())
    }

    fn selected_licence(&self) -> Option<&LicenceView> {
        let id = self.kept("licence_id", "");
        self.licences.iter().find(|l| l.id.to_string() == id).or(self.licences.first())
    }

    fn selected_dataset(&self) -> Option<&Dataset> {
        let id = self.kept("dataset_id", "");
        // An erased dataset is never offered (nothing is left to train on).
        let mut live = self.datasets.iter().filter(|d| d.erased_at.is_none());
        live.clone().find(|d| d.id.to_string() == id).or(live.next())
    }

    fn columns(d: &Dataset) -> Vec<ColumnChoice> {
        let actions = licentia_app::policy::column_actions(d);
        d.schema
            .as_array()
            .map(|cols| {
                cols.iter()
                    .take(PREVIEW_COLUMNS)
                    .map(|c| {
                        let name = c["name"].as_str().unwrap_or_default().to_owned();
                        ColumnChoice {
                            action: actions.get(&name).cloned().unwrap_or_else(|| "keep".into()),
                            kind: c["kind"].as_str().unwrap_or_default().to_owned(),
                            missing: c["missing"].as_i64().unwrap_or(0),
                            name,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The columns of a dataset as JSON for the form's script (rebuilds the target picker and the
    /// preview when another dataset is chosen).
    fn columns_json(&self, d: &Dataset) -> String {
        serde_json::to_string(&Self::columns(d)).unwrap_or_else(|_| "[]".into())
    }

    /// The templates a launch under `l` may name: its own, and those of the versions it grants.
    fn templates_json(&self, l: &LicenceView) -> String {
        let mut all = l.templates.clone();
        for (_, _, t) in &l.versions {
            if !all.contains(t) {
                all.push(t.clone());
            }
        }
        serde_json::to_string(&all).unwrap_or_else(|_| "[]".into())
    }

    fn any_versions(&self) -> bool {
        self.licences.iter().any(|l| !l.versions.is_empty())
    }

    /// The target the form proposes: as sent, else a column named `target`, else the last kept one.
    fn target_default(&self, d: &Dataset) -> String {
        let cols = Self::columns(d);
        let sent = self.kept("target", "");
        let keep: Vec<&ColumnChoice> = cols.iter().filter(|c| c.action == "keep").collect();
        if keep.iter().any(|c| c.name == sent) {
            return sent.to_owned();
        }
        keep.iter().find(|c| c.name == "target").or(keep.last()).map(|c| c.name.clone()).unwrap_or_default()
    }
}

fn scope(user: &CurrentUser) -> Option<licentia_domain::OrganisationId> {
    licentia_app::policy::licensee_scope(&user.actor())
}

pub async fn index(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest) -> Reply<TrainingPage> {
    page(&state, &ctx, &user, flash_from(req.query_string()), Vec::new()).await
}

async fn page(state: &AppState, ctx: &RequestContext, user: &CurrentUser, flash: Option<(bool, String)>, kept: Pairs) -> Reply<TrainingPage> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut licences = Vec::new();
    for l in db::licences(&mut conn, scope(user)).await? {
        let used = db::usage(&mut conn, l.id, crate::api::training::period_start(&l, Utc::now())).await?;
        let mut quotas = Vec::new();
        for (label, q, u) in [
            ("runs", l.quota_runs, used.runs),
            ("compute units", l.quota_compute_units, used.compute_units),
            ("prediction rows", l.quota_prediction_rows, used.prediction_rows),
        ] {
            if let Some(q) = q {
                quotas.push((label, u, q, if q > 0 { (u * 100 / q).clamp(0, 100) } else { 100 }));
            }
        }
        licences.push(LicenceView {
            id: l.id,
            agreement: l.agreement_title.clone(),
            templates: l.templates.clone(),
            valid_until: l.valid_until.format("%Y-%m-%d").to_string(),
            remaining_units: l.quota_compute_units.map(|q| (q - used.compute_units).max(0)),
            quotas,
            versions: licentia_app::models::of_licence(state, &user.actor(), &l)
                .await?
                .into_iter()
                .map(|v| (v.id.to_string(), format!("version {} ({})", v.number, &v.weights_sha256[..12]), v.template))
                .collect(),
        });
    }
    let can_launch = user.role.allows(Permission::RunLaunch) && user.role.allows(Permission::DatasetManage);
    let datasets = if user.role.allows(Permission::DatasetManage) { db::datasets(&mut conn, scope(user)).await? } else { Vec::new() };
    let actor = user.actor();
    let runs = db::runs(&mut conn, scope(user)).await?.iter().map(|r| licentia_app::policy::run(&actor, r)).collect();
    drop(conn);
    state.audit_alone(user.event(ctx, "training.read", licentia_audit::Outcome::Success)).await?;
    Ok(TrainingPage { nav: Nav::for_user(state, user, "/training"), licences, datasets, runs, can_launch, flash, kept })
}

/// A refused launch: the page again, 422, with the reason and everything that was chosen.
async fn refused(state: &AppState, ctx: &RequestContext, user: &CurrentUser, message: String, kept: Pairs) -> Reply<HttpResponse> {
    let html = page(state, ctx, user, Some((false, message)), kept).await?.render().map_err(AppError::internal)?;
    Ok(HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(html))
}

type Pairs = Vec<(String, String)>;

fn field<'a>(p: &'a Pairs, name: &str) -> &'a str {
    p.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.trim())
}

/// `POST /training/runs`: the launch form.
pub async fn launch(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<Pairs>) -> Reply<HttpResponse> {
    let p: Pairs = form.into_inner().into_iter().filter(|(k, _)| k != "csrf").collect();
    let result = async {
        let template = ModelTemplate::parse(field(&p, "template"))
            .ok_or_else(|| AppError::Validation { field: "template".into(), message: "choose a template".into() })?;
        let mut h = Hyper::new(template, field(&p, "target"));
        let num = |name: &str| field(&p, name).parse::<f64>().map_err(|_| AppError::Validation { field: name.into(), message: "must be a number".into() });
        h.epochs = num("epochs")? as u32;
        h.batch_size = num("batch_size")? as usize;
        h.learning_rate = num("learning_rate")?;
        if !field(&p, "seed").is_empty() {
            h.seed = num("seed")? as u64;
        }
        h.check().map_err(|e| AppError::Validation { field: "hyper".into(), message: e.to_string() })?;
        let licence = licentia_domain::LicenceId::parse(field(&p, "licence_id"))
            .ok_or_else(|| AppError::Validation { field: "licence_id".into(), message: "choose a licence".into() })?;
        let dataset = licentia_domain::DatasetId::parse(field(&p, "dataset_id"))
            .ok_or_else(|| AppError::Validation { field: "dataset_id".into(), message: "choose a dataset".into() })?;
        let key = field(&p, "idempotency_key");
        let fine_tune = match field(&p, "base_version") {
            "" => None,
            version => Some(licentia_app::training::FineTune {
                base_version: version.to_owned(),
                freeze_layers: match field(&p, "freeze_layers") {
                    "" => 0,
                    n => n.parse().map_err(|_| AppError::Validation { field: "freeze_layers".into(), message: "a whole number of layers".into() })?,
                },
                base_preprocessing: field(&p, "base_preprocessing") == "on",
            }),
        };
        licentia_app::training::launch(
            &state,
            &user.actor_in(&ctx),
            licence,
            dataset,
            &h,
            (!key.is_empty()).then_some(key),
            Some(field(&p, "name")),
            &licentia_app::training::Declared { field_of_use: Some(field(&p, "field_of_use").to_owned()), country: Some(field(&p, "country").to_owned()) },
            fine_tune.as_ref(),
        )
        .await
    }
    .await;
    match result {
        Ok((run, _)) => Ok(see_other_with(&format!("/runs/{}", run.id), true, "Launched.")),
        Err(AppError::Refused { code, message, details }) => {
            let event = user.event(&ctx, "run.refused", licentia_audit::Outcome::Denied).details(serde_json::json!({ "reason": code, "details": details }));
            state.audit_alone(event).await?;
            refused(&state, &ctx, &user, format!("Not launched ({code}): {message}"), p).await
        }
        Err(AppError::Validation { field, message }) => refused(&state, &ctx, &user, format!("Not launched: {field}: {message}"), p).await,
        Err(e) => Err(e.into()),
    }
}

/// One metric row of the run page.
pub struct MetricRow {
    pub epoch: u64,
    pub train_loss: String,
    pub valid_loss: String,
    pub main: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "training/run.html")]
pub struct RunPage {
    nav: Nav,
    r: licentia_app::policy::RunView,
    rows: Vec<MetricRow>,
    terminal: bool,
    percent: u64,
    can_cancel: bool,
    /// The loss curves, drawn on the server so that a finished run's page (which no longer
    /// listens for events) still shows them; the script redraws them live while a run trains.
    train_points: String,
    valid_points: String,
    axes: Axes,
    /// What the run was asked to do, for its page: dataset and licence by name, the settings.
    dataset_name: String,
    licence_name: String,
    settings: Vec<(&'static str, String)>,
    /// The epoch whose weights predict and download serve (the best validation loss).
    served_epoch: Option<u64>,
}

/// The labelled axes of a loss chart (`training/_axes.html`): the plot spans x 5–395 and y
/// 5–155 of its 400×160 box; labels sit in the margin the view box adds around it.
pub struct Axes {
    /// The loss at the top of the y axis, and half of it.
    pub y_max: String,
    pub y_mid: String,
    /// The last epoch on the x axis.
    pub x_max: usize,
}

impl Axes {
    fn new(max: f64, epochs: usize) -> Self {
        let label = |v: f64| {
            if v >= 100.0 {
                format!("{v:.0}")
            } else if v >= 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.3}")
            }
        };
        Self { y_max: label(max), y_mid: label(max / 2.0), x_max: epochs.max(1) }
    }
}

/// SVG polyline points for the losses in a 400×160 box, the same scale the page script uses.
fn loss_points(metrics: &serde_json::Value) -> (String, String, Axes) {
    let Some(list) = metrics.as_array() else { return (String::new(), String::new(), Axes::new(1.0, 1)) };
    let loss = |m: &serde_json::Value, k: &str| m[k].as_f64().filter(|x| x.is_finite()).unwrap_or(0.0);
    let max = list.iter().flat_map(|m| [loss(m, "train_loss"), loss(m, "valid_loss")]).fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let n = list.len();
    let line = |k: &str| {
        list.iter()
            .enumerate()
            .map(|(i, m)| {
                let x = if n < 2 { 0.0 } else { i as f64 * 390.0 / (n - 1) as f64 } + 5.0;
                format!("{x:.1},{:.1}", 155.0 - loss(m, k) / max * 150.0)
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (line("train_loss"), line("valid_loss"), Axes::new(max, n))
}

/// `POST /training/datasets/{id}/erase`: its owner erases a dataset (crypto-shredding).
pub async fn erase_dataset(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<licentia_domain::DatasetId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let p = form.into_inner();
    let result = licentia_app::training::erase_dataset(&state, &user.actor_in(&ctx), *id, field(&p, "reason"))
        .await
        .map(|d| format!("Erased {}: its data key is destroyed and its content can no longer be read.", d.name));
    crate::layout::back("/training", result)
}

pub async fn run(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<RunId>) -> Reply<RunPage> {
    let uid = *id;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let r = match db::run(&mut conn, uid, scope(&user)).await {
        Ok(r) => r,
        Err(licentia_db::DbError::NotFound) => return Err(crate::auth::not_found(&state, &ctx, &user, "run", &id.to_string()).await.into()),
        Err(e) => return Err(e.into()),
    };
    drop(conn);
    state.audit_alone(user.event(&ctx, "run.read", licentia_audit::Outcome::Success).target("run", r.id)).await?;
    let f = |v: &serde_json::Value| v.as_f64().map(|x| format!("{x:.4}")).unwrap_or_default();
    let rows = r
        .metrics
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| MetricRow {
                    epoch: m["epoch"].as_u64().unwrap_or(0),
                    train_loss: f(&m["train_loss"]),
                    valid_loss: f(&m["valid_loss"]),
                    main: if m["auc"].is_number() {
                        format!("AUC {}", f(&m["auc"]))
                    } else if m["accuracy"].is_number() {
                        format!("accuracy {}", f(&m["accuracy"]))
                    } else {
                        format!("RMSE {}", f(&m["rmse"]))
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let terminal = matches!(r.status.as_str(), "succeeded" | "failed" | "cancelled");
    let epochs = r.hyper["epochs"].as_u64().unwrap_or(1).max(1);
    let percent = if terminal { 100 } else { r.progress["epoch"].as_u64().unwrap_or(0).saturating_sub(1) * 100 / epochs };
    let (train_points, valid_points, axes) = loss_points(&r.metrics);
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let dataset_name = db::dataset(&mut conn, r.dataset_id, None).await.map(|d| d.name).unwrap_or_default();
    let licence_name = db::licence(&mut conn, r.licence_id, None).await.map(|l| l.agreement_title).unwrap_or_default();
    drop(conn);
    let h = &r.hyper;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "default".to_owned(),
        other => other.to_string(),
    };
    let settings = vec![
        ("Template", r.template.clone()),
        ("Field of use", r.use_field.clone().unwrap_or_else(|| "not declared".into())),
        ("Country of use", r.use_country.clone().unwrap_or_else(|| "not declared".into())),
        ("Target", text(&h["target"])),
        ("Epochs", text(&h["epochs"])),
        ("Batch size", text(&h["batch_size"])),
        ("Learning rate", text(&h["learning_rate"])),
        ("Hidden layers", text(&h["hidden"])),
        ("Seed", text(&h["seed"])),
        (
            "Left out",
            h["exclude"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c.as_str()).collect::<Vec<_>>().join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into()),
        ),
    ];
    let served_epoch = r.receipt.as_ref().and_then(|rc| rc["receipt"]["served_epoch"].as_u64());
    let waiting = licentia_app::training::waiting_reason(&state, &r).await?;
    let mut r = licentia_app::policy::run(&user.actor(), &r);
    r.waiting = waiting;
    Ok(RunPage {
        nav: Nav::for_user(&state, &user, "/training"),
        can_cancel: user.role.allows(Permission::RunLaunch) && !terminal,
        rows,
        terminal,
        percent,
        train_points,
        valid_points,
        axes,
        dataset_name,
        licence_name,
        settings,
        served_epoch,
        r,
    })
}

/// `POST /training/runs/{id}/cancel` from the run page.
pub async fn cancel(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<RunId>) -> Reply<HttpResponse> {
    let path = format!("/runs/{}", *id);
    match licentia_app::training::cancel(&state, &user.actor_in(&ctx), *id).await {
        Ok(r) => Ok(see_other_with(
            &format!("/runs/{}", r.id),
            true,
            if r.status == licentia_domain::RunStatus::Cancelled { "Cancelled." } else { "Cancelling after the current batch." },
        )),
        Err(AppError::Conflict { message }) => Ok(see_other_with(&path, false, &message)),
        Err(e) => Err(e.into()),
    }
}

/// One run in the comparison.
pub struct Compared {
    pub id: RunId,
    pub short: String,
    pub template: String,
    pub status: String,
    pub epochs: String,
    pub batch: String,
    pub lr: String,
    pub units: i64,
    pub best: String,
    pub points: String,
    pub class: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "training/compare.html")]
pub struct ComparePage {
    nav: Nav,
    runs: Vec<Compared>,
    axes: Axes,
}

/// `GET /runs/compare?ids=..&ids=..`: settings, final metrics and validation loss curves side by
/// side (at most six runs, each one the caller may read).
pub async fn compare(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<Vec<(String, String)>>) -> Reply<ComparePage> {
    let ids: Vec<&str> = q.iter().filter(|(k, _)| k == "ids").map(|(_, v)| v.as_str()).take(6).collect();
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut loaded = Vec::new();
    for id in ids {
        let Some(uid) = RunId::parse(id.trim()) else { return Err(crate::auth::not_found(&state, &ctx, &user, "run", id).await.into()) };
        match db::run(&mut conn, uid, scope(&user)).await {
            Ok(r) => loaded.push(r),
            Err(licentia_db::DbError::NotFound) => return Err(crate::auth::not_found(&state, &ctx, &user, "run", id).await.into()),
            Err(e) => return Err(e.into()),
        }
    }
    let losses: Vec<Vec<f64>> =
        loaded.iter().map(|r| r.metrics.as_array().map(|a| a.iter().filter_map(|m| m["valid_loss"].as_f64()).collect()).unwrap_or_default()).collect();
    let max = losses.iter().flatten().copied().fold(0.0f64, f64::max).max(1e-9);
    let longest = losses.iter().map(Vec::len).max().unwrap_or(0).max(2);
    let runs = loaded
        .iter()
        .zip(&losses)
        .enumerate()
        .map(|(i, (r, l))| {
            let points = l
                .iter()
                .enumerate()
                .map(|(e, v)| format!("{:.1},{:.1}", 5.0 + e as f64 * 390.0 / (longest - 1) as f64, 155.0 - v / max * 150.0))
                .collect::<Vec<_>>()
                .join(" ");
            let last = r.metrics.as_array().and_then(|a| a.last()).cloned().unwrap_or_default();
            let best = ["auc", "accuracy", "r2", "rmse"].iter().find_map(|k| last[*k].as_f64().map(|v| format!("{k} {v:.4}"))).unwrap_or_default();
            Compared {
                id: r.id,
                short: licentia_app::policy::run(&user.actor(), r).label(),
                template: r.template.clone(),
                status: r.status.to_string(),
                epochs: r.hyper["epochs"].to_string(),
                batch: r.hyper["batch_size"].to_string(),
                lr: r.hyper["learning_rate"].to_string(),
                units: r.units_used,
                best,
                points,
                class: i % 6,
            }
        })
        .collect();
    state.audit_alone(user.event(&ctx, "run.compared", licentia_audit::Outcome::Success)).await?;
    let axes = Axes::new(if max > 1e-9 { max } else { 1.0 }, losses.iter().map(Vec::len).max().unwrap_or(1));
    Ok(ComparePage { nav: Nav::for_user(&state, &user, "/training"), runs, axes })
}
