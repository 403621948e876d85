//! Metered training, the use cases: licences under executed agreements, datasets (stored
//! encrypted, their columns kept, dropped or masked), and runs: a launch checks the licence and
//! reserves the run's compute units in the transaction that locks the licence row, or refuses with
//! `quota_exceeded` and what remains; predictions are metered the same way. Workers
//! ([`crate::worker`]) do the training.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, TimeZone as _, Utc};
use licentia_audit::Outcome;
use licentia_db::training::{self as db, Dataset, Licence, NewRun, Run, Usage};
use licentia_domain::agreement::Status;
use licentia_domain::{AgreementId, DatasetId, LicenceId, RunId, RunStatus};
use licentia_train::{Hyper, Template};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::{Actor, policy};

pub use crate::error::{bad, db_err};

/// The start of the licence's current quota period.
pub fn period_start(l: &Licence, now: DateTime<Utc>) -> DateTime<Utc> {
    let start = match l.reset_period.as_str() {
        "monthly" => Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single(),
        "yearly" => Utc.with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0).single(),
        _ => None,
    };
    start.map_or(l.valid_from, |s| s.max(l.valid_from))
}

/// A quota with its overage allowance.
pub fn ceiling(quota: Option<i64>, l: &Licence) -> Option<i64> {
    quota.map(|q| if l.overage == "allow" { q + q * i64::from(l.overage_percent) / 100 } else { q })
}

pub fn remaining(l: &Licence, used: Usage) -> Value {
    let left = |q: Option<i64>, u: i64| ceiling(q, l).map(|c| (c - u).max(0));
    json!({
        "runs": left(l.quota_runs, used.runs),
        "compute_units": left(l.quota_compute_units, used.compute_units),
        "prediction_rows": left(l.quota_prediction_rows, used.prediction_rows),
    })
}

pub async fn licence_json(conn: &mut licentia_db::PgConnection, l: &Licence) -> AppResult<Value> {
    let used = db::usage(conn, l.id, period_start(l, Utc::now())).await?;
    let mut v = serde_json::to_value(l).map_err(AppError::internal)?;
    v["used"] = json!(used);
    v["remaining"] = remaining(l, used);
    Ok(v)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"agreement_id": "0193a6c2-7d1e-7c3a-9b1f-2f6a1c0e5d41", "templates": ["tabular-binary-mlp"], "valid_until": "2027-12-31T23:59:59Z", "quota_runs": 20, "quota_compute_units": 100000, "reset_period": "monthly"}))]
#[serde(deny_unknown_fields)]
pub struct LicenceInput {
    pub agreement_id: String,
    pub templates: Vec<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: DateTime<Utc>,
    pub quota_runs: Option<i64>,
    pub quota_compute_units: Option<i64>,
    pub quota_prediction_rows: Option<i64>,
    pub reset_period: Option<String>,
    pub overage: Option<String>,
    pub overage_percent: Option<i32>,
    #[serde(default)]
    pub allow_model_download: bool,
    /// At most this many of the licence's runs train at once (1 to 1000; absent: no limit).
    pub max_concurrent_runs: Option<i32>,
    /// Whether a run that fails is billed for the epochs it finished (default: not billed).
    #[serde(default)]
    pub failed_runs_billed: bool,
    /// Published model versions (of assets the agreement covers) a licensee may fine-tune.
    #[serde(default)]
    pub model_versions: Vec<String>,
}

/// Checks and stores a licence with its audit entry, in one transaction (the API and the
/// agreement page's form both come here).
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn create_licence(state: &AppState, actor: &Actor, i: LicenceInput) -> AppResult<Value> {
    let agreement_id = AgreementId::parse(i.agreement_id.trim()).ok_or_else(|| bad("agreement_id", "is not an agreement id"))?;
    if i.templates.len() > 10 || (i.templates.is_empty() && i.model_versions.is_empty()) {
        return Err(bad("templates", "name 1 to 10 model templates, or grant model versions"));
    }
    let mut templates = Vec::new();
    for t in &i.templates {
        let t = Template::parse(t.trim())
            .ok_or_else(|| bad("templates", format!("unknown template; one of {}", Template::ALL.map(Template::as_str).join(", "))))?;
        templates.push(t.as_str().to_owned());
    }
    let valid_from = i.valid_from.unwrap_or_else(Utc::now);
    if i.valid_until <= valid_from {
        return Err(bad("valid_until", "must be after valid_from"));
    }
    for (f, q) in [("quota_runs", i.quota_runs), ("quota_compute_units", i.quota_compute_units), ("quota_prediction_rows", i.quota_prediction_rows)] {
        if q.is_some_and(|q| !(0..=1_000_000_000_000_000).contains(&q)) {
            return Err(bad(f, "must be between 0 and 10^15"));
        }
    }
    let reset_period = i.reset_period.unwrap_or_else(|| "none".into());
    if !["none", "monthly", "yearly"].contains(&reset_period.as_str()) {
        return Err(bad("reset_period", "must be none, monthly or yearly"));
    }
    let overage = i.overage.unwrap_or_else(|| "refuse".into());
    if !["refuse", "allow"].contains(&overage.as_str()) {
        return Err(bad("overage", "must be refuse or allow"));
    }
    let overage_percent = i.overage_percent.unwrap_or(0);
    if !(0..=100).contains(&overage_percent) || (overage == "refuse" && overage_percent != 0) {
        return Err(bad("overage_percent", "0 to 100, and only with overage allow"));
    }
    if i.max_concurrent_runs.is_some_and(|n| !(1..=1000).contains(&n)) {
        return Err(bad("max_concurrent_runs", "must be between 1 and 1000, or absent for no limit"));
    }
    let mut tx = state.db.begin().await?;
    let a =
        licentia_db::agreements::get(&mut tx, agreement_id, licentia_db::agreements::Scope::All).await.map_err(|_| bad("agreement_id", "no such agreement"))?;
    if !matches!(a.status, Status::Executed | Status::Active) {
        return Err(bad("agreement_id", format!("licences hang under an executed agreement; this one is {}", a.status)));
    }
    let model_versions = crate::models::check_grant(&mut tx, agreement_id, &i.model_versions).await?;
    let l = Licence {
        id: LicenceId::new(),
        agreement_id,
        organisation_id: a.licensee_id,
        templates,
        valid_from,
        valid_until: i.valid_until,
        quota_runs: i.quota_runs,
        quota_compute_units: i.quota_compute_units,
        quota_prediction_rows: i.quota_prediction_rows,
        reset_period,
        overage,
        overage_percent,
        allow_model_download: i.allow_model_download,
        max_concurrent_runs: i.max_concurrent_runs,
        failed_runs_billed: i.failed_runs_billed,
        model_versions,
        created_at: Utc::now(),
        agreement_status: a.status,
        agreement_title: a.title.clone(),
    };
    db::insert_licence(&mut tx, &l, actor.user_id).await?;
    let event = actor
        .event("licence.created", Outcome::Success)
        .target("licence", l.id)
        .details(json!({ "agreement": agreement_id, "templates": l.templates, "model_versions": l.model_versions, "quota_compute_units": l.quota_compute_units, "quota_runs": l.quota_runs }));
    let seq = state.audit(&mut tx, event).await?;
    let v = licence_json(&mut tx, &l).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    Ok(v)
}

/// A dataset's display name: at most 200 characters, no control characters. Faces check it before
/// reading a body, so a bad name is refused without receiving the file.
pub fn check_dataset_name(name: &str) -> AppResult<()> {
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(bad("name", "at most 200 characters without control characters"));
    }
    Ok(())
}

/// Stores a parsed CSV as the caller's dataset: its typed columns written as an Arrow IPC stream,
/// encrypted into the artifact store a megabyte at a time, then the artifact row, the dataset row
/// and the audit entry in one transaction (no row, no blob on failure). The dataset's SHA-256 is
/// the CSV's as sent; the artifact's, the stored stream's.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn store_dataset(
    state: &AppState,
    actor: &Actor,
    name: &str,
    upload: crate::upload::ParsedCsv,
    residency: &licentia_domain::residency::Residency,
) -> AppResult<Dataset> {
    check_dataset_name(name)?;
    let id = DatasetId::new();
    let table = std::sync::Arc::new(upload.table);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let encoding = table.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let writer = licentia_train::data::write_ipc(&encoding, crate::artifacts::ChannelWriter::new(tx)).map_err(|e| e.to_string())?;
        let mut writer = writer;
        std::io::Write::flush(&mut writer).map_err(|e| e.to_string())
    });
    let filename = format!("{name}.arrows");
    let origin = crate::artifacts::Origin {
        by: Some(actor.user_id),
        org: actor.organisation_id,
        kind: "dataset",
        attached: id.into(),
        filename: &filename,
        content_type: licentia_train::data::IPC_MEDIA_TYPE,
    };
    let artifact = crate::artifacts::store_produced(state, origin, rx, producer).await?;
    let d = Dataset {
        id,
        organisation_id: actor.organisation_id,
        artifact_id: artifact.id,
        name: name.to_owned(),
        rows: table.rows as i64,
        columns: table.columns.len() as i32,
        schema: json!(table.schema()),
        column_actions: json!({}),
        sha256: upload.sha256,
        created_at: Utc::now(),
        personal_data: residency.personal_data,
        lawful_basis: residency.lawful_basis.clone(),
        region: residency.region.clone(),
        retain_until: residency.retain_until,
        erased_at: None,
        erasure_reason: None,
    };
    let stored = async {
        let mut tx = state.db.begin().await?;
        licentia_db::artifacts::insert(&mut tx, &artifact).await?;
        db::insert_dataset(&mut tx, &d, actor.user_id).await?;
        let event = actor.event("dataset.uploaded", Outcome::Success).target("dataset", id).details(json!({
            "rows": d.rows,
            "columns": d.columns,
            "sha256": hex::encode(&d.sha256),
            "bytes": upload.bytes,
            "stored_bytes": artifact.size_bytes,
            "residency": residency,
        }));
        let seq = state.audit(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok::<_, AppError>(seq)
    }
    .await;
    match stored {
        Ok(seq) => {
            state.audited(seq).await;
            Ok(d)
        }
        Err(e) => {
            // No row: the ciphertext just written is nobody's; it goes too.
            if let Ok(key) = licentia_store::StorageKey::parse(&artifact.storage_key) {
                let _ = state.store.delete(&key).await;
            }
            Err(e)
        }
    }
}

/// A dataset's typed table, read back from its stored form without parsing text (datasets stored
/// before the columnar form, as CSV, are parsed with the server's limits, as they always were). `max_batches` reads only
/// the first chunks (a preview needs one).
pub async fn read_table(state: &AppState, d: &Dataset, max_batches: Option<usize>) -> AppResult<licentia_train::data::Table> {
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let a = licentia_db::artifacts::get_scoped(&mut conn, d.artifact_id, None).await?;
    drop(conn);
    if a.content_type == licentia_train::data::IPC_MEDIA_TYPE {
        // Decrypted and decoded a segment at a time: the stream is never whole beside the table.
        let mut reader = licentia_train::data::TableReader::new(max_batches);
        crate::artifacts::read_pieces(state, &a, |piece| reader.push(piece).map_err(AppError::internal)).await?;
        return reader.finish().map_err(AppError::internal);
    }
    let bytes = crate::artifacts::read_all(state, &a).await?;
    let limits = state.settings.dataset_limits();
    tokio::task::spawn_blocking(move || {
        licentia_train::data::parse_csv(&bytes, &limits).map_err(|e| AppError::Conflict {
            // Only a limit lowered since the upload gets here: say so rather than fail obscurely.
            message: format!("this dataset no longer fits this server's dataset limit ({} MiB): {e}", limits.max_bytes / (1024 * 1024)),
        })
    })
    .await
    .map_err(AppError::internal)?
}

/// A dataset as its owner reads it: the schema, the column actions, and the first ten rows with
/// masked columns hidden (read from the first stored chunk only). Audited.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn dataset_detail(state: &AppState, actor: &Actor, id: DatasetId) -> AppResult<Value> {
    let d = load_dataset(state, actor, id).await?;
    if d.erased_at.is_some() {
        // The metadata stays; there is no content left to preview.
        state.audit_alone(actor.event("dataset.read", Outcome::Success).target("dataset", d.id)).await?;
        let mut v = serde_json::to_value(policy::dataset(actor, &d)).map_err(AppError::internal)?;
        let names: Vec<&str> = d.schema.as_array().map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect()).unwrap_or_default();
        v["columns_names"] = json!(names);
        v["preview"] = json!([]);
        return Ok(v);
    }
    let table = read_table(state, &d, Some(1)).await?;
    let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    let shown: Vec<bool> = names.iter().map(|n| policy::may_see_values(actor, &d, n)).collect();
    let preview: Vec<Vec<String>> =
        table.preview(10).into_iter().map(|row| row.into_iter().zip(&shown).map(|(v, show)| if *show { v } else { "•••".to_owned() }).collect()).collect();
    state.audit_alone(actor.event("dataset.read", Outcome::Success).target("dataset", d.id)).await?;
    let mut v = serde_json::to_value(policy::dataset(actor, &d)).map_err(AppError::internal)?;
    v["columns_names"] = json!(names);
    v["preview"] = json!(preview);
    Ok(v)
}

pub async fn load_dataset(state: &AppState, actor: &Actor, id: DatasetId) -> AppResult<Dataset> {
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    match db::dataset(&mut conn, id, policy::licensee_scope(actor)).await {
        Ok(d) => Ok(d),
        Err(licentia_db::DbError::NotFound) => Err(state.not_found(actor, "dataset", &id.to_string()).await),
        Err(e) => Err(e.into()),
    }
}

/// Marks columns `keep`, `drop` or `mask`; unknown columns and actions are refused.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn set_columns(state: &AppState, actor: &Actor, id: DatasetId, columns: &BTreeMap<String, String>) -> AppResult<Value> {
    let d = load_dataset(state, actor, id).await?;
    let known: Vec<String> = d.schema.as_array().map(|a| a.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect()).unwrap_or_default();
    let mut actions: BTreeMap<String, String> = serde_json::from_value(d.column_actions.clone()).unwrap_or_default();
    for (col, action) in columns {
        if !known.contains(col) {
            return Err(bad("columns", format!("there is no column {:?}", col.chars().take(60).collect::<String>())));
        }
        match action.as_str() {
            "keep" => {
                actions.remove(col);
            }
            "drop" | "mask" => {
                actions.insert(col.clone(), action.clone());
            }
            _ => return Err(bad("columns", "each action is keep, drop or mask")),
        }
    }
    let v = json!(actions);
    let mut tx = state.db.begin().await?;
    db::set_column_actions(&mut tx, d.id, &v).await?;
    let seq = state.audit(&mut tx, actor.event("dataset.columns_set", Outcome::Success).target("dataset", d.id).details(json!({ "actions": v }))).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    Ok(json!({ "id": d.id, "column_actions": v }))
}

/// What a run will cost, worked out from the dataset's schema and the hyperparameters before
/// anything is reserved or computed (formula in `licentia_train::cost`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Estimate {
    /// Model inputs (numeric columns 1 each, categorical ones a column per category kept).
    pub inputs: usize,
    pub outputs: usize,
    /// Multiply-adds of one row's forward pass.
    pub forward_macs: u64,
    /// Rows trained on (the split keeps 20 % for validation).
    pub train_rows: i64,
    /// Compute units reserved: ceil(train rows × epochs × 3 × forward multiply-adds / 10^6).
    pub compute_units: i64,
    pub memory_bytes: u64,
}

/// What launching `hyper` on the caller's dataset would reserve, for the launch form to show
/// before anything is sent (the same estimate the launch makes; nothing is reserved or audited:
/// it reads only the dataset's schema, which its owner sees anyway).
pub async fn estimate_for(
    state: &AppState,
    actor: &Actor,
    dataset_id: DatasetId,
    hyper: &Hyper,
    fine_tune: Option<(LicenceId, &FineTune)>,
) -> AppResult<Estimate> {
    hyper.check().map_err(|e| match e {
        licentia_train::TrainError::Invalid { field, message } => AppError::Validation { field: format!("hyper.{field}"), message },
        other => bad("hyper", other.to_string()),
    })?;
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let dataset = match db::dataset(&mut conn, dataset_id, Some(actor.organisation_id)).await {
        Ok(d) => d,
        Err(licentia_db::DbError::NotFound) => {
            drop(conn);
            return Err(state.not_found(actor, "dataset", &dataset_id.to_string()).await);
        }
        Err(e) => return Err(e.into()),
    };
    let actions: BTreeMap<String, String> = serde_json::from_value(dataset.column_actions.clone()).unwrap_or_default();
    let excluded: Vec<String> = hyper.exclude.iter().cloned().chain(actions.into_keys()).collect();
    let Some((licence_id, ft)) = fine_tune else { return estimate(&dataset, hyper, &excluded) };
    // As the launch estimates a fine-tuning run: on the base version's inputs, under its licence.
    let l = match db::licence(&mut conn, licence_id, Some(actor.organisation_id)).await {
        Ok(l) => l,
        Err(licentia_db::DbError::NotFound) => {
            drop(conn);
            return Err(state.not_found(actor, "licence", &licence_id.to_string()).await);
        }
        Err(e) => return Err(e.into()),
    };
    let mut hyper = hyper.clone();
    hyper.exclude = excluded;
    let (_, prep) = check_fine_tune(&mut conn, &l, &dataset, &mut hyper, ft).await?;
    Ok(estimate_from_base(&dataset, &hyper, &prep))
}

/// The estimate for training `hyper` on `dataset` with `excluded` columns left out. A target the
/// dataset does not have, or nothing left to learn from, is refused here (422), not after the
/// launch has queued.
pub fn estimate(dataset: &Dataset, hyper: &Hyper, excluded: &[String]) -> AppResult<Estimate> {
    use licentia_train::cost;
    let columns = dataset.schema.as_array().cloned().unwrap_or_default();
    let shape = |c: &Value| cost::ColumnShape {
        categorical: c["kind"].as_str() == Some("categorical"),
        distinct: c["distinct"].as_u64().and_then(|d| usize::try_from(d).ok()).unwrap_or(0),
    };
    let target = columns.iter().find(|c| c["name"].as_str() == Some(hyper.target.as_str())).ok_or_else(|| {
        let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).take(20).collect();
        bad("hyper.target", format!("the dataset has no column {:?}; it has {}", hyper.target, names.join(", ")))
    })?;
    let inputs: usize =
        columns.iter().filter(|c| c["name"].as_str().is_some_and(|n| n != hyper.target && !excluded.iter().any(|e| e == n))).map(|c| shape(c).width()).sum();
    if inputs == 0 {
        return Err(bad("hyper.exclude", "no feature columns are left once the target and the excluded columns are removed"));
    }
    let outputs = cost::outputs(hyper.template.task(), shape(target).distinct);
    Ok(sized(dataset, hyper, inputs, outputs))
}

/// The estimate of training a network of `inputs` and `outputs` with `hyper`'s hidden layers on
/// `dataset`'s rows: the one formula both kinds of launch reserve by.
fn sized(dataset: &Dataset, hyper: &Hyper, inputs: usize, outputs: usize) -> Estimate {
    use licentia_train::cost;
    let hidden = hyper.hidden_sizes();
    let forward_macs = cost::forward_macs(inputs, &hidden, outputs);
    let rows = u64::try_from(dataset.rows).unwrap_or(0);
    let train_rows = rows * 8 / 10;
    let compute_units = i64::try_from(cost::units(train_rows, u64::from(hyper.epochs), forward_macs)).unwrap_or(i64::MAX);
    let widest = hidden.iter().copied().chain([inputs, outputs]).max().unwrap_or(1) as u64;
    let params = cost::parameters(inputs, &hidden, outputs);
    let columns = dataset.schema.as_array().map_or(0, Vec::len) as u64;
    let memory_bytes = cost::memory_bytes(rows, columns, inputs as u64, params, hyper.batch_size as u64, widest);
    Estimate { inputs, outputs, forward_macs, train_rows: i64::try_from(train_rows).unwrap_or(i64::MAX), compute_units, memory_bytes }
}

/// The estimate of a fine-tuning run: the network's inputs are the base version's features
/// (the dataset's other columns are left out), its hidden layers and outputs the base's, so the
/// units are those of training the same network from random weights on the same rows.
pub fn estimate_from_base(dataset: &Dataset, hyper: &Hyper, prep: &licentia_train::prep::Preprocessing) -> Estimate {
    sized(dataset, hyper, prep.width, licentia_train::model::outputs(prep.task, prep.classes.len()))
}

/// A run's name as the licensee gives it: trimmed, 1 to 100 characters, no control characters;
/// empty means none.
pub fn check_run_name(name: Option<&str>) -> AppResult<Option<String>> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) if n.chars().count() > 100 || n.chars().any(char::is_control) => Err(bad("name", "1 to 100 characters without control characters")),
        Some(n) => Ok(Some(n.to_owned())),
    }
}

/// Where and for what the licensee will use the model a run produces, as declared at launch.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Declared {
    /// The field of use (one of the agreement's fields when it limits them).
    pub field_of_use: Option<String>,
    /// ISO 3166 country where the model will be used; absent: the licensee's registered country.
    pub country: Option<String>,
}

/// The declaration checked against the executed terms: a field outside the agreement's fields or
/// a country outside its territory is 409 naming which; a declaration that is missing where the
/// terms need one is 422. Returns (field, country) as recorded.
fn check_declared(d: &Declared, terms: &licentia_domain::agreement::Terms, home: Option<&str>) -> AppResult<(Option<String>, Option<String>)> {
    let field = d.field_of_use.as_deref().map(|f| f.trim().to_lowercase()).filter(|f| !f.is_empty());
    if field.as_ref().is_some_and(|f| f.chars().count() > 100 || f.chars().any(char::is_control)) {
        return Err(bad("field_of_use", "1 to 100 characters without control characters"));
    }
    let granted: Vec<&String> = terms.fields.iter().collect();
    match &field {
        None if !granted.is_empty() => {
            return Err(bad(
                "field_of_use",
                format!("declare the field of use; the agreement grants {}", terms.fields.iter().cloned().collect::<Vec<_>>().join(", ")),
            ));
        }
        Some(f) if !granted.is_empty() && !terms.fields.contains(f) => {
            return Err(AppError::Refused {
                code: "outside_field_of_use",
                message: format!(
                    "the field of use {f:?} is outside the agreement, which grants {}",
                    terms.fields.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                details: json!({ "declared": f, "granted": terms.fields }),
            });
        }
        _ => {}
    }
    let country = match d.country.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => {
            let c = c.to_ascii_uppercase();
            if !licentia_domain::ip::jurisdiction::is_country(&c) {
                return Err(bad("country", "must be an ISO 3166 alpha-2 country code"));
            }
            Some(c)
        }
        None => home.map(str::to_owned),
    };
    let Some(c) = &country else {
        return Err(bad("country", "declare the country where the model will be used (your organisation has none recorded)"));
    };
    if !terms.territory.covers(c) {
        return Err(AppError::Refused {
            code: "outside_territory",
            message: format!("{c} is outside the agreement's territory ({})", terms.territory.describe()),
            details: json!({ "declared": c, "territory": terms.territory }),
        });
    }
    Ok((field, country))
}

/// A run that starts from a published model version instead of random weights.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct FineTune {
    /// The model version (granted by the licence) the run starts from.
    pub base_version: String,
    /// Layers from the input that keep the base's weights (0: all train).
    #[serde(default)]
    pub freeze_layers: u32,
    /// Transform the data with the base version's statistics instead of refitting them.
    #[serde(default)]
    pub base_preprocessing: bool,
}

/// The launch's checks of a fine-tuning run against its base version: the licence grants the
/// version (else 409 `version_not_granted`), the settings keep its architecture and target
/// (422 naming the field), the dataset has every input the base reads and none of them masked
/// or dropped (422 naming the columns), and frozen layers are refused where the licence lets the
/// licensee download results (they would carry the base's weights verbatim). Returns the base's
/// preprocessing, for the estimate.
async fn check_fine_tune(
    conn: &mut licentia_db::PgConnection,
    l: &Licence,
    dataset: &Dataset,
    hyper: &mut Hyper,
    ft: &FineTune,
) -> AppResult<(licentia_domain::ModelVersionId, licentia_train::prep::Preprocessing)> {
    let id = licentia_domain::ModelVersionId::parse(ft.base_version.trim()).ok_or_else(|| bad("base_version", "is not a model version id"))?;
    let v = crate::models::granted(conn, l, id).await?;
    let base_hyper: Hyper = serde_json::from_value(v.hyper.clone()).map_err(AppError::internal)?;
    let prep: licentia_train::prep::Preprocessing = serde_json::from_value(v.preprocessing.clone()).map_err(AppError::internal)?;
    if hyper.hidden.is_none() {
        hyper.hidden = Some(base_hyper.hidden_sizes());
    }
    let base = licentia_train::Base {
        weights: &[],
        preprocessing: &prep,
        hyper: &base_hyper,
        freeze: ft.freeze_layers as usize,
        base_preprocessing: ft.base_preprocessing,
    };
    // The dataset's dropped and masked columns are already in `exclude`: a base input among
    // them is named here, as the engine would refuse it.
    base.check(hyper).map_err(|e| match e {
        licentia_train::TrainError::Invalid { field, message } if field == "freeze_layers" => bad("freeze_layers", message),
        licentia_train::TrainError::Invalid { field, message } if field == "exclude" => bad("dataset_id", message),
        licentia_train::TrainError::Invalid { field, message } => bad(&format!("hyper.{field}"), message),
        other => bad("base_version", other.to_string()),
    })?;
    let columns: Vec<(String, licentia_train::data::Kind)> = dataset
        .schema
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    let kind = serde_json::from_value(c["kind"].clone()).ok()?;
                    Some((c["name"].as_str()?.to_owned(), kind))
                })
                .collect()
        })
        .unwrap_or_default();
    let problems = licentia_train::prep::schema_problems(&prep, &columns);
    if !problems.is_empty() {
        let named: Vec<String> = problems.iter().map(|p| format!("{} ({})", p.column, p.problem)).collect();
        return Err(bad("dataset_id", format!("the dataset does not fit version {}: {}", v.number, named.join("; "))));
    }
    if ft.freeze_layers > 0 && l.allow_model_download {
        return Err(AppError::Refused {
            code: "freeze_not_allowed",
            message:
                "this licence lets you download fine-tuned models, and frozen layers would hand over the base version's weights as they are; train every layer"
                    .into(),
            details: json!({ "freeze_layers": ft.freeze_layers }),
        });
    }
    Ok((id, prep))
}

#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn launch(
    state: &AppState,
    actor: &Actor,
    licence_id: LicenceId,
    dataset_id: DatasetId,
    hyper: &Hyper,
    key: Option<&str>,
    name: Option<&str>,
    declared: &Declared,
    fine_tune: Option<&FineTune>,
) -> AppResult<(Run, bool)> {
    let name = check_run_name(name)?;
    let mut tx = state.db.begin().await?;
    let l = match db::lock_licence(&mut tx, licence_id, Some(actor.organisation_id)).await {
        Ok(l) => l,
        Err(licentia_db::DbError::NotFound) => {
            drop(tx);
            return Err(state.not_found(actor, "licence", &licence_id.to_string()).await);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(k) = key
        && let Some(existing) = db::run_by_key(&mut tx, actor.organisation_id, k).await?
    {
        // A retry gets the first answer; the same key on another request is a client bug that
        // must not silently return a run the caller did not ask for (Stripe answers the same).
        let without_exclusions = |v: &Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("exclude");
            }
            v
        };
        let asked = without_exclusions(&serde_json::to_value(hyper).map_err(AppError::internal)?);
        let same_base = existing.base_version.map(|v| v.to_string()) == fine_tune.map(|f| f.base_version.trim().to_lowercase());
        if existing.licence_id != licence_id || existing.dataset_id != dataset_id || !same_base || without_exclusions(&existing.hyper) != asked {
            return Err(bad("idempotency_key", "this key was already used for a different request; send a new key"));
        }
        return Ok((existing, false));
    }
    let now = Utc::now();
    if !matches!(l.agreement_status, Status::Executed | Status::Active) {
        return Err(AppError::Refused {
            code: "licence_inactive",
            message: format!("the agreement behind this licence is {}", l.agreement_status),
            details: json!({ "agreement_status": l.agreement_status }),
        });
    }
    if now < l.valid_from || now >= l.valid_until {
        return Err(AppError::Refused {
            code: "licence_expired",
            message: format!("the licence is valid from {} until {}", l.valid_from.format("%Y-%m-%d %H:%M UTC"), l.valid_until.format("%Y-%m-%d %H:%M UTC")),
            details: json!({ "valid_from": l.valid_from, "valid_until": l.valid_until }),
        });
    }
    // A granted version is its own grant; the templates are what may train from random weights.
    if fine_tune.is_none() && !l.templates.iter().any(|t| t == hyper.template.as_str()) {
        return Err(AppError::Refused {
            code: "template_not_allowed",
            message: format!("the licence allows {}", l.templates.join(", ")),
            details: json!({ "allowed": l.templates }),
        });
    }
    // Field of use and territory are the executed terms', checked at the moment of use.
    let agreement = licentia_db::agreements::get(&mut tx, l.agreement_id, licentia_db::agreements::Scope::All).await?;
    let executed = agreement.executed_version.unwrap_or(agreement.current_version);
    let terms: licentia_domain::agreement::Terms =
        serde_json::from_value(licentia_db::agreements::version(&mut tx, agreement.id, executed, None).await?.terms).map_err(AppError::internal)?;
    let home = licentia_db::organisations::get_scoped(&mut tx, actor.organisation_id, None).await?.country;
    let (use_field, use_country) = check_declared(declared, &terms, home.as_deref())?;
    let dataset = match db::dataset(&mut tx, dataset_id, Some(actor.organisation_id)).await {
        Ok(d) => d,
        Err(licentia_db::DbError::NotFound) => {
            drop(tx);
            return Err(state.not_found(actor, "dataset", &dataset_id.to_string()).await);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(at) = dataset.erased_at {
        return Err(AppError::Conflict { message: format!("this dataset was erased on {}; upload it again to train on it", at.format("%Y-%m-%d")) });
    }
    let mut hyper = hyper.clone();
    // Dropped and masked columns never reach training.
    let actions: BTreeMap<String, String> = serde_json::from_value(dataset.column_actions.clone()).unwrap_or_default();
    for col in actions.keys() {
        if !hyper.exclude.contains(col) {
            hyper.exclude.push(col.clone());
        }
    }
    let base = match fine_tune {
        Some(ft) => Some(check_fine_tune(&mut tx, &l, &dataset, &mut hyper, ft).await?),
        None => None,
    };
    let estimate = match &base {
        None => estimate(&dataset, &hyper, &hyper.exclude)?,
        Some((_, prep)) => estimate_from_base(&dataset, &hyper, prep),
    };
    if estimate.memory_bytes > state.settings.max_run_memory {
        let mib = |b: u64| b / (1024 * 1024);
        return Err(AppError::Refused {
            code: "run_too_large",
            message: format!(
                "this run would hold about {} MiB; this server trains at most {} MiB per run (fewer rows, columns or hidden units fit)",
                mib(estimate.memory_bytes),
                mib(state.settings.max_run_memory)
            ),
            details: json!({ "estimate": estimate, "max_run_memory_bytes": state.settings.max_run_memory }),
        });
    }
    let units = estimate.compute_units;
    let used = db::usage(&mut tx, l.id, period_start(&l, now)).await?;
    let over = |q: Option<i64>, u: i64, add: i64| ceiling(q, &l).is_some_and(|c| u + add > c);
    if over(l.quota_runs, used.runs, 1) || over(l.quota_compute_units, used.compute_units, units) {
        return Err(AppError::Refused {
            code: "quota_exceeded",
            message: format!("this run needs 1 run and {units} compute units; the licence has {} left", remaining(&l, used)),
            details: json!({ "needed": { "runs": 1, "compute_units": units }, "remaining": remaining(&l, used) }),
        });
    }
    let id = RunId::new();
    let hyper_v = serde_json::to_value(&hyper).map_err(AppError::internal)?;
    db::insert_run(
        &mut tx,
        &NewRun {
            id,
            licence_id: l.id,
            agreement_id: l.agreement_id,
            organisation_id: actor.organisation_id,
            dataset_id,
            template: hyper.template.as_str(),
            hyper: &hyper_v,
            idempotency_key: key,
            name: name.as_deref(),
            use_field: use_field.as_deref(),
            use_country: use_country.as_deref(),
            reserved_units: units,
            created_by: actor.user_id,
            base_version: base.as_ref().map(|(id, _)| *id),
            freeze_layers: fine_tune.map_or(0, |f| i32::try_from(f.freeze_layers).unwrap_or(0)),
            base_preprocessing: fine_tune.is_some_and(|f| f.base_preprocessing),
        },
    )
    .await?;
    db::ledger(&mut tx, l.id, l.agreement_id, Some(id), "reserve", Usage { runs: 1, compute_units: units, prediction_rows: 0 }, None).await?;
    // A quota crossing 80 % or 100 % with this reservation is an event for both parties' systems.
    let mut hooks = 0;
    for (quota, limit, before, add) in [("runs", l.quota_runs, used.runs, 1), ("compute_units", l.quota_compute_units, used.compute_units, units)] {
        let Some(limit) = limit.filter(|c| *c > 0) else { continue };
        for threshold in [80_i64, 100] {
            let mark = limit.saturating_mul(threshold);
            if before.saturating_mul(100) < mark && (before + add).saturating_mul(100) >= mark {
                let licensor = licentia_db::agreements::get(&mut tx, l.agreement_id, licentia_db::agreements::Scope::All).await?.licensor_id;
                let data = json!({
                    "licence_id": l.id, "agreement_id": l.agreement_id, "licensee_id": l.organisation_id, "quota": quota,
                    "threshold_percent": threshold, "used": before + add, "limit": limit, "run_id": id,
                });
                hooks += crate::webhooks::queue(&mut tx, &[l.organisation_id, licensor], "licence.quota_threshold", data).await?;
            }
        }
    }
    let event = actor.event("run.launched", Outcome::Success).target("run", id).details(json!({
        "licence": l.id, "dataset": dataset_id, "template": hyper.template.as_str(), "reserved_units": units,
        "base_version": base.as_ref().map(|(id, _)| *id),
        "field_of_use": use_field, "country": use_country,
    }));
    let seq = state.audit(&mut tx, event).await?;
    let run = db::run(&mut tx, id, None).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    state.runs_queued.notify_waiters();
    state.notified(crate::state::Queued { mail: 0, webhooks: hooks });
    Ok((run, true))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"reason": "erasure request of 2027-03-01 (GDPR Art. 17)"}))]
#[serde(deny_unknown_fields)]
pub struct EraseInput {
    /// Why (kept in the row and the audit log).
    #[serde(default)]
    pub reason: String,
    pub csrf: Option<String>,
}

/// Crypto-shredding of one dataset in one transaction: its artifact's wrapped data key is
/// overwritten (from then on no master key recovers it, so every copy of the ciphertext, in the
/// object store's replicas or a backup of the blobs, is unreadable), the row keeps its metadata
/// and the columns' names and kinds, and the audit log records it. Refused while a run on it is
/// queued or running (cancel it first). The blob is deleted afterwards, best effort: without the
/// key it is noise.
async fn erase(
    state: &AppState,
    d: &Dataset,
    reason: &str,
    event: licentia_audit::AuditEvent,
    scope: Option<licentia_domain::OrganisationId>,
) -> AppResult<Dataset> {
    let mut tx = state.db.begin().await?;
    let locked = db::lock_dataset(&mut tx, d.id, scope).await?;
    if locked.erased_at.is_some() {
        return Ok(locked);
    }
    let active = db::active_runs_on(&mut tx, d.id).await?;
    if active > 0 {
        return Err(AppError::Conflict { message: format!("{active} run(s) on this dataset are queued or running; cancel them before erasing it") });
    }
    let storage_key = licentia_db::artifacts::shred(&mut tx, locked.artifact_id).await?;
    db::mark_erased(&mut tx, d.id, reason).await?;
    let seq = state.audit(&mut tx, event).await?;
    let erased = db::dataset(&mut tx, d.id, None).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    if let Ok(key) = licentia_store::StorageKey::parse(&storage_key)
        && let Err(e) = state.store.delete(&key).await
    {
        tracing::warn!(dataset = %d.id, error = %e, "the erased dataset's blob could not be deleted (its key is gone: it is unreadable)");
    }
    Ok(erased)
}

/// Its owner erases a dataset (an erasure request under GDPR Art. 17, or simply no longer needed).
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn erase_dataset(state: &AppState, actor: &Actor, id: DatasetId, reason: &str) -> AppResult<crate::policy::DatasetView> {
    let reason = reason.trim();
    if reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(bad("reason", "at most 500 characters without control characters"));
    }
    let reason = if reason.is_empty() { "erasure requested by its owner" } else { reason };
    let d = load_dataset(state, actor, id).await?;
    let event = actor
        .event("dataset.erased", Outcome::Success)
        .target("dataset", d.id)
        .details(json!({ "reason": reason, "artifact": d.artifact_id, "sha256": hex::encode(&d.sha256), "personal_data": d.personal_data }));
    let erased = erase(state, &d, reason, event, crate::policy::licensee_scope(actor)).await?;
    Ok(crate::policy::dataset(actor, &erased))
}

/// Erases every dataset whose retention ended before today (the worker's housekeeping). A dataset
/// with a run still queued or running waits for the next pass. Returns how many were erased.
pub async fn erase_expired(state: &AppState) -> AppResult<usize> {
    let today = Utc::now().date_naive();
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let due = db::retention_ended(&mut conn, today, 100).await?;
    drop(conn);
    let mut n = 0;
    for d in due {
        let reason = format!("retention ended on {}", d.retain_until.map(|u| u.to_string()).unwrap_or_default());
        let event = licentia_audit::AuditEvent::new("dataset.erased", Outcome::Success)
            .actor(None, Some("licentia-retention".into()), Some(d.organisation_id.as_uuid()))
            .target("dataset", d.id)
            .details(json!({ "reason": reason, "artifact": d.artifact_id, "sha256": hex::encode(&d.sha256), "personal_data": d.personal_data }));
        match erase(state, &d, &reason, event, None).await {
            Ok(_) => n += 1,
            Err(AppError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Why a queued run has not started, when the reason is that no live worker may take it: its
/// dataset is restricted to a region no worker started with that region has served lately.
pub async fn waiting_reason(state: &AppState, r: &Run) -> AppResult<Option<String>> {
    if r.status != RunStatus::Queued {
        return Ok(None);
    }
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let d = db::dataset(&mut conn, r.dataset_id, None).await?;
    let Some(region) = d.region else { return Ok(None) };
    if db::region_served(&mut conn, &region, WORKER_SEEN_SECS).await? {
        return Ok(None);
    }
    Ok(Some(format!(
        "its dataset may only be processed in region {region:?}, and no worker of that region has been seen in the last {} minutes: it waits until one starts (licentia worker --region {region})",
        WORKER_SEEN_SECS / 60
    )))
}

/// A worker counts as live for this long after it last looked for work.
pub const WORKER_SEEN_SECS: i64 = 120;

pub async fn load_run(state: &AppState, actor: &Actor, id: RunId) -> AppResult<Run> {
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    match db::run(&mut conn, id, policy::licensee_scope(actor)).await {
        Ok(r) => Ok(r),
        Err(licentia_db::DbError::NotFound) => Err(state.not_found(actor, "run", &id.to_string()).await),
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn cancel(state: &AppState, actor: &Actor, id: RunId) -> AppResult<Run> {
    let r = load_run(state, actor, id).await?;
    let mut tx = state.db.begin().await?;
    let r = db::lock_run(&mut tx, r.id, policy::licensee_scope(actor)).await?;
    match r.status {
        RunStatus::Queued => {
            db::finish(
                &mut tx,
                r.id,
                &db::Finish {
                    status: RunStatus::Cancelled,
                    units_used: 0,
                    epochs_done: 0,
                    metrics: &json!([]),
                    preprocessing: None,
                    weights_artifact: None,
                    receipt: None,
                    error: None,
                },
            )
            .await?;
            let reserved = Usage { runs: 1, compute_units: r.reserved_units, prediction_rows: 0 };
            db::ledger(&mut tx, r.licence_id, r.agreement_id, Some(r.id), "release", reserved, Some(r.created_at)).await?;
        }
        RunStatus::Running => db::request_cancel(&mut tx, r.id).await?,
        other => return Err(AppError::Conflict { message: format!("the run is already {other}") }),
    }
    let seq = state.audit(&mut tx, actor.event("run.cancel_requested", Outcome::Success).target("run", r.id).details(json!({ "status": r.status }))).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    Ok(db::run(&mut conn, r.id, None).await?)
}

/// The trained model of a succeeded run: its weights (decrypted, hash-checked), preprocessing and
/// hyperparameters.
pub async fn trained(state: &AppState, r: &Run) -> AppResult<(Vec<u8>, licentia_train::prep::Preprocessing, Hyper)> {
    let (Some(weights_id), Some(prep)) = (r.weights_artifact, r.preprocessing.as_ref()) else {
        return Err(AppError::Conflict { message: format!("the run is {}; only a finished run with weights can predict", r.status) });
    };
    let preprocessing = serde_json::from_value(prep["preprocessing"].clone()).map_err(AppError::internal)?;
    let hyper = serde_json::from_value(prep["hyper"].clone()).map_err(AppError::internal)?;
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    let a = licentia_db::artifacts::get_scoped(&mut conn, weights_id, None).await?;
    drop(conn);
    Ok((crate::artifacts::read_all(state, &a).await?, preprocessing, hyper))
}

/// Scores every row of `table` with the run's model, metered in prediction rows against the
/// licence. The columns are checked against the model's and the rows metered *before* any
/// inference runs (a request over the quota costs no computation); if inference then fails, the
/// rows are given back.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn predict(state: &AppState, actor: &Actor, r: &Run, table: licentia_train::data::Table) -> AppResult<Vec<licentia_train::inference::Prediction>> {
    let (weights, prep, hyper) = trained(state, r).await?;
    let known: std::collections::BTreeSet<&str> = prep
        .features
        .iter()
        .map(|f| match f {
            licentia_train::prep::Feature::Scaled { column, .. } | licentia_train::prep::Feature::OneHot { column, .. } => column.as_str(),
        })
        .chain([prep.target.as_str()])
        // Columns the run left out (dropped or masked) are the dataset's; the model ignores them.
        .chain(hyper.exclude.iter().map(String::as_str))
        .collect();
    let unknown: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).filter(|n| !known.contains(n)).collect();
    if !unknown.is_empty() {
        return Err(bad("file", format!("the model does not know the column(s) {}; send only the columns it was trained on", unknown.join(", "))));
    }
    let rows = table.rows as i64;
    let mut tx = state.db.begin().await?;
    let l = db::lock_licence(&mut tx, r.licence_id, None).await?;
    let now = Utc::now();
    if !matches!(l.agreement_status.as_str(), "executed" | "active") || now < l.valid_from || now >= l.valid_until {
        return Err(AppError::Refused {
            code: "licence_expired",
            message: "the licence is not valid now".into(),
            details: json!({ "valid_until": l.valid_until, "agreement_status": l.agreement_status }),
        });
    }
    let used = db::usage(&mut tx, l.id, period_start(&l, now)).await?;
    if ceiling(l.quota_prediction_rows, &l).is_some_and(|c| used.prediction_rows + rows > c) {
        drop(tx);
        let e = AppError::Refused {
            code: "quota_exceeded",
            message: format!("scoring {rows} rows exceeds the licence's prediction quota"),
            details: json!({ "needed": { "prediction_rows": rows }, "remaining": remaining(&l, used) }),
        };
        state.audit_alone(actor.event("run.predict_refused", Outcome::Denied).target("run", r.id).details(json!({ "rows": rows }))).await?;
        return Err(e);
    }
    let metered = Usage { runs: 0, compute_units: 0, prediction_rows: rows };
    db::ledger(&mut tx, l.id, l.agreement_id, Some(r.id), "settle", metered, Some(now)).await?;
    let seq = state.audit(&mut tx, actor.event("run.predicted", Outcome::Success).target("run", r.id).details(json!({ "rows": rows }))).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;

    let computed = tokio::task::spawn_blocking(move || {
        let model = licentia_train::inference::load(&weights, &prep, &hyper, &licentia_train::cpu())?;
        model.predict(&table)
    })
    .await
    .map_err(AppError::internal)
    .and_then(|p| {
        p.map_err(|e| match e {
            licentia_train::TrainError::Data(m) => bad("file", m),
            other => AppError::internal(other),
        })
    });
    match computed {
        Ok(preds) => Ok(preds),
        Err(e) => {
            // Nothing was delivered: the rows go back to the licence.
            let mut tx = state.db.begin().await?;
            db::ledger(&mut tx, l.id, l.agreement_id, Some(r.id), "release", metered, Some(now)).await?;
            let seq = state
                .audit(
                    &mut tx,
                    actor.event("run.predict_failed", Outcome::Failure).target("run", r.id).details(json!({ "rows": rows, "error": e.public_message() })),
                )
                .await?;
            tx.commit().await.map_err(db_err)?;
            state.audited(seq).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use licentia_domain::OrganisationId;

    fn licence(reset: &str, overage: &str, pct: i32) -> Licence {
        Licence {
            id: LicenceId::from_uuid(uuid::Uuid::nil()),
            agreement_id: AgreementId::from_uuid(uuid::Uuid::nil()),
            organisation_id: OrganisationId::from_uuid(uuid::Uuid::nil()),
            templates: Vec::new(),
            valid_from: Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).single().unwrap_or_default(),
            valid_until: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default(),
            quota_runs: Some(10),
            quota_compute_units: Some(1000),
            quota_prediction_rows: None,
            reset_period: reset.into(),
            overage: overage.into(),
            overage_percent: pct,
            allow_model_download: false,
            max_concurrent_runs: None,
            failed_runs_billed: false,
            model_versions: Vec::new(),
            created_at: Utc::now(),
            agreement_status: Status::Active,
            agreement_title: String::new(),
        }
    }

    #[test]
    fn quota_periods_reset_monthly_or_yearly_but_never_before_the_licence_starts() {
        let now = Utc.with_ymd_and_hms(2027, 8, 20, 12, 0, 0).single().unwrap_or_default();
        assert_eq!(period_start(&licence("none", "refuse", 0), now).to_rfc3339(), "2026-03-15T00:00:00+00:00");
        assert_eq!(period_start(&licence("monthly", "refuse", 0), now).to_rfc3339(), "2027-08-01T00:00:00+00:00");
        assert_eq!(period_start(&licence("yearly", "refuse", 0), now).to_rfc3339(), "2027-01-01T00:00:00+00:00");
        let first_month = Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).single().unwrap_or_default();
        assert_eq!(period_start(&licence("monthly", "refuse", 0), first_month).to_rfc3339(), "2026-03-15T00:00:00+00:00");
    }

    #[test]
    fn overage_allows_a_percentage_over_the_quota_and_remaining_counts_it() {
        let l = licence("none", "allow", 10);
        assert_eq!(ceiling(Some(1000), &l), Some(1100));
        assert_eq!(ceiling(None, &l), None);
        assert_eq!(ceiling(Some(1000), &licence("none", "refuse", 0)), Some(1000));
        let r = remaining(&l, Usage { runs: 3, compute_units: 1050, prediction_rows: 0 });
        assert_eq!(r, json!({ "runs": 8, "compute_units": 50, "prediction_rows": null }));
    }
}
