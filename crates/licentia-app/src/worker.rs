//! Training workers: claim queued runs with `FOR UPDATE SKIP LOCKED`, hold them by a lease renewed
//! with every heartbeat, train on a blocking thread, and settle in one transaction: the run's
//! state, the weights artifact, the signed receipt, the ledger (release of the reservation, and a
//! settlement of what was used) and the audit entry. A run whose lease lapses (its worker died)
//! is failed by whichever worker reaps it, and its reservation released: never billed twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use licentia_audit::{AuditEvent, Outcome};
use licentia_db::training::{self as db, Run, Usage};
use licentia_domain::RunStatus;
use licentia_train::{Hyper, Progress};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub id: String,
    /// How long a claim stays valid without a heartbeat.
    pub lease_secs: i64,
    /// How often an idle worker looks for work (it is also woken by local launches).
    pub poll: Duration,
    /// `cpu`, `cuda:N` or `wgpu` (see `licentia_train::device`).
    pub device: String,
    /// A run still training after this long is stopped, failed with that reason, and billed for
    /// the epochs it finished (as a cancellation is).
    pub max_run: Duration,
    /// At most this many runs of one organisation at once, across all workers (`None`: no limit),
    /// so that one licensee cannot hold every worker.
    pub per_organisation: Option<i64>,
    /// The processing region this worker runs in: it claims runs on datasets restricted to this
    /// region or to none (`None`: only unrestricted datasets).
    pub region: Option<String>,
}

impl WorkerConfig {
    pub fn named(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            lease_secs: 30,
            poll: Duration::from_secs(2),
            device: "cpu".into(),
            max_run: Duration::from_secs(6 * 3600),
            per_organisation: None,
            region: None,
        }
    }

    /// The worker's processing region (see [`WorkerConfig::region`]).
    pub fn in_region(mut self, region: Option<String>) -> Self {
        self.region = region;
        self
    }

    pub fn on(mut self, device: &str) -> Self {
        self.device = device.to_owned();
        self
    }

    /// The wall-clock cap of one run.
    pub fn capped_at(mut self, max_run: Duration) -> Self {
        self.max_run = max_run;
        self
    }

    /// At most `n` runs of one organisation at once (0: no limit).
    pub fn per_organisation(mut self, n: u64) -> Self {
        self.per_organisation = i64::try_from(n).ok().filter(|n| *n > 0);
        self
    }

    /// The lease (at least 1 s); heartbeats come every half second.
    pub fn lease(mut self, secs: u64) -> Self {
        self.lease_secs = i64::try_from(secs.max(1)).unwrap_or(30);
        self
    }
}

fn system_event(action: &'static str, outcome: Outcome, run: &Run) -> AuditEvent {
    AuditEvent::new(action, outcome).actor(None, Some("licentia-worker".into()), Some(run.organisation_id.as_uuid())).target("run", run.id)
}

/// Fails runs whose lease lapsed and releases their reservations. Returns how many.
pub async fn reap(state: &AppState) -> AppResult<usize> {
    let mut tx = state.db.begin().await?;
    let lapsed = db::lapsed(&mut tx, 100).await?;
    let mut seq = None;
    for r in &lapsed {
        db::finish(
            &mut tx,
            r.id,
            &db::Finish {
                status: RunStatus::Failed,
                units_used: 0,
                epochs_done: r.epochs_done,
                metrics: &r.metrics,
                preprocessing: None,
                weights_artifact: None,
                receipt: None,
                error: Some("the worker stopped answering (lease lapsed); failed runs are not billed"),
            },
        )
        .await?;
        db::ledger(
            &mut tx,
            r.licence_id,
            r.agreement_id,
            Some(r.id),
            "release",
            Usage { runs: 1, compute_units: r.reserved_units, prediction_rows: 0 },
            Some(r.created_at),
        )
        .await?;
        seq = Some(
            state
                .audit(
                    &mut tx,
                    system_event("run.failed", Outcome::Failure, r)
                        .details(json!({ "reason": "lease_lapsed", "worker": r.worker_id, "released_units": r.reserved_units })),
                )
                .await?,
        );
    }
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    if let Some(s) = seq {
        state.audited(s).await;
    }
    Ok(lapsed.len())
}

/// Claims and runs one queued run; `Ok(false)` when there was none.
#[tracing::instrument(skip_all, fields(worker = %cfg.id))]
pub async fn run_once(state: &AppState, cfg: &WorkerConfig) -> AppResult<bool> {
    let mut tx = state.db.begin().await?;
    db::worker_seen(&mut tx, &cfg.id, cfg.region.as_deref()).await?;
    let claimed = db::claim(&mut tx, &cfg.id, cfg.lease_secs, cfg.per_organisation, cfg.region.as_deref()).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    let Some(run) = claimed else { return Ok(false) };
    let result = execute(state, cfg, &run).await;
    if let Err(e) = result {
        tracing::warn!(run = %run.id, error = %e, "run failed");
        settle_failure(state, cfg, &run, &e.to_string()).await?;
    }
    Ok(true)
}

/// The loop of an embedded or standalone worker, until `stop` turns true.
pub async fn serve(state: AppState, cfg: WorkerConfig, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        if let Err(e) = reap(&state).await {
            tracing::warn!(error = %e, "reaping lapsed runs failed");
        }
        match crate::training::erase_expired(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(datasets = n, "datasets past their retention erased"),
            Err(e) => tracing::warn!(error = %e, "erasing datasets past their retention failed"),
        }
        match run_once(&state, &cfg).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "worker step failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.poll) => {}
            _ = state.runs_queued.notified() => {}
            _ = stop.changed() => {}
        }
    }
}

struct Shared {
    progress: std::sync::Mutex<Value>,
    /// Each finished epoch's validation metrics, published with the heartbeat.
    metrics: std::sync::Mutex<Vec<Value>>,
    cancel: AtomicBool,
}

async fn execute(state: &AppState, cfg: &WorkerConfig, run: &Run) -> AppResult<()> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let dataset = db::dataset(&mut conn, run.dataset_id, Some(run.organisation_id)).await?;
    drop(conn);
    let table = crate::training::read_table(state, &dataset, None).await?;
    let hyper: Hyper = serde_json::from_value(run.hyper.clone()).map_err(AppError::internal)?;
    let shared = Arc::new(Shared { progress: std::sync::Mutex::new(json!({})), metrics: std::sync::Mutex::new(Vec::new()), cancel: AtomicBool::new(false) });
    let started = chrono::Utc::now();
    let s2 = shared.clone();
    let h2 = hyper.clone();
    let device = licentia_train::device(&cfg.device).map_err(|e| AppError::internal(e.to_string()))?;
    // A fine-tuning run's base: decrypted here, held only by the training task, never stored
    // elsewhere nor quoted in an error (a failure to load it says only that).
    let base = match run.base_version {
        Some(id) => {
            let (v, weights) = crate::models::base_for_worker(state, id).await.map_err(|e| {
                // The details (a hash mismatch, a store error) are the licensor's to read in the log.
                tracing::error!(run = %run.id, version = %id, error = %e, "the base model version could not be loaded");
                AppError::BadRequest { message: "the base model version could not be loaded; the licensor has been told".into() }
            })?;
            let prep: licentia_train::prep::Preprocessing = serde_json::from_value(v.preprocessing.clone()).map_err(AppError::internal)?;
            let hyper: Hyper = serde_json::from_value(v.hyper.clone()).map_err(AppError::internal)?;
            Some((v, weights, prep, hyper))
        }
        None => None,
    };
    let base_info = base.as_ref().map(|(v, ..)| (v.id, v.number, v.asset_id, hex::encode(&v.weights_sha256)));
    let (freeze, base_preprocessing) = (usize::try_from(run.freeze_layers).unwrap_or(0), run.base_preprocessing);
    let mut training = tokio::task::spawn_blocking(move || {
        let mut on_progress = |p: &Progress| {
            if let Ok(mut g) = s2.progress.lock() {
                *g = json!(p);
            }
        };
        let mut on_epoch = |m: &licentia_train::metrics::EpochMetrics| {
            if let (Ok(mut g), Ok(v)) = (s2.metrics.lock(), serde_json::to_value(m)) {
                g.push(v);
            }
        };
        match &base {
            None => licentia_train::train_observed(table, &h2, &device, &mut on_progress, &mut on_epoch, &s2.cancel).map_err(|e| e.to_string()),
            Some((_, weights, prep, hyper)) => {
                let b = licentia_train::Base { weights, preprocessing: prep, hyper, freeze, base_preprocessing };
                licentia_train::fine_tune_observed(table, &h2, &b, &device, &mut on_progress, &mut on_epoch, &s2.cancel).map_err(|e| match e {
                    // The base's own file failing to load is the licensor's problem, and its
                    // details are the licensor's: the licensee reads only that it failed.
                    licentia_train::TrainError::Model(_) => "the base model version could not be loaded; the licensor has been told".to_owned(),
                    other => other.to_string(),
                })
            }
        }
    });
    // Heartbeats while it trains: renew the lease, publish progress, pick up cancellation, and
    // stop the run at its wall-clock cap.
    let clock = std::time::Instant::now();
    let mut capped = false;
    let outcome = loop {
        tokio::select! {
            done = &mut training => break done.map_err(AppError::internal)?,
            _ = tokio::time::sleep(Duration::from_millis(500).min(cfg.max_run.saturating_sub(clock.elapsed()).max(Duration::from_millis(1)))) => {
                if !capped && clock.elapsed() >= cfg.max_run {
                    capped = true;
                    shared.cancel.store(true, Ordering::Relaxed);
                }
                let progress = shared.progress.lock().map(|g| g.clone()).unwrap_or_default();
                let metrics = shared.metrics.lock().map(|g| Value::Array(g.clone())).unwrap_or_else(|_| run.metrics.clone());
                let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
                match db::heartbeat(&mut conn, run.id, &cfg.id, cfg.lease_secs, &progress, &metrics).await? {
                    Some(true) => shared.cancel.store(true, Ordering::Relaxed),
                    Some(false) => {}
                    // Reaped: the lease lapsed while we were away; stop and settle nothing.
                    None => {
                        shared.cancel.store(true, Ordering::Relaxed);
                        let _ = training.await;
                        return Ok(());
                    }
                }
            }
        }
    };
    let out = match outcome {
        Ok(o) => o,
        Err(message) => return Err(AppError::BadRequest { message }),
    };
    let finished = chrono::Utc::now();
    let weights_sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &out.weights).as_ref());
    let weights = crate::artifacts::store_bytes(
        state,
        None,
        run.organisation_id,
        "run",
        run.id.into(),
        &format!("run-{}-weights.burnpack", run.id),
        "application/octet-stream",
        &out.weights,
    )
    .await?;
    let units = i64::try_from(out.compute_units()).unwrap_or(i64::MAX);
    let status = match (capped, out.cancelled) {
        (true, _) => RunStatus::Failed,
        (false, true) => RunStatus::Cancelled,
        (false, false) => RunStatus::Succeeded,
    };
    let cap_error =
        capped.then(|| format!("stopped at the wall-clock cap of {} s after {} epoch(s); billed for those", cfg.max_run.as_secs(), out.epochs_done));
    let receipt = crate::receipts::sign(
        state.audit_log.signing_key(),
        &json!({
            "run": run.id,
            "licence": run.licence_id,
            "agreement": run.agreement_id,
            "template": run.template,
            // What the licensee declared at launch, checked against the executed terms.
            "field_of_use": run.use_field,
            "country": run.use_country,
            "dataset_sha256": hex::encode(&dataset_sha(state, run).await?),
            "weights_sha256": weights_sha,
            // Lineage: the published version a fine-tuning run started from (null: random weights).
            "base": base_info.as_ref().map(|(id, number, asset, sha)| json!({
                "model_version": id, "number": number, "asset": asset, "weights_sha256": sha,
                "freeze_layers": run.freeze_layers, "base_preprocessing": run.base_preprocessing,
            })),
            "rows": out.train_rows,
            "epochs": out.epochs_done,
            // The weights kept (and served by predict and download) are this epoch's: the best
            // validation loss, which need not be the last epoch.
            "served_epoch": out.best_epoch,
            "units": units,
            "status": status,
            "started_at": started,
            "finished_at": finished,
        }),
    );
    let metrics = json!(out.metrics);
    let prep = json!({ "preprocessing": out.preprocessing, "hyper": out.hyper });
    let mut tx = state.db.begin().await?;
    let Some(current) = db::lock_own_run(&mut tx, run.id, &cfg.id).await? else {
        // Reaped meanwhile: the reservation is already released; nothing to settle.
        return Ok(());
    };
    licentia_db::artifacts::insert(&mut tx, &weights).await?;
    db::finish(
        &mut tx,
        run.id,
        &db::Finish {
            status,
            units_used: units,
            epochs_done: out.epochs_done as i32,
            metrics: &metrics,
            preprocessing: Some(&prep),
            weights_artifact: Some(weights.id),
            receipt: Some(&receipt),
            error: cap_error.as_deref(),
        },
    )
    .await?;
    db::ledger(
        &mut tx,
        run.licence_id,
        run.agreement_id,
        Some(run.id),
        "release",
        Usage { runs: 1, compute_units: current.reserved_units, prediction_rows: 0 },
        Some(current.created_at),
    )
    .await?;
    // Cancelled runs are billed for the epochs they finished.
    db::ledger(
        &mut tx,
        run.licence_id,
        run.agreement_id,
        Some(run.id),
        "settle",
        Usage { runs: 1, compute_units: units, prediction_rows: 0 },
        Some(current.created_at),
    )
    .await?;
    let seq = state
        .audit(
            &mut tx,
            system_event(if out.cancelled { "run.cancelled" } else { "run.succeeded" }, Outcome::Success, run)
                .details(json!({ "units": units, "epochs": out.epochs_done, "weights_sha256": weights_sha })),
        )
        .await?;
    let ended = Run { epochs_done: out.epochs_done as i32, ..run.clone() };
    let mail = crate::notify::queue(&mut tx, state, crate::notify::Event::RunEnded { run: &ended, status, error: cap_error.as_deref() }).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    state.notified(mail);
    Ok(())
}

async fn dataset_sha(state: &AppState, run: &Run) -> AppResult<Vec<u8>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    Ok(db::dataset(&mut conn, run.dataset_id, None).await?.sha256)
}

/// Fails a run this worker holds (bad data for this model, an engine error): releases its
/// reservation and, where the licence bills failures, settles the epochs the last heartbeat
/// reported.
pub async fn settle_failure(state: &AppState, cfg: &WorkerConfig, run: &Run, message: &str) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let Some(current) = db::lock_own_run(&mut tx, run.id, &cfg.id).await? else { return Ok(()) };
    let message: String = message.chars().take(500).collect();
    // Whether a failure costs anything is a term of the licence: if billed, the epochs the last
    // heartbeat reported finished, pro rata of what was reserved for all of them.
    // A database error here fails the settlement (retried by the reaper), never means "not billed".
    let billed_licence = db::licence(&mut tx, run.licence_id, None).await?.failed_runs_billed;
    let epochs_done = current.metrics.as_array().map_or(0, Vec::len) as i64;
    let planned = current.hyper["epochs"].as_i64().unwrap_or(1).max(1);
    let billed = if billed_licence { (current.reserved_units.saturating_mul(epochs_done.min(planned)) + planned - 1) / planned } else { 0 };
    db::finish(
        &mut tx,
        run.id,
        &db::Finish {
            status: RunStatus::Failed,
            units_used: billed,
            epochs_done: i32::try_from(epochs_done).unwrap_or(0),
            metrics: &current.metrics,
            preprocessing: None,
            weights_artifact: None,
            receipt: None,
            error: Some(&message),
        },
    )
    .await?;
    db::ledger(
        &mut tx,
        run.licence_id,
        run.agreement_id,
        Some(run.id),
        "release",
        Usage { runs: 1, compute_units: current.reserved_units, prediction_rows: 0 },
        Some(current.created_at),
    )
    .await?;
    if billed > 0 {
        db::ledger(
            &mut tx,
            run.licence_id,
            run.agreement_id,
            Some(run.id),
            "settle",
            Usage { runs: 1, compute_units: billed, prediction_rows: 0 },
            Some(current.created_at),
        )
        .await?;
    }
    let seq = state.audit(&mut tx, system_event("run.failed", Outcome::Failure, run).details(json!({ "error": message, "billed_units": billed }))).await?;
    let mail = crate::notify::queue(&mut tx, state, crate::notify::Event::RunEnded { run, status: RunStatus::Failed, error: Some(&message) }).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    state.notified(mail);
    Ok(())
}
