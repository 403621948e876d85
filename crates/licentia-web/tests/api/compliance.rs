//! Compliance at the moment of the transfer: export control at approval (with permits and their
//! expiry in the docket), the field of use and territory at launch, data residency of workers,
//! crypto-shredding erasure, and the signed evidence pack verified offline.

use actix_web::http::StatusCode;
use licentia_app::worker::{self, WorkerConfig};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::training::{csv, hyper, licence_with, upload};

async fn asset(app: &TestApp, m: &str, title: &str, classes: Value) -> Res<String> {
    let a = app
        .send_json(
            app.post("/api/v1/assets").bearer_auth(m),
            &json!({ "kind": "trade_secret", "title": title, "description": "Process parameters and their tolerances", "custodian": "Process engineering" }),
        )
        .await?;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = a.json()["id"].as_str().ok_or("no asset id")?.to_owned();
    let c = app.send_json(app.put(&format!("/api/v1/assets/{id}/export-classifications")).bearer_auth(m), &json!({ "classifications": classes })).await?;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    Ok(id)
}

/// A draft for Borealis over `assets` in `territory`, submitted for review.
async fn submitted(app: &TestApp, m: &str, assets: &[&str], territory: &[&str]) -> Res<String> {
    let a = app
        .send_json(
            app.post("/api/v1/agreements").bearer_auth(m),
            &json!({ "kind": "non_exclusive_licence", "title": "Chip know-how", "licensee_id": app.licensee_a.to_string(), "assets": assets,
                     "terms": { "territory": territory, "effective_date": "2027-01-01", "currency": "EUR" } }),
        )
        .await?;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = a.json()["id"].as_str().ok_or("no agreement id")?.to_owned();
    let s = app.send_json(app.post(&format!("/api/v1/agreements/{id}/transition")).bearer_auth(m), &json!({ "to": "in_review" })).await?;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    Ok(id)
}

/// 15 CFR 742.4(a): ECCN 3A001 (National Security column 2) needs a licence to every destination
/// outside Country Group A:1, China among them. Borealis, recorded in China, is refused until a
/// permit covers the asset and the country; the permit's last day is then on the docket. EAR99
/// know-how to the same licensee needs nothing.
#[actix_web::test]
async fn a_3a001_grant_to_a_restricted_country_needs_a_permit_whose_expiry_is_docketed() -> TestResult {
    let app = spawn_app().await?;
    let (admin, m, r) = (app.token("admin").await?, app.token("manager").await?, app.token("reviewer").await?);
    let moved = app.send_json(app.patch(&format!("/api/v1/organisations/{}", app.licensee_a)).bearer_auth(&admin), &json!({ "country": "cn" })).await?;
    assert_eq!((moved.status, moved.json()["country"].clone()), (StatusCode::OK, json!("CN")), "{}", moved.body);
    let bad = app.send_json(app.patch(&format!("/api/v1/organisations/{}", app.licensee_a)).bearer_auth(&admin), &json!({ "country": "XX" })).await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("country")));

    let chip = asset(&app, &m, "Wafer inspection know-how", json!([{ "regime": "us_ear", "code": "3A001.a.1" }])).await?;
    let id = submitted(&app, &m, &[&chip], &["DE"]).await?;
    let check = app.get_as(&r, &format!("/api/v1/agreements/{id}/export-check")).await?;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert_eq!(check.json()["clear"], json!(false));

    let refused = app.send(app.post(&format!("/api/v1/agreements/{id}/approve")).bearer_auth(&r)).await?;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let e = &refused.json()["error"];
    assert_eq!(e["code"], json!("export_control"));
    assert_eq!(
        (e["details"]["asset"].as_str(), e["details"]["rule"].as_str(), e["details"]["country"].as_str()),
        (Some(chip.as_str()), Some("ear-ns2"), Some("CN"))
    );
    assert!(e["message"].as_str().is_some_and(|m| m.contains("Wafer inspection know-how") && m.contains("15 CFR 742.4(a)")), "{e}");
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'agreement.approval_refused' AND details->>'reason' = 'export_control'").await?, 1);
    let status: String = sqlx::query_scalar("SELECT status FROM agreements").fetch_one(&app.t.db.pool).await?;
    assert_eq!(status, "in_review", "nothing of the refused approval was written");

    // A permit for another country, or one that has run out, cures nothing.
    let today = chrono::Utc::now().date_naive();
    let day = |d: i64| (today + chrono::Duration::days(d)).to_string();
    for (countries, from, until) in [(json!(["RU"]), day(-1), day(20)), (json!(["CN"]), day(-30), day(-1))] {
        let p = app
            .send_json(
                app.post(&format!("/api/v1/agreements/{id}/export-permits")).bearer_auth(&m),
                &json!({ "reference": "D-OTHER", "authority": "BIS", "countries": countries, "valid_from": from, "valid_until": until }),
            )
            .await?;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    }
    let still = app.send(app.post(&format!("/api/v1/agreements/{id}/approve")).bearer_auth(&r)).await?;
    assert_eq!(still.status, StatusCode::CONFLICT);
    let stray = app
        .send_json(
            app.post(&format!("/api/v1/agreements/{id}/export-permits")).bearer_auth(&m),
            &json!({ "reference": "D1", "authority": "BIS", "countries": ["CN"], "assets": [uuid::Uuid::now_v7()], "valid_from": day(0), "valid_until": day(20) }),
        )
        .await?;
    assert_eq!((stray.status, stray.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("assets")));
    let permit = app
        .send_json(
            app.post(&format!("/api/v1/agreements/{id}/export-permits")).bearer_auth(&m),
            &json!({ "reference": "D1234567", "authority": "BIS", "countries": ["CN"], "assets": [chip], "valid_from": day(0), "valid_until": day(20) }),
        )
        .await?;
    assert_eq!(permit.status, StatusCode::CREATED, "{}", permit.body);
    let approved = app.send(app.post(&format!("/api/v1/agreements/{id}/approve")).bearer_auth(&r)).await?;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let relied: Value =
        sqlx::query_scalar("SELECT details->'export_permits_relied_on' FROM audit_log WHERE action = 'agreement.approved'").fetch_one(&app.t.db.pool).await?;
    assert_eq!(relied[0]["permit"], json!("D1234567"));
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'export.permit_recorded'").await?, 3);

    let docket = app.get_as(&m, "/api/v1/deadlines?days=30").await?;
    let docket = docket.json();
    let expiry: Vec<&Value> = docket["items"].as_array().ok_or("no items")?.iter().filter(|d| d["rule"] == "export-permit-expiry").collect();
    let dues: Vec<String> = expiry.iter().filter_map(|d| d["due"].as_str().map(str::to_owned)).collect();
    assert!(dues.contains(&day(20)), "the permit's last day is on the docket: {dues:?}");
    assert!(expiry.iter().any(|d| d["title"].as_str().is_some_and(|t| t.contains("D1234567"))));

    // The same licensee, EAR99 know-how: no licence needed outside the embargoes.
    let tool = asset(&app, &m, "Fixture design", json!([{ "regime": "us_ear", "code": "EAR99" }])).await?;
    let plain = submitted(&app, &m, &[&tool], &["DE"]).await?;
    let ok = app.send(app.post(&format!("/api/v1/agreements/{plain}/approve")).bearer_auth(&r)).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // The registry and the agreement page show it.
    let s = app.browser_login("manager").await?;
    let page = app.page(&s, &format!("/assets/{chip}")).await?;
    assert!(page.body.contains("US EAR 3A001.a.1"), "the asset page shows the classification");
    let page = app.page(&s, &format!("/agreements/{id}")).await?;
    assert!(page.body.contains("id=\"export-control\"") && page.body.contains("D1234567") && page.body.contains("ear-ns2"));
    Ok(())
}

#[actix_web::test]
async fn malformed_classifications_and_permits_are_422_and_change_nothing() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let id = asset(&app, &m, "Know-how", json!([{ "regime": "eu_dual_use", "code": "3A001" }])).await?;
    for body in [
        json!({ "classifications": [{ "regime": "itar", "code": "XI" }] }),
        json!({ "classifications": [{ "regime": "us_ear", "code": "3Z001" }] }),
        json!({ "classifications": [{ "regime": "cn_catalogue", "code": "18430" }] }),
    ] {
        let r = app.send_json(app.put(&format!("/api/v1/assets/{id}/export-classifications")).bearer_auth(&m), &body).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let kept: Vec<String> = sqlx::query_scalar("SELECT regime || ':' || code FROM export_classifications").fetch_all(&app.t.db.pool).await?;
    assert_eq!(kept, ["eu_dual_use:3A001"]);
    let licensee = app.token("licensee").await?;
    let r = app.send_json(app.put(&format!("/api/v1/assets/{id}/export-classifications")).bearer_auth(&licensee), &json!({ "classifications": [] })).await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    Ok(())
}

/// The launch declares the field of use and the country of use; the executed terms decide.
#[actix_web::test]
async fn a_run_outside_the_fields_or_territory_is_refused_and_the_receipt_names_both() -> TestResult {
    let app = spawn_app().await?;
    let terms = json!({ "territory": ["DE", "AT"], "fields": ["industrial inspection"], "effective_date": "2026-01-01", "currency": "EUR" });
    let lic = licence_with(&app, json!({}), terms).await?;
    let l = app.token("licensee").await?;
    let d = upload(&app, &l, csv(200)).await?;
    let dataset = d.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let launch =
        |field: Value, country: Value| json!({ "licence_id": lic, "dataset_id": dataset, "hyper": hyper(2), "field_of_use": field, "country": country });

    let missing = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &launch(Value::Null, Value::Null)).await?;
    assert_eq!((missing.status, missing.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("field_of_use")));
    let outside = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &launch(json!("medical imaging"), Value::Null)).await?;
    assert_eq!((outside.status, outside.json()["error"]["code"].clone()), (StatusCode::CONFLICT, json!("outside_field_of_use")), "{}", outside.body);
    assert!(outside.body.contains("industrial inspection"));
    let abroad = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &launch(json!("Industrial Inspection"), json!("US"))).await?;
    assert_eq!((abroad.status, abroad.json()["error"]["code"].clone()), (StatusCode::CONFLICT, json!("outside_territory")), "{}", abroad.body);
    assert_eq!(app.count("SELECT count(*) FROM runs").await?, 0);
    assert_eq!(app.count("SELECT count(*) FROM usage_ledger").await?, 0, "nothing was reserved for a refused launch");

    let inside = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &launch(json!("Industrial Inspection"), json!("at"))).await?;
    assert_eq!(inside.status, StatusCode::ACCEPTED, "{}", inside.body);
    let run = inside.json()["id"].as_str().ok_or("no run")?.to_owned();
    assert!(worker::run_once(&app.state, &WorkerConfig::named("w")).await?);
    let done = app.get_as(&l, &format!("/api/v1/runs/{run}")).await?.json();
    assert_eq!((done["use_field"].clone(), done["use_country"].clone()), (json!("industrial inspection"), json!("AT")));
    let receipt = &done["receipt"];
    assert_eq!((receipt["receipt"]["field_of_use"].clone(), receipt["receipt"]["country"].clone()), (json!("industrial inspection"), json!("AT")));
    let key = app.state.audit_log.signing_key().verifying_key();
    assert_eq!(licentia_app::receipts::verify(receipt, &key), licentia_app::receipts::Verdict::Valid);

    // Without a declared country the licensee's own (Borealis: DE) is the country of use.
    let home = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &launch(json!("industrial inspection"), Value::Null)).await?;
    assert_eq!((home.status, home.json()["use_country"].clone()), (StatusCode::ACCEPTED, json!("DE")), "{}", home.body);
    Ok(())
}

async fn upload_with(app: &TestApp, token: &str, query: &str) -> Res<Reply> {
    app.send_body(app.post(&format!("/api/v1/datasets?name=train.csv&{query}")).bearer_auth(token).insert_header(("content-type", "text/csv")), csv(200)).await
}

/// Two workers on one queue: the one started in `eu` never takes the run whose dataset is
/// restricted to `us` (the run says why it waits), the `us` one does.
#[actix_web::test]
async fn a_worker_claims_only_runs_whose_dataset_allows_its_region() -> TestResult {
    let app = spawn_app().await?;
    let lic = crate::training::licence(&app, json!({})).await?;
    let l = app.token("licensee").await?;
    let bad = upload_with(&app, &l, "personal_data=true&region=us").await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("lawful_basis")));
    assert_eq!(app.count("SELECT count(*) FROM datasets").await?, 0);
    let us = upload_with(&app, &l, "personal_data=true&lawful_basis=contract&region=us").await?;
    assert_eq!((us.status, us.json()["region"].clone()), (StatusCode::CREATED, json!("us")), "{}", us.body);
    let dataset = us.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let run = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": dataset, "hyper": hyper(2) })).await?;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    let run = run.json()["id"].as_str().ok_or("no run")?.to_owned();

    let eu = WorkerConfig::named("eu-1").in_region(Some("eu".into()));
    let us_worker = WorkerConfig::named("us-1").in_region(Some("us".into()));
    let plain = WorkerConfig::named("anywhere");
    for _ in 0..3 {
        assert!(!worker::run_once(&app.state, &eu).await?, "the eu worker never claims the us run");
        assert!(!worker::run_once(&app.state, &plain).await?, "nor does a worker without a region");
    }
    let waiting = app.get_as(&l, &format!("/api/v1/runs/{run}")).await?.json();
    assert_eq!(waiting["status"], json!("queued"));
    assert!(waiting["waiting"].as_str().is_some_and(|w| w.contains("\"us\"")), "{waiting}");
    let page = app.page(&app.browser_login("licensee").await?, &format!("/runs/{run}")).await?;
    assert!(page.body.contains("id=\"run-waiting\"") && page.body.contains("no worker of that region"), "the run page says why it waits");
    assert!(worker::run_once(&app.state, &us_worker).await?);
    let done = app.get_as(&l, &format!("/api/v1/runs/{run}")).await?.json();
    assert_eq!((done["status"].clone(), done["worker_id"].clone()), (json!("succeeded"), json!("us-1")));
    assert!(done.get("waiting").is_none());
    Ok(())
}

/// Erasure destroys the dataset's data key: the content answers 410, the ciphertext (a copy kept
/// as an object-store replica or a backup would keep it) no longer decrypts under any master key,
/// the row keeps its metadata, the audit log records it; retention ending does the same.
#[actix_web::test]
async fn erasure_shreds_the_data_key_and_retention_erases_on_its_day() -> TestResult {
    let app = spawn_app().await?;
    let l = app.token("licensee").await?;
    let d = upload_with(&app, &l, "personal_data=true&lawful_basis=consent").await?;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.body);
    let (id, artifact) = (d.json()["id"].as_str().ok_or("no id")?.to_owned(), d.json()["artifact_id"].as_str().ok_or("no artifact")?.to_owned());
    let aid: licentia_domain::ArtifactId = artifact.parse()?;
    let row = licentia_db::artifacts::get_scoped(&mut *app.t.db.pool.acquire().await?, aid, None).await?;
    let key = licentia_store::StorageKey::parse(&row.storage_key)?;
    // A copy of the ciphertext, as an object-store replica or a backup of the blobs keeps it.
    let replica = app.store.read_all(&key).await?;
    assert!(!replica.is_empty());
    let before = app.send(app.get(&format!("/api/v1/artifacts/{artifact}/content")).bearer_auth(&l)).await?;
    assert_eq!(before.status, StatusCode::OK);

    let foreign = app.send_json(app.post(&format!("/api/v1/datasets/{id}/erase")).bearer_auth(&app.token("licensee_b").await?), &json!({})).await?;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "another licensee cannot erase it");
    let erased =
        app.send_json(app.post(&format!("/api/v1/datasets/{id}/erase")).bearer_auth(&l), &json!({ "reason": "Art. 17 request of a data subject" })).await?;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
    assert!(erased.json()["erased_at"].is_string());
    assert_eq!(erased.json()["rows"], json!(200), "the row keeps its metadata");

    let gone = app.send(app.get(&format!("/api/v1/artifacts/{artifact}/content")).bearer_auth(&l)).await?;
    assert_eq!((gone.status, gone.json()["error"]["code"].clone()), (StatusCode::GONE, json!("gone")));
    let after = licentia_db::artifacts::get_scoped(&mut *app.t.db.pool.acquire().await?, aid, None).await?;
    assert!(after.wrapped_key.is_empty() && after.shredded_at.is_some());
    for version in app.state.keyring.versions() {
        assert!(app.state.keyring.unwrap(version, aid.as_uuid().as_bytes(), &after.wrapped_key).is_err(), "master key {version} recovers nothing");
    }
    assert!(matches!(licentia_app::artifacts::read_all(&app.state, &after).await, Err(licentia_app::AppError::Gone { .. })));
    // The replica put back and read as if nothing had happened: the key is gone, so is the text.
    let mut w = app.store.create().await?;
    w.write(&replica).await?;
    let mut forged = after.clone();
    forged.storage_key = w.commit().await?.as_str().to_owned();
    forged.shredded_at = None;
    assert!(matches!(licentia_app::artifacts::read_all(&app.state, &forged).await, Err(licentia_app::AppError::Integrity)));
    assert!(app.store.open(&key).await.is_err(), "the blob itself is deleted too");
    let schema: Value = sqlx::query_scalar("SELECT schema FROM datasets").fetch_one(&app.t.db.pool).await?;
    assert!(schema.as_array().is_some_and(|cols| cols.iter().all(|c| c.get("categories").is_none() && c.get("min").is_none())), "{schema}");
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'dataset.erased'").await?, 1);
    let detail = app.get_as(&l, &format!("/api/v1/datasets/{id}")).await?;
    assert_eq!((detail.status, detail.json()["preview"].clone()), (StatusCode::OK, json!([])));
    let lic = crate::training::licence(&app, json!({})).await?;
    let relaunch = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": id, "hyper": hyper(1) })).await?;
    assert_eq!(relaunch.status, StatusCode::CONFLICT, "{}", relaunch.body);

    // The portal's Erase button goes through the same use case.
    let other = upload_with(&app, &l, "personal_data=false").await?;
    let other_id = other.json()["id"].as_str().ok_or("no id")?.to_owned();
    let s = app.browser_login("licensee").await?;
    let done = app.form(&s, &format!("/training/datasets/{other_id}/erase"), &[]).await?;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let erased_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT erased_at FROM datasets WHERE id = $1::uuid").bind(&other_id).fetch_one(&app.t.db.pool).await?;
    assert!(erased_at.is_some());
    assert!(!app.page(&s, "/training").await?.body.contains(&format!("<option value=\"{other_id}\"")), "an erased dataset is not offered to launch");

    // Retention: a dataset kept until a day now past is erased by the worker's housekeeping.
    let today = chrono::Utc::now().date_naive();
    let kept = upload_with(&app, &l, &format!("retain_until={today}")).await?;
    assert_eq!(kept.status, StatusCode::CREATED, "{}", kept.body);
    assert_eq!(licentia_app::training::erase_expired(&app.state).await?, 0, "not before its last day has passed");
    sqlx::query("UPDATE datasets SET retain_until = retain_until - 1").execute(&app.t.db.pool).await?;
    assert_eq!(licentia_app::training::erase_expired(&app.state).await?, 1);
    let reason: String = sqlx::query_scalar("SELECT erasure_reason FROM datasets WHERE retain_until IS NOT NULL").fetch_one(&app.t.db.pool).await?;
    assert!(reason.starts_with("retention ended"), "{reason}");
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'dataset.erased'").await?, 3);
    Ok(())
}

/// The evidence pack of an executed agreement verifies offline with the installation's public
/// key; one byte changed anywhere in a file's content is refused, naming the file.
#[actix_web::test]
async fn an_evidence_pack_verifies_offline_and_one_changed_byte_is_refused() -> TestResult {
    let app = spawn_app().await?;
    let lic = crate::training::licence(&app, json!({})).await?;
    let agreement: String = sqlx::query_scalar("SELECT agreement_id::text FROM licences WHERE id = $1::uuid").bind(&lic).fetch_one(&app.t.db.pool).await?;
    let l = app.token("licensee").await?;
    let d = upload(&app, &l, csv(200)).await?;
    let run = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": d.json()["id"], "hyper": hyper(1) })).await?;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    assert!(worker::run_once(&app.state, &WorkerConfig::named("w")).await?);

    let res = app.send(app.get(&format!("/api/v1/agreements/{agreement}/evidence")).bearer_auth(&app.token("auditor").await?)).await?;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body.chars().take(300).collect::<String>());
    assert_eq!(res.header("content-type").as_deref(), Some("application/x-tar"));
    // `Reply` keeps the body as text; the archive is read again as bytes.
    let pack = app
        .client
        .get(app.srv.url(&format!("/api/v1/agreements/{agreement}/evidence")))
        .bearer_auth(app.token("auditor").await?)
        .send()
        .await?
        .body()
        .limit(64 << 20)
        .await?
        .to_vec();
    let key = app.state.audit_log.signing_key().verifying_key();
    let ok = licentia_app::evidence::verify(&pack, &key).map_err(|e| format!("a fresh pack must verify: {e}"))?;
    assert_eq!(ok.agreement, agreement);
    assert_eq!(ok.receipts, 1, "the run's receipt is in the pack");
    assert!(ok.audit_entries >= 5 && ok.checkpoint_seq.is_some(), "{ok:?}");

    let mut archive = tar::Archive::new(pack.as_slice());
    let mut offsets = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        offsets.push((entry.path()?.to_string_lossy().into_owned(), entry.raw_file_position(), entry.size()));
    }
    for target in ["versions/1.txt", "audit/entries.jsonl", "manifest.json"] {
        let (_, at, size) = offsets.iter().find(|(p, _, _)| p == target).ok_or("file missing from the pack")?;
        assert!(*size > 10);
        let mut changed = pack.clone();
        let i = usize::try_from(*at + size / 2)?;
        changed[i] ^= 0x01;
        let err = licentia_app::evidence::verify(&changed, &key).err().ok_or("a changed pack verified")?;
        assert!(err.starts_with(target), "changing {target} is named: {err}");
    }
    let other = licentia_crypto::SigningKey::from_pkcs8(&licentia_crypto::SigningKey::generate_pkcs8()?)?.verifying_key();
    assert!(licentia_app::evidence::verify(&pack, &other).is_err_and(|e| e.starts_with("manifest.json")), "another installation's key is not trusted");
    // The licensee's pack holds its own entries only, and verifies too.
    let own =
        app.client.get(app.srv.url(&format!("/api/v1/agreements/{agreement}/evidence"))).bearer_auth(&l).send().await?.body().limit(64 << 20).await?.to_vec();
    let mine = licentia_app::evidence::verify(&own, &key).map_err(|e| format!("the licensee's pack verifies: {e}"))?;
    assert!(mine.audit_entries < ok.audit_entries);
    Ok(())
}
