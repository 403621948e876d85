//! Finding a database with zero configuration:
//! 1. `DATABASE_URL` when set;
//! 2. else the local server at `postgres://postgres@127.0.0.1:5432/licentia` (database created if missing);
//! 3. else, when PostgreSQL's binaries are installed, a private cluster in `<data dir>/pg` listening
//!    only on a Unix socket in that folder, started now and stopped on shutdown.

use std::path::{Path, PathBuf};
use std::process::Command;

use licentia_db::Db;
use licentia_db::pool::PoolSettings;

pub const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/licentia";

/// A private cluster this process started (and will stop).
#[derive(Debug)]
pub struct EmbeddedPg {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
}

impl EmbeddedPg {
    /// The URL of the `licentia` database over the cluster's socket.
    pub fn url(&self) -> String {
        format!("postgres://postgres@localhost/licentia?host={}", self.dir.display())
    }

    /// Stops the cluster (fast shutdown: open transactions roll back).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&data).args(["-m", "fast", "-w", "stop"]);
        match cmd.output() {
            Ok(o) if o.status.success() => tracing::info!("private PostgreSQL cluster stopped"),
            Ok(o) => tracing::warn!(stderr = %String::from_utf8_lossy(&o.stderr), "stopping the private cluster failed"),
            Err(e) => tracing::warn!(error = %e, "stopping the private cluster failed"),
        }
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.arg("-u").arg("postgres").arg("--").arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// Initialises (first time) and starts a cluster under `dir`.
    pub fn start(dir: &Path) -> Result<Self, String> {
        let bin = find_pg_bin().ok_or("no PostgreSQL binaries (pg_ctl, initdb) on PATH or under /usr/lib/postgresql/*/bin")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        let as_postgres = is_root();
        let pg = EmbeddedPg { bin, dir: dir.clone(), as_postgres };
        if as_postgres {
            // initdb refuses to run as root: the cluster belongs to the `postgres` system user.
            let status = Command::new("chown").arg("-R").arg("postgres:postgres").arg(&dir).status().map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("could not hand the cluster folder to the postgres user (is there one?)".into());
            }
        }
        let data = dir.join("data");
        if !data.join("PG_VERSION").exists() {
            let out = pg
                .command("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"])
                .output()
                .map_err(|e| format!("initdb: {e}"))?;
            if !out.status.success() {
                return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        let running = pg.command("pg_ctl").arg("-D").arg(&data).arg("status").output().map(|o| o.status.success()).unwrap_or(false);
        if !running {
            let options = format!("-k {} -c listen_addresses='' -p 5432", dir.display());
            let out = pg
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(options)
                .arg("-l")
                .arg(dir.join("postgres.log"))
                .args(["-w", "-t", "60", "start"])
                .output()
                .map_err(|e| format!("pg_ctl start: {e}"))?;
            if !out.status.success() {
                return Err(format!("pg_ctl start failed: {} (see {})", String::from_utf8_lossy(&out.stderr).trim(), dir.join("postgres.log").display()));
            }
        }
        Ok(pg)
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `pg_ctl` and `initdb` from PATH, or the newest `/usr/lib/postgresql/<v>/bin`.
pub fn find_pg_bin() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("pg_ctl").is_file() && d.join("initdb").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                return Some(d);
            }
        }
    }
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).filter(|d| has_both(d)).collect();
    versions.sort();
    versions.pop()
}

/// The connected database and, when one was started, the private cluster to stop on shutdown.
pub struct Resolved {
    pub db: Db,
    pub embedded: Option<EmbeddedPg>,
    pub description: String,
}

/// Connects following the order above; on total failure, one paragraph with what was tried and the
/// ways out.
pub async fn resolve(url: Option<&str>, data_dir: &Path, pool: &PoolSettings) -> Result<Resolved, String> {
    if let Some(url) = url {
        return Db::connect(url, pool)
            .await
            .map(|db| Resolved { db, embedded: None, description: "DATABASE_URL".into() })
            .map_err(|e| format!("Could not connect to DATABASE_URL ({}): {e}. Check that the server is running and the URL is right, or unset DATABASE_URL to let Licentia use the local server or start a private one.", redact(url)));
    }
    let local_err = match Db::connect(LOCAL_URL, pool).await {
        Ok(db) => return Ok(Resolved { db, embedded: None, description: format!("local PostgreSQL ({LOCAL_URL})") }),
        Err(e) => e,
    };
    let pg_dir = data_dir.join("pg");
    let embedded = match EmbeddedPg::start(&pg_dir) {
        Ok(pg) => pg,
        Err(e) => {
            return Err(format!(
                "No database. Licentia tried DATABASE_URL (not set), the local PostgreSQL at {LOCAL_URL} ({local_err}), and a private cluster in {} ({e}). Ways out: start PostgreSQL locally (e.g. `pg_ctlcluster 15 main start`), install PostgreSQL's server binaries so Licentia can run its own, run `docker compose up -d postgres`, or set DATABASE_URL to a reachable server.",
                pg_dir.display()
            ));
        }
    };
    let url = embedded.url();
    match Db::connect(&url, pool).await {
        Ok(db) => Ok(Resolved { db, description: format!("private PostgreSQL cluster in {}", pg_dir.display()), embedded: Some(embedded) }),
        Err(e) => {
            embedded.stop();
            Err(format!("Started a private PostgreSQL cluster in {} but could not connect to it: {e}", pg_dir.display()))
        }
    }
}

/// A URL with its password hidden, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Connects (zero-configuration rules) and migrates; the private cluster, if any, is returned so
/// the caller stops it.
pub async fn open(settings: &crate::config::Settings) -> Result<Resolved, String> {
    let mut resolved = resolve(settings.database_url.as_deref(), &settings.data_dir, &settings.pool()).await?;
    resolved.db.migrate().await.map_err(|e| format!("migrations failed: {e}"))?;
    // Migrations ran as the owner; everything else runs as the least-privileged role.
    let app = resolved
        .db
        .restricted()
        .await
        .map_err(|e| format!("cannot assume the database role {} (the login must be a member of it): {e}", licentia_db::APP_ROLE))?;
    resolved.db.pool.close().await;
    resolved.db = app;
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/x"), "postgres://app:***@db:5432/x");
        assert_eq!(redact("postgres://postgres@127.0.0.1/x"), "postgres://postgres@127.0.0.1/x");
    }
}
