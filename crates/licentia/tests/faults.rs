//! Faults injected while the server is busy: PostgreSQL restarted under steady load, a hung
//! PostgreSQL (every process stopped with SIGSTOP), and Licentia killed with SIGKILL mid-upload.
//! (Killed mid-run is `cli.rs`'s `a_killed_worker_s_run_is_failed_after_its_lease_and_its_reservation_released`.)
//!
//! The database faults need a PostgreSQL of their own — stopping the machine's shared server would
//! break every other test running in parallel — so they start a private cluster through the same
//! `EmbeddedPg` that `licentia serve` uses when no server answers.

mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Res, TempDir, licentia, start_with};
use licentia::database::{EmbeddedPg, find_pg_bin};
use licentia_db::testing::TestDb;

/// A private cluster in a scratch folder, stopped and removed when dropped.
struct Cluster {
    pg: EmbeddedPg,
    dir: TempDir,
}

impl Cluster {
    fn start() -> Res<Option<Self>> {
        if find_pg_bin().is_none() {
            // Not silently green: say why this machine cannot run it.
            // Straight to the terminal: the test harness hides what a passing test prints with eprintln!.
            std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("SKIPPED: no PostgreSQL server binaries (pg_ctl, initdb) on this machine\n")).ok();
            return Ok(None);
        }
        let dir = TempDir::new();
        let pg = EmbeddedPg::start(&dir.0)?;
        Ok(Some(Self { pg, dir }))
    }

    fn restart(&mut self) -> Res<()> {
        self.pg = EmbeddedPg::start(&self.dir.0)?;
        Ok(())
    }

    /// The postmaster and every backend it forked.
    fn pids(&self) -> Res<Vec<String>> {
        let pidfile = std::fs::read_to_string(self.dir.0.join("data/postmaster.pid"))?;
        let postmaster = pidfile.lines().next().ok_or("empty postmaster.pid")?.trim().to_owned();
        let children = std::process::Command::new("pgrep").args(["-P", &postmaster]).output()?;
        let mut pids = vec![postmaster];
        pids.extend(String::from_utf8_lossy(&children.stdout).split_whitespace().map(str::to_owned));
        Ok(pids)
    }

    fn signal(&self, sig: &str) -> Res<()> {
        for pid in self.pids()? {
            std::process::Command::new("kill").arg(format!("-{sig}")).arg(&pid).status()?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.signal("CONT");
        self.pg.stop();
    }
}

fn client() -> awc::Client {
    awc::Client::builder().timeout(Duration::from_secs(20)).finish()
}

#[derive(Debug, Clone)]
struct Outcome {
    status: u16,
    asset_id: Option<String>,
    at: Instant,
}

/// PostgreSQL is stopped for three seconds in the middle of a steady stream of writes and reads.
/// While it is down Licentia answers 503 and nothing else; afterwards it recovers by itself; every
/// asset it acknowledged exists with its audit row, every asset that exists has one, and
/// `licentia audit verify` passes.
#[actix_web::test]
async fn postgres_restart_under_load_gives_503_then_recovers_and_loses_no_acknowledged_change() -> Res<()> {
    let Some(mut cluster) = Cluster::start()? else { return Ok(()) };
    let url = cluster.pg.url();
    let data = TempDir::new();
    let server = start_with(&url, &data, &[("LICENTIA_DB_ACQUIRE_TIMEOUT", "1"), ("LICENTIA_TRAINING_WORKERS", "0")])?;
    let c = client();
    let token = server.token(&c, "manager@aurora.example").await?;
    let base = server.base.clone();

    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (outcomes, stop, base, token) = (outcomes.clone(), stop.clone(), base.clone(), token.clone());
        actix_web::rt::spawn(async move {
            let c = client();
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let title = format!("Fault load {i}");
                let sent = c
                    .post(format!("{base}/api/v1/assets"))
                    .bearer_auth(&token)
                    .send_json(&serde_json::json!({ "kind": "trade_secret", "title": title, "description": "written under load", "custodian": "R&D" }))
                    .await;
                let (status, asset_id) = match sent {
                    Ok(mut r) => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        (r.status().as_u16(), v["id"].as_str().map(str::to_owned))
                    }
                    Err(_) => (0, None), // no HTTP answer at all: counted, and fails the test below
                };
                outcomes.lock().map_err(|_| "poisoned")?.push(Outcome { status, asset_id, at: Instant::now() });
                let read = c.get(format!("{base}/api/v1/assets?limit=5")).bearer_auth(&token).send().await;
                let status = read.map(|r| r.status().as_u16()).unwrap_or(0);
                outcomes.lock().map_err(|_| "poisoned")?.push(Outcome { status, asset_id: None, at: Instant::now() });
                actix_web::rt::time::sleep(Duration::from_millis(40)).await;
            }
            Ok::<(), &'static str>(())
        })
    };

    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let down_at = Instant::now();
    cluster.pg.stop();
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    cluster.restart()?;
    let up_at = Instant::now();
    // Run on until Licentia has answered successfully a few times after the restart.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
        let recovered = outcomes.lock().map_err(|_| "poisoned")?.iter().filter(|o| o.at > up_at && o.status == 201).count();
        if recovered >= 5 || Instant::now() > deadline {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await?.map_err(|e| e.to_string())?;
    let outcomes = outcomes.lock().map_err(|_| "poisoned")?.clone();

    let unexpected: Vec<&Outcome> = outcomes.iter().filter(|o| ![200, 201, 503].contains(&o.status)).collect();
    assert!(unexpected.is_empty(), "only 200/201 or 503: {unexpected:?}");
    let before = outcomes.iter().filter(|o| o.at < down_at && o.status == 201).count();
    let unavailable = outcomes.iter().filter(|o| o.status == 503).count();
    let after = outcomes.iter().filter(|o| o.at > up_at && o.status == 201).count();
    assert!(before > 0, "the load was running before the fault");
    assert!(unavailable > 0, "the outage was seen as 503");
    assert!(after >= 5, "Licentia recovered without a restart (got {after} writes after)");
    assert!(outcomes.iter().filter(|o| o.status == 503).all(|o| o.at > down_at), "503 only once the database went down");

    // Acknowledged means durable and audited, in the same transaction. An entry whose change
    // committed just as the database went away waits in audit_pending until the log is writable
    // again; the server's last checkpoint on shutdown chains whatever is left, so after it every
    // acknowledged change has its row in the chain.
    server.stop()?;
    let db = licentia_db::Db::connect(&url, &Default::default()).await?;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_pending").fetch_one(&db.pool).await?;
    assert_eq!(pending, 0, "entries left unchained after shutdown");
    let acknowledged: Vec<String> = outcomes.iter().filter_map(|o| o.asset_id.clone()).collect();
    assert_eq!(acknowledged.len(), outcomes.iter().filter(|o| o.status == 201).count());
    for id in &acknowledged {
        let audited: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ip_assets a JOIN audit_log l ON l.target_id = a.id::text AND l.action = 'asset.created' WHERE a.id::text = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await?;
        assert_eq!(audited, 1, "acknowledged asset {id} with its audit row");
    }
    let unaudited: i64 = sqlx::query_scalar("SELECT count(*) FROM ip_assets a WHERE a.title LIKE 'Fault load %' AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.target_id = a.id::text AND l.action = 'asset.created')")
        .fetch_one(&db.pool)
        .await?;
    assert_eq!(unaudited, 0, "no change without its audit row");
    db.pool.close().await;
    let verify = licentia(&url, &data).args(["audit", "verify"]).output()?;
    assert!(verify.status.success(), "audit verify: {}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    eprintln!("restart under load: {before} writes before, {unavailable} answers 503 during, {after} writes after; audit verify green");
    Ok(())
}

/// Every PostgreSQL process frozen with SIGSTOP: requests answer 503 within the acquire timeout
/// instead of piling up, `/readyz` turns red while `/healthz` (the process) stays green, and
/// both turn back once the database thaws.
#[actix_web::test]
async fn a_hung_database_times_out_with_503_and_readiness_turns_red_then_green() -> Res<()> {
    let Some(cluster) = Cluster::start()? else { return Ok(()) };
    let data = TempDir::new();
    let server = start_with(&cluster.pg.url(), &data, &[("LICENTIA_DB_ACQUIRE_TIMEOUT", "2"), ("LICENTIA_TRAINING_WORKERS", "0")])?;
    let c = client();
    let token = server.token(&c, "manager@aurora.example").await?;
    let base = server.base.clone();
    let status = |path: &'static str| {
        let (c, base, token) = (&c, base.clone(), token.clone());
        async move { Ok::<u16, Box<dyn std::error::Error>>(c.get(format!("{base}{path}")).bearer_auth(&token).send().await?.status().as_u16()) }
    };
    assert_eq!(status("/readyz").await?, 200);
    assert_eq!(status("/api/v1/assets?limit=5").await?, 200);

    cluster.signal("STOP")?;
    let started = Instant::now();
    assert_eq!(status("/readyz").await?, 503, "readiness red while the database hangs");
    assert_eq!(status("/healthz").await?, 200, "liveness stays green: restarting Licentia would not help");
    assert_eq!(status("/api/v1/assets?limit=5").await?, 503, "a request times out with 503");
    let mut r = c.get(format!("{base}/api/v1/assets?limit=5")).bearer_auth(&token).send().await?;
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    // Not a timing assertion on the server's speed: a bound far above the 2 s acquire timeout,
    // that a request piling up behind the frozen database (no timeout at all) would still break.
    assert!(started.elapsed() < Duration::from_secs(18), "requests did not pile up behind the hung database");

    cluster.signal("CONT")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if status("/readyz").await? == 200 && status("/api/v1/assets?limit=5").await? == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never turned green again");
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    server.stop()?;
    Ok(())
}

/// SIGKILL while a large attachment is streaming in: the half-received ciphertext stays a `.part`
/// temp file that no row points to, and the next start removes it.
#[actix_web::test]
async fn sigkill_mid_upload_leaves_no_artifact_and_the_next_start_cleans_the_temp_file() -> Res<()> {
    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let env = [("LICENTIA_MAX_UPLOAD", "104857600"), ("LICENTIA_TRAINING_WORKERS", "0")];
    let mut server = start_with(&t.url, &data, &env)?;
    let c = client();
    let token = server.token(&c, "manager@aurora.example").await?;
    let assets: serde_json::Value = c.get(format!("{}/api/v1/assets?limit=1", server.base)).bearer_auth(&token).send().await?.json().await?;
    let asset = assets["items"][0]["id"].as_str().ok_or("no demo asset")?.to_owned();

    // A raw HTTP request, so that the body can stop halfway without the client closing it.
    let boundary = "licentia-fault-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"attached_kind\"\r\n\r\nasset\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"attached_id\"\r\n\r\n{asset}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"weights.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let file_len = 64 * 1024 * 1024;
    let tail = format!("\r\n--{boundary}--\r\n");
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr)?;
    write!(
        stream,
        "POST /api/v1/artifacts HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{head}",
        head.len() + file_len + tail.len()
    )?;
    let chunk = vec![0x5au8; 1024 * 1024];
    for _ in 0..8 {
        stream.write_all(&chunk)?;
    }
    stream.flush()?;
    let tmp = data.0.join("blobs/tmp");
    let deadline = Instant::now() + Duration::from_secs(30);
    let part_files =
        || std::fs::read_dir(&tmp).map(|d| d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "part")).count()).unwrap_or(0);
    while part_files() == 0 {
        assert!(Instant::now() < deadline, "the upload never reached the store");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.child.kill()?;
    server.child.wait()?;
    drop(stream);

    assert_eq!(part_files(), 1, "the killed upload left its temp file (and only that)");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM artifacts").fetch_one(&t.db.pool).await?;
    assert_eq!(rows, 0, "no artifact row for a half-received file");
    let blobs = walk_files(&data.0.join("blobs")).into_iter().filter(|p| !p.starts_with(&tmp)).count();
    assert_eq!(blobs, 0, "no committed blob");

    let logins = std::mem::take(&mut server.logins);
    let mut server = start_with(&t.url, &data, &env)?;
    server.logins = logins; // printed once, on the first start only
    assert_eq!(part_files(), 0, "the next start removed the temp file");
    let listed: serde_json::Value =
        c.get(format!("{}/api/v1/artifacts", server.base)).bearer_auth(server.token(&c, "manager@aurora.example").await?).send().await?.json().await?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0), "{listed}");
    server.stop()?;
    Ok(())
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
        }
    }
    out
}
