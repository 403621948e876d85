//! What the process-level tests share: a scratch folder, the `licentia` binary with its
//! environment, and a started `licentia serve` with the demo logins it printed.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

pub const BIN: &str = env!("CARGO_BIN_EXE_licentia");

pub struct TempDir(pub std::path::PathBuf);
impl TempDir {
    pub fn new() -> Self {
        Self(std::env::temp_dir().join(format!("licentia-cli-{}", uuid::Uuid::new_v4())))
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn licentia(db_url: &str, data: &TempDir) -> Command {
    let mut c = Command::new(BIN);
    c.env("DATABASE_URL", db_url)
        .env("LICENTIA_DATA_DIR", &data.0)
        .env("LICENTIA_LOG", "warn")
        .env("LICENTIA_NODE_ID", "test-node")
        .env_remove("LICENTIA_PASSWORD")
        .current_dir(std::env::temp_dir());
    c
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub logins: Vec<(String, String)>,
}

/// Starts `licentia serve` and reads its stdout up to the "listening" line.
pub fn start(db_url: &str, data: &TempDir) -> Res<Server> {
    start_with(db_url, data, &[])
}

pub fn start_with(db_url: &str, data: &TempDir, env: &[(&str, &str)]) -> Res<Server> {
    let port = free_port()?;
    let mut cmd = licentia(db_url, data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.arg("serve").env("LICENTIA_LISTEN", format!("127.0.0.1:{port}")).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut logins = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).map_err(|_| "server did not start in time")?;
        if let Some(rest) = line.trim().strip_prefix("DEMO-LOGIN") {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            logins.push((fields[1].to_owned(), fields[2].to_owned()));
        }
        if line.starts_with("licentia listening on") {
            break;
        }
    }
    Ok(Server { child, base: format!("http://127.0.0.1:{port}"), logins })
}

impl Server {
    /// SIGTERM, then wait: a graceful shutdown exits 0.
    pub fn stop(mut self) -> Res<std::process::ExitStatus> {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status()?;
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err("server did not stop after SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A test that fails half-way must not leave its server running (it would hold the test
/// harness's output open): killed on drop unless already stopped.
impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    /// The password `serve` printed for a demo user.
    pub fn password(&self, email: &str) -> Res<String> {
        Ok(self.logins.iter().find(|(e, _)| e == email).map(|(_, p)| p.clone()).ok_or_else(|| format!("no demo login for {email}"))?)
    }

    /// A bearer token for a demo user, through the real login endpoint.
    pub async fn token(&self, client: &awc::Client, email: &str) -> Res<String> {
        let mut r = client
            .post(format!("{}/api/v1/auth/token", self.base))
            .send_json(&serde_json::json!({ "email": email, "password": self.password(email)? }))
            .await?;
        let v: serde_json::Value = r.json().await?;
        Ok(v["token"].as_str().ok_or_else(|| format!("no token: {v}"))?.to_owned())
    }
}
