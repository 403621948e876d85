//! Model versions and fine-tuning under a licence, over HTTP: the licensor publishes trained
//! weights of a model asset (trained here from its own data, or uploaded), a licence grants a
//! version, a licensee fine-tunes it on its own data without ever reading the weights, and the
//! receipt and the licensor's lineage name what came from what. Data: the Palmer penguins (CC0,
//! `tests/data/README.md`), split in two halves.

use std::sync::atomic::AtomicBool;

use actix_web::http::{Method, StatusCode};
use base64::Engine as _;
use licentia_app::worker::{self, WorkerConfig};
use licentia_domain::Role;
use licentia_web::routes::{Access, table};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::training::upload;

#[path = "../../../licentia-train/tests/common/penguins.rs"]
mod penguins;
use penguins::halves;

/// `csv` without the column `name`.
fn without(csv: &str, name: &str) -> String {
    let drop = csv.lines().next().and_then(|h| h.split(',').position(|c| c == name)).unwrap_or(usize::MAX);
    csv.lines().map(|l| l.split(',').enumerate().filter(|(i, _)| *i != drop).map(|(_, c)| c).collect::<Vec<_>>().join(",") + "\n").collect()
}

fn hyper(epochs: u32) -> licentia_train::Hyper {
    let mut h = licentia_train::Hyper::new(licentia_train::Template::TabularBinaryMlp, "sex");
    h.epochs = epochs;
    h.batch_size = 16;
    h.learning_rate = 1e-3;
    h
}

fn manager(app: &TestApp) -> licentia_app::Actor {
    licentia_app::Actor::new(app.accounts["manager"].id, app.licensor, Role::Manager).labelled("manager@aurora.example", Default::default())
}

async fn model_asset(app: &TestApp, m: &str) -> Res<String> {
    let r = app
        .send_json(app.post("/api/v1/assets").bearer_auth(m), &json!({ "kind": "model", "title": "Penguin sexing MLP", "template": "tabular-binary-mlp" }))
        .await?;
    Ok(r.json()["id"].as_str().ok_or("no asset")?.to_owned())
}

/// The licensor trains and publishes a version from its half, as `licentia model train` does.
async fn publish_trained(app: &TestApp, asset: &str, epochs: u32) -> Res<licentia_app::models::VersionView> {
    let id = licentia_domain::AssetId::parse(asset).ok_or("asset id")?;
    let (licensor, _) = halves();
    Ok(licentia_app::models::train_and_publish(&app.state, &manager(app), id, licensor.into_bytes(), hyper(epochs), "trained on our half".into()).await?)
}

/// An executed agreement for Borealis covering `asset`, and a licence under it with `extra`.
async fn grant(app: &TestApp, asset: &str, extra: Value) -> Res<String> {
    let mut extra = extra;
    extra["templates"] = json!(["tabular-binary-mlp"]);
    let terms = json!({ "territory": ["DE"], "effective_date": "2026-01-01", "fee_per_run": 1000, "currency": "EUR" });
    crate::training::licence_on(app, asset, extra, terms).await
}

async fn launch(app: &TestApp, token: &str, body: Value) -> Res<Reply> {
    app.send_json(app.post("/api/v1/runs").bearer_auth(token), &body).await
}

fn last(run: &Value, metric: &str) -> f64 {
    run["metrics"].as_array().and_then(|m| m.last()).and_then(|m| m[metric].as_f64()).unwrap_or(0.0)
}

/// The seed's case end to end: version 1 trained by the licensor on one half; the licensee
/// trains the same template from random weights and fine-tunes version 1, each for 3 epochs on
/// the other half; the fine-tuned model validates at least as well, is metered the same, its
/// receipt verifies and names the base, the data and the result; the licensor sees the lineage.
#[actix_web::test]
async fn a_licensee_fine_tunes_the_licensors_version_and_beats_training_from_scratch() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let asset = model_asset(&app, &m).await?;
    let v1 = publish_trained(&app, &asset, 40).await?;
    assert_eq!((v1.number, v1.source.as_str()), (1, "trained"));
    let (licensor_half, licensee_half) = halves();
    assert_eq!(v1.dataset_sha256.as_deref(), Some(hex::encode(ring::digest::digest(&ring::digest::SHA256, licensor_half.as_bytes())).as_str()));
    let lic = grant(&app, &asset, json!({ "model_versions": [v1.id] })).await?;

    let l = app.token("licensee").await?;
    let ds = upload(&app, &l, licensee_half.clone()).await?;
    assert_eq!(ds.status, StatusCode::CREATED, "{}", ds.body);
    let ds = ds.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let h = serde_json::to_value(hyper(3))?;
    let scratch = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": ds, "hyper": h, "name": "scratch" })).await?;
    assert_eq!(scratch.status, StatusCode::ACCEPTED, "{}", scratch.body);
    let tuned = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": ds, "hyper": h, "name": "fine-tuned", "base_version": v1.id })).await?;
    assert_eq!(tuned.status, StatusCode::ACCEPTED, "{}", tuned.body);
    assert_eq!(tuned.json()["base_version"], json!(v1.id));
    assert_eq!(tuned.json()["reserved_units"], scratch.json()["reserved_units"], "fine-tuning reserves what training the same network costs");
    // The launch form's estimate of a fine-tuning run is what the launch reserved.
    let est = app
        .send_json(app.post("/api/v1/runs/estimate").bearer_auth(&l), &json!({ "dataset_id": ds, "hyper": h, "licence_id": lic, "base_version": v1.id }))
        .await?;
    assert_eq!((est.status, &est.json()["estimate"]["compute_units"]), (StatusCode::OK, &tuned.json()["reserved_units"]), "{}", est.body);
    let half = app.send_json(app.post("/api/v1/runs/estimate").bearer_auth(&l), &json!({ "dataset_id": ds, "hyper": h, "base_version": v1.id })).await?;
    assert_eq!(half.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", half.body);
    for _ in 0..2 {
        assert!(worker::run_once(&app.state, &WorkerConfig::named("test-worker")).await?);
    }
    let get = |r: &Reply| format!("/api/v1/runs/{}", r.json()["id"].as_str().unwrap_or_default());
    let scratch = app.get_as(&l, &get(&scratch)).await?.json();
    let tuned = app.get_as(&l, &get(&tuned)).await?.json();
    assert_eq!((scratch["status"].as_str(), tuned["status"].as_str()), (Some("succeeded"), Some("succeeded")), "{tuned}");
    assert!(last(&tuned, "auc") >= last(&scratch, "auc"), "fine-tuned AUC {} < scratch {}", last(&tuned, "auc"), last(&scratch, "auc"));
    assert_eq!(tuned["units_used"], scratch["units_used"], "metered like training");

    // The receipt verifies with the platform's public key alone and names base, data and result.
    let receipt = &tuned["receipt"];
    let vk = app.state.audit_log.signing_key().verifying_key();
    assert_eq!(licentia_app::receipts::verify(receipt, &vk), licentia_app::receipts::Verdict::Valid);
    let body = &receipt["receipt"];
    assert_eq!(body["base"]["weights_sha256"], json!(v1.weights_sha256));
    assert_eq!(body["base"]["model_version"], json!(v1.id));
    assert_eq!(body["base"]["number"], 1);
    let dataset_sha: Vec<u8> = sqlx::query_scalar("SELECT sha256 FROM datasets WHERE id = $1::uuid").bind(&ds).fetch_one(&app.t.db.pool).await?;
    assert_eq!(body["dataset_sha256"], json!(hex::encode(dataset_sha)));
    let weights_sha: Vec<u8> = sqlx::query_scalar("SELECT a.sha256 FROM artifacts a JOIN runs r ON r.weights_artifact = a.id WHERE r.id = $1::uuid")
        .bind(tuned["id"].as_str())
        .fetch_one(&app.t.db.pool)
        .await?;
    assert_eq!(body["weights_sha256"], json!(hex::encode(weights_sha)));
    assert_ne!(body["weights_sha256"], body["base"]["weights_sha256"], "the result is new weights");
    assert!(scratch["receipt"]["receipt"]["base"].is_null(), "a run from random weights names no base");
    let mut forged = receipt.clone();
    forged["receipt"]["base"]["weights_sha256"] = json!("00".repeat(32));
    assert_eq!(licentia_app::receipts::verify(&forged, &vk), licentia_app::receipts::Verdict::BadSignature);

    // The licensor's lineage: Borealis fine-tuned version 1 once, with this AUC; no data.
    let seen = app.get_as(&m, &format!("/api/v1/assets/{asset}/versions")).await?;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let lineage = &seen.json()["lineage"];
    assert_eq!(lineage.as_array().map(Vec::len), Some(1), "{lineage}");
    assert_eq!(
        (lineage[0]["organisation"].as_str(), lineage[0]["version"].as_i64(), lineage[0]["runs"].as_i64()),
        (Some("Borealis Analytics"), Some(1), Some(1))
    );
    assert_eq!(lineage[0]["best_metric"].as_f64(), Some(last(&tuned, "auc")));
    // The licensee sees the version it was granted (inputs, hash), neither statistics nor file.
    let theirs = app.get_as(&l, &format!("/api/v1/assets/{asset}/versions")).await?.json();
    assert_eq!(theirs["versions"][0]["id"], json!(v1.id));
    assert!(theirs["versions"][0]["inputs"].as_array().is_some_and(|i| i.iter().any(|c| c["column"] == "bill_depth_mm")));
    assert!(theirs["versions"][0].get("preprocessing").is_none() && theirs["versions"][0].get("weights_artifact").is_none() && theirs.get("lineage").is_none());
    // Predictions from the fine-tuned model are metered like any other.
    let scored = app
        .send_body(
            app.post(&format!("/api/v1/runs/{}/predict", tuned["id"].as_str().unwrap_or_default())).bearer_auth(&l).insert_header(("content-type", "text/csv")),
            without(&licensee_half, "sex"),
        )
        .await?;
    assert_eq!(scored.status, StatusCode::OK, "{}", scored.body);
    let rows = licensee_half.lines().count() as i64 - 1;
    assert_eq!(app.count("SELECT coalesce(sum(prediction_rows), 0)::bigint FROM usage_ledger WHERE entry = 'settle'").await?, rows);
    Ok(())
}

/// Launches that cannot start from the base are refused before anything is reserved: a dataset
/// missing a base feature is 422 naming it, a version the licence does not grant (another
/// version of the same asset, or an id that exists nowhere) 409 alike, frozen layers where the
/// licence lets results be downloaded 409, another template 422.
#[actix_web::test]
async fn launches_the_base_cannot_serve_are_refused_and_reserve_nothing() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let asset = model_asset(&app, &m).await?;
    let v1 = publish_trained(&app, &asset, 2).await?;
    let v2 = publish_trained(&app, &asset, 2).await?;
    assert_eq!(v2.number, 2);
    let lic = grant(&app, &asset, json!({ "model_versions": [v1.id] })).await?;
    let l = app.token("licensee").await?;
    let (_, half) = halves();
    let upload_id = |r: Reply| r.json()["id"].as_str().map(str::to_owned).ok_or("no dataset");
    let full = upload_id(upload(&app, &l, half.clone()).await?)?;
    let lacking = upload_id(upload(&app, &l, without(&half, "bill_depth_mm")).await?)?;
    let h = serde_json::to_value(hyper(2))?;

    let r = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": lacking, "hyper": h, "base_version": v1.id })).await?;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("dataset_id")), "{}", r.body);
    assert!(r.body.contains("bill_depth_mm") && !r.body.contains("flipper_length_mm"), "names the missing feature only: {}", r.body);
    for version in [v2.id.to_string(), uuid::Uuid::now_v7().to_string()] {
        let r = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": full, "hyper": h, "base_version": version })).await?;
        assert_eq!((r.status, r.error_code().as_deref()), (StatusCode::CONFLICT, Some("version_not_granted")), "{}", r.body);
        assert!(!r.body.contains(&v2.weights_sha256), "nothing about the version leaks: {}", r.body);
    }
    let mut logistic = h.clone();
    logistic["template"] = json!("logistic-regression");
    let r = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": full, "hyper": logistic, "base_version": v1.id })).await?;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("hyper.template")), "{}", r.body);
    let r = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": full, "hyper": h, "base_version": v1.id, "freeze_layers": 3 })).await?;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("freeze_layers")), "{}", r.body);
    let downloadable = grant(&app, &asset, json!({ "model_versions": [v1.id], "allow_model_download": true })).await?;
    let r = launch(&app, &l, json!({ "licence_id": downloadable, "dataset_id": full, "hyper": h, "base_version": v1.id, "freeze_layers": 1 })).await?;
    assert_eq!((r.status, r.error_code().as_deref()), (StatusCode::CONFLICT, Some("freeze_not_allowed")), "{}", r.body);
    assert_eq!(app.count("SELECT count(*) FROM runs").await?, 0);
    assert_eq!(app.count("SELECT count(*) FROM usage_ledger").await?, 0);
    // A licence cannot grant a version of an asset its agreement does not cover.
    let other = model_asset(&app, &m).await?;
    let foreign = publish_trained(&app, &other, 1).await?;
    let refused = grant(&app, &asset, json!({ "model_versions": [foreign.id] })).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("does not cover")));
    // The granted one trains, frozen layers included where results stay on the platform.
    let r =
        launch(&app, &l, json!({ "licence_id": lic, "dataset_id": full, "hyper": h, "base_version": v1.id, "freeze_layers": 1, "base_preprocessing": true }))
            .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(worker::run_once(&app.state, &WorkerConfig::named("test-worker")).await?);
    let done = app.get_as(&l, &format!("/api/v1/runs/{}", r.json()["id"].as_str().unwrap_or_default())).await?.json();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        (done["receipt"]["receipt"]["base"]["freeze_layers"].as_i64(), done["receipt"]["receipt"]["base"]["base_preprocessing"].as_bool()),
        (Some(1), Some(true))
    );
    Ok(())
}

/// A multipart body of the manifest and the weights.
fn parts(manifest: &Value, weights: &[u8]) -> (String, Vec<u8>) {
    let boundary = "licentia-model-boundary-51f2";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\nContent-Type: application/json\r\n\r\n{manifest}\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"weights\"; filename=\"w.burnpack\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(weights);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploaded weights are checked against the architecture their manifest describes before a
/// byte is stored; a manifest of another template than the asset's, weights of another network,
/// a patent instead of a model and a licensee's upload are each refused and leave nothing behind.
#[actix_web::test]
async fn uploaded_weights_are_checked_against_their_architecture_before_they_are_stored() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let asset = model_asset(&app, &m).await?;
    let (licensor, _) = halves();
    let table = licentia_train::data::parse_csv(licensor.as_bytes(), &Default::default())?;
    let out = licentia_train::train(&table, &hyper(2), &licentia_train::cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let manifest = json!({ "hyper": out.hyper, "preprocessing": out.preprocessing, "metrics": out.metrics, "notes": "from our lab" });
    let post = |token: &str, target: &str, (ct, body): (String, Vec<u8>)| {
        let req = app.post(&format!("/api/v1/assets/{target}/versions")).bearer_auth(token).insert_header(("content-type", ct));
        app.send_body(req, body)
    };
    let mut small = hyper(1);
    small.hidden = Some(vec![8]);
    let other = licentia_train::train(&table, &small, &licentia_train::cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let mut logistic = manifest.clone();
    logistic["hyper"]["template"] = json!("logistic-regression");
    logistic["hyper"]["hidden"] = json!([]);
    let patent = app.send_json(app.post("/api/v1/assets").bearer_auth(&m), &json!({ "kind": "patent", "title": "Sensor", "jurisdiction": "US" })).await?;
    let patent = patent.json()["id"].as_str().ok_or("no patent")?.to_owned();
    let l = app.token("licensee").await?;
    for (token, target, body, status, field) in [
        (&m, &asset, parts(&manifest, &other.weights), StatusCode::UNPROCESSABLE_ENTITY, Some("weights")),
        (&m, &asset, parts(&manifest, b"not a burn record at all"), StatusCode::UNPROCESSABLE_ENTITY, Some("weights")),
        (&m, &asset, parts(&logistic, &out.weights), StatusCode::UNPROCESSABLE_ENTITY, Some("hyper.template")),
        (&m, &asset, parts(&json!({ "hyper": out.hyper }), &out.weights), StatusCode::UNPROCESSABLE_ENTITY, Some("manifest")),
        (&m, &patent, parts(&manifest, &out.weights), StatusCode::UNPROCESSABLE_ENTITY, Some("asset")),
        (&l, &asset, parts(&manifest, &out.weights), StatusCode::FORBIDDEN, None),
    ] {
        let r = post(token, target, body).await?;
        assert_eq!(r.status, status, "{}", r.body);
        if field.is_some() {
            assert_eq!(r.json()["error"]["field"].as_str(), field, "{}", r.body);
        }
    }
    // A manifest part past its megabyte (the body as a whole is within its limit) is 413.
    let padded = format!("{}{manifest}", " ".repeat(1024 * 1024 + 1));
    let (ct, body) = parts(&Value::String(String::new()), &out.weights);
    let body = String::from_utf8_lossy(&body).replacen("\"\"", &padded, 1).into_bytes();
    let big = post(&m, &asset, (ct, body)).await?;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.body.chars().take(300).collect::<String>());
    assert_eq!(app.count("SELECT count(*) FROM model_versions").await?, 0);
    assert_eq!(app.count("SELECT count(*) FROM artifacts WHERE attached_kind = 'model'").await?, 0, "nothing stored on refusal");

    let ok = post(&m, &asset, parts(&manifest, &out.weights)).await?;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let v = ok.json();
    assert_eq!((v["number"].as_i64(), v["source"].as_str(), v["notes"].as_str()), (Some(1), Some("uploaded"), Some("from our lab")));
    assert_eq!(v["weights_sha256"], json!(hex::encode(ring::digest::digest(&ring::digest::SHA256, &out.weights))));
    // Stored encrypted: the blob on disk is not the weights.
    let key: String = sqlx::query_scalar("SELECT storage_key FROM artifacts WHERE attached_kind = 'model'").fetch_one(&app.t.db.pool).await?;
    let blob = licentia_store::StorageKey::parse(&key).map_err(|e| e.to_string())?;
    let stored = app.store.read_all(&blob).await?;
    assert!(!stored.windows(64).any(|w| out.weights.windows(64).step_by(64).any(|p| p == w)), "ciphertext only");
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'model.version_published'").await?, 1);
    // The asset page lists it for the licensor.
    let s = app.browser_login("manager").await?;
    let page = app.page(&s, &format!("/assets/{asset}")).await?;
    assert!(page.body.contains("Model versions") && page.body.contains(&v["weights_sha256"].as_str().unwrap_or("-")[..12]), "{}", page.body);
    // An asset with versions stays in the registry.
    let del = app.send(app.request(Method::DELETE, &format!("/api/v1/assets/{asset}")).bearer_auth(&m)).await?;
    assert_eq!(del.status, StatusCode::CONFLICT, "{}", del.body);
    Ok(())
}

/// The base version's weight bytes, planted where a licensee could reach them if a route leaked
/// them: every route of the table the licensee's role may call (GET and the changing ones, with
/// every id it knows and the version's own ids), over the API and as pages, under a licence that
/// keeps models on the platform (the default). No answer carries the base file, any 64-byte run
/// of its parameters, their hex or the file's base64.
///
/// Under a licence that lets the licensee download fine-tuned models the download is the new
/// weights, but they are derived from the base: parameters the licensee's data never moves (a
/// unit its rows never activate) keep the base's values, so such a licence hands those over by
/// its own term.
#[actix_web::test]
async fn no_route_a_licensee_can_call_returns_the_base_weights() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let asset = model_asset(&app, &m).await?;
    let v1 = publish_trained(&app, &asset, 3).await?;
    let lic = grant(&app, &asset, json!({ "model_versions": [v1.id] })).await?;
    let l = app.token("licensee").await?;
    let (_, half) = halves();
    let ds = upload(&app, &l, half.clone()).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let run = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(2), "base_version": v1.id })).await?;
    let run = run.json()["id"].as_str().ok_or("no run")?.to_owned();
    assert!(worker::run_once(&app.state, &WorkerConfig::named("test-worker")).await?);
    // The walk below erases `ds` (its erase route is the licensee's): a second copy for later.
    let ds2 = upload(&app, &l, half.clone()).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();

    let base_artifact: String = sqlx::query_scalar("SELECT weights_artifact::text FROM model_versions").fetch_one(&app.t.db.pool).await?;
    let a =
        licentia_db::artifacts::get_scoped(&mut *app.t.db.pool.acquire().await?, licentia_domain::ArtifactId::parse(&base_artifact).ok_or("id")?, None).await?;
    let weights = licentia_app::artifacts::read_all(&app.state, &a).await?;
    let agreement: String = sqlx::query_scalar("SELECT agreement_id::text FROM licences").fetch_one(&app.t.db.pool).await?;
    let run_artifact: String =
        sqlx::query_scalar("SELECT weights_artifact::text FROM runs WHERE weights_artifact IS NOT NULL").fetch_one(&app.t.db.pool).await?;
    let ids = [asset.clone(), v1.id.to_string(), base_artifact.clone(), lic.clone(), ds.clone(), run.clone(), agreement, run_artifact];
    // The parameters are the file's last 4 bytes × their count (before them: names, shapes, ids).
    let width = v1.preprocessing.as_ref().and_then(|p| p["width"].as_u64()).ok_or("width")? as usize;
    let params = width * 64 + 64 + 64 * 64 + 64 + 64 + 1;
    let data = &weights[weights.len() - params * 4..];
    let hex_all = hex::encode(&weights);
    let b64_all = base64::engine::general_purpose::STANDARD.encode(&weights);
    let pieces: Vec<&[u8]> = data.chunks_exact(64).collect();
    assert!(pieces.len() > 300, "{} pieces", pieces.len());
    let leaks = |r: &Reply| -> Option<&'static str> {
        if r.bytes.windows(weights.len()).any(|w| w == weights.as_slice()) || r.body.contains(&b64_all) || r.body.contains(&hex_all) {
            return Some("the whole file");
        }
        if pieces.iter().any(|p| r.bytes.windows(64).any(|w| w == *p) || r.body.contains(&hex::encode(p))) {
            return Some("a 64-byte run of it");
        }
        None
    };
    // The probe finds the weights where they are: the licensor's own download of its file.
    let own = app.get_as(&m, &format!("/api/v1/artifacts/{base_artifact}/content")).await?;
    assert_eq!((own.status, leaks(&own)), (StatusCode::OK, Some("the whole file")));
    let s = app.browser_login("licensee").await?;
    let mut walked = 0;
    for r in table() {
        let Access::Requires(p) = r.access else { continue };
        if !Role::Licensee.allows(p) || r.path.contains("logout") {
            continue;
        }
        let paths: Vec<String> = if r.path.contains('{') {
            ids.iter().map(|id| r.path.replace("{id}", id).replace("{n}", "1").replace("{seq}", "1").replace("{name}", "x").replace("{ordinal}", "1")).collect()
        } else {
            vec![r.path.to_owned()]
        };
        for path in paths {
            let reply = if r.method == Method::GET {
                // The API by bearer token, the pages by the browser session.
                let req = if path.starts_with("/api/") { app.get(&path).bearer_auth(&l) } else { app.get(&path).insert_header(("cookie", s.cookie.clone())) };
                app.send(req).await?
            } else {
                let req = app.request(r.method.clone(), &path).bearer_auth(&l);
                app.send_json(req, &json!({ "base_version": v1.id, "licence_id": lic, "dataset_id": ds, "hyper": hyper(1) })).await?
            };
            assert!(reply.status != StatusCode::INTERNAL_SERVER_ERROR, "{} {path}: {}", r.method, reply.body);
            if let Some(what) = leaks(&reply) {
                panic!("{} {path} answered {} with {what} of the base weights", r.method, reply.status);
            }
            walked += 1;
        }
    }
    assert!(walked > 100, "only {walked} requests");
    // The fine-tuned model stays on the platform under this licence.
    let download = app.get_as(&l, &format!("/api/v1/runs/{run}/model")).await?;
    assert_eq!((download.status, download.error_code().as_deref()), (StatusCode::CONFLICT, Some("model_download_not_allowed")), "{}", download.body);
    // Where the licence allows the download, it is the fine-tuned weights the receipt names.
    let open = grant(&app, &asset, json!({ "model_versions": [v1.id], "allow_model_download": true })).await?;
    let r = launch(&app, &l, json!({ "licence_id": open, "dataset_id": ds2, "hyper": hyper(2), "base_version": v1.id })).await?;
    let r = r.json()["id"].as_str().ok_or("no run")?.to_owned();
    while worker::run_once(&app.state, &WorkerConfig::named("test-worker")).await? {}
    let got = app.get_as(&l, &format!("/api/v1/runs/{r}/model")).await?;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    let done = app.get_as(&l, &format!("/api/v1/runs/{r}")).await?.json();
    assert_eq!(json!(hex::encode(ring::digest::digest(&ring::digest::SHA256, &got.bytes))), done["receipt"]["receipt"]["weights_sha256"]);
    assert_ne!(got.bytes, weights);
    // The base's own artifact is the licensor's: a licensee gets 404, as if it did not exist.
    let probe = app.get_as(&l, &format!("/api/v1/artifacts/{base_artifact}/content")).await?;
    assert_eq!(probe.status, StatusCode::NOT_FOUND);
    // A base that fails to load says so without quoting anything of it.
    sqlx::query("UPDATE model_versions SET weights_sha256 = $1").bind(vec![0u8; 32]).execute(&app.t.db.pool).await?;
    let failed = launch(&app, &l, json!({ "licence_id": lic, "dataset_id": ds2, "hyper": hyper(2), "base_version": v1.id, "name": "to fail" })).await?;
    assert_eq!(failed.status, StatusCode::ACCEPTED, "{}", failed.body);
    while worker::run_once(&app.state, &WorkerConfig::named("test-worker")).await? {}
    let f = app.get_as(&l, &format!("/api/v1/runs/{}", failed.json()["id"].as_str().unwrap_or_default())).await?;
    assert_eq!(f.json()["status"], "failed", "{}", f.body);
    assert_eq!(f.json()["error"], "the base model version could not be loaded; the licensor has been told");
    Ok(())
}
