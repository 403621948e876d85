//! What a database administrator tried against the audit log, each on a fresh database, checked
//! with the real binary: `licentia audit verify` exits 1 naming the first bad sequence number and
//! `licentia audit checkpoint` refuses to sign; and a running `licentia serve` whose tail is
//! deleted under it refuses its next checkpoint, records `audit.tamper_suspected`, and signs
//! nothing.

mod common;

use std::time::{Duration, Instant};

use common::{Res, TempDir, licentia, start_with};
use licentia_audit::{AuditEvent, AuditLog, CheckpointFile, Outcome, Witness};
use licentia_db::testing::TestDb;
use serde_json::json;

/// The node's audit log as the binary opens it (same keys, checkpoint file and witness).
fn node_log(data: &TempDir) -> Res<AuditLog> {
    let keys = licentia_crypto::KeyMaterial::load(&data.0.join("keys"), true)?;
    Ok(AuditLog::new(
        keys.audit_macs,
        licentia_crypto::SigningKey::from_pkcs8(&keys.audit_pkcs8)?,
        CheckpointFile::new(data.0.join("checkpoints/audit-checkpoints.jsonl")),
        Witness::open(data.0.join("checkpoints").join(Witness::file_name("test-node"))),
    ))
}

async fn append(t: &TestDb, log: &AuditLog, n: usize) -> Res<()> {
    for i in 0..n {
        log.append_alone(&t.db, AuditEvent::new("user.created", Outcome::Success).actor(None, Some("licentia-cli".into()), None).target("user", i)).await?;
    }
    log.witness().flush().await?;
    Ok(())
}

/// As a superuser would: with the append-only triggers off.
async fn sql(t: &TestDb, statements: &[String]) -> Res<()> {
    let mut tx = t.db.begin().await?;
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER").execute(&mut *tx).await?;
    for s in statements {
        sqlx::query(sqlx::AssertSqlSafe(s.clone())).execute(&mut *tx).await?;
    }
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Recomputes row `seq` after `edit`, keeping its MAC: a consistent chain without the key.
async fn rewrite(t: &TestDb, seq: i64, edit: impl FnOnce(&mut licentia_db::audit::AuditRow)) -> Res<Vec<String>> {
    let mut conn = t.db.pool.acquire().await?;
    let mut row = licentia_db::audit::get(&mut conn, seq).await?;
    edit(&mut row);
    row.canonical = licentia_audit::canonical::to_bytes(&licentia_audit::event::row_value(&row));
    row.hash = licentia_audit::chain_hash(&row.prev_hash, &row.canonical).to_vec();
    Ok(vec![format!(
        "UPDATE audit_log SET actor_label = '{}', canonical = '\\x{}', hash = '\\x{}' WHERE seq = {seq}",
        row.actor_label.clone().unwrap_or_default(),
        hex::encode(&row.canonical),
        hex::encode(&row.hash)
    )])
}

/// A plain INSERT of a well-formed next entry, with no MAC (the key is not in the database).
async fn forged_insert(t: &TestDb) -> Res<Vec<String>> {
    let mut conn = t.db.pool.acquire().await?;
    let mut row = licentia_db::audit::get(&mut conn, 8).await?;
    row.seq = 9;
    row.prev_hash = row.hash.clone();
    row.actor_label = Some("mallory@evil.example".into());
    row.mac = None;
    row.mac_key = None;
    row.canonical = licentia_audit::canonical::to_bytes(&licentia_audit::event::row_value(&row));
    row.hash = licentia_audit::chain_hash(&row.prev_hash, &row.canonical).to_vec();
    licentia_db::audit::insert(&mut conn, &row).await?;
    Ok(Vec::new())
}

#[actix_web::test]
async fn every_kind_of_tampering_fails_the_real_verify_and_checkpoint_commands() -> Res<()> {
    // Each case starts from entries 1..=8 with a checkpoint signed by the CLI at 6.
    let cases = [
        "tail since the checkpoint deleted",
        "forged insert",
        "tail row rewritten",
        "truncated past a checkpoint",
        "checkpoint rows deleted",
        // Kinds detected before the keyed chain, through the real CLI as well.
        "middle row edited",
        "middle row deleted",
        "rows swapped",
        "checkpoint signature edited",
    ];
    for case in cases {
        let t = TestDb::migrated().await?;
        let data = TempDir::new();
        let log = node_log(&data)?;
        append(&t, &log, 6).await?;
        let cp = licentia(&t.url, &data).args(["audit", "checkpoint"]).output()?;
        assert!(String::from_utf8_lossy(&cp.stdout).contains("checkpoint signed at seq 6"), "{case}: {}", String::from_utf8_lossy(&cp.stdout));
        append(&t, &log, 2).await?;
        let ok = licentia(&t.url, &data).args(["audit", "verify"]).output()?;
        assert_eq!(ok.status.code(), Some(0), "{case}: {}", String::from_utf8_lossy(&ok.stdout));

        let mut verify_args = vec!["audit".to_owned(), "verify".to_owned()];
        let (seq, kind, refused) = match case {
            "tail since the checkpoint deleted" => {
                sql(&t, &["DELETE FROM audit_log WHERE seq > 6".into()]).await?;
                (7, "truncated tail", true)
            }
            "forged insert" => {
                let s = forged_insert(&t).await?;
                sql(&t, &s).await?;
                (9, "bad MAC", true)
            }
            "tail row rewritten" => {
                let s = rewrite(&t, 8, |r| r.actor_label = Some("someone-else@example.org".into())).await?;
                sql(&t, &s).await?;
                (8, "bad MAC", true)
            }
            "truncated past a checkpoint" => {
                sql(&t, &["DELETE FROM audit_log WHERE seq > 4".into(), "DELETE FROM audit_checkpoints".into()]).await?;
                let empty = data.0.join("empty-checkpoints.jsonl");
                std::fs::write(&empty, "")?;
                verify_args.extend(["--checkpoints".to_owned(), empty.display().to_string()]);
                (5, "truncated tail", true)
            }
            "checkpoint rows deleted" => {
                sql(&t, &["DELETE FROM audit_checkpoints".into()]).await?;
                (6, "checkpoint mismatch", false)
            }
            // The checkpointer checks what was written since the last checkpoint; damage before it
            // is for verify to find, so these cases check verify only.
            "middle row edited" => {
                sql(&t, &["UPDATE audit_log SET actor_label = 'mallory@evil.example' WHERE seq = 3".into()]).await?;
                (3, "modified", false)
            }
            "middle row deleted" => {
                sql(&t, &["DELETE FROM audit_log WHERE seq = 3".into()]).await?;
                (3, "missing", false)
            }
            "rows swapped" => {
                sql(
                    &t,
                    &[
                        "UPDATE audit_log SET seq = 1000003 WHERE seq = 3".into(),
                        "UPDATE audit_log SET seq = 3 WHERE seq = 4".into(),
                        "UPDATE audit_log SET seq = 4 WHERE seq = 1000003".into(),
                    ],
                )
                .await?;
                (3, "reordered", false)
            }
            _ => {
                sql(&t, &["UPDATE audit_checkpoints SET signature = signature || '\\x00'::bytea WHERE seq = 6".into()]).await?;
                (6, "bad signature", false)
            }
        };
        let bad = licentia(&t.url, &data).args(&verify_args).output()?;
        let out = String::from_utf8_lossy(&bad.stdout);
        assert_eq!(bad.status.code(), Some(1), "{case}: {out}");
        assert!(out.contains(&format!("first bad seq {seq}: {kind}")), "{case}: {out}");
        if refused {
            let checkpoints_before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_checkpoints").fetch_one(&t.db.pool).await?;
            let cp = licentia(&t.url, &data).args(["audit", "checkpoint"]).output()?;
            let out = String::from_utf8_lossy(&cp.stdout);
            assert_eq!(cp.status.code(), Some(1), "{case}: {out}");
            assert!(out.contains(&format!("checkpoint REFUSED: tampering suspected at seq {seq}")), "{case}: {out}");
            let checkpoints_after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_checkpoints").fetch_one(&t.db.pool).await?;
            assert_eq!(checkpoints_before, checkpoints_after, "{case}: nothing signed");
        }
    }
    Ok(())
}

#[actix_web::test]
async fn a_running_server_refuses_to_sign_a_tail_deleted_under_it() -> Res<()> {
    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let server = start_with(&t.url, &data, &[("LICENTIA_CHECKPOINT_SECONDS", "1")])?;
    let client = awc::Client::default();
    let login = |email: &str| json!({ "email": email, "password": "wrong password, audited" });
    // Entries, then a checkpoint over them.
    for i in 0..3 {
        client.post(format!("{}/api/v1/auth/token", server.base)).send_json(&login(&format!("nobody{i}@example.org"))).await?;
    }
    let signed = wait_for(&t, "SELECT coalesce(max(seq), 0) FROM audit_checkpoints", |s| s >= 4).await?;
    // More entries after it; the server's witness records their heads.
    for i in 0..3 {
        client.post(format!("{}/api/v1/auth/token", server.base)).send_json(&login(&format!("later{i}@example.org"))).await?;
    }
    let end: i64 = sqlx::query_scalar("SELECT max(seq) FROM audit_log").fetch_one(&t.db.pool).await?;
    assert!(end > signed);
    let (_, witnessed) = wait_for_witness(&data, end).await?;
    assert!(witnessed >= end);
    // The database administrator deletes whatever the last checkpoint does not cover.
    let last_signed: i64 = sqlx::query_scalar("SELECT max(seq) FROM audit_checkpoints").fetch_one(&t.db.pool).await?;
    sql(&t, &[format!("DELETE FROM audit_log WHERE seq > {last_signed}")]).await?;
    // The next checkpoint attempt (within a second) is refused and recorded.
    wait_for(&t, "SELECT count(*) FROM audit_log WHERE action = 'audit.tamper_suspected'", |n| n >= 1).await?;
    let (email, password) = server.logins.iter().find(|(e, _)| e.starts_with("auditor@")).cloned().ok_or("no auditor login printed")?;
    let mut token = client.post(format!("{}/api/v1/auth/token", server.base)).send_json(&json!({ "email": email, "password": password })).await?;
    let token: serde_json::Value = token.json().await?;
    let bearer = format!("Bearer {}", token["token"].as_str().ok_or("no token")?);
    let mut metrics = client.get(format!("{}/metrics", server.base)).insert_header(("Authorization", bearer.clone())).send().await?;
    let metrics = String::from_utf8_lossy(&metrics.body().await?).into_owned();
    assert!(metrics.lines().any(|l| l.starts_with("licentia_audit_tamper_suspected_total ") && !l.ends_with(" 0")), "{metrics}");
    // The auditor's view says so too.
    let mut verify = client.get(format!("{}/api/v1/audit/verify", server.base)).insert_header(("Authorization", bearer)).send().await?;
    let verify: serde_json::Value = verify.json().await?;
    assert_eq!(verify["ok"], json!(false), "{verify}");
    assert!(verify["report"]["alerts"].as_array().is_some_and(|a| !a.is_empty()), "{verify}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = server.stop()?;
    assert!(status.success());
    // Neither the timer nor the final checkpoint on shutdown signed anything past the tampering.
    let after: i64 = sqlx::query_scalar("SELECT max(seq) FROM audit_checkpoints").fetch_one(&t.db.pool).await?;
    assert_eq!(after, last_signed, "a tampered head was signed");
    let file = CheckpointFile::new(data.0.join("checkpoints/audit-checkpoints.jsonl"));
    assert!(file.read()?.into_iter().flatten().all(|c| c.seq <= last_signed), "the file got a tampered head");
    let verify = licentia(&t.url, &data).args(["audit", "verify"]).output()?;
    let out = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{out}");
    assert!(out.contains("ALERT") && out.contains("tampering suspected"), "{out}");
    Ok(())
}

async fn wait_for(t: &TestDb, query: &'static str, done: impl Fn(i64) -> bool) -> Res<i64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: i64 = sqlx::query_scalar(query).fetch_one(&t.db.pool).await?;
        if done(v) {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {query} (last {v})").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the server's witness file holds a head at or past `seq`.
async fn wait_for_witness(data: &TempDir, seq: i64) -> Res<(usize, i64)> {
    let path = data.0.join("checkpoints").join(Witness::file_name("test-node"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (lines, _) = Witness::read_from(&path, 0)?;
        let max = lines
            .iter()
            .filter_map(|l| match l {
                Ok(licentia_audit::WitnessLine::Head { seq, .. }) => Some(*seq),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        if max >= seq {
            return Ok((lines.len(), max));
        }
        if Instant::now() > deadline {
            return Err(format!("the witness never reached {seq} (at {max})").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
