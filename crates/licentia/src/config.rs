//! Configuration: defaults < `licentia.toml` < environment (`LICENTIA_*`, `DATABASE_URL`).
//! Secrets are not here: they come from `licentia_crypto::keys` (environment or key files).

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (`LICENTIA_LISTEN`).
    pub listen: String,
    /// PostgreSQL URL (`DATABASE_URL`). Unset: the local server, else a private embedded cluster.
    pub database_url: Option<String>,
    /// Keys, checkpoints, the private cluster (`LICENTIA_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Generate missing keys into `<data_dir>/keys` (`LICENTIA_GENERATE_KEYS`); turn off in production.
    pub generate_keys: bool,
    /// Seed the demo workspace into an empty database (`LICENTIA_DEMO`).
    pub demo: bool,
    /// Log filter, e.g. `info,licentia=debug` (`LICENTIA_LOG`).
    pub log: String,
    /// Access-token and session lifetime in minutes (`LICENTIA_TOKEN_TTL_MINUTES`).
    pub token_ttl_minutes: i64,
    /// Largest JSON body in bytes (`LICENTIA_JSON_LIMIT`).
    pub json_limit: usize,
    /// Largest form body in bytes (`LICENTIA_FORM_LIMIT`).
    pub form_limit: usize,
    /// Sign an audit checkpoint every N entries (`LICENTIA_CHECKPOINT_EVERY`) ...
    pub checkpoint_every: i64,
    /// ... and at least every T seconds when the log moved (`LICENTIA_CHECKPOINT_SECONDS`).
    pub checkpoint_seconds: u64,
    /// Database pool size (`LICENTIA_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// Seconds to wait for a pooled connection before answering 503 (`LICENTIA_DB_ACQUIRE_TIMEOUT`).
    pub db_acquire_timeout: u64,
    /// Longest a single statement may run, in seconds (`LICENTIA_DB_STATEMENT_TIMEOUT`).
    pub db_statement_timeout: u64,
    /// HTTP worker threads; 0 = one per core (`LICENTIA_WORKERS`).
    pub workers: usize,
    /// Training workers `serve` runs in-process; `licentia worker` runs more elsewhere
    /// (`LICENTIA_TRAINING_WORKERS`).
    pub training_workers: usize,
    /// Where workers train: `cpu` (default), `cuda:N` or `wgpu` when built with that feature
    /// (`LICENTIA_TRAINING_DEVICE`).
    pub training_device: String,
    /// How long a worker's claim on a run lasts without a heartbeat, in seconds
    /// (`LICENTIA_TRAINING_LEASE_SECONDS`): a dead worker's run is failed this long after it died.
    pub training_lease_seconds: u64,
    /// Largest artifact upload in bytes (`LICENTIA_MAX_UPLOAD`).
    pub max_upload: u64,
    /// Largest dataset in MiB of CSV (`LICENTIA_MAX_DATASET_MB`): the upload limit and the limit
    /// every reader parses with.
    pub max_dataset_mb: usize,
    /// Largest estimated memory of one training run, in MiB (`LICENTIA_MAX_RUN_MEMORY_MB`): bigger
    /// launches are refused before anything is reserved.
    pub max_run_memory_mb: u64,
    /// Wall-clock cap of one training run, in seconds (`LICENTIA_MAX_RUN_SECONDS`): a run still
    /// training then stops, fails with that reason and is billed for the epochs it finished.
    pub max_run_seconds: u64,
    /// At most this many runs of one organisation train at once, across every worker
    /// (`LICENTIA_MAX_RUNS_PER_ORG`; 0: no limit): one licensee cannot hold every worker.
    pub max_runs_per_org: u64,
    /// The processing region of this process's training workers (`LICENTIA_WORKER_REGION`, e.g.
    /// `eu`): they claim runs on datasets restricted to it or to none; unset, only unrestricted ones.
    pub worker_region: Option<String>,
    /// Where artifact ciphertext lives: `local` (`<data dir>/blobs`) or `s3` (`LICENTIA_STORAGE`).
    pub storage: String,
    /// S3 bucket, endpoint (MinIO etc.; unset for AWS) and region (`LICENTIA_S3_BUCKET`,
    /// `LICENTIA_S3_ENDPOINT`, `LICENTIA_S3_REGION`). Credentials: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` from the environment.
    pub s3_bucket: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    /// Where people reach this installation, for links in e-mail (`LICENTIA_PUBLIC_URL`; default
    /// `http://` + the listen address).
    pub public_url: Option<String>,
    /// The SMTP server e-mail leaves through (`LICENTIA_SMTP_URL`: `smtp://host:25`,
    /// `smtp://user:pass@host:587?tls=required` for STARTTLS, `smtps://host:465`). Unset: notices
    /// wait in the outbox and nothing is sent.
    pub smtp_url: Option<String>,
    /// The sender of that e-mail (`LICENTIA_MAIL_FROM`).
    pub mail_from: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            data_dir: PathBuf::from("./data"),
            generate_keys: true,
            demo: true,
            log: "info".into(),
            token_ttl_minutes: 30,
            // Room for an agreement's prose: up to 50 clauses of 5,000 characters, percent-encoded
            // (a form) or escaped (JSON); a 16 KiB form limit lost one long clause's edits.
            json_limit: 1024 * 1024,
            form_limit: 1024 * 1024,
            checkpoint_every: 1000,
            checkpoint_seconds: 300,
            db_max_connections: 16,
            db_acquire_timeout: 5,
            db_statement_timeout: 30,
            workers: 0,
            training_workers: 1,
            training_device: "cpu".into(),
            training_lease_seconds: 30,
            max_upload: 2 * 1024 * 1024 * 1024,
            max_run_memory_mb: 4096,
            max_dataset_mb: 256,
            max_run_seconds: 6 * 3600,
            max_runs_per_org: 0,
            worker_region: None,
            storage: "local".into(),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            public_url: None,
            smtp_url: None,
            mail_from: "Licentia <licentia@localhost>".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{name}: {message}")]
    Env { name: String, message: String },
}

impl Settings {
    /// Loads `file` (if it exists) over the defaults, then the environment over that.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let path = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("licentia.toml"));
        let mut s = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Settings>(&text).map_err(|e| ConfigError::File { path: path.clone(), message: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_none() => Settings::default(),
            Err(e) => return Err(ConfigError::File { path, message: e.to_string() }),
        };
        s.apply_env(|k| std::env::var(k).ok())?;
        Ok(s)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, v: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.trim().parse::<T>().map_err(|e| ConfigError::Env { name: name.into(), message: e.to_string() })
        }
        if let Some(v) = get("LICENTIA_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = Some(v);
        }
        if let Some(v) = get("LICENTIA_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("LICENTIA_GENERATE_KEYS") {
            self.generate_keys = parse("LICENTIA_GENERATE_KEYS", v)?;
        }
        if let Some(v) = get("LICENTIA_DEMO") {
            self.demo = parse("LICENTIA_DEMO", v)?;
        }
        if let Some(v) = get("LICENTIA_LOG") {
            self.log = v;
        }
        macro_rules! num {
            ($field:ident, $name:literal) => {
                if let Some(v) = get($name) {
                    self.$field = parse($name, v)?;
                }
            };
        }
        num!(token_ttl_minutes, "LICENTIA_TOKEN_TTL_MINUTES");
        num!(json_limit, "LICENTIA_JSON_LIMIT");
        num!(form_limit, "LICENTIA_FORM_LIMIT");
        num!(checkpoint_every, "LICENTIA_CHECKPOINT_EVERY");
        num!(checkpoint_seconds, "LICENTIA_CHECKPOINT_SECONDS");
        num!(db_max_connections, "LICENTIA_DB_MAX_CONNECTIONS");
        num!(db_acquire_timeout, "LICENTIA_DB_ACQUIRE_TIMEOUT");
        num!(db_statement_timeout, "LICENTIA_DB_STATEMENT_TIMEOUT");
        num!(workers, "LICENTIA_WORKERS");
        num!(training_workers, "LICENTIA_TRAINING_WORKERS");
        num!(training_lease_seconds, "LICENTIA_TRAINING_LEASE_SECONDS");
        num!(max_upload, "LICENTIA_MAX_UPLOAD");
        num!(max_run_memory_mb, "LICENTIA_MAX_RUN_MEMORY_MB");
        num!(max_dataset_mb, "LICENTIA_MAX_DATASET_MB");
        num!(max_run_seconds, "LICENTIA_MAX_RUN_SECONDS");
        num!(max_runs_per_org, "LICENTIA_MAX_RUNS_PER_ORG");
        if let Some(v) = get("LICENTIA_WORKER_REGION") {
            self.worker_region = Some(v);
        }
        if let Some(v) = get("LICENTIA_TRAINING_DEVICE") {
            self.training_device = v;
        }
        if let Some(v) = get("LICENTIA_STORAGE") {
            self.storage = v;
        }
        if let Some(v) = get("LICENTIA_S3_BUCKET") {
            self.s3_bucket = Some(v);
        }
        if let Some(v) = get("LICENTIA_S3_ENDPOINT") {
            self.s3_endpoint = Some(v);
        }
        if let Some(v) = get("LICENTIA_S3_REGION") {
            self.s3_region = v;
        }
        if let Some(v) = get("LICENTIA_PUBLIC_URL").filter(|v| !v.is_empty()) {
            self.public_url = Some(v);
        }
        if let Some(v) = get("LICENTIA_SMTP_URL").filter(|v| !v.is_empty()) {
            self.smtp_url = Some(v);
        }
        if let Some(v) = get("LICENTIA_MAIL_FROM") {
            self.mail_from = v;
        }
        if !["local", "s3"].contains(&self.storage.as_str()) {
            return Err(ConfigError::Env { name: "storage".into(), message: "must be local or s3".into() });
        }
        if let Some(r) = self.worker_region.take() {
            self.worker_region =
                Some(licentia_domain::residency::parse_region(&r).map_err(|e| ConfigError::Env { name: "worker_region".into(), message: e.message })?);
        }
        if self.storage == "s3" && self.s3_bucket.is_none() {
            return Err(ConfigError::Env { name: "s3_bucket".into(), message: "is required when storage = s3".into() });
        }
        if !(1..=24 * 60).contains(&self.token_ttl_minutes) {
            return Err(ConfigError::Env { name: "token_ttl_minutes".into(), message: "must be between 1 and 1440".into() });
        }
        Ok(())
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    /// Versioned master keys (`v<N>.key`), `LICENTIA_MASTER_KEY_DIR` or `<data dir>/keys/master`.
    pub fn master_keys_dir(&self) -> PathBuf {
        std::env::var_os("LICENTIA_MASTER_KEY_DIR").map(PathBuf::from).unwrap_or_else(|| self.keys_dir().join("master"))
    }

    pub fn web(&self) -> licentia_app::Settings {
        let mut w = licentia_app::Settings::for_data_dir(&self.data_dir);
        w.token_ttl = chrono::Duration::minutes(self.token_ttl_minutes);
        w.json_limit = self.json_limit;
        w.form_limit = self.form_limit;
        w.checkpoint_every = self.checkpoint_every;
        w.max_upload = self.max_upload;
        w.max_run_memory = self.max_run_memory_mb.saturating_mul(1024 * 1024);
        w.max_dataset_bytes = self.max_dataset_mb.saturating_mul(1024 * 1024);
        w.public_url = self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen));
        w
    }

    /// The mail sender, when an SMTP server is configured.
    pub fn mailer(&self) -> Result<Option<licentia_app::mail::Mailer>, String> {
        let Some(url) = &self.smtp_url else { return Ok(None) };
        licentia_app::mail::Mailer::new(&licentia_app::mail::MailConfig { smtp_url: url.clone(), from: self.mail_from.clone() }).map(Some)
    }

    /// The configured blob store.
    pub fn blob_store(&self) -> Result<licentia_store::BlobStore, String> {
        match self.storage.as_str() {
            "s3" => {
                let settings = licentia_store::s3::S3Settings {
                    bucket: self.s3_bucket.clone().unwrap_or_default(),
                    endpoint: self.s3_endpoint.clone(),
                    region: self.s3_region.clone(),
                    access_key_id: None,
                    secret_access_key: None,
                };
                licentia_store::S3Store::new(&settings).map(licentia_store::BlobStore::S3).map_err(|e| e.to_string())
            }
            _ => Ok(licentia_store::BlobStore::Local(licentia_store::LocalStore::new(self.data_dir.join("blobs")))),
        }
    }

    pub fn pool(&self) -> licentia_db::pool::PoolSettings {
        licentia_db::pool::PoolSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: std::time::Duration::from_secs(self.db_acquire_timeout),
            statement_timeout: std::time::Duration::from_secs(self.db_statement_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_which_overrides_defaults() -> Result<(), Box<dyn std::error::Error>> {
        let mut s: Settings = toml::from_str("listen = \"0.0.0.0:9000\"\ntoken_ttl_minutes = 10\n")?;
        assert_eq!(s.json_limit, Settings::default().json_limit, "unset keys keep their default");
        s.apply_env(|k| match k {
            "LICENTIA_LISTEN" => Some("127.0.0.1:7000".into()),
            "DATABASE_URL" => Some("postgres://x@y/z".into()),
            _ => None,
        })?;
        assert_eq!(s.listen, "127.0.0.1:7000");
        assert_eq!(s.token_ttl_minutes, 10);
        assert_eq!(s.database_url.as_deref(), Some("postgres://x@y/z"));
        Ok(())
    }

    #[test]
    fn bad_values_name_their_source() {
        let mut s = Settings::default();
        let err = s.apply_env(|k| (k == "LICENTIA_JSON_LIMIT").then(|| "lots".to_string()));
        assert!(matches!(err, Err(ConfigError::Env { name, .. }) if name == "LICENTIA_JSON_LIMIT"));
        assert!(toml::from_str::<Settings>("listne = \"typo\"").is_err(), "unknown keys are refused");
    }
}
