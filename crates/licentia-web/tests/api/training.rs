//! Metered training over HTTP: licences, datasets, launches against quotas, workers, leases,
//! cancellation, settlement and receipts.

use actix_web::http::StatusCode;
use licentia_app::worker::{self, WorkerConfig};
use serde_json::{Value, json};

use crate::helpers::*;

/// An executed licence agreement for Borealis and a licence under it.
pub async fn licence(app: &TestApp, quota: Value) -> Res<String> {
    licence_with(app, quota, json!({ "territory": ["DE"], "effective_date": "2026-01-01", "fee_per_run": 1000, "currency": "EUR" })).await
}

/// The same under the given terms.
pub async fn licence_with(app: &TestApp, quota: Value, terms: Value) -> Res<String> {
    let m = app.token("manager").await?;
    let asset = app
        .send_json(app.post("/api/v1/assets").bearer_auth(&m), &json!({ "kind": "model", "title": "Credit MLP", "template": "tabular-binary-mlp" }))
        .await?
        .json()["id"]
        .as_str()
        .ok_or("no asset")?
        .to_owned();
    licence_on(app, &asset, quota, terms).await
}

/// An executed agreement for Borealis covering `asset` under `terms`, and a licence under it;
/// `extra`'s fields (quotas, templates, model versions, ...) go into the licence's body.
pub async fn licence_on(app: &TestApp, asset: &str, extra: Value, terms: Value) -> Res<String> {
    let m = app.token("manager").await?;
    let r = app.token("reviewer").await?;
    let l = app.token("licensee").await?;
    let a = app
        .send_json(
            app.post("/api/v1/agreements").bearer_auth(&m),
            &json!({ "kind": "non_exclusive_licence", "title": "Model licence", "licensee_id": app.licensee_a.to_string(), "assets": [asset], "terms": terms }),
        )
        .await?;
    let id = a.json()["id"].as_str().ok_or("no agreement")?.to_owned();
    for (t, path) in [(&m, "transition"), (&r, "approve"), (&l, "accept"), (&m, "accept")] {
        let body = if path == "transition" { json!({ "to": "in_review" }) } else { json!({}) };
        let res = app.send_json(app.post(&format!("/api/v1/agreements/{id}/{path}")).bearer_auth(t), &body).await?;
        if res.status != StatusCode::OK {
            return Err(format!("{path}: {}", res.body).into());
        }
    }
    let mut body = json!({ "agreement_id": id, "templates": ["tabular-binary-mlp", "logistic-regression"], "valid_until": "2099-01-01T00:00:00Z" });
    if let (Some(b), Some(q)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in q {
            b.insert(k.clone(), v.clone());
        }
    }
    let lic = app.send_json(app.post("/api/v1/licences").bearer_auth(&m), &body).await?;
    if lic.status != StatusCode::CREATED {
        return Err(format!("licence: {}", lic.body).into());
    }
    Ok(lic.json()["id"].as_str().ok_or("no licence")?.to_owned())
}

/// 200 rows, a rule the model can learn: y = 1 when a + b > 1.
pub fn csv(rows: usize) -> String {
    let mut s = String::from("a,b,name,y\n");
    for i in 0..rows {
        let a = ((i * 37) % 100) as f64 / 100.0;
        let b = ((i * 61) % 100) as f64 / 100.0;
        s.push_str(&format!("{a},{b},person {i},{}\n", u8::from(a + b > 1.0)));
    }
    s
}

pub async fn upload(app: &TestApp, token: &str, body: impl Into<actix_web::web::Bytes>) -> Res<Reply> {
    app.send_body(app.post("/api/v1/datasets?name=train.csv").bearer_auth(token).insert_header(("content-type", "text/csv")), body).await
}

pub fn hyper(epochs: u32) -> Value {
    json!({ "template": "tabular-binary-mlp", "target": "y", "epochs": epochs, "batch_size": 16, "learning_rate": 0.01 })
}

/// Compute units of `hyper(epochs)` on `csv(200)` (160 training rows), by the formula of
/// `licentia_train::cost`: inputs a, b and the name column one-hot (200 names, 32 kept) make 34;
/// 34·64 + 64·64 + 64·1 = 6,336 multiply-adds forward, three times that to train: 19,008 a row
/// and epoch, in units of a million, rounded up.
fn units(epochs: u64) -> i64 {
    (160 * epochs * 19_008).div_ceil(1_000_000) as i64
}

/// The same with the name column masked: inputs a and b, 2·64 + 4,096 + 64 = 4,288 forward,
/// 12,864 a row and epoch.
fn units_masked(epochs: u64) -> i64 {
    (160 * epochs * 12_864).div_ceil(1_000_000) as i64
}

async fn ledger(app: &TestApp) -> Res<Vec<(String, i64, i64)>> {
    Ok(sqlx::query_as("SELECT entry, runs, compute_units FROM usage_ledger ORDER BY id").fetch_all(&app.t.db.pool).await?)
}

#[actix_web::test]
async fn fifty_concurrent_launches_against_room_for_one_run() -> TestResult {
    let app = spawn_app().await?;
    // Room for exactly one five-epoch run (16 units).
    let lic = licence(&app, json!({ "quota_compute_units": units(5) })).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(200)).await?;
    assert_eq!(ds.status, StatusCode::CREATED, "{}", ds.body);
    let ds = ds.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let launches = (0..50).map(|i| {
        let (app, l, lic, ds) = (&app, &l, &lic, &ds);
        async move {
            app.send_json(
                app.post("/api/v1/runs").bearer_auth(l),
                &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(5), "idempotency_key": format!("k{i}") }),
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(launches).await;
    let mut accepted = 0;
    let mut refused = 0;
    for r in replies {
        let r = r?;
        match r.status {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::CONFLICT => {
                assert_eq!(r.json()["error"]["code"], "quota_exceeded", "{}", r.body);
                assert_eq!(r.json()["error"]["details"]["remaining"]["compute_units"], 0);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!((accepted, refused), (1, 49));
    assert_eq!(app.count("SELECT count(*) FROM runs").await?, 1);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'run.launched'").await?, 1);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'run.refused'").await?, 49);
    assert_eq!(ledger(&app).await?, vec![("reserve".to_owned(), 1, units(5))]);

    // Cancelling the queued run releases its reservation: the ledger balances and the quota is back.
    let run: String = sqlx::query_scalar("SELECT id::text FROM runs").fetch_one(&app.t.db.pool).await?;
    let c = app.send(app.post(&format!("/api/v1/runs/{run}/cancel")).bearer_auth(&l)).await?;
    assert_eq!((c.status, c.json()["status"].clone()), (StatusCode::OK, json!("cancelled")));
    assert_eq!(ledger(&app).await?, vec![("reserve".to_owned(), 1, units(5)), ("release".to_owned(), 1, units(5))]);
    let got = app.get_as(&l, &format!("/api/v1/licences/{lic}")).await?.json();
    assert_eq!(got["remaining"]["compute_units"], units(5));
    Ok(())
}

#[actix_web::test]
async fn expired_licence_foreign_dataset_disallowed_template_and_idempotent_retries() -> TestResult {
    let app = spawn_app().await?;
    let lic = licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(50)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let lb = app.token("licensee_b").await?;
    let foreign = upload(&app, &lb, csv(50)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();

    let launch = |body: Value| {
        let (app, l) = (&app, &l);
        async move { app.send_json(app.post("/api/v1/runs").bearer_auth(l), &body).await }
    };
    let mut multi = hyper(2);
    multi["template"] = json!("tabular-multiclass-mlp");
    let r = launch(json!({ "licence_id": lic, "dataset_id": ds, "hyper": multi })).await?;
    assert_eq!((r.status, r.json()["error"]["code"].clone()), (StatusCode::CONFLICT, json!("template_not_allowed")), "{}", r.body);
    let r = launch(json!({ "licence_id": lic, "dataset_id": foreign, "hyper": hyper(2) })).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another organisation's dataset is not there: {}", r.body);
    let r = launch(json!({ "licence_id": lic, "dataset_id": ds, "hyper": { "template": "tabular-binary-mlp", "target": "y", "epochs": 0 } })).await?;
    assert_eq!((r.status, r.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("hyper.epochs")));

    // The same key twice: one run.
    let first = app
        .send_json(
            app.post("/api/v1/runs").bearer_auth(&l).insert_header(("idempotency-key", "retry-1")),
            &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(2) }),
        )
        .await?;
    let again = app
        .send_json(
            app.post("/api/v1/runs").bearer_auth(&l).insert_header(("idempotency-key", "retry-1")),
            &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(2) }),
        )
        .await?;
    assert_eq!((first.status, again.status), (StatusCode::ACCEPTED, StatusCode::OK));
    assert_eq!(first.json()["id"], again.json()["id"]);
    assert_eq!(app.count("SELECT count(*) FROM runs").await?, 1);
    assert_eq!(app.count("SELECT count(*) FROM usage_ledger WHERE entry = 'reserve'").await?, 1);

    // An expired licence refuses with its own message; another licensee cannot even see it.
    sqlx::query("UPDATE licences SET valid_from = now() - interval '2 days', valid_until = now() - interval '1 day'").execute(&app.t.db.pool).await?;
    let r = launch(json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(2) })).await?;
    assert_eq!((r.status, r.json()["error"]["code"].clone()), (StatusCode::CONFLICT, json!("licence_expired")), "{}", r.body);
    assert_eq!(app.get_as(&lb, &format!("/api/v1/licences/{lic}")).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'run.refused'").await?, 2);
    Ok(())
}

#[actix_web::test]
async fn a_worker_trains_settles_the_ledger_and_signs_a_receipt() -> TestResult {
    let app = spawn_app().await?;
    let lic = licence(&app, json!({ "quota_runs": 5, "quota_prediction_rows": 60 })).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(200)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    // The name column is personal data: masked, it never reaches training or the preview.
    let masked = app.send_json(app.patch(&format!("/api/v1/datasets/{ds}")).bearer_auth(&l), &json!({ "columns": { "name": "mask" } })).await?;
    assert_eq!(masked.status, StatusCode::OK, "{}", masked.body);
    let preview = app.get_as(&l, &format!("/api/v1/datasets/{ds}")).await?.json();
    assert_eq!(preview["preview"][0][2], "•••");
    let run = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(20) })).await?;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    let id = run.json()["id"].as_str().ok_or("no run")?.to_owned();
    assert_eq!(run.json()["hyper"]["exclude"], json!(["name"]));

    assert!(worker::run_once(&app.state, &WorkerConfig::named("test-worker")).await?, "the queued run is claimed");
    let done = app.get_as(&l, &format!("/api/v1/runs/{id}")).await?.json();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["epochs_done"], 20);
    let last = done["metrics"].as_array().and_then(|m| m.last()).ok_or("no metrics")?;
    assert!(last["accuracy"].as_f64().unwrap_or(0.0) > 0.9, "{last}");
    assert_eq!(done["units_used"], units_masked(20));
    assert_eq!(units_masked(20), 42, "160 × 20 × 12,864 = 41,164,800 multiply-adds");
    let u = units_masked(20);
    assert_eq!(ledger(&app).await?, vec![("reserve".to_owned(), 1, u), ("release".to_owned(), 1, u), ("settle".to_owned(), 1, u)]);
    assert_eq!(app.get_as(&l, &format!("/api/v1/licences/{lic}")).await?.json()["remaining"]["runs"], 4);

    // The receipt verifies with the platform's key, and fails once anything in it changes.
    let receipt = done["receipt"].clone();
    let vk = app.state.audit_log.signing_key().verifying_key();
    assert_eq!(licentia_app::receipts::verify(&receipt, &vk), licentia_app::receipts::Verdict::Valid);
    assert_eq!(receipt["receipt"]["units"], units_masked(20));
    let mut forged = receipt.clone();
    forged["receipt"]["units"] = json!(1);
    assert_eq!(licentia_app::receipts::verify(&forged, &vk), licentia_app::receipts::Verdict::BadSignature);
    // The weights are an encrypted artifact of the licensee's organisation.
    assert_eq!(app.count("SELECT count(*) FROM artifacts WHERE attached_kind = 'run'").await?, 1);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq").bind(&id).fetch_all(&app.t.db.pool).await?;
    assert_eq!(actions[..2], ["run.launched", "run.succeeded"]);
    // Scoring is metered in prediction rows: 50 fit the quota of 60, the next 50 do not.
    let rows = csv(50);
    let scored =
        app.send_body(app.post(&format!("/api/v1/runs/{id}/predict")).bearer_auth(&l).insert_header(("content-type", "text/csv")), rows.clone()).await?;
    assert_eq!(scored.status, StatusCode::OK, "{}", scored.body);
    let lines: Vec<&str> = scored.body.lines().collect();
    assert_eq!((lines.len(), lines[0]), (51, "row,label,probability,value"));
    let right = lines[1..].iter().zip(rows.lines().skip(1)).filter(|(p, r)| p.split(',').nth(1) == r.rsplit(',').next()).count();
    assert!(right >= 45, "{right} of 50 scored as the rule says");
    let over = app.send_body(app.post(&format!("/api/v1/runs/{id}/predict")).bearer_auth(&l).insert_header(("content-type", "text/csv")), rows).await?;
    assert_eq!((over.status, over.json()["error"]["code"].clone()), (StatusCode::CONFLICT, json!("quota_exceeded")));
    assert_eq!(app.count("SELECT coalesce(sum(prediction_rows), 0)::bigint FROM usage_ledger").await?, 50);
    let download = app.get_as(&l, &format!("/api/v1/runs/{id}/model")).await?;
    assert_eq!((download.status, download.json()["error"]["code"].clone()), (StatusCode::CONFLICT, json!("model_download_not_allowed")));
    sqlx::query("UPDATE licences SET allow_model_download = true").execute(&app.t.db.pool).await?;
    let download = app.send(app.get(&format!("/api/v1/runs/{id}/model")).bearer_auth(&l)).await?;
    assert_eq!(download.status, StatusCode::OK);

    // Managers see every licensee's runs; the other licensee sees none.
    assert_eq!(app.get_as(&app.token("manager").await?, "/api/v1/runs").await?.json()["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get_as(&app.token("licensee_b").await?, &format!("/api/v1/runs/{id}")).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[actix_web::test]
async fn cancelling_bills_the_epochs_done_and_a_dead_worker_leads_to_a_release_not_a_charge() -> TestResult {
    let app = spawn_app().await?;
    let lic = licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(200)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();

    // A dead worker: claimed with a one-second lease and never heard of again.
    let r1 = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(3) })).await?.json()["id"]
        .as_str()
        .ok_or("no run")?
        .to_owned();
    let mut conn = app.t.db.pool.acquire().await?;
    let claimed = licentia_db::training::claim(&mut conn, "dead-worker", 1, None, None).await?;
    assert_eq!(claimed.map(|r| r.id.to_string()), Some(r1.clone()));
    drop(conn);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(worker::reap(&app.state).await?, 1);
    assert_eq!(worker::reap(&app.state).await?, 0, "reaped once only");
    let failed = app.get_as(&l, &format!("/api/v1/runs/{r1}")).await?.json();
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("lease lapsed")));
    assert_eq!(ledger(&app).await?, vec![("reserve".to_owned(), 1, units(3)), ("release".to_owned(), 1, units(3))]);

    // A long run cancelled while it trains is billed for the epochs it finished.
    let mut long = hyper(300);
    long["batch_size"] = json!(1);
    let r2 = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": long })).await?.json()["id"]
        .as_str()
        .ok_or("no run")?
        .to_owned();
    let state = app.state.clone();
    let task = tokio::spawn(async move { worker::run_once(&state, &WorkerConfig::named("live-worker")).await });
    for _ in 0..200 {
        let r = app.get_as(&l, &format!("/api/v1/runs/{r2}")).await?.json();
        if r["status"] == "running" && r["progress"]["epoch"].as_u64().unwrap_or(0) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let c = app.send(app.post(&format!("/api/v1/runs/{r2}/cancel")).bearer_auth(&l)).await?;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    task.await??;
    let r = app.get_as(&l, &format!("/api/v1/runs/{r2}")).await?.json();
    assert_eq!(r["status"], "cancelled", "{r}");
    let epochs = r["epochs_done"].as_i64().ok_or("no epochs")?;
    assert!((1..300).contains(&epochs), "{epochs}");
    let entries = ledger(&app).await?;
    let billed = (160 * epochs as u64 * 19_008).div_ceil(1_000_000) as i64;
    assert_eq!(entries[2..], [("reserve".to_owned(), 1, units(300)), ("release".to_owned(), 1, units(300)), ("settle".to_owned(), 1, billed)]);
    Ok(())
}

#[actix_web::test]
async fn every_bad_csv_is_422_naming_line_and_column_and_nothing_is_stored() -> TestResult {
    let app = spawn_app().await?;
    let l = app.token("licensee").await?;
    let wide = (0..10_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",") + "\n";
    let long = format!("a,b\n1,{}\n", "9".repeat(3 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, u64, Option<&str>)> = vec![
        ("empty", Vec::new(), 1, None),
        ("header only", b"a,b\n".to_vec(), 2, None),
        ("ragged", b"a,b\n1,2\n3\n".to_vec(), 3, None),
        ("duplicate header", b"a,b,a\n1,2,3\n".to_vec(), 1, Some("a")),
        ("text in a number column", b"a,b\n1,2\nx,3\n".to_vec(), 3, Some("a")),
        ("NaN", b"a,b\n1,NaN\n".to_vec(), 2, Some("b")),
        ("Inf", b"a,b\n1,2\ninf,3\n".to_vec(), 3, Some("a")),
        ("BOM", b"\xef\xbb\xbfa,b\n1,2\n".to_vec(), 1, None),
        ("invalid UTF-8", b"a,b\n1,\xff\xfe\n".to_vec(), 2, Some("b")),
        ("10,000 columns", wide.into_bytes(), 1, None),
        ("a line over 1 MiB", long.into_bytes(), 2, None),
    ];
    for (what, body, line, column) in cases {
        let r = upload(&app, &l, body).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", r.body);
        assert_eq!((r.json()["error"]["line"].as_u64(), r.json()["error"]["column"].as_str()), (Some(line), column), "{what}: {}", r.body);
    }
    let wrong_type = app.send_body(app.post("/api/v1/datasets").bearer_auth(&l).insert_header(("content-type", "application/json")), "{}").await?;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bad_name = app.send_body(app.post("/api/v1/datasets?name=a%01b").bearer_auth(&l).insert_header(("content-type", "text/csv")), csv(10)).await?;
    assert_eq!((bad_name.status, bad_name.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")), "{}", bad_name.body);
    assert_eq!(app.count("SELECT count(*) FROM datasets").await?, 0);
    assert_eq!(app.count("SELECT count(*) FROM artifacts").await?, 0);
    // Managers and auditors never handle licensees' datasets, not even through the artifact API.
    let ok = upload(&app, &l, csv(10)).await?;
    let artifact = ok.json()["artifact_id"].as_str().ok_or("no artifact")?.to_owned();
    let mgr = app.token("manager").await?;
    assert_eq!(app.get_as(&mgr, &format!("/api/v1/artifacts/{artifact}/content")).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get_as(&l, &format!("/api/v1/artifacts/{artifact}/content")).await?.status, StatusCode::OK);
    assert_eq!(upload(&app, &app.token("manager").await?, csv(10)).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get_as(&app.token("auditor").await?, "/api/v1/datasets").await?.status, StatusCode::FORBIDDEN);
    Ok(())
}

#[actix_web::test]
async fn the_portal_shows_quota_launches_from_the_form_and_follows_the_run() -> TestResult {
    let app = spawn_app().await?;
    // Room for a 3-epoch run on 100 rows (80 training rows × 3 × 19,008: 5 units), not for 500 epochs (761).
    let lic = licence(&app, json!({ "quota_compute_units": 500 })).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(100)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let s = app.browser_login("licensee").await?;
    let page = app.send(app.get("/training").insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("compute units: 0 of 500") && page.body.contains("data-rows=\"100\"") && page.body.contains("data-remaining=\"500\""),
        "{}",
        page.body
    );
    let launched = app
        .send_form(
            app.post("/training/runs").insert_header(("cookie", s.cookie.clone())),
            &[
                ("csrf", &s.csrf),
                ("licence_id", &lic),
                ("dataset_id", &ds),
                ("template", "tabular-binary-mlp"),
                ("target", "y"),
                ("epochs", "3"),
                ("batch_size", "16"),
                ("learning_rate", "0.01"),
                ("seed", "1"),
            ],
        )
        .await?;
    assert_eq!(launched.status, StatusCode::SEE_OTHER, "{}", launched.body);
    let run_path = launched.header("location").unwrap_or_default().split('?').next().unwrap_or_default().to_owned();
    assert!(run_path.starts_with("/runs/"));
    let live = app.send(app.get(&run_path).insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(live.body.contains("id=\"run-progress\"") && live.body.contains("data-terminal=\"false\""), "{}", live.body);
    // The server-sent events end with the run.
    worker::run_once(&app.state, &WorkerConfig::named("w")).await?;
    let id = run_path.trim_start_matches("/runs/");
    let events = app.send(app.get(&format!("/api/v1/runs/{id}/events")).bearer_auth(&l)).await?;
    assert_eq!(events.header("content-type").as_deref(), Some("text/event-stream"));
    assert!(events.body.starts_with("event: done\ndata: {") && events.body.contains("\"status\":\"succeeded\""), "{}", events.body);
    // Only what the client does not have: `from` = how many epochs it holds.
    let data = |body: &str| -> serde_json::Value {
        serde_json::from_str(body.split("data: ").nth(1).and_then(|d| d.lines().next()).unwrap_or("null")).unwrap_or_default()
    };
    let whole = data(&events.body);
    let epochs = whole["metrics"].as_array().map_or(0, Vec::len);
    assert!(epochs >= 2 && whole["metrics_from"] == 0, "{whole}");
    let tail = data(&app.send(app.get(&format!("/api/v1/runs/{id}/events?from={}", epochs - 1)).bearer_auth(&l)).await?.body);
    assert_eq!(tail["metrics_from"].as_u64(), Some(epochs as u64 - 1));
    assert_eq!(tail["metrics"].as_array().map(Vec::len), Some(1), "only the last epoch: {tail}");
    assert_eq!(tail["metrics"][0], whole["metrics"][epochs - 1]);
    // Runs side by side: the chart has one validation-loss line per run; a foreign id is a 404.
    let cmp = app.send(app.get(&format!("/runs/compare?ids={id}")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(cmp.status, StatusCode::OK);
    assert_eq!(cmp.body.matches("<polyline points=\"").count(), 1, "{}", cmp.body);
    let other = app.browser_login("licensee_b").await?;
    assert_eq!(app.send(app.get(&format!("/runs/compare?ids={id}")).insert_header(("cookie", other.cookie.clone()))).await?.status, StatusCode::NOT_FOUND);
    // Over quota from the form: refused with the reason, audited.
    let refused = app
        .send_form(
            app.post("/training/runs").insert_header(("cookie", s.cookie.clone())),
            &[
                ("csrf", &s.csrf),
                ("licence_id", &lic),
                ("dataset_id", &ds),
                ("template", "tabular-binary-mlp"),
                ("target", "y"),
                ("epochs", "500"),
                ("batch_size", "16"),
                ("learning_rate", "0.01"),
            ],
        )
        .await?;
    // The form comes back with the reason and everything chosen, not reset.
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("Not launched (quota_exceeded)"), "{}", refused.body);
    assert!(
        refused.body.contains(r#"name="epochs" type="number" min="1" max="500" value="500""#) && refused.body.contains(r#"value="0.01""#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("<option selected>y</option>"), "the chosen target stays chosen");
    Ok(())
}

/// The launch form offers only what can work: the licence's templates, and as the target one of
/// the chosen dataset's columns that is neither dropped nor masked, with the columns previewed.
#[actix_web::test]
async fn the_launch_form_offers_the_licence_s_templates_and_the_dataset_s_columns() -> TestResult {
    let app = spawn_app().await?;
    // Only the logistic regression on this licence.
    licence(&app, json!({ "templates": ["logistic-regression"] })).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(20)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    app.send_json(app.patch(&format!("/api/v1/datasets/{ds}")).bearer_auth(&l), &json!({ "columns": { "name": "mask" } })).await?;
    let s = app.browser_login("licensee").await?;
    let page = app.send(app.get("/training").insert_header(("cookie", s.cookie.clone()))).await?.body;
    let select = |id: &str| page.split(&format!(r#"id="{id}""#)).nth(1).and_then(|s| s.split("</select>").next()).unwrap_or_default().to_owned();
    assert_eq!(select("template-select").matches("<option").count(), 1, "{}", select("template-select"));
    assert!(select("template-select").contains("logistic-regression"));
    let targets = select("target-select");
    assert!(targets.contains("<option>a</option>") && targets.contains("<option selected>y</option>"), "{targets}");
    assert!(!targets.contains(">name<"), "a masked column cannot be the target: {targets}");
    let columns = page.split(r#"id="dataset-columns""#).nth(1).ok_or("no column preview")?;
    assert!(columns.contains("<td>name</td><td>categorical</td><td>0</td><td>mask</td>"), "{columns}");
    Ok(())
}

/// Compute units follow the model, not only the rows: on one dataset a logistic regression, the
/// default network and a wide network reserve what the formula says, before any work.
#[actix_web::test]
async fn a_launch_reserves_units_in_proportion_to_the_model_and_refuses_what_cannot_fit() -> TestResult {
    let app = spawn_full(|s| s.max_run_memory = 32 * 1024 * 1024, None).await?;
    let lic = licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(200)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let launch = |h: Value| {
        let (app, l, lic, ds) = (&app, &l, &lic, &ds);
        async move { app.send_json(app.post("/api/v1/runs").bearer_auth(l), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": h })).await }
    };
    let logistic = launch(json!({ "template": "logistic-regression", "target": "y", "epochs": 100 })).await?;
    let default = launch(hyper(100)).await?;
    let wide = launch(json!({ "template": "tabular-binary-mlp", "target": "y", "epochs": 100, "hidden": [1024, 1024] })).await?;
    let reserved = |r: &Reply| r.json()["reserved_units"].as_i64();
    // 160 rows × 100 epochs × 3 × forward multiply-adds, in millions, rounded up:
    // logistic 34·1 = 34 → 1.632 → 2; default 6,336 → 304.128 → 305; wide 34·1024 + 1024·1024 + 1024 = 1,084,416 → 52,051.968 → 52,052.
    assert_eq!((reserved(&logistic), reserved(&default), reserved(&wide)), (Some(2), Some(305), Some(52_052)), "{}", wide.body);
    assert_eq!(reserved(&default), Some(units(100)));
    // The launch form asks the same estimate first; another licensee's dataset is not found.
    let asked = app.send_json(app.post("/api/v1/runs/estimate").bearer_auth(&l), &json!({ "dataset_id": ds, "hyper": hyper(100) })).await?.json();
    assert_eq!((asked["estimate"]["compute_units"].as_i64(), asked["estimate"]["inputs"].as_u64()), (Some(305), Some(34)), "{asked}");
    assert_eq!(asked["formula"], "160 training rows × 100 epochs × 3 × 6336 multiply-adds ÷ 1,000,000, rounded up");
    let other = app.token("licensee_b").await?;
    let foreign = app.send_json(app.post("/api/v1/runs/estimate").bearer_auth(&other), &json!({ "dataset_id": ds, "hyper": hyper(100) })).await?;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);

    // A target the dataset does not have is refused at launch, naming the columns there are.
    let typo = launch(json!({ "template": "tabular-binary-mlp", "target": "why", "epochs": 1 })).await?;
    assert_eq!((typo.status, typo.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("hyper.target")), "{}", typo.body);
    assert!(typo.body.contains("a, b, name, y"), "{}", typo.body);

    // A run whose estimated memory is over the server's cap (32 MiB here) is refused before
    // anything is reserved: four hidden layers of 1,024 have ~3.2 M parameters, held four times
    // over (weights, gradients, Adam's two moments) in f32, about 49 MiB; the wide run above, 17.
    let before = ledger(&app).await?.len();
    let huge = launch(json!({ "template": "tabular-binary-mlp", "target": "y", "epochs": 1, "hidden": [1024, 1024, 1024, 1024] })).await?;
    assert_eq!((huge.status, huge.json()["error"]["code"].clone()), (StatusCode::CONFLICT, json!("run_too_large")), "{}", huge.body);
    assert!(huge.json()["error"]["details"]["estimate"]["memory_bytes"].as_u64().unwrap_or(0) > 32 * 1024 * 1024, "{}", huge.body);
    assert_eq!(ledger(&app).await?.len(), before, "nothing reserved");
    assert_eq!(app.count("SELECT count(*) FROM runs").await?, 3);
    Ok(())
}

/// A run that outlives the worker's wall-clock cap stops, fails with that reason, and is billed
/// for the epochs it finished (not for what it reserved).
#[actix_web::test]
async fn a_run_past_its_wall_clock_cap_fails_and_is_billed_for_the_epochs_done() -> TestResult {
    let app = spawn_app().await?;
    let lic = licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(200)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let mut long = hyper(500);
    long["batch_size"] = json!(1);
    let run = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": long })).await?;
    let id = run.json()["id"].as_str().ok_or("no run")?.to_owned();
    let cfg = WorkerConfig::named("capped-worker").capped_at(std::time::Duration::from_secs(1));
    assert!(worker::run_once(&app.state, &cfg).await?);
    let r = app.get_as(&l, &format!("/api/v1/runs/{id}")).await?.json();
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap_or_default().contains("wall-clock cap of 1 s"), "{r}");
    let epochs = r["epochs_done"].as_u64().ok_or("no epochs")?;
    assert!(epochs < 500, "{epochs}");
    let billed = (160 * epochs * 19_008).div_ceil(1_000_000) as i64;
    assert_eq!(ledger(&app).await?, vec![("reserve".to_owned(), 1, units(500)), ("release".to_owned(), 1, units(500)), ("settle".to_owned(), 1, billed)]);
    Ok(())
}

/// Two licence terms on runs: at most N of a licence's runs train at once (workers pass over
/// the rest, and take other licences' runs meanwhile), and failed runs are billed for the epochs
/// they finished only where the licence says so.
#[actix_web::test]
async fn licence_terms_limit_runs_at_once_and_decide_whether_failures_are_billed() -> TestResult {
    let app = spawn_app().await?;
    let limited = licence(&app, json!({ "max_concurrent_runs": 1, "failed_runs_billed": true })).await?;
    let open = licence(&app, json!({})).await?;
    let m = app.token("manager").await?;
    let agreement = app.get_as(&m, &format!("/api/v1/licences/{limited}")).await?.json()["agreement_id"].clone();
    let terms = json!({ "agreement_id": agreement, "templates": ["logistic-regression"], "valid_until": "2099-01-01T00:00:00Z", "max_concurrent_runs": 0 });
    let bad = app.send_json(app.post("/api/v1/licences").bearer_auth(&m), &terms).await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("max_concurrent_runs")), "{}", bad.body);
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(200)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let launch = |lic: &str| {
        let body = json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(20) });
        let app = &app;
        let l = &l;
        async move {
            Ok::<String, Box<dyn std::error::Error>>(
                app.send_json(app.post("/api/v1/runs").bearer_auth(l), &body).await?.json()["id"].as_str().ok_or("no run")?.to_owned(),
            )
        }
    };
    let first = launch(&limited).await?;
    let second = launch(&limited).await?;
    let other = launch(&open).await?;
    let mut conn = app.t.db.pool.acquire().await?;
    let mut claim = async || licentia_db::training::claim(&mut conn, "w", 60, None, None).await.map(|r| r.map(|r| r.id.to_string()));
    assert_eq!(claim().await?, Some(first.clone()));
    assert_eq!(claim().await?, Some(other.clone()), "the limited licence's second run waits; another licence's run does not");
    assert_eq!(claim().await?, None, "nothing else may start while the first runs");
    drop(conn);

    // The first run fails after three reported epochs: the licence bills failures, pro rata.
    let run = licentia_db::training::run(&mut *app.t.db.pool.acquire().await?, first.parse()?, None).await?;
    let metrics = json!([{ "epoch": 1 }, { "epoch": 2 }, { "epoch": 3 }]);
    licentia_db::training::heartbeat(&mut *app.t.db.pool.acquire().await?, run.id, "w", 60, &json!({}), &metrics).await?;
    worker::settle_failure(&app.state, &WorkerConfig::named("w"), &run, "the engine failed").await?;
    let reserved = units(20);
    let billed = (reserved * 3 + 19) / 20;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT entry, compute_units FROM usage_ledger WHERE run_id = $1::uuid ORDER BY id").bind(&first).fetch_all(&app.t.db.pool).await?;
    assert_eq!(rows, vec![("reserve".to_owned(), reserved), ("release".to_owned(), reserved), ("settle".to_owned(), billed)]);
    // Its slot is free: the second run of the limited licence is claimed now.
    assert_eq!(licentia_db::training::claim(&mut *app.t.db.pool.acquire().await?, "w", 60, None, None).await?.map(|r| r.id.to_string()), Some(second));

    // The other licence does not bill failures: released, nothing settled.
    let run = licentia_db::training::run(&mut *app.t.db.pool.acquire().await?, other.parse()?, None).await?;
    licentia_db::training::heartbeat(&mut *app.t.db.pool.acquire().await?, run.id, "w", 60, &json!({}), &metrics).await?;
    worker::settle_failure(&app.state, &WorkerConfig::named("w"), &run, "the engine failed").await?;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT entry, compute_units FROM usage_ledger WHERE run_id = $1::uuid ORDER BY id").bind(&other).fetch_all(&app.t.db.pool).await?;
    assert_eq!(rows, vec![("reserve".to_owned(), reserved), ("release".to_owned(), reserved)]);
    Ok(())
}

/// One limit decides what a dataset may be: an upload over it is 413 before it is stored, and one
/// under it is read back (preview) and trained with the same limit.
#[actix_web::test]
async fn one_dataset_limit_decides_what_is_accepted_and_what_is_accepted_can_be_read_and_trained() -> TestResult {
    let app = spawn_with(|s| s.max_dataset_bytes = 8 * 1024).await?;
    let lic = licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let big = csv(400);
    assert!(big.len() > 8 * 1024);
    let refused = upload(&app, &l, big).await?;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", refused.body);
    assert_eq!(app.count("SELECT count(*) FROM datasets").await?, 0);
    let fits = csv(200);
    assert!(fits.len() < 8 * 1024 && fits.len() > 4 * 1024, "{}", fits.len());
    let ds = upload(&app, &l, fits).await?;
    assert_eq!(ds.status, StatusCode::CREATED, "{}", ds.body);
    let ds = ds.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let detail = app.get_as(&l, &format!("/api/v1/datasets/{ds}")).await?;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let run = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(2) })).await?;
    let id = run.json()["id"].as_str().ok_or("no run")?.to_owned();
    assert!(worker::run_once(&app.state, &WorkerConfig::named("w")).await?);
    assert_eq!(app.get_as(&l, &format!("/api/v1/runs/{id}")).await?.json()["status"], "succeeded");
    Ok(())
}

/// Runs are told apart by their number under the licence and the name the licensee gives; the
/// run page shows what was asked (dataset, licence, settings) and which epoch's weights are
/// served; `epochs_done` moves with each heartbeat, not only at the end.
#[actix_web::test]
async fn runs_are_numbered_named_and_their_page_says_what_was_asked_and_what_is_served() -> TestResult {
    let app = spawn_app().await?;
    let lic = licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, csv(200)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let launch = |name: Value| {
        let body = json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(4), "name": name });
        let (app, l) = (&app, &l);
        async move { app.send_json(app.post("/api/v1/runs").bearer_auth(l), &body).await }
    };
    let first = launch(json!("baseline <b>")).await?.json();
    let second = launch(Value::Null).await?.json();
    assert_eq!(
        (first["seq"].as_i64(), first["name"].as_str(), second["seq"].as_i64(), second["name"].clone()),
        (Some(1), Some("baseline <b>"), Some(2), Value::Null)
    );
    let bad = launch(json!("x".repeat(101))).await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("name")));

    // A heartbeat that reports two finished epochs moves epochs_done at once.
    let id = first["id"].as_str().ok_or("no run")?.to_owned();
    let mut conn = app.t.db.pool.acquire().await?;
    let claimed = licentia_db::training::claim(&mut conn, "w", 60, None, None).await?.ok_or("nothing claimed")?;
    assert_eq!(claimed.id.to_string(), id);
    licentia_db::training::heartbeat(&mut conn, claimed.id, "w", 60, &json!({}), &json!([{ "epoch": 1 }, { "epoch": 2 }])).await?;
    assert_eq!(app.get_as(&l, &format!("/api/v1/runs/{id}")).await?.json()["epochs_done"], 2);
    sqlx::query("UPDATE runs SET status = 'queued', worker_id = NULL WHERE id = $1::uuid").bind(&id).execute(&mut *conn).await?;
    drop(conn);

    assert!(worker::run_once(&app.state, &WorkerConfig::named("w")).await?);
    let done = app.get_as(&l, &format!("/api/v1/runs/{id}")).await?.json();
    let served = done["receipt"]["receipt"]["served_epoch"].as_u64().ok_or("no served epoch in the receipt")?;
    assert!((1..=4).contains(&served), "{done}");
    let s = app.browser_login("licensee").await?;
    let page = app.send(app.get(&format!("/runs/{id}")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains("<h1>Run #1 · baseline &#60;b&#62; · tabular-binary-mlp</h1>"), "{}", page.body);
    assert!(
        page.body.contains("id=\"run-settings\"")
            && page.body.contains("<th scope=\"row\">Epochs</th><td>4</td>")
            && page.body.contains("<strong>train.csv</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("weights of <strong>epoch {served}</strong>")), "{}", page.body);
    let list = app.send(app.get("/training").insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(list.body.contains(">#1 · baseline &#60;b&#62;</a>") && list.body.contains(">#2</a>"), "{}", list.body);
    Ok(())
}

/// A dataset is parsed once, as it streams in, and stored as typed columns (an Arrow IPC stream,
/// encrypted): the artifact says so, holds no CSV text, and reads back to the same table; the
/// dataset's SHA-256 stays that of the file the licensee sent; preview and training read the
/// stored columns.
#[actix_web::test]
async fn a_dataset_is_stored_as_typed_columns_and_keeps_the_digest_of_the_file_sent() -> TestResult {
    let app = spawn_app().await?;
    let lic = licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let body = csv(200);
    let up = upload(&app, &l, body.clone()).await?;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let sent = hex::encode(ring::digest::digest(&ring::digest::SHA256, body.as_bytes()));
    assert_eq!(up.json()["sha256"], sent.as_str());
    let ds = up.json()["id"].as_str().ok_or("no dataset")?.parse::<licentia_domain::DatasetId>()?;

    let (content_type, filename): (String, String) =
        sqlx::query_as("SELECT a.content_type, a.filename FROM datasets d JOIN artifacts a ON a.id = d.artifact_id WHERE d.id = $1")
            .bind(ds.as_uuid())
            .fetch_one(&app.t.db.pool)
            .await?;
    assert_eq!((content_type.as_str(), filename.as_str()), (licentia_train::data::IPC_MEDIA_TYPE, "train.csv.arrows"));
    let mut conn = app.t.db.pool.acquire().await?;
    let d = licentia_db::training::dataset(&mut conn, ds, None).await?;
    let a = licentia_db::artifacts::get_scoped(&mut conn, d.artifact_id, None).await?;
    drop(conn);
    let stored = licentia_app::artifacts::read_all(&app.state, &a).await?;
    assert_eq!(stored[..4], [0xFF; 4], "an Arrow IPC stream starts with its continuation marker");
    assert!(!stored.windows(b"a,b,name,y".len()).any(|w| w == b"a,b,name,y"), "no CSV text is kept");
    let table = licentia_app::training::read_table(&app.state, &d, None).await?;
    let parsed = licentia_train::data::parse_csv(body.as_bytes(), &licentia_train::data::Limits::default())?;
    assert_eq!(table, parsed, "the stored columns are the parsed file, cell for cell");
    assert_eq!(serde_json::to_value(table.schema())?, d.schema);

    let detail = app.get_as(&l, &format!("/api/v1/datasets/{ds}")).await?.json();
    assert_eq!(detail["preview"][1], json!(["0.37", "0.61", "person 1", "0"]));
    let run = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": ds.to_string(), "hyper": hyper(3) })).await?;
    let id = run.json()["id"].as_str().ok_or("no run")?.to_owned();
    assert!(worker::run_once(&app.state, &WorkerConfig::named("w")).await?);
    assert_eq!(app.get_as(&l, &format!("/api/v1/runs/{id}")).await?.json()["status"], "succeeded");
    Ok(())
}
