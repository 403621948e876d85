//! Licences, datasets, runs and the usage ledger. Launches lock the licence row, so quota checks
//! and reservations of one licence are serial; workers claim queued runs with
//! `FOR UPDATE SKIP LOCKED` and keep them by renewing a lease.

use chrono::{DateTime, NaiveDate, Utc};
use licentia_domain::{AgreementId, ArtifactId, DatasetId, LicenceId, ModelVersionId, OrganisationId, RunId, RunStatus, UserId, agreement::Status};
use serde::Serialize;
use sqlx::PgConnection;

use crate::DbError;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Licence {
    pub id: LicenceId,
    pub agreement_id: AgreementId,
    pub organisation_id: OrganisationId,
    pub templates: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub quota_runs: Option<i64>,
    pub quota_compute_units: Option<i64>,
    pub quota_prediction_rows: Option<i64>,
    pub reset_period: String,
    pub overage: String,
    pub overage_percent: i32,
    pub allow_model_download: bool,
    /// At most this many of the licence's runs train at once (`None`: no limit).
    pub max_concurrent_runs: Option<i32>,
    /// Whether a failed run is billed for the epochs it finished.
    pub failed_runs_billed: bool,
    /// The published model versions a fine-tuning run may start from.
    pub model_versions: Vec<ModelVersionId>,
    pub created_at: DateTime<Utc>,
    /// Joined: the agreement's state and title.
    pub agreement_status: Status,
    pub agreement_title: String,
}

const LICENCE: &str = "SELECT l.id, l.agreement_id, l.organisation_id, l.templates, l.valid_from, l.valid_until, l.quota_runs, l.quota_compute_units,
        l.quota_prediction_rows, l.reset_period, l.overage, l.overage_percent, l.allow_model_download, l.max_concurrent_runs, l.failed_runs_billed, l.model_versions, l.created_at,
        a.status AS agreement_status, a.title AS agreement_title
    FROM licences l JOIN agreements a ON a.id = l.agreement_id";

#[allow(clippy::too_many_arguments)]
pub async fn insert_licence(conn: &mut PgConnection, l: &Licence, by: UserId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO licences (id, agreement_id, organisation_id, templates, valid_from, valid_until, quota_runs, quota_compute_units, quota_prediction_rows,
                               reset_period, overage, overage_percent, allow_model_download, created_by, max_concurrent_runs, failed_runs_billed, model_versions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(l.id)
    .bind(l.agreement_id)
    .bind(l.organisation_id)
    .bind(&l.templates)
    .bind(l.valid_from)
    .bind(l.valid_until)
    .bind(l.quota_runs)
    .bind(l.quota_compute_units)
    .bind(l.quota_prediction_rows)
    .bind(&l.reset_period)
    .bind(&l.overage)
    .bind(l.overage_percent)
    .bind(l.allow_model_download)
    .bind(by)
    .bind(l.max_concurrent_runs)
    .bind(l.failed_runs_billed)
    .bind(&l.model_versions)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn licence(conn: &mut PgConnection, id: LicenceId, scope: Option<OrganisationId>) -> Result<Licence, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{LICENCE} WHERE l.id = $1 AND ($2::uuid IS NULL OR l.organisation_id = $2)")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

/// Locks the licence row: every launch, settlement and release of one licence goes through it.
pub async fn lock_licence(conn: &mut PgConnection, id: LicenceId, scope: Option<OrganisationId>) -> Result<Licence, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{LICENCE} WHERE l.id = $1 AND ($2::uuid IS NULL OR l.organisation_id = $2) FOR UPDATE OF l")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

pub async fn licences(conn: &mut PgConnection, scope: Option<OrganisationId>) -> Result<Vec<Licence>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{LICENCE} WHERE ($1::uuid IS NULL OR l.organisation_id = $1) ORDER BY l.created_at DESC")))
        .bind(scope)
        .fetch_all(conn)
        .await?)
}

/// Usage of a licence since `since`: reservations still open count, releases give them back,
/// settlements are what was used.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, sqlx::FromRow, utoipa::ToSchema)]
pub struct Usage {
    pub runs: i64,
    pub compute_units: i64,
    pub prediction_rows: i64,
}

pub async fn usage(conn: &mut PgConnection, licence: LicenceId, since: DateTime<Utc>) -> Result<Usage, DbError> {
    Ok(sqlx::query_as(
        "SELECT coalesce(sum(CASE entry WHEN 'release' THEN -runs ELSE runs END), 0)::bigint AS runs,
                coalesce(sum(CASE entry WHEN 'release' THEN -compute_units ELSE compute_units END), 0)::bigint AS compute_units,
                coalesce(sum(CASE entry WHEN 'release' THEN -prediction_rows ELSE prediction_rows END), 0)::bigint AS prediction_rows
         FROM usage_ledger WHERE licence_id = $1 AND counts_at >= $2",
    )
    .bind(licence)
    .bind(since)
    .fetch_one(conn)
    .await?)
}

/// A ledger row counting at `counts_at` (`None`: now). A run's release and settlement pass the
/// run's reservation time, so they count against the quota period the reservation was made in.
pub async fn ledger(
    conn: &mut PgConnection,
    licence: LicenceId,
    agreement: AgreementId,
    run: Option<RunId>,
    entry: &str,
    u: Usage,
    counts_at: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO usage_ledger (agreement_id, licence_id, run_id, entry, runs, compute_units, prediction_rows, counts_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()))",
    )
    .bind(agreement)
    .bind(licence)
    .bind(run)
    .bind(entry)
    .bind(u.runs)
    .bind(u.compute_units)
    .bind(u.prediction_rows)
    .bind(counts_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Dataset {
    pub id: DatasetId,
    pub organisation_id: OrganisationId,
    pub artifact_id: ArtifactId,
    pub name: String,
    pub rows: i64,
    pub columns: i32,
    pub schema: serde_json::Value,
    pub column_actions: serde_json::Value,
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String, format = "hex")]
    pub sha256: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub personal_data: bool,
    pub lawful_basis: Option<String>,
    /// Only workers of this region train on it.
    pub region: Option<String>,
    pub retain_until: Option<NaiveDate>,
    /// When its data key was destroyed (retention ended or its owner asked): the content is gone.
    pub erased_at: Option<DateTime<Utc>>,
    pub erasure_reason: Option<String>,
}

fn hex<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

const DATASET: &str = "SELECT id, organisation_id, artifact_id, name, rows, columns, schema, column_actions, sha256, created_at,
    personal_data, lawful_basis, region, retain_until, erased_at, erasure_reason FROM datasets";

pub async fn insert_dataset(conn: &mut PgConnection, d: &Dataset, by: UserId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO datasets (id, organisation_id, artifact_id, name, rows, columns, schema, sha256, created_by, personal_data, lawful_basis, region, retain_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(d.id)
    .bind(d.organisation_id)
    .bind(d.artifact_id)
    .bind(&d.name)
    .bind(d.rows)
    .bind(d.columns)
    .bind(&d.schema)
    .bind(&d.sha256)
    .bind(by)
    .bind(d.personal_data)
    .bind(&d.lawful_basis)
    .bind(&d.region)
    .bind(d.retain_until)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn dataset(conn: &mut PgConnection, id: DatasetId, scope: Option<OrganisationId>) -> Result<Dataset, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{DATASET} WHERE id = $1 AND ($2::uuid IS NULL OR organisation_id = $2)")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

pub async fn datasets(conn: &mut PgConnection, scope: Option<OrganisationId>) -> Result<Vec<Dataset>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{DATASET} WHERE ($1::uuid IS NULL OR organisation_id = $1) ORDER BY created_at DESC LIMIT 500")))
        .bind(scope)
        .fetch_all(conn)
        .await?)
}

pub async fn set_column_actions(conn: &mut PgConnection, id: DatasetId, actions: &serde_json::Value) -> Result<(), DbError> {
    sqlx::query("UPDATE datasets SET column_actions = $2 WHERE id = $1").bind(id).bind(actions).execute(conn).await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Run {
    pub id: RunId,
    pub licence_id: LicenceId,
    pub agreement_id: AgreementId,
    pub organisation_id: OrganisationId,
    pub dataset_id: DatasetId,
    /// The run's number under its licence (1, 2, 3, ...).
    pub seq: i32,
    /// A name the licensee gave it, if any.
    pub name: Option<String>,
    /// The field of use and the country declared at launch (checked against the terms).
    pub use_field: Option<String>,
    pub use_country: Option<String>,
    pub template: String,
    pub hyper: serde_json::Value,
    pub status: RunStatus,
    pub idempotency_key: Option<String>,
    pub reserved_units: i64,
    pub units_used: i64,
    pub epochs_done: i32,
    pub worker_id: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub cancel_requested: bool,
    pub progress: serde_json::Value,
    pub metrics: serde_json::Value,
    pub preprocessing: Option<serde_json::Value>,
    pub weights_artifact: Option<ArtifactId>,
    pub receipt: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Joined: whether the run's licence allows downloading the model (the weights follow it).
    pub model_download: bool,
    /// A fine-tuning run: the published version it starts from, how many layers stay frozen and
    /// whether the data is transformed with the base's statistics.
    pub base_version: Option<ModelVersionId>,
    pub freeze_layers: i32,
    pub base_preprocessing: bool,
}

const RUN: &str = "SELECT id, licence_id, agreement_id, organisation_id, dataset_id, seq, name, use_field, use_country, template, hyper, status, idempotency_key, reserved_units, units_used,
    epochs_done, worker_id, lease_until, attempts, cancel_requested, progress, metrics, preprocessing, weights_artifact, receipt, error, created_at, started_at, finished_at,
    coalesce((SELECT l.allow_model_download FROM licences l WHERE l.id = runs.licence_id), false) AS model_download, base_version, freeze_layers, base_preprocessing FROM runs";

pub struct NewRun<'a> {
    pub id: RunId,
    pub licence_id: LicenceId,
    pub agreement_id: AgreementId,
    pub organisation_id: OrganisationId,
    pub dataset_id: DatasetId,
    pub name: Option<&'a str>,
    pub use_field: Option<&'a str>,
    pub use_country: Option<&'a str>,
    pub template: &'a str,
    pub hyper: &'a serde_json::Value,
    pub idempotency_key: Option<&'a str>,
    pub reserved_units: i64,
    pub created_by: UserId,
    pub base_version: Option<ModelVersionId>,
    pub freeze_layers: i32,
    pub base_preprocessing: bool,
}

pub async fn insert_run(conn: &mut PgConnection, r: &NewRun<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO runs (id, licence_id, agreement_id, organisation_id, dataset_id, template, hyper, idempotency_key, reserved_units, created_by, name, use_field, use_country, seq,
                          base_version, freeze_layers, base_preprocessing)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, (SELECT coalesce(max(seq), 0) + 1 FROM runs WHERE licence_id = $2), $14, $15, $16)",
    )
    .bind(r.id)
    .bind(r.licence_id)
    .bind(r.agreement_id)
    .bind(r.organisation_id)
    .bind(r.dataset_id)
    .bind(r.template)
    .bind(r.hyper)
    .bind(r.idempotency_key)
    .bind(r.reserved_units)
    .bind(r.created_by)
    .bind(r.name)
    .bind(r.use_field)
    .bind(r.use_country)
    .bind(r.base_version)
    .bind(r.freeze_layers)
    .bind(r.base_preprocessing)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn run(conn: &mut PgConnection, id: RunId, scope: Option<OrganisationId>) -> Result<Run, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN} WHERE id = $1 AND ($2::uuid IS NULL OR organisation_id = $2)")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

pub async fn run_by_key(conn: &mut PgConnection, org: OrganisationId, key: &str) -> Result<Option<Run>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN} WHERE organisation_id = $1 AND idempotency_key = $2")))
        .bind(org)
        .bind(key)
        .fetch_optional(conn)
        .await?)
}

pub async fn runs(conn: &mut PgConnection, scope: Option<OrganisationId>) -> Result<Vec<Run>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN} WHERE ($1::uuid IS NULL OR organisation_id = $1) ORDER BY created_at DESC LIMIT 500")))
        .bind(scope)
        .fetch_all(conn)
        .await?)
}

/// Claims the next queued run, fairly across organisations: first the organisations with the
/// fewest runs in progress, then each organisation's oldest queued run before anyone's second (a
/// round robin), then age. One licensee's queue of fifty runs no longer makes another's single
/// run wait for all of them.
/// `per_organisation`: at most this many runs of one organisation run at once (`None`: no limit).
/// Claims the next queued run this worker may take: within the licence's and the organisation's
/// concurrency limits, and only on a dataset whose residency region is the worker's (or none).
pub async fn claim(
    conn: &mut PgConnection,
    worker: &str,
    lease_secs: i64,
    per_organisation: Option<i64>,
    region: Option<&str>,
) -> Result<Option<Run>, DbError> {
    // Claims are serialised (one per run, so cheap): two workers claiming at once would otherwise
    // both see a licence below its concurrency limit. Callers claim inside a transaction.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('licentia-run-claim'))").execute(&mut *conn).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE runs SET status = 'running', worker_id = $1, lease_until = now() + make_interval(secs => $2), attempts = attempts + 1,
             started_at = coalesce(started_at, now())
         WHERE id = (
             SELECT q.id FROM runs q WHERE q.status = 'queued'
               AND NOT EXISTS (SELECT 1 FROM licences l WHERE l.id = q.licence_id AND l.max_concurrent_runs IS NOT NULL
                               AND (SELECT count(*) FROM runs z WHERE z.licence_id = l.id AND z.status = 'running') >= l.max_concurrent_runs)
               AND ($3::bigint IS NULL OR (SELECT count(*) FROM runs w WHERE w.organisation_id = q.organisation_id AND w.status = 'running') < $3)
               AND EXISTS (SELECT 1 FROM datasets d WHERE d.id = q.dataset_id AND d.erased_at IS NULL AND (d.region IS NULL OR d.region = $4))
             ORDER BY (SELECT count(*) FROM runs x WHERE x.organisation_id = q.organisation_id AND x.status = 'running'),
                      (SELECT count(*) FROM runs y WHERE y.organisation_id = q.organisation_id AND y.status = 'queued' AND y.created_at < q.created_at),
                      q.created_at
             FOR UPDATE SKIP LOCKED LIMIT 1)
         RETURNING {}",
        RUN.trim_start_matches("SELECT ").trim_end_matches(" FROM runs")
    )))
    .bind(worker)
    .bind(lease_secs as f64)
    .bind(per_organisation)
    .bind(region)
    .fetch_optional(conn)
    .await?)
}

/// Renews the lease and stores progress; returns whether cancellation was requested, or `None`
/// when the run is no longer this worker's (the lease lapsed and it was reaped).
pub async fn heartbeat(
    conn: &mut PgConnection,
    id: RunId,
    worker: &str,
    lease_secs: i64,
    progress: &serde_json::Value,
    metrics: &serde_json::Value,
) -> Result<Option<bool>, DbError> {
    Ok(sqlx::query_scalar(
        "UPDATE runs SET lease_until = now() + make_interval(secs => $3), progress = $4, metrics = $5,
             epochs_done = CASE WHEN jsonb_typeof($5) = 'array' THEN jsonb_array_length($5) ELSE epochs_done END
         WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING cancel_requested",
    )
    .bind(id)
    .bind(worker)
    .bind(lease_secs as f64)
    .bind(progress)
    .bind(metrics)
    .fetch_optional(conn)
    .await?)
}

/// Locks a running run that is still this worker's, for settlement.
pub async fn lock_own_run(conn: &mut PgConnection, id: RunId, worker: &str) -> Result<Option<Run>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN} WHERE id = $1 AND worker_id = $2 AND status = 'running' FOR UPDATE")))
        .bind(id)
        .bind(worker)
        .fetch_optional(conn)
        .await?)
}

pub struct Finish<'a> {
    pub status: RunStatus,
    pub units_used: i64,
    pub epochs_done: i32,
    pub metrics: &'a serde_json::Value,
    pub preprocessing: Option<&'a serde_json::Value>,
    pub weights_artifact: Option<ArtifactId>,
    pub receipt: Option<&'a serde_json::Value>,
    pub error: Option<&'a str>,
}

pub async fn finish(conn: &mut PgConnection, id: RunId, f: &Finish<'_>) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE runs SET status = $2, units_used = $3, epochs_done = $4, metrics = $5, preprocessing = $6, weights_artifact = $7, receipt = $8, error = $9,
             finished_at = now(), lease_until = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(f.status)
    .bind(f.units_used)
    .bind(f.epochs_done)
    .bind(f.metrics)
    .bind(f.preprocessing)
    .bind(f.weights_artifact)
    .bind(f.receipt)
    .bind(f.error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Running runs whose lease lapsed, locked (skipping those another reaper holds).
pub async fn lapsed(conn: &mut PgConnection, limit: i64) -> Result<Vec<Run>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{RUN} WHERE status = 'running' AND lease_until < now() ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Marks cancellation; a queued run is cancelled at once by the caller.
pub async fn request_cancel(conn: &mut PgConnection, id: RunId) -> Result<(), DbError> {
    sqlx::query("UPDATE runs SET cancel_requested = true WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// Locks a run (any state) for a state change by the API.
pub async fn lock_run(conn: &mut PgConnection, id: RunId, scope: Option<OrganisationId>) -> Result<Run, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN} WHERE id = $1 AND ($2::uuid IS NULL OR organisation_id = $2) FOR UPDATE")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

/// A worker says it is alive and in which region (see `waiting_region`).
pub async fn worker_seen(conn: &mut PgConnection, worker: &str, region: Option<&str>) -> Result<(), DbError> {
    sqlx::query("INSERT INTO workers (id, region, last_seen) VALUES ($1, $2, now()) ON CONFLICT (id) DO UPDATE SET region = $2, last_seen = now()")
        .bind(worker)
        .bind(region)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a worker of `region` was seen in the last `secs` seconds.
pub async fn region_served(conn: &mut PgConnection, region: &str, secs: i64) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workers WHERE region = $1 AND last_seen > now() - make_interval(secs => $2))")
        .bind(region)
        .bind(secs as f64)
        .fetch_one(conn)
        .await?)
}

/// Runs queued or running on a dataset (erasure waits for none).
pub async fn active_runs_on(conn: &mut PgConnection, dataset: DatasetId) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM runs WHERE dataset_id = $1 AND status IN ('queued', 'running')").bind(dataset).fetch_one(conn).await?)
}

/// Locks a dataset's row for erasure.
pub async fn lock_dataset(conn: &mut PgConnection, id: DatasetId, scope: Option<OrganisationId>) -> Result<Dataset, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{DATASET} WHERE id = $1 AND ($2::uuid IS NULL OR organisation_id = $2) FOR UPDATE")))
        .bind(id)
        .bind(scope)
        .fetch_one(conn)
        .await?)
}

/// The dataset keeps its metadata (name, row and column counts, digest, residency) and the
/// columns' names and kinds; statistics that could quote the data (categories, ranges) go.
pub async fn mark_erased(conn: &mut PgConnection, id: DatasetId, reason: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE datasets SET erased_at = now(), erasure_reason = $2,
             schema = coalesce((SELECT jsonb_agg(jsonb_build_object('name', c->'name', 'kind', c->'kind')) FROM jsonb_array_elements(schema) c), '[]'::jsonb)
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Datasets whose retention ended before `today` and that are not erased yet.
pub async fn retention_ended(conn: &mut PgConnection, today: NaiveDate, limit: i64) -> Result<Vec<Dataset>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{DATASET} WHERE erased_at IS NULL AND retain_until < $1 ORDER BY retain_until LIMIT $2")))
        .bind(today)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}
