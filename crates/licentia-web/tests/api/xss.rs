//! Script in every free-text field, rendered inert on every page that shows it.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Markup that would run if any page rendered it raw. No digits: clause rewordings refuse them.
const XSS: &str = "\"><script>alert(document.domain)</script><img src=x onerror=alert(document.cookie)>";

fn assert_inert(path: &str, body: &str) {
    for raw in ["<script>alert", "<img src=x"] {
        assert!(!body.contains(raw), "{path} renders {raw:?} raw");
    }
}

#[actix_web::test]
async fn script_in_every_free_text_field_is_inert_on_every_page() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let m = app.token("manager").await?;
    // An organisation and a user with hostile names.
    let org = app.send_json(app.post("/api/v1/organisations").bearer_auth(&admin), &json!({ "name": format!("Org {XSS}"), "kind": "licensee" })).await?;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.body);
    let org_id = org.json()["id"].as_str().ok_or("no org")?.to_owned();
    let user = app
        .send_json(app.post("/api/v1/users").bearer_auth(&admin), &json!({ "email": "evil@org.example", "display_name": format!("Eve {XSS}"), "role": "licensee", "organisation_id": org_id, "password": "a long enough password" }))
        .await?;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
    // An asset with hostile text everywhere, a manual deadline, an agreement with a hostile
    // title, field of use, milestone and clause.
    let asset = app
        .send_json(
            app.post("/api/v1/assets").bearer_auth(&m),
            &json!({ "kind": "patent", "title": format!("Title {XSS}"), "jurisdiction": "DE", "filing_date": "2024-01-10", "abstract": XSS, "inventors": [XSS], "owners": [XSS], "tags": [XSS], "internal_notes": XSS }),
        )
        .await?;
    assert_eq!(asset.status, StatusCode::CREATED, "{}", asset.body);
    let asset_id = asset.json()["id"].as_str().ok_or("no asset")?.to_owned();
    let due = (chrono::Utc::now().date_naive() + chrono::Days::new(5)).to_string();
    app.send_json(app.post(&format!("/api/v1/assets/{asset_id}/manual-deadlines")).bearer_auth(&m), &json!({ "title": XSS, "due": due, "note": XSS })).await?;
    let agreement = app
        .send_json(
            app.post("/api/v1/agreements").bearer_auth(&m),
            &json!({ "kind": "non_exclusive_licence", "title": format!("Deal {XSS}"), "licensee_id": org_id, "assets": [asset_id],
                     "terms": { "territory": ["DE"], "fields": [XSS], "effective_date": "2026-01-01", "milestones": [{ "name": XSS, "amount": 100, "due": due }] },
                     "clauses": { "confidentiality": XSS }, "comment": XSS }),
        )
        .await?;
    assert_eq!(agreement.status, StatusCode::CREATED, "{}", agreement.body);
    let ag = agreement.json()["id"].as_str().ok_or("no agreement")?.to_owned();

    let month = &due[..7];
    let manager_pages = [
        "/".to_owned(),
        "/assets".into(),
        format!("/assets/{asset_id}"),
        format!("/assets/{asset_id}/family"),
        "/portfolio".into(),
        "/deadlines".into(),
        format!("/deadlines/calendar?month={month}"),
        "/agreements".into(),
        format!("/agreements/{ag}"),
        format!("/agreements/{ag}/versions/1/print"),
        format!("/agreements/{ag}/diff?from=1&to=1"),
        "/training".into(),
        format!("/organisations/{org_id}"),
    ];
    let s = app.browser_login("manager").await?;
    for p in &manager_pages {
        let r = app.send(app.get(p).insert_header(("cookie", s.cookie.clone()))).await?;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
        assert_inert(p, &r.body);
    }
    let a = app.browser_login("admin").await?;
    for p in ["/admin/users", "/admin/organisations"] {
        let r = app.send(app.get(p).insert_header(("cookie", a.cookie.clone()))).await?;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        assert!(r.body.contains("&#60;script&#62;"), "{p} shows the name, escaped");
        assert_inert(p, &r.body);
    }
    // The auditor's view of the log shows the hostile details escaped too.
    let au = app.browser_login("auditor").await?;
    let log = app.send(app.get("/audit").insert_header(("cookie", au.cookie.clone()))).await?;
    assert_eq!(log.status, StatusCode::OK);
    assert_inert("/audit", &log.body);
    let seq: i64 = sqlx::query_scalar("SELECT max(seq) FROM audit_log WHERE action = 'agreement.created'").fetch_one(&app.t.db.pool).await?;
    let entry = app.send(app.get(&format!("/audit/entries/{seq}")).insert_header(("cookie", au.cookie.clone()))).await?;
    assert_eq!(entry.status, StatusCode::OK);
    assert_inert("/audit/entries", &entry.body);
    Ok(())
}
