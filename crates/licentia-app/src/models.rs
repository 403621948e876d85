//! Model versions, the use cases: a licensor publishes a model asset's trained weights as
//! numbered, encrypted versions (uploaded from elsewhere, or trained here with the same engine
//! from its own data), each checked against its architecture before it is stored; licences grant
//! versions, and licensees fine-tune them without ever reading the weights ([`crate::training`]
//! launches, [`crate::worker`] decrypts the base only inside the training task). The licensor sees
//! which licensees fine-tuned which version (counts and metrics, never their data).

use chrono::Utc;
use licentia_audit::Outcome;
use licentia_db::models::{self as db, ModelVersion};
use licentia_domain::ip::AssetKind;
use licentia_domain::{AssetId, ModelVersionId, OrganisationId};
use licentia_train::Hyper;
use licentia_train::prep::Preprocessing;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Actor;
use crate::error::{AppError, AppResult, bad, db_err};
use crate::state::AppState;

/// What a published version carries besides its weights.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The architecture and settings the weights were trained with.
    pub hyper: Hyper,
    /// The input schema: features, categories, statistics, classes.
    pub preprocessing: Preprocessing,
    /// Per-epoch validation metrics the licensor reports for these weights (shown as published).
    #[serde(default)]
    pub metrics: Vec<licentia_train::metrics::EpochMetrics>,
    #[serde(default)]
    pub notes: String,
}

/// Where a version's weights come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Trained elsewhere and uploaded.
    Uploaded,
    /// Trained by this installation's engine from the licensor's data, whose SHA-256 is kept.
    Trained { dataset_sha256: Vec<u8> },
}

/// One input column of a version, as anyone who may see the version sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InputColumn {
    pub column: String,
    /// `number` (scaled) or `category` (one-hot over the listed categories).
    pub kind: &'static str,
}

/// A version as an actor may see it: the licensor's staff see the statistics and the weights'
/// artifact (their own file); a licensee sees what it needs to prepare data and nothing more.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    pub id: ModelVersionId,
    pub asset_id: AssetId,
    pub number: i32,
    pub template: String,
    pub hidden: Vec<usize>,
    pub target: String,
    /// Binary and multiclass: the classes the model predicts.
    pub classes: Vec<String>,
    pub inputs: Vec<InputColumn>,
    /// SHA-256 of the weights (hex): what receipts of runs started from it name.
    pub weights_sha256: String,
    /// `uploaded` or `trained`.
    pub source: String,
    /// Trained here: SHA-256 of the licensor's training data (hex).
    pub dataset_sha256: Option<String>,
    /// The published metrics' last epoch.
    pub metrics: Value,
    pub notes: String,
    pub created_at: chrono::DateTime<Utc>,
    /// The licensor's staff only: the full preprocessing (means, spreads, categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<Value>,
    /// The licensor's staff only: the encrypted weights' artifact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_artifact: Option<licentia_domain::ArtifactId>,
}

pub fn view(actor: &Actor, v: &ModelVersion) -> VersionView {
    let prep: Option<Preprocessing> = serde_json::from_value(v.preprocessing.clone()).ok();
    let hyper: Option<Hyper> = serde_json::from_value(v.hyper.clone()).ok();
    let licensor = !actor.is_licensee();
    VersionView {
        id: v.id,
        asset_id: v.asset_id,
        number: v.number,
        template: v.template.clone(),
        hidden: hyper.map(|h| h.hidden_sizes()).unwrap_or_default(),
        target: prep.as_ref().map(|p| p.target.clone()).unwrap_or_default(),
        classes: prep.as_ref().map(|p| p.classes.clone()).unwrap_or_default(),
        inputs: prep
            .as_ref()
            .map(|p| p.inputs().into_iter().map(|i| InputColumn { column: i.column, kind: if i.numeric { "number" } else { "category" } }).collect())
            .unwrap_or_default(),
        weights_sha256: hex::encode(&v.weights_sha256),
        source: v.source.clone(),
        dataset_sha256: v.dataset_sha256.as_ref().map(hex::encode),
        metrics: v.metrics.as_array().and_then(|m| m.last().cloned()).unwrap_or(Value::Null),
        notes: v.notes.clone(),
        created_at: v.created_at,
        preprocessing: licensor.then(|| v.preprocessing.clone()),
        weights_artifact: licensor.then_some(v.weights_artifact),
    }
}

/// The model asset `id` as `actor` may change it: a licensor's model (anything else is 404 or
/// 422, as the registry answers).
async fn own_model(state: &AppState, actor: &Actor, id: AssetId) -> AppResult<licentia_db::assets::AssetRow> {
    let asset = crate::assets::load(state, actor, id).await?;
    if actor.is_licensee() || !actor.belongs_to(asset.organisation_id) {
        return Err(state.not_found(actor, "asset", &id.to_string()).await);
    }
    if asset.kind != AssetKind::Model {
        return Err(bad("asset", format!("only model assets have versions; this one is a {}", asset.kind.as_str())));
    }
    Ok(asset)
}

/// Checks `weights` against the architecture `manifest` describes (as prediction checks them,
/// before burn reads a byte) and the asset's template, then stores them encrypted as the asset's
/// next version, with its audit entry, in one transaction.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn publish(state: &AppState, actor: &Actor, asset_id: AssetId, weights: Vec<u8>, manifest: Manifest, source: Source) -> AppResult<VersionView> {
    let asset = own_model(state, actor, asset_id).await?;
    let Manifest { hyper, preprocessing, metrics, notes } = manifest;
    let notes = notes.trim().to_owned();
    if notes.chars().count() > 2000 || notes.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad("notes", "at most 2,000 characters without control characters"));
    }
    if let Some(t) = asset.details["template"].as_str().filter(|t| !t.is_empty())
        && t != hyper.template.as_str()
    {
        return Err(bad("hyper.template", format!("the asset is a {t}; these weights are a {}", hyper.template.as_str())));
    }
    if metrics.len() > 500 {
        return Err(bad("metrics", "at most 500 epochs"));
    }
    let (checked, weights) = {
        let (prep, hyper) = (preprocessing.clone(), hyper.clone());
        tokio::task::spawn_blocking(move || (licentia_train::inference::check(&weights, &prep, &hyper), weights)).await.map_err(AppError::internal)?
    };
    checked.map_err(|e| match e {
        licentia_train::TrainError::Invalid { field, message } => bad(&format!("hyper.{field}"), message),
        other => bad("weights", format!("these are not the weights of the model the manifest describes: {other}")),
    })?;
    let id = ModelVersionId::new();
    let sha = ring::digest::digest(&ring::digest::SHA256, &weights).as_ref().to_vec();
    // The weights are the licensor's: an artifact of its organisation, attached as a "model"
    // (auditors never read those; licensees never reach another organisation's artifacts).
    let artifact = crate::artifacts::store_bytes(
        state,
        Some(actor.user_id),
        asset.organisation_id,
        "model",
        id.into(),
        &format!("model-{asset_id}-{id}.burnpack"),
        "application/octet-stream",
        &weights,
    )
    .await?;
    let (source_name, dataset_sha256) = match source {
        Source::Uploaded => ("uploaded", None),
        Source::Trained { dataset_sha256 } => ("trained", Some(dataset_sha256)),
    };
    let mut tx = state.db.begin().await?;
    let number = db::next_number(&mut tx, asset_id).await?;
    licentia_db::artifacts::insert(&mut tx, &artifact).await?;
    let v = ModelVersion {
        id,
        asset_id,
        organisation_id: asset.organisation_id,
        number,
        template: hyper.template.as_str().to_owned(),
        hyper: serde_json::to_value(&hyper).map_err(AppError::internal)?,
        preprocessing: serde_json::to_value(&preprocessing).map_err(AppError::internal)?,
        metrics: serde_json::to_value(&metrics).map_err(AppError::internal)?,
        weights_artifact: artifact.id,
        weights_sha256: sha.clone(),
        source: source_name.to_owned(),
        dataset_sha256,
        notes,
        created_by: Some(actor.user_id),
        created_at: Utc::now(),
    };
    db::insert(&mut tx, &v).await?;
    let event = actor.event("model.version_published", Outcome::Success).target("asset", asset_id).details(json!({
        "version": id, "number": number, "weights_sha256": hex::encode(&sha), "template": v.template, "source": source_name,
    }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    Ok(view(actor, &v))
}

/// The licensor trains a version from its own data with the same engine licensees use, then
/// publishes it as [`publish`] does (what `licentia model train` runs).
pub async fn train_and_publish(state: &AppState, actor: &Actor, asset_id: AssetId, csv: Vec<u8>, hyper: Hyper, notes: String) -> AppResult<VersionView> {
    own_model(state, actor, asset_id).await?;
    let dataset_sha256 = ring::digest::digest(&ring::digest::SHA256, &csv).as_ref().to_vec();
    let limits = licentia_train::data::Limits::of_bytes(state.settings.max_dataset_bytes);
    let h = hyper.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let table = licentia_train::data::parse_csv(&csv, &limits).map_err(|e| bad("data", e.to_string()))?;
        licentia_train::train(&table, &h, &licentia_train::cpu(), &mut |_| {}, &std::sync::atomic::AtomicBool::new(false)).map_err(|e| match e {
            licentia_train::TrainError::Invalid { field, message } => bad(&format!("hyper.{field}"), message),
            other => bad("data", other.to_string()),
        })
    })
    .await
    .map_err(AppError::internal)??;
    let manifest = Manifest { hyper: outcome.hyper.clone(), preprocessing: outcome.preprocessing.clone(), metrics: outcome.metrics.clone(), notes };
    publish(state, actor, asset_id, outcome.weights, manifest, Source::Trained { dataset_sha256 }).await
}

/// A version's fine-tuning by one licensee, as the licensor sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Lineage {
    pub version_id: ModelVersionId,
    pub version: i32,
    pub organisation_id: OrganisationId,
    pub organisation: String,
    pub runs: i64,
    pub succeeded: i64,
    /// The best last-epoch validation metric of its succeeded runs: AUC (binary), accuracy
    /// (multiclass) or R² (regression).
    pub best_metric: Option<f64>,
    pub metric: &'static str,
}

/// A model asset's versions and, for the licensor's staff, their lineage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssetModels {
    pub versions: Vec<VersionView>,
    /// Absent for licensees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Vec<Lineage>>,
}

fn metric_of(template: &str) -> &'static str {
    match licentia_train::Template::parse(template).map(licentia_train::Template::task) {
        Some(licentia_train::prep::Task::Multiclass) => "accuracy",
        Some(licentia_train::prep::Task::Regression) => "r2",
        _ => "auc",
    }
}

/// The versions of a model asset the actor may see: the licensor's staff all of them with the
/// lineage; a licensee those its licences grant (an asset it may see but with no granted version
/// lists none). The read is audited (a model read).
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn list(state: &AppState, actor: &Actor, asset_id: AssetId) -> AppResult<AssetModels> {
    let asset = crate::assets::load(state, actor, asset_id).await?;
    let mut tx = state.db.begin().await?;
    let all = db::of_asset(&mut tx, asset.id).await?;
    let (versions, lineage) = if actor.is_licensee() {
        let granted = granted_to(&mut tx, actor.organisation_id).await?;
        (all.iter().filter(|v| granted.contains(&v.id)).map(|v| view(actor, v)).collect::<Vec<_>>(), None)
    } else {
        let mut rows: Vec<Lineage> = Vec::new();
        for d in db::descendants(&mut tx, asset.id).await? {
            let Some(v) = all.iter().find(|v| v.id == d.version_id) else { continue };
            let metric = metric_of(&v.template);
            let value = (d.status == licentia_domain::RunStatus::Succeeded).then(|| d.last_metrics.as_ref().and_then(|m| m[metric].as_f64())).flatten();
            match rows.iter_mut().find(|r| r.version_id == d.version_id && r.organisation_id == d.organisation_id) {
                Some(r) => {
                    r.runs += 1;
                    r.succeeded += i64::from(d.status == licentia_domain::RunStatus::Succeeded);
                    r.best_metric = match (r.best_metric, value) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => rows.push(Lineage {
                    version_id: d.version_id,
                    version: v.number,
                    organisation_id: d.organisation_id,
                    organisation: d.organisation_name.clone(),
                    runs: 1,
                    succeeded: i64::from(d.status == licentia_domain::RunStatus::Succeeded),
                    best_metric: value,
                    metric,
                }),
            }
        }
        (all.iter().map(|v| view(actor, v)).collect(), Some(rows))
    };
    let seq = state
        .audit(&mut tx, actor.event("model.versions_read", Outcome::Success).target("asset", asset.id).details(json!({ "versions": versions.len() })))
        .await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    Ok(AssetModels { versions, lineage })
}

/// The versions a licence under `agreement` may grant (those of the assets it covers), for the
/// licensor's licence form; nothing for a licensee.
pub async fn grantable(state: &AppState, actor: &Actor, agreement: licentia_domain::AgreementId) -> AppResult<Vec<VersionView>> {
    if actor.is_licensee() {
        return Ok(Vec::new());
    }
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let assets = licentia_db::agreements::asset_ids(&mut conn, agreement).await?;
    Ok(db::of_assets(&mut conn, &assets).await?.iter().map(|v| view(actor, v)).collect())
}

/// The versions a licence grants, as `actor` may see them (the launch form's "start from").
pub async fn of_licence(state: &AppState, actor: &Actor, l: &licentia_db::training::Licence) -> AppResult<Vec<VersionView>> {
    if l.model_versions.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    Ok(db::by_ids(&mut conn, &l.model_versions).await?.iter().map(|v| view(actor, v)).collect())
}

/// The versions granted by the organisation's licences.
async fn granted_to(conn: &mut licentia_db::PgConnection, org: OrganisationId) -> AppResult<Vec<ModelVersionId>> {
    Ok(licentia_db::training::licences(conn, Some(org)).await?.into_iter().flat_map(|l| l.model_versions).collect())
}

/// Checks the versions a new licence grants: each a version of an asset the agreement covers
/// (a licence cannot grant a model the agreement does not license).
pub async fn check_grant(conn: &mut licentia_db::PgConnection, agreement: licentia_domain::AgreementId, ids: &[String]) -> AppResult<Vec<ModelVersionId>> {
    if ids.len() > 50 {
        return Err(bad("model_versions", "at most 50 versions"));
    }
    let mut parsed = Vec::new();
    for s in ids {
        let id = ModelVersionId::parse(s.trim()).ok_or_else(|| bad("model_versions", format!("{s:?} is not a model version id")))?;
        if !parsed.contains(&id) {
            parsed.push(id);
        }
    }
    if parsed.is_empty() {
        return Ok(parsed);
    }
    let found = db::by_ids(conn, &parsed).await?;
    let covered = licentia_db::agreements::asset_ids(conn, agreement).await?;
    for id in &parsed {
        match found.iter().find(|v| v.id == *id) {
            None => return Err(bad("model_versions", format!("no model version {id}"))),
            Some(v) if !covered.contains(&v.asset_id) => {
                return Err(bad("model_versions", format!("version {} is of an asset this agreement does not cover", v.number)));
            }
            Some(_) => {}
        }
    }
    Ok(parsed)
}

/// The base of a fine-tuning run, for the worker only: the version and its decrypted weights,
/// whose SHA-256 is checked against the one published. Nothing here is ever returned to a face.
pub(crate) async fn base_for_worker(state: &AppState, id: ModelVersionId) -> AppResult<(ModelVersion, Vec<u8>)> {
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let v = db::get(&mut conn, id, None).await?;
    let a = licentia_db::artifacts::get_scoped(&mut conn, v.weights_artifact, None).await?;
    drop(conn);
    let weights = crate::artifacts::read_all(state, &a).await?;
    if ring::digest::digest(&ring::digest::SHA256, &weights).as_ref() != v.weights_sha256.as_slice() {
        return Err(AppError::internal("a model version's weights do not match their published SHA-256"));
    }
    Ok((v, weights))
}

/// The version a licence grants, for a launch: `version_not_granted` (409) unless the licence
/// names it, whatever exists, so that a licensee learns nothing of versions it was not granted.
pub async fn granted(conn: &mut licentia_db::PgConnection, l: &licentia_db::training::Licence, id: ModelVersionId) -> AppResult<ModelVersion> {
    let refused = || AppError::Refused {
        code: "version_not_granted",
        message: "this licence does not grant that model version".into(),
        details: json!({ "granted": l.model_versions }),
    };
    if !l.model_versions.contains(&id) {
        return Err(refused());
    }
    db::get(conn, id, None).await.map_err(|e| match e {
        licentia_db::DbError::NotFound => refused(),
        other => other.into(),
    })
}

/// The actor a command-line operator names with `--as EMAIL`: an enabled manager of an enabled
/// organisation (the CLI holds the server's keys, so it trusts the operator; the audit log
/// records who they said they were).
pub async fn operator(state: &AppState, email: &str) -> AppResult<Actor> {
    let email = licentia_domain::Email::parse(email.trim()).map_err(|e| bad("as", e.message))?;
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let who = licentia_db::users::credentials_by_email(&mut conn, &email).await?.ok_or_else(|| bad("as", "no such user"))?;
    if who.disabled || who.organisation_disabled || who.role != licentia_domain::Role::Manager {
        return Err(bad("as", "name an enabled manager of the licensor"));
    }
    Ok(Actor::new(who.id, who.organisation_id, who.role).labelled(email.as_str(), crate::actor::Origin::default()))
}
