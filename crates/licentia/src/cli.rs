//! The command line: `licentia [serve|migrate|user create|audit verify|checkpoint|acknowledge|demo|keys|worker|receipt verify|evidence verify|blobs gc|completions]`.
//! Every command reads the same configuration as `serve`.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use licentia_audit::{AuditEvent, AuditLog, CheckpointFile, CheckpointOutcome, Outcome, Trust, Witness};
use licentia_crypto::{KeyMaterial, SigningKey};
use licentia_db::{organisations, users};
use licentia_domain::{Email, OrgKind, OrgName, Password, Role};
use serde_json::json;

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "licentia",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("LICENTIA_COMMIT"), ")"),
    about = "Licentia: technology licensing and IP management.",
    long_about = "Licentia: technology licensing and IP management.\n\nWith no command, `licentia` serves the web application (same as `licentia serve`).\nConfiguration: defaults < licentia.toml (or --config) < environment (LICENTIA_*, DATABASE_URL)."
)]
pub struct Cli {
    /// Configuration file (default: ./licentia.toml when present).
    #[arg(long, global = true, env = "LICENTIA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application and API (the default). Applies migrations, seeds the demo
    /// workspace into an empty database, signs audit checkpoints.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Check and sign the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Seed the demo workspace into an empty database and print its logins.
    Demo,
    /// Manage the master keys that wrap artifact data keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run training workers only (no HTTP): they claim queued runs from the same database.
    Worker {
        /// How many runs to train at once on this machine.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// The processing region of these workers (overrides LICENTIA_WORKER_REGION): they train
        /// only on datasets restricted to it or to no region.
        #[arg(long)]
        region: Option<String>,
    },
    /// Publish versions of model assets.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Check signed run receipts.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Check agreements' evidence packs.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Maintain the encrypted blob store.
    #[command(subcommand)]
    Blobs(BlobsCommand),
    /// Print a shell completion script, e.g. `licentia completions bash > /etc/bash_completion.d/licentia`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum BlobsCommand {
    /// Delete blobs that no artifact row refers to (left by a crash between writing a blob and
    /// its row) and that are older than --older-than-minutes; audited. `serve` runs the same sweep
    /// at start.
    Gc {
        /// Keep orphans younger than this (an upload in flight writes its blob before its row).
        #[arg(long, default_value_t = 60)]
        older_than_minutes: u64,
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Verify an evidence pack offline (`GET /api/v1/agreements/{id}/evidence`) against this
    /// installation's signing key (or --public-key): every file's SHA-256, the manifest's
    /// signature, the audit entries' hashes and their link to a signed checkpoint, the receipts.
    /// Exits 0 when valid, 1 naming the first file that fails.
    Verify {
        file: PathBuf,
        /// The trusted ed25519 public key, base64 (default: this installation's audit key).
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Train a model asset's next version from the licensor's own CSV with the engine licensees
    /// use, and publish it (encrypted, numbered, audited as the named manager). Licensees
    /// fine-tune it under a licence that grants it; they never receive its weights.
    Train {
        /// The model asset's id.
        #[arg(long)]
        asset: String,
        /// The training data (CSV with a header row).
        #[arg(long)]
        data: PathBuf,
        /// The column to predict.
        #[arg(long)]
        target: String,
        /// The manager publishing it (their e-mail address; recorded in the audit log).
        #[arg(long = "as")]
        as_user: String,
        /// tabular-binary-mlp, tabular-multiclass-mlp, tabular-regression-mlp or logistic-regression.
        #[arg(long, default_value = "tabular-binary-mlp")]
        template: String,
        #[arg(long, default_value_t = 20)]
        epochs: u32,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 1e-3)]
        learning_rate: f64,
        /// Hidden layer sizes, comma-separated (default: the template's).
        #[arg(long)]
        hidden: Option<String>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Notes shown with the version.
        #[arg(long, default_value = "")]
        notes: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Verify a run receipt offline against this installation's signing key (or --public-key).
    /// Exits 0 when valid, 1 otherwise.
    Verify {
        /// The receipt JSON (as `GET /api/v1/runs/{id}` returns it under `receipt`).
        file: PathBuf,
        /// The trusted ed25519 public key, base64 (default: this installation's audit key).
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new master key version and re-wrap every data key with it (content untouched).
    Rotate,
    /// Re-wrap data keys still on older versions (resumes an interrupted rotation).
    Rewrap {
        /// Stop after this many data keys (for maintenance windows; run again to continue).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// How many data keys each master key version still wraps. Exits 1 when some are on a
    /// version older than the current one.
    Status,
    /// Delete an old version's key file; refused while any data key uses it.
    Retire {
        #[arg(long)]
        version: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from LICENTIA_PASSWORD, else from stdin (first line).
    Create {
        #[arg(long)]
        email: String,
        /// admin, manager, auditor or licensee.
        #[arg(long)]
        role: String,
        /// Organisation name; created when missing.
        #[arg(long)]
        org: String,
        /// Kind of the organisation when it is created: licensor or licensee (default: licensee
        /// for the licensee role, licensor otherwise).
        #[arg(long)]
        org_kind: Option<String>,
        /// Display name (default: the part of the e-mail before @).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain, check every entry's MAC, every signed checkpoint (in the database
    /// and in the checkpoint file, which must agree) and every node's witness file. Exits 1 and
    /// names the first bad sequence number on tampering.
    Verify {
        /// The checkpoint file outside the database (default: checkpoints/audit-checkpoints.jsonl in the data directory).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// Further witness files to check (every checkpoints/witness-*.jsonl in the data directory is always checked).
        #[arg(long)]
        witness: Vec<PathBuf>,
    },
    /// Sign a checkpoint of the current head now; refused (exit 1) when the database does not
    /// extend what was signed and witnessed before.
    Checkpoint,
    /// Acknowledge a suspected tampering so that checkpoints are signed again from the current
    /// head (audited; `verify` keeps reporting what was lost).
    Acknowledge {
        /// Who acknowledges (recorded as the actor).
        #[arg(long)]
        by: String,
        /// Why: what was found and done.
        #[arg(long)]
        reason: String,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    // Needs no configuration, database or runtime.
    if let Some(Command::Completions { shell }) = cli.command {
        clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "licentia", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("licentia: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("licentia: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => crate::serve::serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::User(UserCommand::Create { email, role, org, org_kind, name }) => {
                create_user(settings, &email, &role, &org, org_kind.as_deref(), name.as_deref()).await
            }
            Command::Audit(AuditCommand::Verify { checkpoints, witness }) => verify(settings, checkpoints, witness).await,
            Command::Audit(AuditCommand::Checkpoint) => checkpoint(settings).await,
            Command::Audit(AuditCommand::Acknowledge { by, reason }) => acknowledge(settings, &by, &reason).await,
            Command::Demo => demo(settings).await,
            Command::Keys(cmd) => keys(settings, cmd).await,
            Command::Worker { count, region } => {
                let mut settings = settings;
                if let Some(r) = region {
                    settings.worker_region = Some(licentia_domain::residency::parse_region(&r).map_err(|e| format!("--region: {}", e.message))?);
                }
                crate::serve::worker(settings, count).await
            }
            Command::Model(cmd) => model(settings, cmd).await,
            Command::Receipt(ReceiptCommand::Verify { file, public_key }) => verify_receipt(&settings, &file, public_key.as_deref()),
            Command::Evidence(EvidenceCommand::Verify { file, public_key }) => verify_evidence(&settings, &file, public_key.as_deref()),
            Command::Blobs(BlobsCommand::Gc { older_than_minutes, dry_run }) => blobs_gc(settings, older_than_minutes, dry_run).await,
            Command::Completions { .. } => Ok(ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("licentia: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// [`with_db`] with the application state a use case needs: the keys, the master key ring and
/// the blob store this configuration names (commands that store or read artifacts).
async fn with_state<F, Fut>(settings: &Settings, f: F) -> Result<ExitCode, String>
where
    F: FnOnce(licentia_app::AppState) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, String>>,
{
    let keys = KeyMaterial::load(&settings.keys_dir(), settings.generate_keys).map_err(|e| e.to_string())?;
    let keyring = licentia_crypto::KeyRing::load(&settings.master_keys_dir(), settings.generate_keys).map_err(|e| e.to_string())?;
    let store = settings.blob_store()?;
    let web = settings.web();
    with_db(settings, |db| async move { f(licentia_app::AppState::new(db, &keys, keyring, store, web)?).await }).await
}

async fn with_db<F, Fut>(settings: &Settings, f: F) -> Result<ExitCode, String>
where
    F: FnOnce(licentia_db::Db) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, String>>,
{
    let resolved = crate::database::open(settings).await?;
    let result = f(resolved.db.clone()).await;
    resolved.db.pool.close().await;
    if let Some(pg) = resolved.embedded {
        pg.stop();
    }
    result
}

async fn migrate(settings: Settings) -> Result<ExitCode, String> {
    with_db(&settings, |_| async {
        println!("migrations applied ({} known)", licentia_db::MIGRATOR.iter().count());
        Ok(ExitCode::SUCCESS)
    })
    .await
}

fn read_password() -> Result<String, String> {
    if let Ok(p) = std::env::var("LICENTIA_PASSWORD") {
        return Ok(p);
    }
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input).map_err(|e| format!("reading the password from stdin: {e}"))?;
    Ok(input.lines().next().unwrap_or_default().to_owned())
}

async fn create_user(settings: Settings, email: &str, role: &str, org: &str, org_kind: Option<&str>, name: Option<&str>) -> Result<ExitCode, String> {
    let email = Email::parse(email).map_err(|e| e.to_string())?;
    let role: Role = role.parse().map_err(|e: licentia_domain::DomainError| e.to_string())?;
    let org_name = OrgName::parse(org).map_err(|e| e.to_string())?;
    let kind: OrgKind = match org_kind {
        Some(k) => k.parse().map_err(|e: licentia_domain::DomainError| e.to_string())?,
        None => role.required_org_kind(),
    };
    let password = Password::parse(&read_password()?).map_err(|e| e.to_string())?;
    let display = name.map(str::to_owned).unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("user").to_owned());
    let hash =
        tokio::task::spawn_blocking(move || licentia_crypto::password::hash(password.expose())).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    let audit = audit_log(&settings)?;
    with_db(&settings, |db| async move {
        let mut tx = db.begin().await.map_err(|e| e.to_string())?;
        let organisation = match organisations::find_by_name(&mut tx, &org_name).await.map_err(|e| e.to_string())? {
            Some(o) => o,
            None => organisations::insert(&mut tx, &org_name, kind).await.map_err(|e| e.to_string())?,
        };
        if organisation.kind != role.required_org_kind() {
            return Err(format!("a {role} must belong to a {} organisation; {} is a {}", role.required_org_kind(), organisation.name, organisation.kind));
        }
        let id = users::insert(&mut tx, users::NewUser { organisation_id: organisation.id, email: &email, display_name: &display, password_hash: &hash, role })
            .await
            .map_err(|e| match e {
                licentia_db::DbError::Conflict { .. } => format!("a user {email} already exists"),
                other => other.to_string(),
            })?;
        let event = AuditEvent::new("user.created", Outcome::Success)
            .actor(None, Some("licentia-cli".into()), Some(organisation.id.as_uuid()))
            .target("user", id)
            .details(json!({ "email": email, "role": role, "organisation_id": organisation.id, "via": "cli" }));
        let head = audit.append(&mut tx, event).await.map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        audit.committed(&db, head).await.map_err(|e| e.to_string())?;
        audit.witness().flush().await.map_err(|e| e.to_string())?;
        println!("created {role} {email} in {} ({}), id {id}", organisation.name, organisation.kind);
        Ok(ExitCode::SUCCESS)
    })
    .await
}

/// This node's audit log as the server opens it: MAC keys, checkpoint key, checkpoint file, witness.
pub fn audit_log(settings: &Settings) -> Result<AuditLog, String> {
    let keys = KeyMaterial::load(&settings.keys_dir(), settings.generate_keys).map_err(|e| e.to_string())?;
    let key = SigningKey::from_pkcs8(&keys.audit_pkcs8).map_err(|e| e.to_string())?;
    let web = settings.web();
    Ok(AuditLog::new(keys.audit_macs, key, CheckpointFile::new(web.checkpoint_file), Witness::open(web.witness_file)))
}

async fn verify(settings: Settings, checkpoints: Option<PathBuf>, extra_witnesses: Vec<PathBuf>) -> Result<ExitCode, String> {
    // A file named on the command line must be there: a mistyped path would otherwise verify
    // against nothing (or report tampering that is only a typo).
    for p in checkpoints.iter().chain(&extra_witnesses) {
        if !p.is_file() {
            return Err(format!("{} is not a readable file", p.display()));
        }
    }
    let audit = audit_log(&settings)?;
    let file = checkpoints.map_or_else(|| audit.checkpoint_file().clone(), CheckpointFile::new);
    let mut witnesses = audit.witness_files();
    witnesses.extend(extra_witnesses);
    let store = settings.blob_store()?;
    with_db(&settings, |db| async move {
        let key = audit.signing_key().verifying_key();
        let remote = licentia_app::checkpoints::read(&store).await.map_err(|e| e.to_string())?;
        let remote = remote.as_ref().map(|(label, entries)| (label.as_str(), entries.as_slice()));
        let trust = Trust { key: &key, macs: audit.macs(), checkpoints: Some(&file), witnesses: &witnesses, remote };
        let report = licentia_audit::verify(&db, trust).await.map_err(|e| e.to_string())?;
        for alert in &report.alerts {
            println!("ALERT: {alert}");
        }
        match &report.problem {
            None if report.alerts.is_empty() => {
                println!(
                    "audit log OK: {} entries, last seq {}, {} checkpoint(s) verified, {} witness file(s) holding {} head(s) agree, head {}",
                    report.entries, report.last_seq, report.checkpoints_checked, report.witnesses_checked, report.witnessed_heads, report.head_hash
                );
                if report.unkeyed_entries > 0 {
                    println!("note: the first {} entries predate the keyed chain (no MAC)", report.unkeyed_entries);
                }
                if let Some(n) = report.remote_checkpoints {
                    println!("{n} checkpoint(s) in the object store's {}/ are all in the database", licentia_app::checkpoints::PREFIX);
                }
                Ok(ExitCode::SUCCESS)
            }
            None => Ok(ExitCode::FAILURE),
            Some(p) => {
                println!("audit log TAMPERED: first bad seq {}: {} ({})", p.seq, p.kind, p.detail);
                Ok(ExitCode::FAILURE)
            }
        }
    })
    .await
}

async fn checkpoint(settings: Settings) -> Result<ExitCode, String> {
    let audit = audit_log(&settings)?;
    let store = settings.blob_store()?;
    with_db(&settings, |db| async move {
        let outcome = audit.checkpoint(&db).await.map_err(|e| e.to_string())?;
        audit.witness().flush().await.map_err(|e| e.to_string())?;
        if !matches!(outcome, CheckpointOutcome::Refused(_)) {
            let copied = licentia_app::checkpoints::publish(&store, &db).await.map_err(|e| e.to_string())?;
            if copied > 0 {
                println!("{copied} checkpoint(s) copied to the object store's {}/", licentia_app::checkpoints::PREFIX);
            }
        }
        match outcome {
            CheckpointOutcome::Signed(c) => {
                println!("checkpoint signed at seq {} (key {}), written to {}", c.seq, c.key_id, audit.checkpoint_file().path.display())
            }
            CheckpointOutcome::Unchanged => println!("nothing new to sign"),
            CheckpointOutcome::Refused(p) => {
                println!(
                    "checkpoint REFUSED: tampering suspected at seq {}: {} ({}); run `licentia audit acknowledge` once investigated",
                    p.seq, p.kind, p.detail
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}

async fn acknowledge(settings: Settings, by: &str, reason: &str) -> Result<ExitCode, String> {
    let audit = audit_log(&settings)?;
    let (by, reason) = (by.trim().to_owned(), reason.trim().to_owned());
    if by.is_empty() || reason.is_empty() {
        return Err("--by and --reason must not be empty".into());
    }
    with_db(&settings, |db| async move {
        let open = audit.suspicion(&db).await.map_err(|e| e.to_string())?;
        let head = audit.acknowledge(&db, &by, &reason).await.map_err(|e| e.to_string())?;
        match open {
            Some(p) => println!("acknowledged the suspicion at seq {} ({}); checkpoints resume from seq {}", p.seq, p.detail, head.seq),
            None => println!("no open suspicion; acknowledgement recorded at seq {}", head.seq),
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}

async fn blobs_gc(settings: Settings, older_than_minutes: u64, dry_run: bool) -> Result<ExitCode, String> {
    with_state(&settings, |state| async move {
        let grace = std::time::Duration::from_secs(older_than_minutes.saturating_mul(60));
        let r = licentia_app::artifacts::collect_garbage(&state, grace, dry_run).await.map_err(|e| e.to_string())?;
        state.audit_log.witness().flush().await.map_err(|e| e.to_string())?;
        let verb = if dry_run { "would delete" } else { "deleted" };
        let n = if dry_run { r.orphans } else { r.deleted };
        println!("{} blob(s), {} without an artifact row; {verb} {n} (older than {older_than_minutes} min)", r.blobs, r.orphans);
        Ok(ExitCode::SUCCESS)
    })
    .await
}

async fn model(settings: Settings, cmd: ModelCommand) -> Result<ExitCode, String> {
    let ModelCommand::Train { asset, data, target, as_user, template, epochs, batch_size, learning_rate, hidden, seed, notes } = cmd;
    let asset = licentia_domain::AssetId::parse(asset.trim()).ok_or("--asset: not an asset id")?;
    let template = licentia_train::Template::parse(template.trim()).ok_or("--template: not a template")?;
    let mut hyper = licentia_train::Hyper::new(template, &target);
    (hyper.epochs, hyper.batch_size, hyper.learning_rate, hyper.seed) = (epochs, batch_size, learning_rate, seed);
    if let Some(h) = hidden {
        hyper.hidden = Some(if h.trim().is_empty() {
            Vec::new()
        } else {
            h.split(',').map(|n| n.trim().parse::<usize>()).collect::<Result<_, _>>().map_err(|_| "--hidden: layer sizes separated by commas")?
        });
    }
    hyper.check().map_err(|e| format!("--{e}"))?;
    let max = settings.web().max_dataset_bytes;
    let len = std::fs::metadata(&data).map_err(|e| format!("{}: {e}", data.display()))?.len();
    if len > max as u64 {
        return Err(format!("{}: {len} bytes; datasets are limited to {max} (max_dataset_mb)", data.display()));
    }
    let csv = std::fs::read(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    with_state(&settings, |state| async move {
        let actor = licentia_app::models::operator(&state, &as_user).await.map_err(|e| e.public_message())?;
        let v = licentia_app::models::train_and_publish(&state, &actor, asset, csv, hyper, notes).await.map_err(|e| e.public_message())?;
        state.audit_log.witness().flush().await.map_err(|e| e.to_string())?;
        println!("published version {} of asset {asset}: {} (weights SHA-256 {}), last epoch {}", v.number, v.id, v.weights_sha256, v.metrics);
        Ok(ExitCode::SUCCESS)
    })
    .await
}

async fn demo(settings: Settings) -> Result<ExitCode, String> {
    let base = format!("http://{}", settings.listen);
    let audit = audit_log(&settings)?;
    with_db(&settings, |db| async move {
        let logins = crate::demo::seed_if_empty(&db, &audit).await.map_err(|e| e.to_string())?;
        audit.witness().flush().await.map_err(|e| e.to_string())?;
        if logins.is_empty() {
            println!("the database already has data; nothing seeded");
        } else {
            crate::demo::print_logins(&logins, &base);
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}

async fn keys(settings: Settings, cmd: KeysCommand) -> Result<ExitCode, String> {
    use crate::rotation;
    let mut ring = licentia_crypto::KeyRing::load(&settings.master_keys_dir(), settings.generate_keys).map_err(|e| e.to_string())?;
    let audit = audit_log(&settings)?;
    with_db(&settings, |db| async move {
        let audit = &audit;
        match cmd {
            KeysCommand::Rotate => {
                let v = rotation::add_version(&db, audit, &mut ring).await.map_err(|e| e.to_string())?;
                let r = rotation::rewrap(&db, audit, &ring, None).await.map_err(|e| e.to_string())?;
                println!("master key version {v} created; {} data key(s) re-wrapped", r.rewrapped);
            }
            KeysCommand::Rewrap { limit } => {
                let r = rotation::rewrap(&db, audit, &ring, limit).await.map_err(|e| e.to_string())?;
                println!("{} data key(s) re-wrapped to version {}", r.rewrapped, ring.current_version());
            }
            KeysCommand::Status => {
                let current = ring.current_version();
                let mut stale = 0;
                for (v, n, present) in rotation::status(&db, &ring).await.map_err(|e| e.to_string())? {
                    let note = match (v == current, present) {
                        (true, _) => " (current)",
                        (false, true) if n == 0 => " (unused: may be retired)",
                        (false, true) => " (awaiting rewrap)",
                        (false, false) => " (KEY FILE MISSING)",
                    };
                    if v != current {
                        stale += n;
                    }
                    println!("version {v}: {n} data key(s){note}");
                }
                if stale > 0 {
                    println!("{stale} data key(s) on older versions: run `licentia keys rewrap`");
                    return Ok(ExitCode::FAILURE);
                }
            }
            KeysCommand::Retire { version } => {
                rotation::retire(&db, audit, &mut ring, version).await.map_err(|e| e.to_string())?;
                println!("master key version {version} retired");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}

/// The key a signature must verify under: `--public-key`, or this installation's audit key.
fn trusted_key(settings: &Settings, public_key: Option<&str>) -> Result<licentia_crypto::signing::VerifyingKey, String> {
    use base64::Engine as _;
    Ok(match public_key {
        Some(k) => licentia_crypto::signing::VerifyingKey::from_bytes(
            &base64::engine::general_purpose::STANDARD.decode(k.trim()).map_err(|_| "--public-key is not base64".to_owned())?,
        ),
        None => {
            let keys = KeyMaterial::load(&settings.keys_dir(), false).map_err(|e| format!("keys: {e}"))?;
            SigningKey::from_pkcs8(&keys.audit_pkcs8).map_err(|e| e.to_string())?.verifying_key()
        }
    })
}

fn verify_evidence(settings: &Settings, file: &std::path::Path, public_key: Option<&str>) -> Result<ExitCode, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let trusted = trusted_key(settings, public_key)?;
    match licentia_app::evidence::verify(&bytes, &trusted) {
        Ok(v) => {
            println!(
                "valid: evidence pack of agreement {} signed by {}: {} files, {} audit entries linked to checkpoint {}, {} receipts",
                v.agreement,
                trusted.key_id(),
                v.files,
                v.audit_entries,
                v.checkpoint_seq.map_or("(none needed)".to_owned(), |s| s.to_string()),
                v.receipts
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            println!("INVALID: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn verify_receipt(settings: &Settings, file: &std::path::Path, public_key: Option<&str>) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let receipt: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
    let trusted = trusted_key(settings, public_key)?;
    match licentia_app::receipts::verify(&receipt, &trusted) {
        licentia_app::receipts::Verdict::Valid => {
            println!("valid: signed by {} ({})", trusted.key_id(), receipt["receipt"]["run"]);
            Ok(ExitCode::SUCCESS)
        }
        licentia_app::receipts::Verdict::UnknownKey(id) => {
            println!("INVALID: signed by key {id}, not the trusted key {}", trusted.key_id());
            Ok(ExitCode::FAILURE)
        }
        licentia_app::receipts::Verdict::BadSignature => {
            println!("INVALID: the signature does not match the receipt's contents");
            Ok(ExitCode::FAILURE)
        }
        licentia_app::receipts::Verdict::Malformed(m) => {
            println!("INVALID: {m}");
            Ok(ExitCode::FAILURE)
        }
    }
}
