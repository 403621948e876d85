//! The audit log over HTTP: what gets recorded, search, export, verification.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn changes_are_recorded_in_the_same_transaction_and_searchable() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let r = app
        .send_json(app.post("/api/v1/users").bearer_auth(&admin), &json!({ "email": "new.manager@aurora.example", "role": "manager", "organisation_id": app.licensor.to_string(), "password": "long enough password" }))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let new_id = r.json()["id"].as_str().map(str::to_owned).ok_or("no id")?;
    assert!(r.json().get("password_hash").is_none(), "the hash must never leave the server");

    let auditor = app.token("auditor").await?;
    let found = app.get_as(&auditor, &format!("/api/v1/audit?action=user.&target={new_id}")).await?;
    assert_eq!(found.status, StatusCode::OK);
    let items = found.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", found.body);
    assert_eq!(items[0]["action"], json!("user.created"));
    assert_eq!(items[0]["actor_label"], json!(app.email("admin")));
    assert!(items[0]["ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"));

    let by_actor = app.get_as(&auditor, &format!("/api/v1/audit?actor={}&outcome=success", app.email("admin"))).await?.json();
    let actions: Vec<&str> = by_actor["items"].as_array().map(|a| a.iter().filter_map(|i| i["action"].as_str()).collect()).unwrap_or_default();
    assert!(actions.contains(&"user.created") && actions.contains(&"auth.login"), "{actions:?}");
    Ok(())
}

#[actix_web::test]
async fn keyset_pagination_walks_the_whole_log_once() -> TestResult {
    let app = spawn_app().await?;
    let auditor = app.token("auditor").await?;
    for _ in 0..7 {
        app.login_api(&app.email("manager"), "wrong password!").await?;
    }
    let total = app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'").await?;
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let path = match cursor {
            Some(c) => format!("/api/v1/audit?action=auth.login_failed&limit=3&before={c}"),
            None => "/api/v1/audit?action=auth.login_failed&limit=3".to_owned(),
        };
        let page = app.get_as(&auditor, &path).await?.json();
        for item in page["items"].as_array().cloned().unwrap_or_default() {
            seen.push(item["seq"].as_i64().ok_or("no seq")?);
        }
        match page["next_before"].as_i64() {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, total);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {seen:?}");

    // Every page says how many entries match in all; from the oldest page, "newer" cursors walk
    // back up, newest first within each page, to the first page.
    let last = app.get_as(&auditor, &format!("/api/v1/audit?action=auth.login_failed&limit=3&before={}", seen[5])).await?.json();
    assert_eq!((last["total"].as_i64(), last["total_exact"].as_bool()), (Some(total), Some(true)));
    // The count stops at its cap rather than scanning a long log on every page.
    let filter = licentia_db::audit::AuditFilter { action: Some("auth.login_failed".into()), ..Default::default() };
    let mut conn = app.t.db.pool.acquire().await?;
    assert_eq!(licentia_db::audit::count(&mut conn, &filter, 3).await?, 3.min(total));
    assert_eq!(licentia_db::audit::count(&mut conn, &filter, 1_000_000).await?, total);
    drop(conn);
    let mut up = Vec::new();
    let mut after = last["items"][0]["seq"].as_i64().ok_or("no first item")?;
    loop {
        let page = app.get_as(&auditor, &format!("/api/v1/audit?action=auth.login_failed&limit=3&after={after}")).await?.json();
        let items: Vec<i64> = page["items"].as_array().cloned().unwrap_or_default().iter().filter_map(|i| i["seq"].as_i64()).collect();
        assert!(items.windows(2).all(|w| w[0] > w[1]), "newest first within a page: {items:?}");
        up.splice(0..0, items);
        match page["newer_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(up, seen[..6], "the newer pages are the pages above, in order");

    // An inverted range is refused, not answered with nothing; the page names the field.
    let inverted = app.get_as(&auditor, "/api/v1/audit?from=2026-12-05&to=2026-12-01").await?;
    assert_eq!((inverted.status, inverted.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("to")));
    let s = app.browser_login("auditor").await?;
    let page = app.send(app.get("/audit?action=auth.login_failed&limit=3").insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains(&format!("{total} entries match")), "{}", page.body);
    assert!(page.body.contains(r#"<option value="">any</option>"#) && page.body.contains("Aurora Innovations</option>"), "an organisation picker, by name");
    Ok(())
}

#[actix_web::test]
async fn export_streams_csv_and_json_lines_and_verify_reports_the_chain() -> TestResult {
    let app = spawn_app().await?;
    let auditor = app.token("auditor").await?;
    let csv = app.get_as(&auditor, "/api/v1/audit/export?format=csv&action=auth.").await?;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").unwrap_or_default().starts_with("text/csv"));
    let mut lines = csv.body.lines();
    assert!(lines.next().unwrap_or_default().starts_with("seq,occurred_at,actor_id"));
    assert!(lines.any(|l| l.contains("auth.login")));
    let jsonl = app.get_as(&auditor, "/api/v1/audit/export?format=jsonl").await?;
    let rows: Vec<serde_json::Value> = jsonl.body.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert!(!rows.is_empty() && rows.iter().all(|r| r["hash"].as_str().is_some_and(|h| h.len() == 64)));
    let bad = app.get_as(&auditor, "/api/v1/audit/export?format=xlsx").await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    let v = app.get_as(&auditor, "/api/v1/audit/verify").await?.json();
    assert_eq!(v["ok"], json!(true), "{v}");
    // Tamper behind the application's back: the next verification says where.
    let mut tx = app.t.db.begin().await?;
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("UPDATE audit_log SET outcome = 'success' WHERE seq = 1").execute(&mut *tx).await?;
    sqlx::query("UPDATE audit_log SET ip = '10.0.0.1' WHERE seq = 2").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER").execute(&mut *tx).await?;
    tx.commit().await?;
    let v = app.get_as(&auditor, "/api/v1/audit/verify").await?.json();
    assert_eq!(v["ok"], json!(false));
    assert_eq!(v["report"]["problem"]["seq"], json!(2), "{v}");
    assert_eq!(v["report"]["problem"]["kind"], json!("modified"));
    Ok(())
}

/// The database administrator's attacks that used to pass, through the API: each makes
/// `GET /api/v1/audit/verify` answer `ok: false` naming the sequence number, and the auditor's
/// list page show the checkpointer's refusal.
#[actix_web::test]
async fn api_verify_reports_what_a_database_administrator_did() -> TestResult {
    for case in ["tail deleted", "forged insert", "tail row rewritten", "truncated past a checkpoint", "checkpoints deleted"] {
        let app = spawn_app().await?;
        let auditor = app.token("auditor").await?;
        let signed = match app.state.audit_log.checkpoint(&app.t.db).await? {
            licentia_audit::CheckpointOutcome::Signed(c) => c.seq,
            other => return Err(format!("{case}: no checkpoint: {other:?}").into()),
        };
        // Two entries after the checkpoint (failed logins are audited).
        for _ in 0..2 {
            app.send_json(app.post("/api/v1/auth/token"), &json!({ "email": "nobody@example.org", "password": "wrong password" })).await?;
        }
        app.state.audit_log.witness().flush().await?;
        let mut tx = app.t.db.begin().await?;
        sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER").execute(&mut *tx).await?;
        sqlx::query("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER").execute(&mut *tx).await?;
        let (seq, kind) = match case {
            "tail deleted" => {
                sqlx::query("DELETE FROM audit_log WHERE seq > $1").bind(signed).execute(&mut *tx).await?;
                (signed + 1, "truncated_tail")
            }
            "forged insert" => {
                let (last, _) = licentia_db::audit::last_entry(&mut tx).await?.ok_or("empty log")?;
                let mut row = licentia_db::audit::get(&mut tx, last).await?;
                row.seq += 1;
                row.prev_hash = row.hash.clone();
                row.actor_label = Some("mallory@evil.example".into());
                row.canonical = licentia_audit::canonical::to_bytes(&licentia_audit::event::row_value(&row));
                row.hash = licentia_audit::chain_hash(&row.prev_hash, &row.canonical).to_vec();
                licentia_db::audit::insert(&mut tx, &row).await?;
                (row.seq, "bad_mac")
            }
            "tail row rewritten" => {
                // Another actor on the newest entry, re-hashed consistently but without the MAC key.
                let (last, _) = licentia_db::audit::last_entry(&mut tx).await?.ok_or("empty log")?;
                let mut row = licentia_db::audit::get(&mut tx, last).await?;
                row.actor_label = Some("someone-else@example.org".into());
                row.canonical = licentia_audit::canonical::to_bytes(&licentia_audit::event::row_value(&row));
                row.hash = licentia_audit::chain_hash(&row.prev_hash, &row.canonical).to_vec();
                sqlx::query("UPDATE audit_log SET actor_label = $1, canonical = $2, hash = $3 WHERE seq = $4")
                    .bind(&row.actor_label)
                    .bind(&row.canonical)
                    .bind(&row.hash)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                (last, "bad_mac")
            }
            "truncated past a checkpoint" => {
                // The signed entry itself and everything after it.
                sqlx::query("DELETE FROM audit_log WHERE seq >= $1").bind(signed).execute(&mut *tx).await?;
                (signed, "truncated_tail")
            }
            _ => {
                sqlx::query("DELETE FROM audit_checkpoints").execute(&mut *tx).await?;
                (signed, "checkpoint_mismatch")
            }
        };
        sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER").execute(&mut *tx).await?;
        sqlx::query("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER").execute(&mut *tx).await?;
        tx.commit().await?;
        let v = app.get_as(&auditor, "/api/v1/audit/verify").await?.json();
        assert_eq!(v["ok"], json!(false), "{case}: {v}");
        assert_eq!((v["report"]["problem"]["seq"].clone(), v["report"]["problem"]["kind"].clone()), (json!(seq), json!(kind)), "{case}: {v}");
        if case != "checkpoints deleted" {
            assert!(matches!(app.state.audit_log.checkpoint(&app.t.db).await?, licentia_audit::CheckpointOutcome::Refused(_)), "{case}");
            let page = app.get_as(&auditor, "/audit").await?;
            assert!(
                page.body.contains("id=\"tamper-suspected\"") && page.body.contains(&format!("Tampering suspected at entry #{seq}")),
                "{case}: {}",
                page.body
            );
        }
    }
    Ok(())
}

/// With the S3 store every signed checkpoint is also an object in the bucket, written once and
/// never replaced (with Object Lock's retention, not deletable either): someone who deletes the
/// database's checkpoints and empties the node's checkpoint file is still named by verification.
#[actix_web::test]
async fn checkpoints_in_the_object_store_outlive_the_database_and_the_checkpoint_file() -> TestResult {
    let Some(endpoint) = licentia_store::testing::endpoint() else { return Ok(()) };
    let s3 = licentia_store::testing::fresh_bucket(&endpoint).await?;
    let app = spawn_full(|_| {}, Some(licentia_store::BlobStore::S3(s3.clone()))).await?;
    let auditor = app.token("auditor").await?;
    let mut signed = Vec::new();
    for _ in 0..2 {
        app.send_json(app.post("/api/v1/auth/token"), &json!({ "email": "nobody@example.org", "password": "wrong password" })).await?;
        match licentia_app::checkpoints::checkpoint(&app.state).await? {
            licentia_audit::CheckpointOutcome::Signed(c) => signed.push(c.seq),
            other => return Err(format!("no checkpoint: {other:?}").into()),
        }
    }
    let names = s3.names_under(licentia_app::checkpoints::PREFIX).await?;
    assert_eq!(names, signed.iter().map(|s| format!("audit-checkpoints/{s:020}.json")).collect::<Vec<_>>());
    assert!(!s3.put_new(&names[0], b"{}".to_vec()).await?, "an existing checkpoint object is not replaced");
    let v = app.get_as(&auditor, "/api/v1/audit/verify").await?.json();
    assert_eq!((v["ok"].clone(), v["report"]["remote_checkpoints"].clone()), (json!(true), json!(2)), "{v}");

    // Database and host access: every checkpoint row deleted, the checkpoint file emptied.
    let mut tx = app.t.db.begin().await?;
    sqlx::query("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM audit_checkpoints").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER").execute(&mut *tx).await?;
    tx.commit().await?;
    std::fs::write(&app.state.audit_log.checkpoint_file().path, "")?;
    let v = app.get_as(&auditor, "/api/v1/audit/verify").await?.json();
    assert_eq!(v["ok"], json!(false), "{v}");
    let problem = &v["report"]["problem"];
    assert_eq!((problem["seq"].as_i64(), problem["kind"].as_str()), (Some(signed[0]), Some("checkpoint_mismatch")), "{v}");
    assert!(problem["detail"].as_str().unwrap_or_default().contains("object store"), "{v}");
    Ok(())
}
