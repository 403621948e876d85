//! What every use case can reach: the database, the keys, the blob store, the settings, the
//! metrics, and the one audit helper (an entry inside the caller's transaction, then the
//! post-commit bookkeeping).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Duration;
use licentia_audit::{Appended, AuditEvent, AuditLog, CheckpointFile, Witness};
use licentia_crypto::{CsrfKey, JwtKeys, KeyMaterial, KeyRing, SigningKey};
use licentia_db::Db;
use licentia_domain::throttle::ThrottlePolicy;
use licentia_store::BlobStore;
use tokio::sync::{Notify, Semaphore};

use crate::error::AppError;
use crate::metrics::Metrics;

/// Settings of the application (the binary maps its configuration onto these); the body limits are
/// the web face's.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime of access tokens and browser sessions.
    pub token_ttl: Duration,
    /// Largest accepted JSON body, in bytes.
    pub json_limit: usize,
    /// Largest accepted form body, in bytes.
    pub form_limit: usize,
    pub throttle: ThrottlePolicy,
    /// Sign a checkpoint after this many audit entries (a timer signs the rest).
    pub checkpoint_every: i64,
    /// Concurrent argon2 verifications; more wait, so a login burst cannot eat every core.
    pub argon2_concurrency: usize,
    /// Rejected bearer tokens: one audit entry per address and window (the rest counted in a
    /// summary), and 429 beyond this many in a window.
    pub rejection_window: std::time::Duration,
    pub rejections_per_window: u64,
    /// Where checkpoints are appended outside the database.
    pub checkpoint_file: PathBuf,
    /// This node's audit witness (every committed head), beside the checkpoint file; every
    /// `witness-*.jsonl` there is checked by verification.
    pub witness_file: PathBuf,
    /// Largest accepted artifact, in bytes.
    pub max_upload: u64,
    /// Largest dataset, in bytes of CSV: what an upload may send, and what every reader (preview,
    /// worker, prediction) then parses with the same limits, so an accepted dataset can be read.
    pub max_dataset_bytes: usize,
    /// Largest memory a training run may be estimated to hold, in bytes; a launch above it is
    /// refused before anything is reserved (`licentia_train::cost::memory_bytes`).
    pub max_run_memory: u64,
    /// The address people reach this installation at, for links in e-mail (`LICENTIA_PUBLIC_URL`).
    pub public_url: String,
}

impl Settings {
    pub fn for_data_dir(data_dir: &std::path::Path) -> Self {
        Self {
            token_ttl: Duration::minutes(30),
            // Room for an agreement's prose: up to 50 clauses of 5,000 characters, percent-encoded
            // (a form) or escaped (JSON); a 16 KiB form limit lost one long clause's edits.
            json_limit: 1024 * 1024,
            form_limit: 1024 * 1024,
            throttle: ThrottlePolicy::default(),
            checkpoint_every: 1000,
            argon2_concurrency: 4,
            rejection_window: std::time::Duration::from_secs(60),
            rejections_per_window: 60,
            checkpoint_file: data_dir.join("checkpoints").join("audit-checkpoints.jsonl"),
            witness_file: data_dir.join("checkpoints").join(Witness::file_name(&node_name())),
            max_upload: 2 * 1024 * 1024 * 1024,
            max_run_memory: 4 * 1024 * 1024 * 1024,
            max_dataset_bytes: 256 * 1024 * 1024,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }

    /// The one set of limits datasets are accepted and read with.
    pub fn dataset_limits(&self) -> licentia_train::data::Limits {
        licentia_train::data::Limits::of_bytes(self.max_dataset_bytes)
    }
}

/// This node's name in witness file names and worker ids: `LICENTIA_NODE_ID`, else the host name.
pub fn node_name() -> String {
    std::env::var("LICENTIA_NODE_ID")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub struct Inner {
    pub db: Db,
    pub jwt: JwtKeys,
    pub csrf: CsrfKey,
    /// The audit log's keys, checkpoint file, witness and checkpointer.
    pub audit_log: AuditLog,
    /// Master keys that wrap artifact data keys.
    pub keyring: KeyRing,
    /// Where artifact ciphertext lives.
    pub store: BlobStore,
    pub settings: Settings,
    pub metrics: Metrics,
    pub argon2: Semaphore,
    /// Woken when the audit log grew by `checkpoint_every` entries since the last wake-up.
    pub checkpoint_due: Notify,
    last_checkpoint_trigger: std::sync::atomic::AtomicI64,
    /// Wakes this node's idle workers when a run is launched here.
    pub runs_queued: Notify,
    /// Wakes this node's mail sender when a change queued e-mail.
    pub mail_queued: Notify,
    /// Wakes this node's webhook sender when a change queued an event.
    pub webhooks_queued: Notify,
    /// Rejected bearer tokens per address (aggregated audit, rate limit).
    pub rejections: crate::rejections::Rejections,
}

/// What a change queued: e-mails and webhook deliveries (to wake their senders after the commit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queued {
    pub mail: usize,
    pub webhooks: usize,
}

/// Cheap to clone; handed to every worker thread.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, keys: &KeyMaterial, keyring: KeyRing, store: BlobStore, settings: Settings) -> Result<Self, String> {
        let jwt = JwtKeys::from_pkcs8(&keys.jwt_pkcs8).map_err(|e| e.to_string())?;
        jwt.self_test().map_err(|e| format!("JWT self-test failed: {e}"))?;
        let audit_key = SigningKey::from_pkcs8(&keys.audit_pkcs8).map_err(|e| e.to_string())?;
        Ok(Self(Arc::new(Inner {
            db,
            jwt,
            csrf: CsrfKey::from_bytes(&keys.csrf_secret),
            audit_log: AuditLog::new(
                keys.audit_macs.clone(),
                audit_key,
                CheckpointFile::new(settings.checkpoint_file.clone()),
                Witness::open(settings.witness_file.clone()),
            ),
            keyring,
            store,
            argon2: Semaphore::new(settings.argon2_concurrency.max(1)),
            settings,
            metrics: Metrics::default(),
            checkpoint_due: Notify::new(),
            last_checkpoint_trigger: std::sync::atomic::AtomicI64::new(0),
            runs_queued: Notify::new(),
            mail_queued: Notify::new(),
            webhooks_queued: Notify::new(),
            rejections: crate::rejections::Rejections::default(),
        })))
    }

    /// Appends an audit entry inside `tx`. After the caller commits it must call
    /// [`AppState::audited`] with the result.
    pub async fn audit(&self, tx: &mut licentia_db::PgConnection, event: AuditEvent) -> Result<Appended, AppError> {
        Ok(self.audit_log.append(tx, event).await?)
    }

    /// After the commit: the entry is chained (with whatever else is pending: group commit) and
    /// witnessed, then metrics and the checkpoint trigger. The change is committed whatever
    /// happens here; a failure to chain is logged, and the entry stays pending until the next
    /// writer or the checkpointer chains it.
    pub async fn audited(&self, appended: Appended) {
        self.metrics.audit_appends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.audit_log.committed(&self.db, appended).await {
            Ok(Some(head)) => {
                let every = self.settings.checkpoint_every;
                let last = self.last_checkpoint_trigger.load(std::sync::atomic::Ordering::Relaxed);
                if every > 0 && head.seq >= last + every {
                    self.last_checkpoint_trigger.store(head.seq, std::sync::atomic::Ordering::Relaxed);
                    self.checkpoint_due.notify_one();
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "audit entry committed but not chained yet"),
        }
    }

    /// After the commit of a change that queued e-mail or webhook events: wakes this node's
    /// senders.
    pub fn notified(&self, q: Queued) {
        if q.mail > 0 {
            self.mail_queued.notify_one();
        }
        if q.webhooks > 0 {
            self.webhooks_queued.notify_one();
        }
    }

    /// The answer to an object the actor may not see or that does not exist: the same 404 either
    /// way, with an audit entry naming what was asked for.
    pub async fn not_found(&self, actor: &crate::Actor, kind: &'static str, id: &str) -> AppError {
        let event = actor.event("authz.not_found", licentia_audit::Outcome::Denied).target(kind, id.chars().take(64).collect::<String>());
        if let Err(e) = self.audit_alone(event).await {
            return e;
        }
        AppError::NotFound
    }

    /// Records one event in a transaction of its own (denials, failed logins, reads).
    pub async fn audit_alone(&self, event: AuditEvent) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        let seq = self.audit(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        self.audited(seq).await;
        Ok(())
    }
}
