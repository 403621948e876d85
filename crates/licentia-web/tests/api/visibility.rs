//! One policy for who sees what, tried from outside: a world with a distinct marker string in every
//! object or field that some role must not see, then every GET route of the route table walked as
//! every role. And one test per leak the outside attack found.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use licentia_app::worker::{self, WorkerConfig};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::training::{hyper, licence};

/// Markers, and the roles that must never read them.
const LICENSEES: &[&str] = &["licensee", "licensee_b"];
const LICENSOR_AND_B: &[&str] = &["admin", "manager", "reviewer", "auditor", "licensee_b"];
const EVERYONE: &[&str] = &["admin", "manager", "reviewer", "auditor", "licensee", "licensee_b"];

fn markers() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        // The licensor's working papers.
        ("MKASSETNOTE", LICENSEES),
        ("MKMANUALTITLE", LICENSEES),
        ("MKMANUALNOTE", LICENSEES),
        ("MKMARKNOTE", LICENSEES),
        // A draft saved after the agreement was shared: a new title and a trade secret.
        ("MKDRAFTTITLE", LICENSEES),
        ("MKSECRETTITLE", LICENSEES),
        ("MKSECRETDESC", LICENSEES),
        ("MKSECRETKEEPER", LICENSEES),
        // An agreement never shared, and the asset only it covers.
        ("MKUNSHAREDTITLE", LICENSEES),
        ("MKUNSHAREDASSET", LICENSEES),
        // Another licensee's agreement.
        ("MKBAGREEMENT", &["licensee"]),
        // Borealis's data: the licensor and Cirrus never see its values.
        ("MKCITY", LICENSOR_AND_B),
        // Masked columns leave the server for nobody.
        ("MKMASKED", EVERYONE),
        // Cirrus's data.
        ("MKBDATA", &["admin", "manager", "reviewer", "auditor", "licensee"]),
    ]
}

pub struct World {
    pub shared: String,
    pub unshared: String,
    pub b_agreement: String,
    pub training_agreement: String,
    pub assets: Vec<String>,
    pub patent: String,
    pub secret: String,
    pub licence: String,
    pub datasets: Vec<String>,
    pub masked_dataset: String,
    pub run: Option<String>,
    pub weights: Option<String>,
}

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Res<Value> {
    let r = app.send_json(app.post(path).bearer_auth(token), &body).await?;
    if !r.status.is_success() {
        return Err(format!("POST {path}: {} {}", r.status, r.body).into());
    }
    Ok(r.json())
}

fn id(v: &Value) -> Res<String> {
    Ok(v["id"].as_str().ok_or_else(|| format!("no id in {v}"))?.to_owned())
}

/// Shared agreement (re-drafted after sharing), unshared agreement, another licensee's agreement,
/// a training licence that forbids downloading the model, datasets with masked and categorical
/// columns, and (with `run`) a finished run.
pub async fn world(app: &TestApp, run: bool) -> Res<World> {
    let m = app.token("manager").await?;
    let l = app.token("licensee").await?;
    let lb = app.token("licensee_b").await?;
    let patent = id(&created(
        app,
        &m,
        "/api/v1/assets",
        json!({ "kind": "patent", "title": "Shared sensor patent", "jurisdiction": "DE", "status": "filed", "filing_date": "2021-05-04", "internal_notes": "MKASSETNOTE weak claims" }),
    )
    .await?)?;
    created(
        app,
        &m,
        &format!("/api/v1/assets/{patent}/manual-deadlines"),
        json!({ "title": "MKMANUALTITLE call inventor", "due": "2099-01-10", "note": "MKMANUALNOTE" }),
    )
    .await?;
    let computed = app.get_as(&m, &format!("/api/v1/assets/{patent}")).await?.json();
    let first =
        computed["deadlines"].as_array().and_then(|d| d.iter().find(|d| d["rule"] != "manual")).cloned().ok_or("the patent has no computed deadline")?;
    created(
        app,
        &m,
        &format!("/api/v1/assets/{patent}/deadlines"),
        json!({ "rule": first["rule"], "ordinal": first["ordinal"], "state": "done", "note": "MKMARKNOTE paid" }),
    )
    .await?;
    let secret = id(&created(
        app,
        &m,
        "/api/v1/assets",
        json!({ "kind": "trade_secret", "title": "MKSECRETTITLE recipe", "description": "MKSECRETDESC the process", "custodian": "MKSECRETKEEPER" }),
    )
    .await?)?;
    let unshared_asset = id(&created(app, &m, "/api/v1/assets", json!({ "kind": "patent", "title": "MKUNSHAREDASSET", "jurisdiction": "FR" })).await?)?;
    let b_asset = id(&created(app, &m, "/api/v1/assets", json!({ "kind": "patent", "title": "Cirrus patent", "jurisdiction": "US" })).await?)?;
    let terms = json!({ "territory": ["DE"], "effective_date": "2026-01-01", "royalty_bp": 300, "currency": "EUR" });

    // Shared with Borealis as version 1, then sent back to draft and re-drafted.
    let shared = id(&created(
        app,
        &m,
        "/api/v1/agreements",
        json!({ "kind": "non_exclusive_licence", "title": "Sensor licence", "licensee_id": app.licensee_a.to_string(), "assets": [patent], "terms": terms }),
    )
    .await?)?;
    created(app, &m, &format!("/api/v1/agreements/{shared}/transition"), json!({ "to": "in_review" })).await?;
    created(app, &m, &format!("/api/v1/agreements/{shared}/transition"), json!({ "to": "draft" })).await?;
    created(
        app,
        &m,
        &format!("/api/v1/agreements/{shared}/versions"),
        json!({ "title": "MKDRAFTTITLE licence", "assets": [patent, secret], "comment": "adds the recipe" }),
    )
    .await?;

    let unshared = id(&created(
        app,
        &m,
        "/api/v1/agreements",
        json!({ "kind": "non_exclusive_licence", "title": "MKUNSHAREDTITLE", "licensee_id": app.licensee_a.to_string(), "assets": [unshared_asset], "terms": terms }),
    )
    .await?)?;
    let b_agreement = id(&created(
        app,
        &m,
        "/api/v1/agreements",
        json!({ "kind": "non_exclusive_licence", "title": "MKBAGREEMENT", "licensee_id": app.licensee_b.to_string(), "assets": [b_asset], "terms": terms }),
    )
    .await?)?;
    created(app, &m, &format!("/api/v1/agreements/{b_agreement}/transition"), json!({ "to": "in_review" })).await?;

    // A training licence for Borealis that does not allow downloading the model.
    let licence = licence(app, json!({ "allow_model_download": false })).await?;
    let training_agreement: String = sqlx::query_scalar("SELECT agreement_id::text FROM licences").fetch_one(&app.t.db.pool).await?;

    let mut csv = String::from("a,b,city,income,y\n");
    for i in 0..120 {
        let a = ((i * 37) % 100) as f64 / 100.0;
        let b = ((i * 61) % 100) as f64 / 100.0;
        csv.push_str(&format!("{a},{b},MKCITY{},MKMASKED{i},{}\n", i % 3, u8::from(a + b > 1.0)));
    }
    let up = app.send_body(app.post("/api/v1/datasets?name=customers.csv").bearer_auth(&l).insert_header(("content-type", "text/csv")), csv).await?;
    if up.status != StatusCode::CREATED {
        return Err(format!("upload: {}", up.body).into());
    }
    let masked_dataset = id(&up.json())?;
    let set = app.send_json(app.patch(&format!("/api/v1/datasets/{masked_dataset}")).bearer_auth(&l), &json!({ "columns": { "income": "mask" } })).await?;
    if set.status != StatusCode::OK {
        return Err(format!("mask: {}", set.body).into());
    }
    let b_csv = "x,kind\n1,MKBDATA1\n2,MKBDATA2\n3,MKBDATA1\n";
    let b_up = app.send_body(app.post("/api/v1/datasets?name=b.csv").bearer_auth(&lb).insert_header(("content-type", "text/csv")), b_csv).await?;
    let b_dataset = id(&b_up.json())?;

    let (run, weights) = if run {
        let mut h = hyper(2);
        h["template"] = json!("logistic-regression");
        let launched =
            app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": licence, "dataset_id": masked_dataset, "hyper": h })).await?;
        if launched.status != StatusCode::ACCEPTED {
            return Err(format!("launch: {}", launched.body).into());
        }
        let run = id(&launched.json())?;
        worker::run_once(&app.state, &WorkerConfig::named("world")).await?;
        let weights: Option<String> =
            sqlx::query_scalar("SELECT weights_artifact::text FROM runs WHERE id = $1::uuid").bind(&run).fetch_one(&app.t.db.pool).await?;
        (Some(run), Some(weights.ok_or("the run has no weights")?))
    } else {
        (None, None)
    };
    Ok(World {
        shared,
        unshared,
        b_agreement,
        training_agreement,
        assets: vec![patent.clone(), secret.clone(), unshared_asset, b_asset],
        patent,
        secret,
        licence,
        datasets: vec![masked_dataset.clone(), b_dataset],
        masked_dataset,
        run,
        weights,
    })
}

/// Every concrete path for a route pattern in this world.
async fn paths_for(app: &TestApp, w: &World, pattern: &str) -> Res<Vec<String>> {
    let ids: Vec<String> = match pattern {
        p if p.contains("/assets/{id}") => w.assets.clone(),
        p if p.contains("/agreements/{id}") => vec![w.shared.clone(), w.unshared.clone(), w.b_agreement.clone(), w.training_agreement.clone()],
        p if p.contains("/licences/{id}") => vec![w.licence.clone()],
        p if p.contains("/datasets/{id}") => w.datasets.clone(),
        p if p.contains("/runs/{id}") => w.run.iter().cloned().collect(),
        p if p.contains("/artifacts/{id}") => sqlx::query_scalar("SELECT id::text FROM artifacts").fetch_all(&app.t.db.pool).await?,
        p if p.contains("/users/{id}") => sqlx::query_scalar("SELECT id::text FROM users").fetch_all(&app.t.db.pool).await?,
        p if p.contains("/organisations/{id}") => sqlx::query_scalar("SELECT id::text FROM organisations").fetch_all(&app.t.db.pool).await?,
        p if p.contains("{seq}") => vec!["1".into(), "5".into(), "20".into()],
        p if p.contains("{name}") => vec!["licentia.css".into()],
        _ => vec![String::new()],
    };
    let mut out = Vec::new();
    for id in ids {
        let base = pattern.replace("{id}", &id).replace("{seq}", &id).replace("{name}", &id);
        let numbered: Vec<String> = if base.contains("{n}") { vec![base.replace("{n}", "1"), base.replace("{n}", "2")] } else { vec![base] };
        for p in numbered {
            let with_query = match pattern {
                p2 if p2.ends_with("/diff") => vec![format!("{p}?from=1&to=2")],
                "/api/v1/statements" | "/statements" => vec![w.shared.clone(), w.training_agreement.clone(), w.b_agreement.clone()]
                    .into_iter()
                    .map(|a| format!("{p}?agreement={a}&period=2026"))
                    .collect(),
                "/runs/compare" => w.run.iter().map(|r| format!("{p}?ids={r}")).collect(),
                "/api/v1/assets/export" => vec![format!("{p}?format=json"), format!("{p}?format=csv")],
                "/api/v1/audit/export" | "/audit/export" => vec![format!("{p}?format=jsonl")],
                "/api/v1/assets" => vec![p.clone(), format!("{p}?q=MKSECRETTITLE")],
                _ => vec![p],
            };
            out.extend(with_query);
        }
    }
    Ok(out)
}

/// Reads that say nothing about an object: no audit entry expected.
fn unaudited(pattern: &str) -> bool {
    // The blank asset, import and password-reset forms show no stored data; one's own account,
    // preferences, second factors and sessions are one's own; the API description is the same
    // public document for everyone.
    matches!(
        pattern,
        "/healthz"
            | "/readyz"
            | "/metrics"
            | "/static/{name}"
            | "/login"
            | "/"
            | "/account"
            | "/account/security"
            | "/account/sessions"
            | "/password-reset"
            | "/api/v1/me"
            | "/api/v1/me/second-factors"
            | "/api/v1/me/sessions"
            | "/api/v1/me/preferences"
            | "/assets/new"
            | "/assets/import"
            | "/api/v1/openapi.json"
            | "/api/docs"
    )
}

#[actix_web::test]
async fn every_get_route_for_every_role_shows_no_marker_that_role_must_not_see() -> TestResult {
    let app = spawn_app().await?;
    let w = world(&app, true).await?;
    let roles = ["admin", "manager", "reviewer", "auditor", "licensee", "licensee_b"];
    let mut tokens = HashMap::new();
    let mut cookies = HashMap::new();
    let mut feeds = HashMap::new();
    for role in roles {
        let t = app.token(role).await?;
        let feed = app.send(app.post("/api/v1/me/calendar-token").bearer_auth(&t)).await?;
        feeds.insert(role, feed.json()["path"].as_str().ok_or("no calendar path")?.to_owned());
        tokens.insert(role, t);
        cookies.insert(role, app.browser_login(role).await?.cookie);
    }
    let routes: Vec<(String, &'static str)> =
        licentia_web::routes::table().into_iter().filter(|r| r.method == actix_web::http::Method::GET).map(|r| (r.path.to_owned(), r.path)).collect();
    assert!(routes.len() > 40, "the walk covers the whole table ({} GET routes)", routes.len());
    let mut leaks = Vec::new();
    let mut silent = Vec::new();
    let mut requests = 0;
    for (pattern, _) in &routes {
        let paths = if pattern == "/deadlines.ics" { vec![] } else { paths_for(&app, &w, pattern).await? };
        for role in roles {
            let mut role_paths = paths.clone();
            if pattern == "/deadlines.ics" {
                role_paths.push(feeds[role].clone());
            }
            for path in role_paths {
                let before = app.count("SELECT count(*) FROM audit_log").await?;
                let req = if path.starts_with("/api/") {
                    app.get(&path).bearer_auth(&tokens[role])
                } else {
                    app.get(&path).insert_header(("cookie", cookies[role].clone()))
                };
                let r = app.send(req).await?;
                requests += 1;
                assert!(r.status != StatusCode::INTERNAL_SERVER_ERROR, "{role} GET {path}: 500 {}", r.body);
                for (marker, hidden_from) in markers() {
                    if hidden_from.contains(&role) && r.body.contains(marker) {
                        leaks.push(format!("{role} GET {path} ({}) shows {marker}", r.status));
                    }
                }
                let after = app.count("SELECT count(*) FROM audit_log").await?;
                if r.status == StatusCode::OK && !unaudited(pattern) && after == before {
                    silent.push(format!("{role} GET {path}"));
                }
            }
        }
    }
    assert!(requests > 500, "{requests} requests");
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
    assert!(silent.is_empty(), "{} reads left no audit entry:\n{}", silent.len(), silent.join("\n"));
    Ok(())
}

#[actix_web::test]
async fn weights_the_licence_forbids_cannot_be_read_through_the_artifact_api() -> TestResult {
    let app = spawn_app().await?;
    let w = world(&app, true).await?;
    let l = app.token("licensee").await?;
    let (run, weights) = (w.run.ok_or("no run")?, w.weights.ok_or("no weights")?);
    let r = app.get_as(&l, &format!("/api/v1/runs/{run}")).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json().get("weights_artifact").is_none(), "the run names its weights: {}", r.body);
    let content = app.get_as(&l, &format!("/api/v1/artifacts/{weights}/content")).await?;
    assert_eq!((content.status, content.error_code().as_deref()), (StatusCode::CONFLICT, Some("model_download_not_allowed")), "{}", content.body);
    assert_eq!(app.get_as(&l, &format!("/api/v1/runs/{run}/model")).await?.status, StatusCode::CONFLICT);
    // Where the licence allows it, the same artifact is the licensee's.
    sqlx::query("UPDATE licences SET allow_model_download = true").execute(&app.t.db.pool).await?;
    let allowed = app.get_as(&l, &format!("/api/v1/artifacts/{weights}/content")).await?;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(app.get_as(&l, &format!("/api/v1/runs/{run}")).await?.json()["weights_artifact"], json!(weights));
    // The licensor's staff never download a licensee's model.
    for who in ["admin", "manager", "auditor"] {
        let t = app.token(who).await?;
        assert_eq!(app.get_as(&t, &format!("/api/v1/artifacts/{weights}/content")).await?.status, StatusCode::FORBIDDEN, "{who}");
    }
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.denied' AND details->>'reason' = 'model_download_not_allowed'").await?, 1);
    Ok(())
}

#[actix_web::test]
async fn a_redrafted_agreement_shows_the_licensee_only_its_shared_version() -> TestResult {
    let app = spawn_app().await?;
    let w = world(&app, false).await?;
    let l = app.token("licensee").await?;
    let m = app.token("manager").await?;
    // The trade secret the draft adds is not the licensee's to read, list, search or find in a family.
    assert_eq!(app.get_as(&l, &format!("/api/v1/assets/{}", w.secret)).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get_as(&l, &format!("/api/v1/assets/{}/family", w.secret)).await?.status, StatusCode::NOT_FOUND);
    let listed = app.get_as(&l, "/api/v1/assets").await?.json();
    let ids: Vec<&str> = listed["items"].as_array().map(|i| i.iter().filter_map(|a| a["id"].as_str()).collect()).unwrap_or_default();
    assert!(ids.contains(&w.patent.as_str()) && !ids.contains(&w.secret.as_str()), "{listed}");
    // The agreement reads as of version 1: its title, its text, its assets.
    let a = app.get_as(&l, &format!("/api/v1/agreements/{}", w.shared)).await?.json();
    assert_eq!((a["title"].as_str(), a["version"]["number"].as_i64()), (Some("Sensor licence"), Some(1)), "{a}");
    assert_eq!(a["assets"].as_array().map(Vec::len), Some(1), "{a}");
    let listed = app.get_as(&l, "/api/v1/agreements").await?.json();
    assert!(listed.to_string().contains("Sensor licence") && !listed.to_string().contains("MKDRAFTTITLE"), "{listed}");
    // The manager sees the draft.
    assert_eq!(app.get_as(&m, &format!("/api/v1/agreements/{}", w.shared)).await?.json()["title"], "MKDRAFTTITLE licence");

    // Print and PDF of version 1 carry version 1's words, whose SHA-256 is the one stored.
    let v1 = app.get_as(&l, &format!("/api/v1/agreements/{}/versions/1", w.shared)).await?.json();
    let text = v1["text"].as_str().ok_or("no text")?.to_owned();
    let sha = hex(&ring::digest::digest(&ring::digest::SHA256, text.as_bytes()));
    assert_eq!(v1["text_sha256"].as_str(), Some(sha.as_str()), "the stored hash is the text's");
    let s = app.browser_login("licensee").await?;
    let print = app.send(app.get(&format!("/agreements/{}/versions/1/print", w.shared)).insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(print.status, StatusCode::OK);
    assert!(!print.body.contains("MKDRAFTTITLE") && !print.body.contains("MKSECRET"), "{}", print.body);
    assert!(print.body.contains(&sha), "the print names the accepted hash");
    // Every line of the accepted text is on the printout, in order.
    let printed = unescape(&strip_tags(&print.body));
    let mut at = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let found = printed[at..].find(line.trim()).ok_or_else(|| format!("the print lacks {line:?}"))?;
        at += found + line.trim().len();
    }
    // The print's marked elements, put back in the text's layout, are the accepted text exactly.
    let rebuilt = text_of_record_from_print(&print.body)?;
    assert_eq!(rebuilt, text, "the print rebuilds to version 1's text");
    assert_eq!(hex(&ring::digest::digest(&ring::digest::SHA256, rebuilt.as_bytes())), sha, "the print hashes to the accepted text");
    let pdf = app.get_as(&l, &format!("/api/v1/agreements/{}/versions/1/pdf", w.shared)).await?;
    assert_eq!(pdf.status, StatusCode::OK);
    assert!(pdf.body.contains("Sensor licence") && pdf.body.contains(&sha), "the PDF is version 1's");
    // The PDF carries the text of record as an embedded file: taken out, it hashes to the
    // accepted SHA-256; and every word of it is drawn on the pages, in order.
    let attached = embedded_file(&pdf.body).ok_or("the PDF embeds no text of record")?;
    assert_eq!(hex(&ring::digest::digest(&ring::digest::SHA256, attached.as_bytes())), sha, "the PDF's embedded text hashes to the accepted text");
    let drawn: Vec<String> = pdf_shown_strings(&pdf.body).join(" ").split_whitespace().map(str::to_owned).collect();
    let mut at = 0;
    for word in text.lines().skip(2).flat_map(str::split_whitespace).filter(|w| w.chars().all(|c| c.is_ascii_graphic())) {
        at += drawn[at..].iter().position(|d| d == word).ok_or_else(|| format!("the PDF's pages lack {word:?} (after word {at})"))? + 1;
    }
    assert!(!pdf.body.contains("MKDRAFTTITLE") && !pdf.body.contains("MKSECRET"), "the PDF shows the draft");
    // Version 2 does not exist for the licensee.
    assert_eq!(app.get_as(&l, &format!("/api/v1/agreements/{}/versions/2/pdf", w.shared)).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[actix_web::test]
async fn the_licensor_sees_a_licensees_data_as_names_and_counts_and_masked_columns_leave_for_nobody() -> TestResult {
    let app = spawn_app().await?;
    let w = world(&app, true).await?;
    let run = w.run.ok_or("no run")?;
    for who in ["manager", "auditor", "admin"] {
        let t = app.token(who).await?;
        let r = app.get_as(&t, &format!("/api/v1/runs/{run}")).await?;
        assert_eq!(r.status, StatusCode::OK, "{who}");
        assert!(r.json().get("preprocessing").is_none() && !r.body.contains("MKCITY"), "{who} sees the data: {}", r.body);
        assert_eq!(r.json()["status"], "succeeded");
    }
    let admin = app.token("admin").await?;
    let seen = app.get_as(&admin, &format!("/api/v1/datasets/{}", w.masked_dataset)).await?;
    assert!(!seen.body.contains("MKCITY") && !seen.body.contains("MKMASKED") && seen.body.contains("\"city\""), "{}", seen.body);
    let l = app.token("licensee").await?;
    for path in ["/api/v1/datasets".to_owned(), format!("/api/v1/datasets/{}", w.masked_dataset)] {
        let r = app.get_as(&l, &path).await?;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.body.contains("MKMASKED"), "{path}: {}", r.body);
        assert!(r.body.contains("MKCITY0"), "the owner sees its unmasked categories: {}", r.body);
        let income = r
            .json()
            .pointer(if path.ends_with("datasets") { "/items/0/schema" } else { "/schema" })
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["name"] == "income").cloned());
        assert_eq!(income.as_ref().map(|c| (c.get("stats").is_none(), c["action"].clone())), Some((true, json!("mask"))), "{path}: {}", r.body);
    }
    let raw: String =
        sqlx::query_scalar("SELECT artifact_id::text FROM datasets WHERE id = $1::uuid").bind(&w.masked_dataset).fetch_one(&app.t.db.pool).await?;
    let file = app.get_as(&l, &format!("/api/v1/artifacts/{raw}/content")).await?;
    assert_eq!((file.status, file.error_code().as_deref()), (StatusCode::CONFLICT, Some("masked_columns")), "{}", file.body);
    Ok(())
}

#[actix_web::test]
async fn managers_notes_on_deadlines_stay_with_the_licensor() -> TestResult {
    let app = spawn_app().await?;
    let w = world(&app, false).await?;
    // The patent is in the shared version, so the licensee reads it, without the notes.
    let l = app.token("licensee").await?;
    let r = app.get_as(&l, &format!("/api/v1/assets/{}", w.patent)).await?;
    assert_eq!(r.status, StatusCode::OK);
    for marker in ["MKASSETNOTE", "MKMANUALTITLE", "MKMARKNOTE"] {
        assert!(!r.body.contains(marker), "{marker} in {}", r.body);
    }
    assert!(r.json()["deadlines"].as_array().is_some_and(|d| !d.is_empty()), "the statutory deadlines stay: {}", r.body);
    let m = app.token("manager").await?;
    let body = app.get_as(&m, &format!("/api/v1/assets/{}", w.patent)).await?.body;
    assert!(["MKASSETNOTE", "MKMANUALTITLE", "MKMARKNOTE"].iter().all(|k| body.contains(k)), "{body}");
    Ok(())
}

#[actix_web::test]
async fn the_calendar_token_dies_with_a_password_change_a_disable_and_a_role_change() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    for (who, change) in [("licensee", "password"), ("manager", "disable"), ("auditor", "role")] {
        let t = app.token(who).await?;
        let feed = app.send(app.post("/api/v1/me/calendar-token").bearer_auth(&t)).await?.json()["path"].as_str().ok_or("no path")?.to_owned();
        assert_eq!(app.send(app.get(&feed)).await?.status, StatusCode::OK, "{who}: the feed works first");
        let user = app.accounts.get(who).ok_or("no account")?.id.to_string();
        match change {
            "password" => {
                let r = app
                    .send_json(app.post("/api/v1/me/password").bearer_auth(&t), &json!({ "current": PASSWORD, "new": "another horse battery staple" }))
                    .await?;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            }
            "disable" => {
                for disabled in [true, false] {
                    let r = app.send_json(app.patch(&format!("/api/v1/users/{user}")).bearer_auth(&admin), &json!({ "disabled": disabled })).await?;
                    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                }
            }
            _ => {
                let r = app.send_json(app.patch(&format!("/api/v1/users/{user}")).bearer_auth(&admin), &json!({ "role": "manager" })).await?;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                assert_eq!(app.get_as(&t, "/api/v1/agreements").await?.status, StatusCode::UNAUTHORIZED, "{who}: the token of the old role is revoked");
            }
        }
        assert_eq!(app.send(app.get(&feed)).await?.status, StatusCode::NOT_FOUND, "{who}: the feed outlived the {change} change");
    }
    Ok(())
}

#[actix_web::test]
async fn reading_agreement_text_in_any_form_is_audited() -> TestResult {
    let app = spawn_app().await?;
    let w = world(&app, false).await?;
    let s = app.browser_login("licensee").await?;
    let l = app.token("licensee").await?;
    for (path, action) in [
        (format!("/agreements/{}/versions/1/print", w.shared), "agreement.printed"),
        (format!("/agreements/{}/diff?from=1&to=1", w.shared), "agreement.diff_read"),
        (format!("/api/v1/agreements/{}/diff?from=1&to=1", w.shared), "agreement.diff_read"),
        (format!("/api/v1/agreements/{}/versions", w.shared), "agreement.versions_listed"),
    ] {
        let before = app.count("SELECT count(*) FROM audit_log").await?;
        let r =
            if path.starts_with("/api/") { app.get_as(&l, &path).await? } else { app.send(app.get(&path).insert_header(("cookie", s.cookie.clone()))).await? };
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        let last: (String, Option<String>) =
            sqlx::query_as("SELECT action, target_id FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_one(&app.t.db.pool).await?;
        assert_eq!(app.count("SELECT count(*) FROM audit_log").await?, before + 1, "{path}");
        assert_eq!(last, (action.to_owned(), Some(w.shared.clone())), "{path}");
    }
    Ok(())
}

fn hex(d: &ring::digest::Digest) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The text of record rebuilt from a print's `data-record` elements, in the layout of
/// `licentia_domain::agreement::clauses::full_text`: kind (upper case), title, then each numbered
/// clause after a blank line.
fn text_of_record_from_print(html: &str) -> Result<String, String> {
    let mut marked: Vec<(String, String)> = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("data-record=\"") {
        rest = &rest[at + "data-record=\"".len()..];
        let name = rest.split('"').next().unwrap_or_default().to_owned();
        let open = rest.find('>').ok_or("unclosed tag")? + 1;
        let content = rest[open..].split('<').next().unwrap_or_default();
        marked.push((name, unescape(content)));
    }
    let first = |n: &str| marked.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).ok_or(format!("no {n} in the print"));
    let mut text = format!("{}\n{}\n", first("kind")?.to_uppercase(), first("title")?);
    let headings = marked.iter().filter(|(k, _)| k == "heading").map(|(_, v)| v);
    let clauses = marked.iter().filter(|(k, _)| k == "clause").map(|(_, v)| v);
    for (h, c) in headings.zip(clauses) {
        text.push_str(&format!("\n{h}\n{c}\n"));
    }
    Ok(text)
}

/// The bytes of the (uncompressed) `/EmbeddedFile` stream of a PDF.
fn embedded_file(pdf: &str) -> Option<String> {
    let dict = pdf.find("/Type /EmbeddedFile")?;
    let start = dict + pdf[dict..].find("stream\n")? + "stream\n".len();
    let end = start + pdf[start..].find("\nendstream")?;
    Some(pdf[start..end].to_owned())
}

/// The strings a PDF's content streams draw with `Tj`, PDF escapes undone.
fn pdf_shown_strings(pdf: &str) -> Vec<String> {
    pdf.lines()
        .filter_map(|l| l.strip_suffix(" Tj")?.strip_prefix('(')?.strip_suffix(')').map(|s| s.replace("\\(", "(").replace("\\)", ")").replace("\\\\", "\\")))
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => {
                inside = false;
                out.push('\n');
            }
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
