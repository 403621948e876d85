//! The binary itself: zero-configuration start against an empty database, a second start that
//! does not seed again, graceful shutdown, and the `user` and `audit` commands.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Res, TempDir, licentia, start, start_with};
use licentia_db::testing::TestDb;

async fn count(t: &TestDb, sql: &'static str) -> Res<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(&t.db.pool).await?)
}

#[actix_web::test]
async fn first_start_migrates_seeds_and_serves_a_second_start_does_not_seed_again() -> Res<()> {
    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let server = start(&t.url, &data)?;
    assert_eq!(server.logins.len(), 6, "one demo login per seeded user");
    let client = awc::Client::builder().disable_redirects().finish();

    let health = client.get(format!("{}/healthz", server.base)).send().await?;
    assert_eq!(health.status().as_u16(), 200);
    let ready = client.get(format!("{}/readyz", server.base)).send().await?;
    assert_eq!(ready.status().as_u16(), 200);
    let mut login_page = client.get(format!("{}/login", server.base)).send().await?;
    assert_eq!(login_page.status().as_u16(), 200);
    let html = String::from_utf8_lossy(&login_page.body().await?).into_owned();
    assert!(html.contains("action=\"/login\"") && html.contains("name=\"password\""));

    // A printed demo login works.
    let (email, password) = server.logins.iter().find(|(e, _)| e.starts_with("manager@")).cloned().ok_or("no manager login printed")?;
    let mut token = client.post(format!("{}/api/v1/auth/token", server.base)).send_json(&serde_json::json!({ "email": email, "password": password })).await?;
    assert_eq!(token.status().as_u16(), 200);
    let body: serde_json::Value = token.json().await?;
    assert!(body["token"].as_str().is_some_and(|t| t.split('.').count() == 3));
    // The demo's admin must set up a second factor first: the right password alone opens nothing.
    let (admin, admin_password) = server.logins.iter().find(|(e, _)| e.starts_with("admin@")).cloned().ok_or("no admin login printed")?;
    let mut refused =
        client.post(format!("{}/api/v1/auth/token", server.base)).send_json(&serde_json::json!({ "email": admin, "password": admin_password })).await?;
    assert_eq!(refused.status().as_u16(), 401);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!((body["error"]["code"].as_str(), body["error"]["details"]["enrol"].as_bool()), (Some("second_factor_required"), Some(true)), "{body}");

    let status = server.stop()?;
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    assert!(data.0.join("keys/jwt_ed25519.pk8").exists());
    assert!(data.0.join("checkpoints/audit-checkpoints.jsonl").exists(), "the final checkpoint is written on shutdown");

    let (users, orgs) = (count(&t, "SELECT count(*) FROM users").await?, count(&t, "SELECT count(*) FROM organisations").await?);
    assert_eq!((users, orgs), (6, 3));
    assert_eq!(count(&t, "SELECT count(*) FROM ip_assets").await?, 6, "the demo portfolio");
    assert_eq!(count(&t, "SELECT count(*) FROM agreements WHERE status = 'active'").await?, 1, "Borealis's executed licence");
    assert_eq!(count(&t, "SELECT count(*) FROM agreement_acceptances").await?, 2, "accepted by both parties");
    assert_eq!(count(&t, "SELECT count(*) FROM ip_assets WHERE parent_id IS NOT NULL").await?, 1, "a family of two");
    let again = start(&t.url, &data)?;
    assert!(again.logins.is_empty(), "second start seeded again");
    let mut token = client.post(format!("{}/api/v1/auth/token", again.base)).send_json(&serde_json::json!({ "email": email, "password": password })).await?;
    assert_eq!(token.status().as_u16(), 200, "keys and accounts survive a restart: {:?}", token.body().await?);
    again.stop()?;
    assert_eq!(count(&t, "SELECT count(*) FROM users").await?, 6);
    assert_eq!(count(&t, "SELECT count(*) FROM ip_assets").await?, 6, "no second portfolio");
    assert_eq!(count(&t, "SELECT count(*) FROM audit_log WHERE action = 'demo.seeded'").await?, 1);

    // And the whole history verifies, checkpoints included.
    let verify = licentia(&t.url, &data).args(["audit", "verify"]).output()?;
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    Ok(())
}

#[actix_web::test]
async fn audit_verify_exits_1_naming_the_first_bad_sequence_number() -> Res<()> {
    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let seed = licentia(&t.url, &data).arg("demo").output()?;
    assert!(seed.status.success(), "{}", String::from_utf8_lossy(&seed.stderr));
    for i in 0..4 {
        let out = licentia(&t.url, &data)
            .args(["user", "create", "--email", &format!("user{i}@aurora.example"), "--role", "manager", "--org", "Aurora Innovations"])
            .env("LICENTIA_PASSWORD", "a long enough password")
            .output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let cp = licentia(&t.url, &data).args(["audit", "checkpoint"]).output()?;
    assert!(String::from_utf8_lossy(&cp.stdout).contains("checkpoint signed at seq 5"), "{}", String::from_utf8_lossy(&cp.stdout));
    let ok = licentia(&t.url, &data).args(["audit", "verify"]).output()?;
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    // A mistyped file is an error, not a verification against nothing.
    for flag in ["--witness", "--checkpoints"] {
        let typo = licentia(&t.url, &data).args(["audit", "verify", flag, "/nonexistent/witness-x.jsonl"]).output()?;
        assert_ne!(typo.status.code(), Some(0), "{flag}");
        assert!(String::from_utf8_lossy(&typo.stderr).contains("is not a readable file"), "{flag}: {}", String::from_utf8_lossy(&typo.stderr));
    }

    let mut tx = t.db.begin().await?;
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("UPDATE audit_log SET details = '{\"email\": \"mallory@evil.example\"}' WHERE seq = 3").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER").execute(&mut *tx).await?;
    tx.commit().await?;
    let bad = licentia(&t.url, &data).args(["audit", "verify"]).output()?;
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("first bad seq 3: modified"), "{out}");
    Ok(())
}

#[actix_web::test]
async fn user_create_reads_the_password_from_the_environment_or_stdin_and_refuses_bad_input() -> Res<()> {
    let t = TestDb::migrated().await?;
    let data = TempDir::new();
    let ok = licentia(&t.url, &data)
        .args(["user", "create", "--email", "Lee@Borealis.example", "--role", "licensee", "--org", "Borealis Analytics", "--org-kind", "licensee"])
        .env("LICENTIA_PASSWORD", "a long enough password")
        .output()?;
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let mut child = licentia(&t.url, &data)
        .args(["user", "create", "--email", "ann@aurora.example", "--role", "auditor", "--org", "Aurora Innovations"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        writeln!(stdin, "another long password")?;
    }
    let from_stdin = child.wait_with_output()?;
    assert!(from_stdin.status.success(), "{}", String::from_utf8_lossy(&from_stdin.stderr));
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email").fetch_all(&t.db.pool).await?;
    assert_eq!(emails, vec!["ann@aurora.example".to_owned(), "lee@borealis.example".to_owned()]);

    for (args, needle) in [
        (vec!["--email", "x@aurora.example", "--role", "emperor", "--org", "Aurora Innovations"], "role"),
        (vec!["--email", "not-an-email", "--role", "manager", "--org", "Aurora Innovations"], "email"),
        (vec!["--email", "lee@borealis.example", "--role", "licensee", "--org", "Borealis Analytics"], "already exists"),
        (vec!["--email", "boss@borealis.example", "--role", "admin", "--org", "Borealis Analytics"], "must belong to a licensor"),
    ] {
        let out = licentia(&t.url, &data).args(["user", "create"]).args(&args).env("LICENTIA_PASSWORD", "a long enough password").output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
    let short = licentia(&t.url, &data)
        .args(["user", "create", "--email", "s@aurora.example", "--role", "manager", "--org", "Aurora Innovations"])
        .env("LICENTIA_PASSWORD", "short")
        .output()?;
    assert!(!short.status.success() && String::from_utf8_lossy(&short.stderr).contains("password"));
    assert_eq!(count(&t, "SELECT count(*) FROM users").await?, 2);
    Ok(())
}

#[test]
fn help_is_complete_for_every_command() -> Res<()> {
    for args in [
        vec!["--help"],
        vec!["user", "create", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["audit", "acknowledge", "--help"],
        vec!["blobs", "gc", "--help"],
        vec!["serve", "--help"],
    ] {
        let out = Command::new(BIN).args(&args).output()?;
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
    let top = String::from_utf8_lossy(&Command::new(BIN).arg("--help").output()?.stdout).into_owned();
    for cmd in ["serve", "migrate", "user", "audit", "demo", "blobs", "completions"] {
        assert!(top.contains(cmd), "{cmd} missing from --help");
    }
    Ok(())
}

#[test]
fn version_names_the_commit_and_completions_cover_every_command() -> Res<()> {
    let out = Command::new(BIN).arg("--version").output()?;
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    // This test runs from a checkout: the binary names the commit it was built from.
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output()?;
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    assert!(out.status.success() && version.starts_with(&format!("licentia {} (commit ", env!("CARGO_PKG_VERSION"))), "{version}");
    if !head.is_empty() {
        assert!(version.contains(&head), "{version} should name {head}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN).args(["completions", shell]).env("DATABASE_URL", "postgres://nowhere.invalid/x").output()?;
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        for cmd in ["serve", "worker", "receipt", "evidence", "blobs", "completions"] {
            assert!(script.contains(cmd), "{shell} completion lacks {cmd}");
        }
    }
    let bad = Command::new(BIN).args(["completions", "cmd.exe"]).output()?;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("possible values"));
    Ok(())
}

#[test]
fn no_database_anywhere_gives_one_paragraph_with_the_ways_out() -> Res<()> {
    let data = TempDir::new();
    let out = Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/licentia")
        .env("LICENTIA_DATA_DIR", &data.0)
        .env("LICENTIA_LOG", "error")
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Could not connect to DATABASE_URL") && err.contains("unset DATABASE_URL"), "{err}");
    assert!(!err.contains("panicked"));
    Ok(())
}

#[test]
fn receipt_verify_checks_the_signature_offline() -> Res<()> {
    let data = TempDir::new();
    // The installation's keys, as `serve` would create them.
    let keys = licentia_crypto::KeyMaterial::load(&data.0.join("keys"), true)?;
    let key = licentia_crypto::SigningKey::from_pkcs8(&keys.audit_pkcs8)?;
    let receipt = licentia_app::receipts::sign(&key, &serde_json::json!({ "run": "r-1", "rows": 160, "epochs": 5, "units": 800 }));
    let file = data.0.join("receipt.json");
    let verify = |r: &serde_json::Value| -> Res<(bool, String)> {
        std::fs::write(&file, serde_json::to_vec(r)?)?;
        let out = Command::new(BIN).env("LICENTIA_DATA_DIR", &data.0).env("LICENTIA_LOG", "warn").args(["receipt", "verify"]).arg(&file).output()?;
        Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let (ok, text) = verify(&receipt)?;
    assert!(ok && text.starts_with("valid"), "{text}");
    let mut forged = receipt.clone();
    forged["receipt"]["units"] = serde_json::json!(1);
    let (ok, text) = verify(&forged)?;
    assert!(!ok && text.contains("signature does not match"), "{text}");
    let other = licentia_crypto::SigningKey::from_pkcs8(&licentia_crypto::SigningKey::generate_pkcs8()?)?;
    let (ok, text) = verify(&licentia_app::receipts::sign(&other, &receipt["receipt"]))?;
    assert!(!ok && text.contains("not the trusted key"), "{text}");
    Ok(())
}

/// `licentia evidence verify` checks a pack offline with the installation's key and names the
/// file that was changed (how packs are built and tampered with is in the HTTP tests'
/// `compliance.rs`; this is the command's face).
#[test]
fn evidence_verify_names_the_changed_file() -> Res<()> {
    let data = TempDir::new();
    let keys = licentia_crypto::KeyMaterial::load(&data.0.join("keys"), true)?;
    let key = licentia_crypto::SigningKey::from_pkcs8(&keys.audit_pkcs8)?;
    let agreement = serde_json::to_vec(&serde_json::json!({ "id": "a-1", "versions": [] }))?;
    let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &agreement));
    let manifest = licentia_app::receipts::sign(
        &key,
        &serde_json::json!({ "format": licentia_app::evidence::FORMAT, "agreement": "a-1", "files": [{ "path": "agreement.json", "sha256": sha, "bytes": agreement.len() }] }),
    );
    let mut pack = tar::Builder::new(Vec::new());
    for (path, bytes) in [("manifest.json", serde_json::to_vec(&manifest)?), ("agreement.json", agreement.clone())] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        pack.append_data(&mut h, path, bytes.as_slice())?;
    }
    let pack = pack.into_inner()?;
    let file = data.0.join("evidence.tar");
    let verify = |bytes: &[u8]| -> Res<(bool, String)> {
        std::fs::write(&file, bytes)?;
        let out = Command::new(BIN).env("LICENTIA_DATA_DIR", &data.0).env("LICENTIA_LOG", "warn").args(["evidence", "verify"]).arg(&file).output()?;
        Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let (ok, text) = verify(&pack)?;
    assert!(ok && text.starts_with("valid: evidence pack of agreement a-1"), "{text}");
    let at = pack.windows(agreement.len()).position(|w| w == agreement.as_slice()).ok_or("agreement.json not in the archive")?;
    let mut changed = pack.clone();
    changed[at + 3] ^= 0x20;
    let (ok, text) = verify(&changed)?;
    assert!(!ok && text.starts_with("INVALID: agreement.json"), "{text}");
    Ok(())
}

/// A worker killed with SIGKILL mid-run: after its lease lapses another worker fails the run and
/// releases the reservation; nothing is settled, so nothing is billed twice.
#[actix_web::test]
async fn a_killed_worker_s_run_is_failed_after_its_lease_and_its_reservation_released() -> Res<()> {
    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let mut server = start_with(&t.url, &data, &[("LICENTIA_TRAINING_LEASE_SECONDS", "2")])?;
    let client = awc::Client::default();
    let password = |email: &str| server.logins.iter().find(|(e, _)| e == email).map(|(_, p)| p.clone()).ok_or("no demo login");
    let token = |email: &str, pw: String| {
        let (client, base) = (&client, server.base.clone());
        let email = email.to_owned();
        async move {
            let mut r = client.post(format!("{base}/api/v1/auth/token")).send_json(&serde_json::json!({ "email": email, "password": pw })).await?;
            let v: serde_json::Value = r.json().await?;
            Ok::<String, Box<dyn std::error::Error>>(v["token"].as_str().ok_or("no token")?.to_owned())
        }
    };
    let m = token("manager@aurora.example", password("manager@aurora.example")?).await?;
    let l = token("licensee@borealis.example", password("licensee@borealis.example")?).await?;
    let base = server.base.clone();
    let agreements: serde_json::Value = client.get(format!("{base}/api/v1/agreements?status=active")).bearer_auth(&m).send().await?.json().await?;
    let agreement = agreements["items"][0]["id"].as_str().ok_or("no active demo agreement")?.to_owned();
    let mut r = client
        .post(format!("{base}/api/v1/licences"))
        .bearer_auth(&m)
        .send_json(&serde_json::json!({ "agreement_id": agreement, "templates": ["tabular-binary-mlp"], "valid_until": "2099-01-01T00:00:00Z" }))
        .await?;
    let licence: serde_json::Value = r.json().await?;
    let mut csv = String::from("a,b,y\n");
    for i in 0..400 {
        csv.push_str(&format!("{},{},{}\n", i % 7, i % 11, i % 2));
    }
    let mut r = client.post(format!("{base}/api/v1/datasets")).bearer_auth(&l).insert_header(("content-type", "text/csv")).send_body(csv).await?;
    let dataset: serde_json::Value = r.json().await?;
    let mut r = client
        .post(format!("{base}/api/v1/runs"))
        .bearer_auth(&l)
        .send_json(&serde_json::json!({ "licence_id": licence["id"], "dataset_id": dataset["id"], "hyper": { "template": "tabular-binary-mlp", "target": "y", "epochs": 500, "batch_size": 1 } }))
        .await?;
    let run: serde_json::Value = r.json().await?;
    let run_id = run["id"].as_str().ok_or_else(|| format!("no run: {run}"))?.to_owned();
    // Wait until the embedded worker is training, then kill the whole server.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: serde_json::Value = client.get(format!("{base}/api/v1/runs/{run_id}")).bearer_auth(&l).send().await?.json().await?;
        if v["status"] == "running" && v["progress"]["batch"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the run never started: {v}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.child.kill()?;
    server.child.wait()?;
    let status: String = sqlx::query_scalar("SELECT status FROM runs").fetch_one(&t.db.pool).await?;
    assert_eq!(status, "running", "nobody has noticed yet");
    // Another worker process picks it up once the lease lapses.
    let mut worker = licentia(&t.url, &data).args(["worker"]).env("LICENTIA_TRAINING_LEASE_SECONDS", "2").stdout(Stdio::null()).spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s: String = sqlx::query_scalar("SELECT status FROM runs").fetch_one(&t.db.pool).await?;
        if s != "running" || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    Command::new("kill").arg("-TERM").arg(worker.id().to_string()).status()?;
    let _ = worker.wait();
    assert_eq!(status, "failed");
    let entries: Vec<(String, i64)> = sqlx::query_as("SELECT entry, compute_units FROM usage_ledger ORDER BY id").fetch_all(&t.db.pool).await?;
    // 320 training rows × 500 epochs × 3 × (2·64 + 64·64 + 64·1) multiply-adds = 2,058,240,000: 2,059 units.
    assert_eq!(entries, vec![("reserve".to_owned(), 2_059), ("release".to_owned(), 2_059)], "released, never settled");
    assert_eq!(count(&t, "SELECT count(*) FROM audit_log WHERE action = 'run.failed'").await?, 1);
    Ok(())
}

/// `licentia model train` trains the licensor's own CSV with the engine and publishes the
/// model asset's next version as the named manager (encrypted, numbered, audited); a licensee or
/// an unknown address cannot, a patent has no versions, and a bad CSV publishes nothing.
#[actix_web::test]
async fn model_train_publishes_the_next_version_as_the_named_manager() -> Res<()> {
    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let demo = licentia(&t.url, &data).arg("demo").output()?;
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let model: String = sqlx::query_scalar("SELECT id::text FROM ip_assets WHERE kind = 'model'").fetch_one(&t.db.pool).await?;
    let patent: String = sqlx::query_scalar("SELECT id::text FROM ip_assets WHERE kind = 'patent' LIMIT 1").fetch_one(&t.db.pool).await?;
    let template: String = sqlx::query_scalar("SELECT details->>'template' FROM ip_assets WHERE kind = 'model'").fetch_one(&t.db.pool).await?;
    let csv = data.0.join("credit.csv");
    let mut rows = String::from("income,debt,region,defaulted\n");
    for i in 0..200 {
        let (income, debt) = ((i * 37) % 100, (i * 61) % 100);
        rows.push_str(&format!("{income},{debt},{},{}\n", ["north", "south"][i % 2], u8::from(income < debt)));
    }
    std::fs::write(&csv, rows)?;
    let train = |asset: &str, who: &str, file: &std::path::Path| {
        licentia(&t.url, &data)
            .args(["model", "train", "--asset", asset, "--target", "defaulted", "--epochs", "3", "--template", &template, "--as", who, "--data"])
            .arg(file)
            .output()
    };
    let ok = train(&model, "manager@aurora.example", &csv)?;
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(out.contains("published version 1"), "{out}");
    let again = train(&model, "manager@aurora.example", &csv)?;
    assert!(String::from_utf8_lossy(&again.stdout).contains("published version 2"));
    let bad = data.0.join("bad.csv");
    std::fs::write(&bad, "income,debt\n1,2,3\n")?;
    for (asset, who, file, needle) in [
        (model.as_str(), "licensee@borealis.example", csv.as_path(), "manager"),
        (model.as_str(), "nobody@aurora.example", csv.as_path(), "no such user"),
        (patent.as_str(), "manager@aurora.example", csv.as_path(), "only model assets"),
        (model.as_str(), "manager@aurora.example", bad.as_path(), "data"),
    ] {
        let out = train(asset, who, file)?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{who} {}: {err}", file.display());
        assert!(!err.contains("panicked"));
    }
    assert_eq!(count(&t, "SELECT count(*) FROM model_versions").await?, 2);
    assert_eq!(count(&t, "SELECT count(*) FROM audit_log WHERE action = 'model.version_published' AND actor_label = 'manager@aurora.example'").await?, 2);
    Ok(())
}
