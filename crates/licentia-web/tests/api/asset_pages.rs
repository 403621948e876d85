//! Registry maintenance through the browser forms: a manager registers and edits an asset, sees
//! its maintenance fees, marks one, deletes a hand-entered deadline; the form shows every problem
//! at once beside its field and keeps what was typed.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

const PATENT: [(&str, &str); 8] = [
    ("kind", "patent"),
    ("title", "Sparse <attention> accelerator"),
    ("jurisdiction", "US"),
    ("application_number", "16/123,456"),
    ("status", "granted"),
    ("filing_date", "2019-03-01"),
    ("inventors", "Ada Lovelace, Alan Turing"),
    ("owners", "Licentia Labs"),
];

#[actix_web::test]
async fn a_manager_registers_a_us_patent_with_the_form_and_dockets_it() -> TestResult {
    let app = spawn_app().await?;
    let manager = app.browser_login("manager").await?;
    let before = app.count("SELECT count(*) FROM ip_assets").await?;
    let new = app.page(&manager, "/assets/new?kind=patent").await?;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
    assert!(new.body.contains("name=\"grant_date\"") && new.body.contains("name=\"nice_classes\""), "every kind's fields are on the form");

    // Two mistakes at once: a grant before the filing and a claims count in words. Nothing is
    // saved; both are shown beside their fields, in words, and everything typed is still there.
    let mut fields = PATENT.to_vec();
    fields.extend([("grant_date", "2018-12-01"), ("claims_count", "twenty")]);
    let bad = app.form(&manager, "/assets/new", &fields).await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("2 problems to fix"), "{}", bad.body);
    assert!(bad.body.contains(r#"<span class="field-error" id="e-grant_date">is before the filing date</span>"#), "{}", bad.body);
    assert!(bad.body.contains(r#"<span class="field-error" id="e-claims_count">must be a whole number</span>"#));
    assert!(bad.body.contains(r##"<a href="#f-grant_date">Grant / registration date</a>"##), "the summary names fields as the labels do");
    assert!(bad.body.contains(r#"value="Sparse &#60;attention&#62; accelerator""#) || bad.body.contains(r#"value="Sparse &lt;attention&gt; accelerator""#));
    assert!(bad.body.contains(r#"value="Ada Lovelace, Alan Turing""#) && bad.body.contains(r#"value="twenty""#) && bad.body.contains(r#"value="2018-12-01""#));
    assert_eq!(app.count("SELECT count(*) FROM ip_assets").await?, before);

    // Corrected, it is registered and the browser goes to its page.
    let mut fields = PATENT.to_vec();
    fields.extend([("grant_date", "2021-06-01"), ("claims_count", "20")]);
    let ok = app.form(&manager, "/assets/new", &fields).await?;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let location = ok.header("location").ok_or("no redirect")?;
    let id = location.trim_start_matches("/assets/").split('?').next().ok_or("no id")?.to_owned();
    let shown = app.page(&manager, &location).await?;
    assert!(shown.body.contains("Registered"), "{}", shown.body);
    // 35 U.S.C. 41(b): maintenance fees 3.5, 7.5 and 11.5 years after the grant of 1 June 2021.
    for due in ["2024-12-01", "2028-12-01", "2032-12-01"] {
        assert!(shown.body.contains(&format!("<tr><td class=\"date\">{due}</td>")), "maintenance fee due {due}");
    }
    let api = app.get_as(&app.token("manager").await?, &format!("/api/v1/assets/{id}")).await?.json();
    assert_eq!((api["details"]["claims_count"].as_i64(), api["details"]["inventors"].clone()), (Some(20), json!(["Ada Lovelace", "Alan Turing"])));

    // The first maintenance fee is marked done from its row.
    let marked = app.form(&manager, &format!("/assets/{id}/deadlines"), &[("rule", "us-maintenance"), ("ordinal", "1"), ("state", "done")]).await?;
    assert_eq!(marked.status, StatusCode::SEE_OTHER, "{}", marked.body);
    assert!(marked.header("location").is_some_and(|l| l.contains("ok=Marked+done")), "{:?}", marked.header("location"));
    let state: String = sqlx::query_scalar("SELECT state FROM deadline_marks WHERE rule = 'us-maintenance' AND ordinal = 1").fetch_one(&app.t.db.pool).await?;
    assert_eq!(state, "done");
    let unknown = app.form(&manager, &format!("/assets/{id}/deadlines"), &[("rule", "us-maintenance"), ("ordinal", "9"), ("state", "done")]).await?;
    assert!(unknown.header("location").is_some_and(|l| l.contains("error=")), "an unknown deadline comes back as a message");

    // A hand-entered deadline is deleted from its row, with its mark; audited.
    let add = app.form(&manager, &format!("/assets/{id}/manual-deadlines"), &[("title", "Answer the office action"), ("due", "2027-02-01")]).await?;
    assert_eq!(add.status, StatusCode::SEE_OTHER);
    app.form(&manager, &format!("/assets/{id}/deadlines"), &[("rule", "manual"), ("ordinal", "1"), ("state", "waived")]).await?;
    let listed = app.page(&manager, &format!("/assets/{id}")).await?;
    assert!(listed.body.contains(&format!("action=\"/assets/{id}/manual-deadlines/1/delete\"")));
    let gone = app.form(&manager, &format!("/assets/{id}/manual-deadlines/1/delete"), &[]).await?;
    assert!(gone.header("location").is_some_and(|l| l.contains("ok=Deleted")), "{:?}", gone.header("location"));
    assert_eq!(app.count("SELECT count(*) FROM manual_deadlines").await?, 0);
    assert_eq!(app.count("SELECT count(*) FROM deadline_marks WHERE rule = 'manual'").await?, 0, "the mark goes with it");
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'deadline.deleted'").await?, 1);
    let again = app
        .send(app.request(actix_web::http::Method::DELETE, &format!("/api/v1/assets/{id}/manual-deadlines/1")).bearer_auth(app.token("manager").await?))
        .await?;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.body);

    // Editing: the form holds the stored values; clearing the title is refused beside it.
    let edit = app.page(&manager, &format!("/assets/{id}/edit")).await?;
    assert!(edit.body.contains(r#"value="16/123456""#) && edit.body.contains(r#"value="Ada Lovelace, Alan Turing""#), "{}", edit.body);
    let mut fields = PATENT.to_vec();
    fields.retain(|(k, _)| *k != "title");
    fields.extend([("title", ""), ("grant_date", "2021-06-01"), ("claims_count", "25")]);
    let cleared = app.form(&manager, &format!("/assets/{id}/edit"), &fields).await?;
    assert_eq!(cleared.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(cleared.body.contains(r#"id="e-title">is required"#), "{}", cleared.body);
    let mut fields = PATENT.to_vec();
    fields.extend([("grant_date", "2021-06-01"), ("claims_count", "25"), ("tags", "")]);
    let saved = app.form(&manager, &format!("/assets/{id}/edit"), &fields).await?;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let api = app.get_as(&app.token("manager").await?, &format!("/api/v1/assets/{id}")).await?.json();
    assert_eq!(api["details"]["claims_count"].as_i64(), Some(25));

    // Only managers maintain the registry.
    let licensee = app.browser_login("licensee").await?;
    assert_eq!(app.page(&licensee, "/assets/new").await?.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.form(&licensee, &format!("/assets/{id}/deadlines"), &[("rule", "us-maintenance"), ("ordinal", "2"), ("state", "done")]).await?.status,
        StatusCode::FORBIDDEN
    );
    Ok(())
}

/// A granted European patent's validations through the form: typed as "DE, FR lapsed 2027-04-01,
/// GB", stored as states with their lapse, shown back the same way on edit; a state the unitary
/// effect covers is refused beside the field, with the text kept.
#[actix_web::test]
async fn the_form_records_where_a_european_patent_was_validated() -> TestResult {
    let app = spawn_app().await?;
    let manager = app.browser_login("manager").await?;
    let ep = [
        ("kind", "patent"),
        ("title", "Sparse attention EP"),
        ("jurisdiction", "EP"),
        ("status", "granted"),
        ("filing_date", "2021-03-15"),
        ("grant_date", "2024-06-12"),
    ];
    let mut fields = ep.to_vec();
    fields.push(("validations", "UP, DE"));
    let bad = app.form(&manager, "/assets/new", &fields).await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains(r#"id="e-validations">DE is covered by the unitary effect"#), "{}", bad.body);
    assert!(bad.body.contains(r#"value="UP, DE""#));

    let mut fields = ep.to_vec();
    fields.push(("validations", "DE, FR lapsed 2027-04-01, gb"));
    let ok = app.form(&manager, "/assets/new", &fields).await?;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let id = ok.header("location").ok_or("no redirect")?.trim_start_matches("/assets/").split('?').next().ok_or("no id")?.to_owned();
    let api = app.get_as(&app.token("manager").await?, &format!("/api/v1/assets/{id}")).await?.json();
    assert_eq!(api["details"]["validations"], json!([{ "state": "DE" }, { "state": "FR", "lapsed_on": "2027-04-01" }, { "state": "GB" }]));
    let edit = app.page(&manager, &format!("/assets/{id}/edit")).await?;
    assert!(edit.body.contains(r#"value="DE, FR lapsed 2027-04-01, GB""#), "{}", edit.body);
    Ok(())
}
