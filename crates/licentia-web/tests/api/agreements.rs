//! Agreements over HTTP: the workflow and four eyes, exclusivity conflicts, redlines, royalty
//! statements with worked numbers, and what licensees may (not) see.

// Money as major_minor (`2_000_000_00` is 2,000,000.00).
#![allow(clippy::inconsistent_digit_grouping)]

use actix_web::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) async fn asset(app: &TestApp, token: &str, title: &str, jurisdiction: &str) -> Res<String> {
    let r = app
        .send_json(
            app.post("/api/v1/assets").bearer_auth(token),
            &json!({ "kind": "patent", "title": title, "jurisdiction": jurisdiction, "status": "filed", "filing_date": "2021-05-04", "abstract": format!("{title} abstract") }),
        )
        .await?;
    if r.status != StatusCode::CREATED {
        return Err(format!("asset: {} {}", r.status, r.body).into());
    }
    Ok(r.json()["id"].as_str().ok_or("no id")?.to_owned())
}

pub(crate) fn terms(territory: &[&str], fields: &[&str], from: &str, to: Option<&str>) -> Value {
    json!({ "territory": territory, "fields": fields, "effective_date": from, "end_date": to, "royalty_bp": 300, "currency": "EUR" })
}

pub(crate) async fn draft(app: &TestApp, token: &str, kind: &str, licensee: &str, assets: &[&str], terms: Value) -> Res<Reply> {
    app.send_json(
        app.post("/api/v1/agreements").bearer_auth(token),
        &json!({ "kind": kind, "title": format!("{kind} for {licensee}"), "licensee_id": licensee, "assets": assets, "terms": terms, "comment": "first draft" }),
    )
    .await
}

pub(crate) async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Res<Reply> {
    app.send_json(app.post(path).bearer_auth(token), &body).await
}

/// Drafts, submits, approves (as the reviewer) and has both parties accept: executed.
pub(crate) async fn execute(app: &TestApp, id: &str) -> Res<()> {
    let m = app.token("manager").await?;
    let r = app.token("reviewer").await?;
    let l = if app.get_as(&app.token("licensee").await?, &format!("/api/v1/agreements/{id}")).await?.status == StatusCode::NOT_FOUND
        && app.get_as(&m, &format!("/api/v1/agreements/{id}")).await?.json()["licensee"]["name"] == "Cirrus Robotics"
    {
        app.token("licensee_b").await?
    } else {
        app.token("licensee").await?
    };
    for (token, path, body) in
        [(&m, "transition", json!({ "to": "in_review" })), (&r, "approve", json!({})), (&l, "accept", json!({})), (&m, "accept", json!({}))]
    {
        let res = post(app, token, &format!("/api/v1/agreements/{id}/{path}"), body).await?;
        if res.status != StatusCode::OK {
            return Err(format!("{path}: {} {}", res.status, res.body).into());
        }
    }
    Ok(())
}

#[actix_web::test]
async fn four_eyes_acceptance_hashes_and_frozen_executed_versions() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let rv = app.token("reviewer").await?;
    let l = app.token("licensee").await?;
    let p = asset(&app, &m, "Sparse attention", "DE").await?;
    let lic = app.licensee_a.to_string();
    let created = draft(&app, &m, "exclusive_licence", &lic, &[&p], terms(&["DE"], &[], "2027-01-01", Some("2031-12-31"))).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json()["id"].as_str().ok_or("no id")?.to_owned();
    assert_eq!(created.json()["version"]["number"], 1);
    assert!(created.json()["version"]["text"].as_str().is_some_and(|t| t.contains("a running royalty of 3 % of Net Sales")));

    // A draft is the licensor's alone.
    assert_eq!(app.get_as(&l, &format!("/api/v1/agreements/{id}")).await?.status, StatusCode::NOT_FOUND);
    // Every move a draft does not allow is a 409 that lists the allowed ones.
    for to in ["draft", "approved", "executed", "active", "expired", "terminated", "nonsense"] {
        let r = post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": to })).await?;
        assert_eq!(r.status, StatusCode::CONFLICT, "draft → {to}: {}", r.body);
        if to != "approved" && to != "executed" {
            assert_eq!(r.json()["error"]["allowed"], json!(["in_review"]), "{to}");
        }
    }
    assert_eq!(post(&app, &rv, &format!("/api/v1/agreements/{id}/approve"), json!({})).await?.status, StatusCode::CONFLICT, "a draft cannot be approved");
    assert_eq!(post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "in_review" })).await?.status, StatusCode::OK);

    // The author cannot approve (audited as refused); a second manager can.
    let own = post(&app, &m, &format!("/api/v1/agreements/{id}/approve"), json!({})).await?;
    assert_eq!((own.status, own.json()["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("four_eyes")));
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'agreement.approval_refused'").await?, 1);
    let ok = post(&app, &rv, &format!("/api/v1/agreements/{id}/approve"), json!({})).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // The licensee accepts in the portal, against the hash of the text it read.
    let seen = app.get_as(&l, &format!("/api/v1/agreements/{id}")).await?.json();
    let sha = seen["version"]["text_sha256"].as_str().ok_or("no hash")?.to_owned();
    let text = seen["version"]["text"].as_str().ok_or("no text")?.to_owned();
    assert_eq!(sha, hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes())), "the hash is of the exact text");
    let stale = post(&app, &l, &format!("/api/v1/agreements/{id}/accept"), json!({ "text_sha256": "00".repeat(32) })).await?;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let acc = post(&app, &l, &format!("/api/v1/agreements/{id}/accept"), json!({ "text_sha256": sha })).await?;
    assert_eq!((acc.status, acc.json()["status"].clone()), (StatusCode::OK, json!("approved")), "{}", acc.body);
    let acc = post(&app, &m, &format!("/api/v1/agreements/{id}/accept"), json!({})).await?;
    assert_eq!(acc.json()["status"], "executed");
    let done = app.get_as(&m, &format!("/api/v1/agreements/{id}")).await?.json();
    let acceptances = done["acceptances"].as_array().ok_or("no acceptances")?;
    assert_eq!(acceptances.len(), 2);
    for a in acceptances {
        assert_eq!(a["text_sha256"], json!(sha));
        assert_eq!(a["version"], 1);
    }
    assert_eq!(acceptances.iter().find(|a| a["party"] == "licensee").map(|a| a["user_name"].clone()), Some(json!("licensee")));

    // Executed versions are frozen, at the API and in the database.
    let edit =
        post(&app, &m, &format!("/api/v1/agreements/{id}/versions"), json!({ "comment": "sneaky", "terms": terms(&["DE"], &[], "2027-01-01", None) })).await?;
    assert_eq!(edit.status, StatusCode::CONFLICT, "{}", edit.body);
    let tamper = sqlx::query("UPDATE agreement_versions SET text = 'changed'").execute(&app.t.db.pool).await;
    assert!(tamper.is_err(), "versions are append-only");
    for to in ["draft", "in_review", "approved", "expired"] {
        let r = post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": to })).await?;
        assert_eq!((r.status, r.json()["error"]["allowed"].clone()), (StatusCode::CONFLICT, json!(["active", "terminated"])), "executed → {to}");
    }
    // Not yet in effect: activation waits for the effective date.
    assert_eq!(post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "active" })).await?.status, StatusCode::CONFLICT);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq").bind(&id).fetch_all(&app.t.db.pool).await?;
    for a in ["agreement.created", "agreement.transition", "agreement.approved", "agreement.accepted", "agreement.executed"] {
        assert!(actions.iter().any(|x| x == a), "{a} not audited: {actions:?}");
    }
    Ok(())
}

#[actix_web::test]
async fn exclusive_licences_conflict_only_where_territory_field_and_time_overlap() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let p = asset(&app, &m, "Battery chemistry", "DE").await?;
    let a_org = app.licensee_a.to_string();
    let b_org = app.licensee_b.to_string();
    let first =
        draft(&app, &m, "exclusive_licence", &a_org, &[&p], terms(&["DE", "FR"], &["automotive"], "2027-01-01", Some("2030-12-31"))).await?.json()["id"]
            .as_str()
            .ok_or("no id")?
            .to_owned();
    execute(&app, &first).await?;

    let rv = app.token("reviewer").await?;
    let cases = [
        ("same country, field and time", "exclusive_licence", terms(&["FR"], &["automotive"], "2028-01-01", Some("2029-12-31")), true),
        ("another country", "exclusive_licence", terms(&["JP"], &["automotive"], "2027-01-01", Some("2030-12-31")), false),
        ("another field", "exclusive_licence", terms(&["DE"], &["medical devices"], "2027-01-01", Some("2030-12-31")), false),
        ("after it ends", "sole_licence", terms(&["DE"], &["automotive"], "2031-01-01", None), false),
        ("worldwide, every field", "non_exclusive_licence", json!({ "worldwide": true, "effective_date": "2030-06-01", "currency": "EUR" }), true),
        (
            "worldwide except both",
            "non_exclusive_licence",
            json!({ "worldwide": true, "excluded": ["DE", "FR"], "effective_date": "2027-01-01", "currency": "EUR" }),
            false,
        ),
    ];
    for (what, kind, t, conflicts) in cases {
        let id = draft(&app, &m, kind, &b_org, &[&p], t).await?.json()["id"].as_str().ok_or("no id")?.to_owned();
        post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "in_review" })).await?;
        let r = post(&app, &rv, &format!("/api/v1/agreements/{id}/approve"), json!({})).await?;
        if conflicts {
            assert_eq!(r.status, StatusCode::CONFLICT, "{what}: {}", r.body);
            assert_eq!(r.json()["error"]["code"], "exclusivity_conflict", "{what}");
            assert_eq!(r.json()["error"]["conflicting_agreement"], json!(first), "{what}");
            // Withdraw so that the next case is checked against the first licence alone.
            post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "draft" })).await?;
        } else {
            assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
            post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "draft" })).await?;
        }
    }
    Ok(())
}

#[actix_web::test]
async fn the_redline_shows_the_changed_words_and_terms() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let p = asset(&app, &m, "Sparse attention", "DE").await?;
    let id = draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&p], terms(&["DE"], &[], "2027-01-01", None)).await?.json()["id"]
        .as_str()
        .ok_or("no id")?
        .to_owned();
    let mut t2 = terms(&["DE", "JP"], &[], "2027-01-01", None);
    t2["royalty_bp"] = json!(350);
    let saved = post(
        &app,
        &m,
        &format!("/api/v1/agreements/{id}/versions"),
        json!({ "terms": t2, "clauses": { "confidentiality": "Each party shall keep the other's secrets." }, "comment": "Borealis asked for Japan" }),
    )
    .await?;
    assert_eq!((saved.status, saved.json()["saved_version"].clone()), (StatusCode::CREATED, json!(2)), "{}", saved.body);
    // Numbers come from the terms: a reworded clause with a number of its own is refused.
    let bad = post(&app, &m, &format!("/api/v1/agreements/{id}/versions"), json!({ "clauses": { "royalty": "The Licensee pays 5 % royalty." } })).await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("clauses")));

    let d = app.get_as(&m, &format!("/api/v1/agreements/{id}/diff?from=1&to=2")).await?;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let d = d.json();
    assert_eq!(d["terms"], json!(["territory + JP", "royalty 3 % → 3.5 %"]));
    let changed: Vec<(String, String)> = d["text"]
        .as_array()
        .ok_or("no text")?
        .iter()
        .filter(|p| p["op"] != "equal")
        .map(|p| (p["op"].as_str().unwrap_or("").to_owned(), p["text"].as_str().unwrap_or("").to_owned()))
        .collect();
    // "… products in DE, in all fields" → "… products in DE, JP, in all fields".
    let expect = [
        ("insert", "JP, "),
        ("delete", "3"),
        ("insert", "3.5"),
        ("delete", "confidential information secret and use it only for this agreement."),
        ("insert", "secrets."),
    ];
    assert_eq!(changed, expect.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect::<Vec<_>>());
    assert_eq!(app.get_as(&m, &format!("/api/v1/agreements/{id}/diff?from=1&to=9")).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[actix_web::test]
async fn statements_bill_royalties_metered_use_milestones_and_the_minimum_with_a_lapse() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let l = app.token("licensee").await?;
    let de = asset(&app, &m, "Cathode DE", "DE").await?;
    let fr = asset(&app, &m, "Cathode FR", "FR").await?;
    let t = json!({
        "territory": ["DE", "FR"], "effective_date": "2027-01-01", "currency": "EUR",
        "royalty_bp": 500, "minimum_annual_royalty": 100_000_00, "fee_per_run": 50_00, "fee_per_1000_compute_units": 2_00,
        "milestones": [{ "name": "First commercial sale", "amount": 25_000_00, "due": "2027-06-30" }]
    });
    let id = draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&de, &fr], t).await?.json()["id"].as_str().ok_or("no id")?.to_owned();
    // No sales before execution.
    let early = post(&app, &l, &format!("/api/v1/agreements/{id}/sales"), json!({ "lines": [] })).await?;
    assert_eq!(early.status, StatusCode::NOT_FOUND, "a draft is not the licensee's to see");
    execute(&app, &id).await?;

    let lines = json!({ "lines": [
        { "period_start": "2027-01-01", "period_end": "2027-03-31", "country": "DE", "net_sales": 200_000_00 },
        { "period_start": "2027-01-01", "period_end": "2027-03-31", "country": "FR", "net_sales": 100_000_00 },
        { "period_start": "2027-10-01", "period_end": "2027-12-31", "country": "DE", "net_sales": 400_000_00 },
        { "period_start": "2027-10-01", "period_end": "2027-12-31", "country": "fr", "net_sales": 300_000_00 }
    ]});
    let r = post(&app, &l, &format!("/api/v1/agreements/{id}/sales"), lines.clone()).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(post(&app, &l, &format!("/api/v1/agreements/{id}/sales"), lines).await?.status, StatusCode::CONFLICT, "reported twice");
    let bad = post(
        &app,
        &l,
        &format!("/api/v1/agreements/{id}/sales"),
        json!({ "lines": [{ "period_start": "2027-04-01", "period_end": "2027-06-30", "country": "XX", "net_sales": 1 }] }),
    )
    .await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("lines[0].country")));
    assert_eq!(app.count("SELECT count(*) FROM sales_reports").await?, 4);

    // The usage ledger (written by training runs): settled use in November is billed, the
    // reservation is not.
    for (entry, runs, units) in [("reserve", 3, 300_000), ("settle", 3, 250_000)] {
        sqlx::query("INSERT INTO usage_ledger (agreement_id, entry, runs, compute_units, created_at) VALUES ($1::uuid, $2, $3, $4, '2027-11-02T10:00:00Z')")
            .bind(&id)
            .bind(entry)
            .bind(runs as i64)
            .bind(units as i64)
            .execute(&app.t.db.pool)
            .await?;
    }
    // The French patent lapses on 16 November 2027.
    let lapse = app.send_json(app.patch(&format!("/api/v1/assets/{fr}")).bearer_auth(&m), &json!({ "status": "lapsed", "lapsed_on": "2027-11-16" })).await?;
    assert_eq!(lapse.status, StatusCode::OK, "{}", lapse.body);

    let st = app.get_as(&l, &format!("/api/v1/statements?agreement={id}&period=2027-Q4")).await?;
    assert_eq!(st.status, StatusCode::OK, "{}", st.body);
    let st = st.json()["statement"].clone();
    let got: Vec<(String, Value, i64)> = st["lines"]
        .as_array()
        .ok_or("no lines")?
        .iter()
        .map(|l| (l["kind"].as_str().unwrap_or("").to_owned(), l["country"].clone(), l["amount"].as_i64().unwrap_or(-1)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("royalty".to_owned(), json!("DE"), 20_000_00),
            // 46 of the quarter's 92 days before the lapse: half of 5 % of 300,000.
            ("royalty".to_owned(), json!("FR"), 7_500_00),
            ("metered_runs".to_owned(), Value::Null, 150_00),
            ("metered_compute".to_owned(), Value::Null, 500_00),
            // The year earned 15,000 + 27,500 + 650 = 43,150 against a minimum of 100,000.
            ("minimum_true_up".to_owned(), Value::Null, 56_850_00),
        ]
    );
    assert_eq!(st["total"], 85_000_00);
    let q2 = app.get_as(&m, &format!("/api/v1/statements?agreement={id}&period=2027-Q2")).await?.json()["statement"].clone();
    assert_eq!((q2["lines"][0]["kind"].clone(), q2["total"].clone()), (json!("milestone"), json!(25_000_00)));
    let csv = app.get_as(&m, &format!("/api/v1/statements?agreement={id}&period=2027-Q4&format=csv")).await?;
    assert!(csv.header("content-type").unwrap_or_default().starts_with("text/csv"));
    assert!(csv.body.lines().last().is_some_and(|l| l == "total,,,,,8500000,EUR"), "{}", csv.body);
    assert_eq!(app.get_as(&m, &format!("/api/v1/statements?agreement={id}&period=2027-Q5")).await?.json()["error"]["field"], "period");
    Ok(())
}

#[actix_web::test]
async fn licensees_see_only_their_shared_agreements_versions_statements_and_assets() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let la = app.token("licensee").await?;
    let lb = app.token("licensee_b").await?;
    let covered = asset(&app, &m, "Covered invention", "DE").await?;
    let other = asset(&app, &m, "Unlicensed invention", "DE").await?;
    let id = draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&covered], terms(&["DE"], &[], "2027-01-01", None)).await?.json()["id"]
        .as_str()
        .ok_or("no id")?
        .to_owned();
    // Before it is shared, neither licensee sees the agreement or the asset.
    assert_eq!(app.get_as(&la, &format!("/api/v1/assets/{covered}")).await?.status, StatusCode::NOT_FOUND);
    post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "in_review" })).await?;

    // Licensee A: the agreement, version 1, and the covered asset on every registry route.
    assert_eq!(app.get_as(&la, "/api/v1/agreements").await?.json()["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get_as(&la, &format!("/api/v1/agreements/{id}/versions/1")).await?.status, StatusCode::OK);
    let listed = app.get_as(&la, "/api/v1/assets").await?.json();
    assert_eq!(listed["items"].as_array().map(|i| i.iter().filter_map(|a| a["id"].as_str()).collect::<Vec<_>>()), Some(vec![covered.as_str()]));
    assert!(listed["items"][0].get("internal_notes").is_none(), "public fields only");
    assert_eq!(app.get_as(&la, "/api/v1/assets?q=invention").await?.json()["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get_as(&la, &format!("/api/v1/assets/{covered}")).await?.status, StatusCode::OK);
    assert_eq!(app.get_as(&la, &format!("/api/v1/assets/{other}")).await?.status, StatusCode::NOT_FOUND);
    let export = app.get_as(&la, "/api/v1/assets/export?format=csv").await?;
    assert!(export.body.contains("Covered invention") && !export.body.contains("Unlicensed invention"));

    // Changes requested by A; the manager's version 2 is not A's to read until shared again.
    let rc = post(&app, &la, &format!("/api/v1/agreements/{id}/request-changes"), json!({ "to": "draft", "comment": "Please add Japan" })).await?;
    assert_eq!(rc.status, StatusCode::OK, "{}", rc.body);
    post(&app, &m, &format!("/api/v1/agreements/{id}/versions"), json!({ "terms": terms(&["DE", "JP"], &[], "2027-01-01", None), "comment": "Japan" })).await?;
    assert_eq!(app.get_as(&la, &format!("/api/v1/agreements/{id}/versions/2")).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get_as(&la, &format!("/api/v1/agreements/{id}")).await?.json()["version"]["number"], 1);
    assert_eq!(app.get_as(&la, &format!("/api/v1/agreements/{id}/diff?from=1&to=2")).await?.status, StatusCode::NOT_FOUND);

    // Licensee B: nothing, on every route, exactly like an unknown id.
    assert_eq!(app.get_as(&lb, "/api/v1/agreements").await?.json()["items"], json!([]));
    assert_eq!(app.get_as(&lb, "/api/v1/assets").await?.json()["items"], json!([]));
    let routes: Vec<(Method, String, Value)> = vec![
        (Method::GET, format!("/api/v1/agreements/{id}"), Value::Null),
        (Method::GET, format!("/api/v1/agreements/{id}/versions"), Value::Null),
        (Method::GET, format!("/api/v1/agreements/{id}/versions/1"), Value::Null),
        (Method::GET, format!("/api/v1/agreements/{id}/diff?from=1&to=1"), Value::Null),
        (Method::GET, format!("/api/v1/agreements/{id}/versions/1/pdf"), Value::Null),
        (Method::GET, format!("/api/v1/statements?agreement={id}&period=2027"), Value::Null),
        (Method::POST, format!("/api/v1/agreements/{id}/accept"), json!({})),
        (Method::POST, format!("/api/v1/agreements/{id}/request-changes"), json!({ "to": "draft", "comment": "x" })),
        (Method::POST, format!("/api/v1/agreements/{id}/sales"), json!({ "lines": [] })),
        (Method::GET, format!("/api/v1/assets/{covered}"), Value::Null),
    ];
    for (method, path, body) in routes {
        let req = app.request(method.clone(), &path).bearer_auth(&lb);
        let r = if body.is_null() { app.send(req).await? } else { app.send_json(req, &body).await? };
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.body);
    }
    // Licensees cannot draft, approve or transition at all.
    assert_eq!(post(&app, &la, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "in_review" })).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(post(&app, &la, &format!("/api/v1/agreements/{id}/approve"), json!({})).await?.status, StatusCode::FORBIDDEN);
    assert!(app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.not_found' AND target_kind = 'agreement'").await? >= 7);
    Ok(())
}

#[actix_web::test]
async fn invalid_terms_are_422_naming_the_field_and_write_nothing() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let p = asset(&app, &m, "Thing", "DE").await?;
    let lic = app.licensee_a.to_string();
    let base = terms(&["DE"], &[], "2027-01-01", Some("2030-01-01"));
    let mut cases: Vec<(Value, &str)> = Vec::new();
    for (k, v, field) in [
        ("end_date", json!("2026-01-01"), "end_date"),
        ("royalty_bp", json!(10_001), "royalty_bp"),
        ("upfront_fee", json!(-5), "upfront_fee"),
        ("territory", json!(["ZZ"]), "territory"),
        ("currency", json!("DOGE"), "currency"),
    ] {
        let mut t = base.clone();
        t[k] = v;
        cases.push((t, field));
    }
    for (t, field) in cases {
        let r = draft(&app, &m, "exclusive_licence", &lic, &[&p], t).await?;
        assert_eq!((r.status, r.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(field)), "{}", r.body);
    }
    for (body, field) in [
        (json!({ "kind": "franchise", "title": "x", "licensee_id": lic, "assets": [p], "terms": base }), "kind"),
        (json!({ "kind": "exclusive_licence", "title": "x", "licensee_id": app.licensor.to_string(), "assets": [p], "terms": base }), "licensee_id"),
        (json!({ "kind": "exclusive_licence", "title": "x", "licensee_id": lic, "assets": [uuid::Uuid::now_v7().to_string()], "terms": base }), "assets"),
        (json!({ "kind": "exclusive_licence", "title": "x", "licensee_id": lic, "assets": [], "terms": base }), "assets"),
        (json!({ "kind": "sublicence", "title": "x", "licensee_id": lic, "assets": [p], "terms": base }), "parent_id"),
    ] {
        let r = post(&app, &m, "/api/v1/agreements", body).await?;
        assert_eq!((r.status, r.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(field)), "{}", r.body);
    }
    assert_eq!(app.count("SELECT count(*) FROM agreements").await?, 0);
    assert_eq!(app.count("SELECT count(*) FROM agreement_versions").await?, 0);
    Ok(())
}

#[actix_web::test]
async fn an_assignment_moves_ownership_and_a_sublicence_needs_a_head_licence_that_allows_it() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let p = asset(&app, &m, "Assigned invention", "DE").await?;
    let lic = app.licensee_a.to_string();
    let id = draft(&app, &m, "assignment", &lic, &[&p], terms(&["DE"], &[], "2027-01-01", None)).await?.json()["id"].as_str().ok_or("no id")?.to_owned();
    execute(&app, &id).await?;
    let owners = app.get_as(&m, &format!("/api/v1/assets/{p}")).await?.json()["owners"].clone();
    assert_eq!(owners, json!(["Borealis Analytics"]), "the assignee owns it on execution");
    let executed: Value = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'agreement.executed'").fetch_one(&app.t.db.pool).await?;
    assert_eq!(executed["assets_assigned"], 1);

    // A sublicence under a head licence that does not allow sublicensing is refused; one that
    // does is accepted, and the prose names its head licence.
    let q = asset(&app, &m, "Platform", "DE").await?;
    let closed =
        draft(&app, &m, "non_exclusive_licence", &lic, &[&q], terms(&["DE"], &[], "2027-01-01", None)).await?.json()["id"].as_str().ok_or("no id")?.to_owned();
    execute(&app, &closed).await?;
    let mut open_terms = terms(&["DE"], &[], "2027-01-01", None);
    open_terms["sublicensing"] = json!(true);
    open_terms["sublicence_share_bp"] = json!(2500);
    let open = draft(&app, &m, "exclusive_licence", &lic, &[&q], open_terms.clone()).await?;
    let open_id = open.json()["id"].as_str().ok_or("no id")?.to_owned();
    let mut narrowed = open_terms.clone();
    narrowed["fields"] = json!(["robotics"]);
    post(&app, &m, &format!("/api/v1/agreements/{open_id}/versions"), json!({ "terms": narrowed, "comment": "robotics only" })).await?;
    let r = app.token("reviewer").await?;
    post(&app, &m, &format!("/api/v1/agreements/{open_id}/transition"), json!({ "to": "in_review" })).await?;
    let approved = post(&app, &r, &format!("/api/v1/agreements/{open_id}/approve"), json!({})).await?;
    assert_eq!(approved.status, StatusCode::CONFLICT, "the executed non-exclusive licence covers every field: {}", approved.body);
    post(&app, &m, &format!("/api/v1/agreements/{closed}/transition"), json!({ "to": "terminated" })).await?;
    assert_eq!(post(&app, &r, &format!("/api/v1/agreements/{open_id}/approve"), json!({})).await?.status, StatusCode::OK, "terminated licences no longer bind");
    for (who, path) in [("licensee", "accept"), ("manager", "accept")] {
        let t = app.token(who).await?;
        post(&app, &t, &format!("/api/v1/agreements/{open_id}/{path}"), json!({})).await?;
    }
    let sub = |parent: &str| json!({ "kind": "sublicence", "title": "Sub", "licensee_id": app.licensee_b.to_string(), "parent_id": parent, "assets": [q], "terms": terms(&["DE"], &["robotics"], "2027-02-01", None) });
    let refused = post(&app, &m, "/api/v1/agreements", sub(&closed)).await?;
    assert_eq!((refused.status, refused.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("parent_id")));
    let ok = post(&app, &m, "/api/v1/agreements", sub(&open_id)).await?;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert!(ok.json()["version"]["text"].as_str().is_some_and(|t| t.contains("This sublicence is granted under exclusive_licence for")), "{}", ok.body);
    Ok(())
}

/// After approval, until both parties have signed, the licensee may still send the version back:
/// it returns to draft with the approval and any acceptance withdrawn; once executed it may not.
#[actix_web::test]
async fn a_licensee_may_request_changes_on_an_approved_version_until_it_is_executed() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let r = app.token("reviewer").await?;
    let l = app.token("licensee").await?;
    let a = asset(&app, &m, "Sensor array", "DE").await?;
    let id = draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&a], terms(&["DE"], &[], "2027-01-01", None)).await?.json()["id"]
        .as_str()
        .ok_or("no agreement")?
        .to_owned();
    for (token, path, body) in [(&m, "transition", json!({ "to": "in_review" })), (&r, "approve", json!({}))] {
        assert_eq!(post(&app, token, &format!("/api/v1/agreements/{id}/{path}"), body).await?.status, StatusCode::OK);
    }
    let back =
        post(&app, &l, &format!("/api/v1/agreements/{id}/request-changes"), json!({ "to": "draft", "comment": "The field of use is too narrow" })).await?;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let now = app.get_as(&m, &format!("/api/v1/agreements/{id}")).await?.json();
    assert_eq!((now["status"].as_str(), now["approved_by"].clone()), (Some("draft"), Value::Null), "{now}");
    // The page offers it to the licensee while approved.
    for (token, path, body) in [(&m, "transition", json!({ "to": "in_review" })), (&r, "approve", json!({}))] {
        assert_eq!(post(&app, token, &format!("/api/v1/agreements/{id}/{path}"), body).await?.status, StatusCode::OK);
    }
    let s = app.browser_login("licensee").await?;
    let page = app.send(app.get(&format!("/agreements/{id}")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains("id=\"request-changes\"") && page.body.contains("data-confirm=\"Accept version"), "{}", page.body);
    // Executed: too late.
    for (token, path) in [(&l, "accept"), (&m, "accept")] {
        assert_eq!(post(&app, token, &format!("/api/v1/agreements/{id}/{path}"), json!({})).await?.status, StatusCode::OK);
    }
    let late = post(&app, &l, &format!("/api/v1/agreements/{id}/request-changes"), json!({ "to": "draft", "comment": "again" })).await?;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    Ok(())
}

/// The home page is an inbox: the reviewer finds the version waiting for approval (the author,
/// who may not approve it, does not), then the licensee finds it waiting for acceptance, and the
/// manager for the countersignature; once executed, nothing of it waits. Each item links to the
/// agreement.
#[actix_web::test]
async fn the_home_page_lists_what_waits_for_each_person() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let a = asset(&app, &m, "Inbox patent", "DE").await?;
    let lic = app.licensee_a.to_string();
    let id = draft(&app, &m, "non_exclusive_licence", &lic, &[&a], terms(&["DE"], &["automotive"], "2027-01-01", None)).await?.json()["id"]
        .as_str()
        .ok_or("no agreement")?
        .to_owned();
    let link = format!(r#"<a href="/agreements/{id}">"#);
    // The items of one list of the inbox (empty when the list is not shown).
    let list = |page: &str, list: &str| -> String {
        page.split(&format!(r#"id="{list}""#)).nth(1).and_then(|s| s.split("</ul>").next()).unwrap_or_default().to_owned()
    };
    let home = async |who: &str| -> Res<String> {
        let s = app.browser_login(who).await?;
        Ok(app.send(app.get("/").insert_header(("cookie", s.cookie.clone()))).await?.body)
    };
    assert!(!home("reviewer").await?.contains(&link), "a draft waits for nobody");
    post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "in_review" })).await?;
    let reviewer = home("reviewer").await?;
    let approvals = list(&reviewer, "inbox-approvals");
    assert!(approvals.contains(&link) && approvals.contains("version 1 by"), "{reviewer}");
    assert!(!home("manager").await?.contains(r#"id="inbox-approvals""#), "the author is not asked to approve their own version");
    assert!(!home("licensee").await?.contains(&link), "the licensee sees nothing before approval");

    post(&app, &app.token("reviewer").await?, &format!("/api/v1/agreements/{id}/approve"), json!({})).await?;
    let licensee = home("licensee").await?;
    assert!(list(&licensee, "inbox-acceptances").contains(&link), "{licensee}");
    assert!(list(&home("manager").await?, "inbox-acceptances").contains(&link), "the licensor's countersignature waits too");
    post(&app, &app.token("licensee").await?, &format!("/api/v1/agreements/{id}/accept"), json!({})).await?;
    assert!(!list(&home("licensee").await?, "inbox-acceptances").contains(&link), "accepted: no longer waiting for the licensee");
    post(&app, &m, &format!("/api/v1/agreements/{id}/accept"), json!({})).await?;
    let manager = home("manager").await?;
    assert!(!list(&manager, "inbox-acceptances").contains(&link) && !list(&manager, "inbox-approvals").contains(&link), "executed: waits for nobody");
    assert!(home("auditor").await?.contains(r#"id="inbox-empty""#));
    Ok(())
}

#[actix_web::test]
async fn a_licensee_s_home_page_lists_the_payments_and_reports_it_owes() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let a = asset(&app, &m, "Owed patent", "DE").await?;
    let mut t = terms(&["DE"], &["automotive"], "2026-01-01", Some("2030-12-31"));
    t["upfront_fee"] = json!(500_000_00);
    let id = draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&a], t).await?.json()["id"].as_str().ok_or("no agreement")?.to_owned();
    let home = async |who: &str| -> Res<String> {
        let s = app.browser_login(who).await?;
        Ok(app.send(app.get("/").insert_header(("cookie", s.cookie.clone()))).await?.body)
    };
    assert!(!home("licensee").await?.contains(r#"id="inbox-obligations""#), "nothing is owed before execution");
    execute(&app, &id).await?;
    // Executed today: the upfront fee is due in 30 days (the reporting clause), so it waits now.
    let due = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    let licensee = home("licensee").await?;
    let owed = licensee.split(r#"id="inbox-obligations""#).nth(1).and_then(|s| s.split("</ul>").next()).unwrap_or_default();
    assert!(owed.contains("Upfront fee EUR 500,000.00") && owed.contains(&format!("due {due}")) && owed.contains(&format!("/agreements/{id}")), "{licensee}");
    assert!(!home("licensee_b").await?.contains("Upfront fee"), "another licensee owes nothing here");
    Ok(())
}
