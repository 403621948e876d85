//! Families, manual deadlines, the cost forecast, sorting, the dashboard and the calendar.

// Money as major_minor (`2_150_00` is 2,150.00), as in the fee table.
#![allow(clippy::inconsistent_digit_grouping)]

use actix_web::http::StatusCode;
use chrono::{Datelike as _, Months, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

/// Registers an asset and returns its id (the docketing tests use it too).
pub(crate) async fn create(app: &TestApp, token: &str, body: &Value) -> Res<String> {
    let r = app.send_json(app.post("/api/v1/assets").bearer_auth(token), body).await?;
    if r.status != StatusCode::CREATED {
        return Err(format!("create failed: {} {}", r.status, r.body).into());
    }
    Ok(r.json()["id"].as_str().ok_or("no id")?.to_owned())
}

fn dues(asset: &Value, rule: &str) -> Vec<String> {
    asset["deadlines"]
        .as_array()
        .map(|a| a.iter().filter(|d| d["rule"] == rule).filter_map(|d| d["due"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[actix_web::test]
async fn a_family_tree_with_relations_coverage_and_inherited_dates() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let first = create(
        &app,
        &m,
        &json!({ "kind": "patent", "title": "Sparse attention (first filing)", "jurisdiction": "GB", "status": "lapsed", "filing_date": "2019-03-04" }),
    )
    .await?;
    let ep = create(&app, &m, &json!({ "kind": "patent", "title": "Sparse attention EP", "jurisdiction": "EP", "status": "granted", "filing_date": "2020-03-02", "priority_date": "2019-03-04", "grant_date": "2023-05-10", "parent_id": first, "relation": "priority_claim" })).await?;
    let div = create(&app, &m, &json!({ "kind": "patent", "title": "Sparse attention EP divisional", "jurisdiction": "EP", "filing_date": "2023-01-20", "parent_id": ep, "relation": "divisional" })).await?;
    let us = create(&app, &m, &json!({ "kind": "patent", "title": "Sparse attention US", "jurisdiction": "US", "filing_date": "2020-03-03", "parent_id": first, "relation": "priority_claim" })).await?;

    // The divisional's renewal years count from the parent's filing date (Art. 76(1), Art. 86 EPC);
    // the fees already due for the parent (year 3 at the end of March 2022) and the one falling due
    // within four months of filing the divisional (year 4, 31 March 2023) are payable until four
    // months after the divisional's filing on 20 January 2023 (Rule 51(3) EPC).
    let d = app.get_as(&m, &format!("/api/v1/assets/{div}")).await?.json();
    assert_eq!(dues(&d, "ep-renewal").iter().take(3).map(String::as_str).collect::<Vec<_>>(), ["2023-05-20", "2023-05-20", "2024-03-31"], "{d}");
    // A priority claim keeps its own filing date.
    let u = app.get_as(&m, &format!("/api/v1/assets/{us}")).await?.json();
    assert_eq!(u["details"]["relation"], "priority_claim");

    let fam = app.get_as(&m, &format!("/api/v1/assets/{div}/family")).await?;
    assert_eq!(fam.status, StatusCode::OK, "{}", fam.body);
    let fam = fam.json();
    assert_eq!(fam["root"], first.as_str());
    let order: Vec<(String, u64, Value)> = fam["members"]
        .as_array()
        .ok_or("no members")?
        .iter()
        .map(|m| (m["id"].as_str().unwrap_or("").to_owned(), m["depth"].as_u64().unwrap_or(99), m["relation"].clone()))
        .collect();
    assert_eq!(
        order,
        vec![
            (first.clone(), 0, Value::Null),
            (ep.clone(), 1, json!("priority_claim")),
            (div.clone(), 2, json!("divisional")),
            (us.clone(), 1, json!("priority_claim"))
        ]
    );
    assert_eq!(fam["coverage"], json!({ "EP": "in_force", "GB": "dead", "US": "pending" }));

    // A family is a tree: making the first filing a child of its own descendant is refused.
    let cycle = app.send_json(app.patch(&format!("/api/v1/assets/{first}")).bearer_auth(&m), &json!({ "parent_id": div, "relation": "continuation" })).await?;
    assert_eq!((cycle.status, cycle.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("parent_id")), "{}", cycle.body);
    let orphan = app
        .send_json(app.post("/api/v1/assets").bearer_auth(&m), &json!({ "kind": "patent", "title": "x", "jurisdiction": "US", "relation": "divisional" }))
        .await?;
    assert_eq!(orphan.json()["error"]["field"], "relation");
    let bad_rel = app
        .send_json(
            app.post("/api/v1/assets").bearer_auth(&m),
            &json!({ "kind": "patent", "title": "x", "jurisdiction": "US", "parent_id": first, "relation": "cousin" }),
        )
        .await?;
    assert_eq!(bad_rel.json()["error"]["field"], "relation");

    // The page draws the tree and the coverage; a licensee without an agreement sees none of it.
    let s = app.browser_login("manager").await?;
    let page = app.send(app.get(&format!("/assets/{ep}/family")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Sparse attention EP divisional") && page.body.contains("class=\"depth-2\""), "{}", page.body);
    let l = app.token("licensee").await?;
    assert_eq!(app.get_as(&l, &format!("/api/v1/assets/{ep}/family")).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[actix_web::test]
async fn manual_deadlines_are_listed_marked_and_on_the_calendar() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let id = create(&app, &m, &json!({ "kind": "trademark", "title": "LICENTIA", "mark_text": "LICENTIA", "jurisdiction": "EM", "nice_classes": [9, 42], "filing_date": "2024-02-01" })).await?;
    let due = (Utc::now().date_naive() + chrono::Days::new(10)).format("%Y-%m-%d").to_string();
    let r = app
        .send_json(app.post(&format!("/api/v1/assets/{id}/manual-deadlines")).bearer_auth(&m), &json!({ "title": "Reply to <opposition>", "due": due }))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.json()["rule"].clone(), r.json()["ordinal"].clone()), (json!("manual"), json!(1)));
    for (body, field) in [
        (json!({ "title": "", "due": due }), "title"),
        (json!({ "title": "x", "due": "31/12/2026" }), "due"),
        (json!({ "title": "x\u{0}", "due": due }), "title"),
    ] {
        let bad = app.send_json(app.post(&format!("/api/v1/assets/{id}/manual-deadlines")).bearer_auth(&m), &body).await?;
        assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(field)), "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM manual_deadlines").await?, 1);

    let upcoming = app.get_as(&m, "/api/v1/deadlines?days=30").await?.json();
    assert!(upcoming["items"].as_array().is_some_and(|i| i.iter().any(|d| d["rule"] == "manual" && d["title"] == "Reply to <opposition>")), "{upcoming}");
    let marked =
        app.send_json(app.post(&format!("/api/v1/assets/{id}/deadlines")).bearer_auth(&m), &json!({ "rule": "manual", "ordinal": 1, "state": "done" })).await?;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.body);

    // The calendar shows it on its day, escaped, struck through as done.
    let s = app.browser_login("manager").await?;
    let month = &due[..7];
    let cal = app.send(app.get(&format!("/deadlines/calendar?month={month}")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(cal.status, StatusCode::OK);
    assert!(cal.body.contains("class=\"event done\"") && cal.body.contains("Reply to &#60;opposition&#62;"), "{}", cal.body);
    assert!(!cal.body.contains("<opposition>"));
    let bad = app.send(app.get("/deadlines/calendar?month=2026-13").insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The asset page's form adds one through the browser (CSRF-checked).
    let form = app
        .send_form(
            app.post(&format!("/assets/{id}/manual-deadlines")).insert_header(("cookie", s.cookie.clone())),
            &[("csrf", &s.csrf), ("title", "File evidence of use"), ("due", &due), ("note", "")],
        )
        .await?;
    assert_eq!(form.status, StatusCode::SEE_OTHER, "{}", form.body);
    let forged = app
        .send_form(
            app.post(&format!("/assets/{id}/manual-deadlines")).insert_header(("cookie", s.cookie.clone())),
            &[("csrf", "forged"), ("title", "x"), ("due", &due)],
        )
        .await?;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM manual_deadlines").await?, 2);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'deadline.added'").await?, 2);
    Ok(())
}

#[actix_web::test]
async fn the_forecast_sums_official_fees_per_year_asset_and_family() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let today = Utc::now().date_naive();
    // Granted a year ago: the 3.5- and 7.5-year maintenance fees fall in the next ten calendar
    // years, the 11.5-year one (10.5 years ahead) does not.
    let grant = today - Months::new(12);
    let filing = grant - Months::new(30);
    let us = create(&app, &m, &json!({ "kind": "patent", "title": "US granted", "jurisdiction": "US", "status": "granted", "filing_date": filing.to_string(), "grant_date": grant.to_string() })).await?;
    let f = app.get_as(&m, "/api/v1/forecast").await?;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    let f = f.json();
    assert_eq!(f["total"], json!({ "USD": 2_150_00 + 4_040_00 }), "{f}");
    let first_due = grant.checked_add_months(Months::new(42)).ok_or("date")?;
    assert_eq!(f["by_year"][first_due.year().to_string()]["USD"], json!(2_150_00));
    assert_eq!(f["by_family"][us.as_str()]["USD"], json!(2_150_00 + 4_040_00));
    let reduced = app.get_as(&m, "/api/v1/forecast?reduced=true").await?.json();
    assert_eq!(reduced["total"], json!({ "USD": 860_00 + 1_616_00 }));

    // A paid (done) fee leaves the forecast; a dead patent has none.
    app.send_json(app.post(&format!("/api/v1/assets/{us}/deadlines")).bearer_auth(&m), &json!({ "rule": "us-maintenance", "ordinal": 1, "state": "done" }))
        .await?;
    assert_eq!(app.get_as(&m, "/api/v1/forecast").await?.json()["total"], json!({ "USD": 4_040_00 }));
    app.send_json(app.patch(&format!("/api/v1/assets/{us}")).bearer_auth(&m), &json!({ "status": "lapsed" })).await?;
    assert_eq!(app.get_as(&m, "/api/v1/forecast").await?.json()["total"], json!({}));

    // Licensees never see costs; bad parameters are 422.
    let l = app.token("licensee").await?;
    assert_eq!(app.get_as(&l, "/api/v1/forecast").await?.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get_as(&m, "/api/v1/forecast?years=99").await?.json()["error"]["field"], "years");
    Ok(())
}

#[actix_web::test]
async fn the_dashboard_counts_and_charts_costs_for_managers_only() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let today = Utc::now().date_naive();
    let filing = NaiveDate::from_ymd_opt(today.year() - 2, 1, 15).ok_or("date")?;
    for (i, j) in ["EP", "EP", "DE"].iter().enumerate() {
        create(&app, &m, &json!({ "kind": "patent", "title": format!("Patent <{i}>"), "jurisdiction": j, "filing_date": filing.to_string() })).await?;
    }
    let s = app.browser_login("manager").await?;
    let page = app.send(app.get("/portfolio").insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("3 assets in view."), "{}", page.body);
    assert!(page.body.contains("<th scope=\"row\">EP</th>") && page.body.contains("<td class=\"num\">2</td>"));
    assert!(page.body.contains("id=\"cost-forecast\"") && page.body.contains("<figcaption>EUR"), "the EUR chart is drawn");
    assert_eq!(page.body.matches("class=\"bar\"").count(), 10, "one bar per year, one currency");
    let lic = app.browser_login("licensee").await?;
    let page = app.send(app.get("/portfolio").insert_header(("cookie", lic.cookie.clone()))).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("0 assets in view.") && !page.body.contains("cost-forecast"));
    Ok(())
}

#[actix_web::test]
async fn sorting_pages_through_every_row_once_and_cursors_keep_their_order() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    for (t, f) in [("delta", Some("2019-01-01")), ("alpha", None), ("charlie", Some("2018-01-01")), ("bravo", Some("2020-01-01")), ("echo", Some("2018-01-01"))]
    {
        let mut body = json!({ "kind": "patent", "title": t, "jurisdiction": "US" });
        if let Some(f) = f {
            body["filing_date"] = json!(f);
        }
        create(&app, &m, &body).await?;
    }
    for (sort, want) in [("title", vec!["alpha", "bravo", "charlie", "delta", "echo"]), ("filing", vec!["charlie", "echo", "delta", "bravo", "alpha"])] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("/api/v1/assets?sort={sort}&limit=2&cursor={c}"),
                None => format!("/api/v1/assets?sort={sort}&limit=2"),
            };
            let page = app.get_as(&m, &url).await?.json();
            seen.extend(page["items"].as_array().ok_or("no items")?.iter().filter_map(|i| i["title"].as_str().map(str::to_owned)));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        // Equal filing dates order by id, so compare the date-tied pair as a set.
        if sort == "filing" {
            assert_eq!(
                (seen[2..].to_vec(), {
                    let mut f = seen[..2].to_vec();
                    f.sort();
                    f
                }),
                (vec!["delta".to_owned(), "bravo".into(), "alpha".into()], vec!["charlie".to_owned(), "echo".into()])
            );
        } else {
            assert_eq!(seen, want);
        }
    }
    let first = app.get_as(&m, "/api/v1/assets?sort=title&limit=2").await?.json();
    let c = first["next_cursor"].as_str().ok_or("no cursor")?;
    let wrong = app.get_as(&m, &format!("/api/v1/assets?sort=expiry&cursor={c}")).await?;
    assert_eq!((wrong.status, wrong.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("cursor")));
    assert_eq!(app.get_as(&m, "/api/v1/assets?sort=random").await?.json()["error"]["field"], "sort");
    Ok(())
}

#[actix_web::test]
async fn registry_attachments_are_for_managers_and_stay_with_the_asset() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let id = create(&app, &m, &json!({ "kind": "trade_secret", "title": "Curing recipe", "description": "Oven profile", "custodian": "R&D lead" })).await?;
    let body = |kind: &str, target: &str| {
        let boundary = "b-portfolio-1";
        let mut b = Vec::new();
        for (n, v) in [("attached_kind", kind), ("attached_id", target)] {
            b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes());
        }
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"recipe.txt\"\r\nContent-Type: text/plain\r\n\r\n180C for 40 minutes\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), b)
    };
    let (ct, b) = body("asset", &id);
    let up = app.send_body(app.post("/api/v1/artifacts").bearer_auth(&m).insert_header(("content-type", ct)), b).await?;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    assert_eq!(up.json()["attached_kind"], "asset");
    let listed = app.get_as(&m, &format!("/api/v1/artifacts?attached_kind=asset&attached_id={id}")).await?.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
    // A licensee may upload artifacts, but not into the registry; an unknown asset is a 404.
    let l = app.token("licensee").await?;
    let (ct, b) = body("asset", &id);
    assert_eq!(app.send_body(app.post("/api/v1/artifacts").bearer_auth(&l).insert_header(("content-type", ct)), b).await?.status, StatusCode::FORBIDDEN);
    let (ct, b) = body("asset", &uuid::Uuid::now_v7().to_string());
    assert_eq!(app.send_body(app.post("/api/v1/artifacts").bearer_auth(&m).insert_header(("content-type", ct)), b).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM artifacts").await?, 1);
    Ok(())
}

/// The EUTM worked example through the API (Art. 52–53 EUTMR): filed 15 January 2018, the renewal
/// window runs 15 July 2027 – 15 January 2028, the grace period to 15 July 2028; 15 January 2028
/// is a Saturday, so the last day to renew is Monday 17 January (the EUIPO is closed on weekends),
/// and the asset page says so.
#[actix_web::test]
async fn the_eutm_renewal_shows_its_window_due_date_grace_and_last_day() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let body = json!({ "kind": "trademark", "title": "NORDLICHT", "mark_text": "NORDLICHT", "jurisdiction": "EM", "nice_classes": [9],
                       "status": "registered", "filing_date": "2018-01-15", "grant_date": "2018-06-20" });
    let id = create(&app, &m, &body).await?;
    let asset = app.get_as(&m, &format!("/api/v1/assets/{id}")).await?.json();
    let renewal = asset["deadlines"].as_array().and_then(|d| d.iter().find(|x| x["rule"] == "em-renewal")).ok_or("no renewal")?.clone();
    assert_eq!(
        [&renewal["opens"], &renewal["due"], &renewal["last_day"], &renewal["grace_ends"], &renewal["grace_last_day"]],
        [&json!("2027-07-15"), &json!("2028-01-15"), &json!("2028-01-17"), &json!("2028-07-15"), &json!("2028-07-17")],
        "{renewal}"
    );
    let s = app.browser_login("manager").await?;
    let page = app.send(app.get(&format!("/assets/{id}")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains("2028-01-17 <small class=\"muted\">office closed on the due date</small>"), "{}", page.body);
    Ok(())
}

/// Overdue work does not disappear: a manual deadline due yesterday is listed first, as overdue,
/// on the API, the deadlines page and the dashboard (with a count) until someone marks it; a rule
/// deadline that fell due before the asset was entered is not reported as overdue.
#[actix_web::test]
async fn overdue_deadlines_are_listed_first_until_marked() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let id = create(&app, &m, &json!({ "kind": "trademark", "title": "POLARIS", "mark_text": "POLARIS", "jurisdiction": "EM", "nice_classes": [9], "status": "registered", "filing_date": "2010-03-01", "grant_date": "2010-09-01" })).await?;
    let yesterday = (Utc::now().date_naive() - chrono::Days::new(1)).format("%Y-%m-%d").to_string();
    let soon = (Utc::now().date_naive() + chrono::Days::new(5)).format("%Y-%m-%d").to_string();
    for (title, due) in [("File the reply", &soon), ("Pay the opposition fee", &yesterday)] {
        let r = app.send_json(app.post(&format!("/api/v1/assets/{id}/manual-deadlines")).bearer_auth(&m), &json!({ "title": title, "due": due })).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let list = app.get_as(&m, "/api/v1/deadlines?days=30").await?.json();
    let items = list["items"].as_array().ok_or("no items")?;
    assert_eq!((items[0]["title"].as_str(), items[0]["standing"].as_str()), (Some("Pay the opposition fee"), Some("overdue")), "{list}");
    assert!(items.iter().any(|i| i["title"] == "File the reply" && i["standing"] == "open"), "{list}");
    // The 2020 renewal of a mark entered today predates the docket: not overdue here.
    assert!(!items.iter().any(|i| i["rule"] == "em-renewal"), "{list}");
    let asset = app.get_as(&m, &format!("/api/v1/assets/{id}")).await?.json();
    assert!(asset["deadlines"].as_array().is_some_and(|d| d.iter().any(|x| x["title"] == "Pay the opposition fee" && x["standing"] == "overdue")), "{asset}");
    let s = app.browser_login("manager").await?;
    let dashboard = app.send(app.get("/portfolio").insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(dashboard.body.contains("<strong>1 overdue</strong>") && dashboard.body.contains("<tr class=\"overdue\">"), "{}", dashboard.body);
    let page = app.send(app.get("/deadlines").insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains("<tr class=\"overdue\"><td class=\"date\">") && page.body.contains("Pay the opposition fee"), "{}", page.body);

    // Marked (done, waived or missed), it leaves the list.
    let manual: Vec<(i32, String)> = sqlx::query_as("SELECT ordinal, title FROM manual_deadlines").fetch_all(&app.t.db.pool).await?;
    let ordinal = manual.iter().find(|(_, t)| t == "Pay the opposition fee").map(|(o, _)| *o).ok_or("no manual deadline")?;
    let marked = app
        .send_json(
            app.post(&format!("/api/v1/assets/{id}/deadlines")).bearer_auth(&m),
            &json!({ "rule": "manual", "ordinal": ordinal, "state": "missed", "note": "client declined" }),
        )
        .await?;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.body);
    let list = app.get_as(&m, "/api/v1/deadlines?days=30").await?.json();
    assert!(!list.to_string().contains("Pay the opposition fee") && !list.to_string().contains("\"overdue\""), "{list}");
    Ok(())
}
