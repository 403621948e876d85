//! The agreement journey through the browser forms (CSRF tokens, redirects, escaping), the
//! printable and PDF documents, and the statement and revenue pages.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

fn flash(r: &Reply) -> String {
    r.header("location").unwrap_or_default()
}

#[actix_web::test]
async fn draft_redline_approve_accept_report_and_bill_through_the_pages() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let asset = app
        .send_json(
            app.post("/api/v1/assets").bearer_auth(&m),
            &json!({ "kind": "patent", "title": "Sparse attention", "jurisdiction": "DE", "filing_date": "2021-05-04" }),
        )
        .await?
        .json()["id"]
        .as_str()
        .ok_or("no asset")?
        .to_owned();
    let manager = app.browser_login("manager").await?;
    let lic = app.licensee_a.to_string();

    // Mistakes come back as a 422 with everything typed still in the form, every problem at once,
    // each beside its field in the form's words (not `royalty_bp`, not basis points).
    let bad = app
        .form(
            &manager,
            "/agreements",
            &[
                ("kind", "non_exclusive_licence"),
                ("title", "Borealis licence"),
                ("licensee_id", &lic),
                ("assets", &asset),
                ("territory", "DE, ZZ"),
                ("effective_date", "2026-01-01"),
                ("end_date", "2025-06-30"),
                ("royalty_percent", "120"),
                ("upfront_fee", "12.345"),
                ("fields", "automotive"),
            ],
        )
        .await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("value=\"automotive\"") && bad.body.contains("value=\"Borealis licence\"") && bad.body.contains("value=\"120\""), "{}", bad.body);
    assert!(bad.body.contains("4 problems in the terms."), "{}", bad.body);
    for (input, message) in [
        ("territory", "is not an ISO 3166 country code"),
        ("end_date", "must be after the effective date"),
        ("royalty_percent", "must be at most 100 %"),
        ("upfront_fee", "must be an amount like 1234.56"),
    ] {
        let beside = bad.body.split(&format!("id=\"e-{input}\">")).nth(1).and_then(|s| s.split("</span>").next()).unwrap_or_default();
        assert!(beside.contains(message), "{input}: {beside:?}");
        assert!(bad.body.contains(&format!("name=\"{input}\" aria-invalid=\"true\"")), "{input} marked invalid");
    }
    assert!(bad.body.contains("Royalty (%): must be at most 100 %") && !bad.body.contains("royalty_bp"), "{}", bad.body);
    assert_eq!(app.count("SELECT count(*) FROM agreements").await?, 0);

    let created = app
        .form(
            &manager,
            "/agreements",
            &[
                ("kind", "non_exclusive_licence"),
                ("title", "Borealis licence"),
                ("licensee_id", &lic),
                ("assets", &asset),
                ("territory", "DE"),
                ("effective_date", "2026-01-01"),
                ("royalty_percent", "3"),
                ("currency", "EUR"),
                ("reporting", "quarterly"),
            ],
        )
        .await?;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let path = flash(&created).split('?').next().unwrap_or_default().to_owned();
    let id = path.trim_start_matches("/agreements/").to_owned();
    let shown = app.page(&manager, &path).await?;
    assert!(shown.body.contains("a running royalty of 3 % of Net Sales"), "{}", shown.body);

    // Edit in the browser: royalty 3.5 %, a reworded clause; the editor keeps the library text
    // of untouched clauses out of the stored rewordings.
    let mut fields: Vec<(&str, &str)> = vec![
        ("territory", "DE, JP"),
        ("effective_date", "2026-01-01"),
        ("royalty_percent", "3.5"),
        ("currency", "EUR"),
        ("reporting", "quarterly"),
        ("comment", "Japan added"),
    ];
    fields.push(("clause.confidentiality", "Each party shall keep the other's secrets."));
    let saved = app.form(&manager, &format!("{path}/versions"), &fields).await?;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored: serde_json::Value = sqlx::query_scalar("SELECT clauses FROM agreement_versions WHERE number = 2").fetch_one(&app.t.db.pool).await?;
    assert_eq!(stored, json!({ "confidentiality": "Each party shall keep the other's secrets." }));
    let submitted = app.form(&manager, &format!("{path}/transition"), &[("to", "in_review")]).await?;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER);

    // The author's approve is refused with the reason; the reviewer reads the redline and approves.
    let own = app.form(&manager, &format!("{path}/approve"), &[]).await?;
    assert!(flash(&own).contains("error=") && flash(&own).contains("another+manager"), "{}", flash(&own));
    let reviewer = app.browser_login("reviewer").await?;
    let redline = app.page(&reviewer, &format!("{path}/diff?from=1&to=2")).await?;
    assert_eq!(redline.status, StatusCode::OK);
    assert!(redline.body.contains("<del>3</del>") && redline.body.contains("<ins>3.5</ins>") && redline.body.contains("<ins>JP, </ins>"), "{}", redline.body);
    assert!(redline.body.contains("<li>royalty 3 % → 3.5 %</li>") && redline.body.contains("<li>territory + JP</li>"));
    let approved = app.form(&reviewer, &format!("{path}/approve"), &[]).await?;
    assert!(flash(&approved).contains("ok=Approved"), "{}", flash(&approved));

    // The licensee's portal: version 2 with an Accept button bound to its hash.
    let licensee = app.browser_login("licensee").await?;
    let portal = app.page(&licensee, "/agreements").await?;
    assert!(portal.body.contains("Borealis licence"));
    let view = app.page(&licensee, &path).await?;
    let sha: String = sqlx::query_scalar("SELECT encode(text_sha256, 'hex') FROM agreement_versions WHERE number = 2").fetch_one(&app.t.db.pool).await?;
    assert!(view.body.contains(&format!("name=\"text_sha256\" value=\"{sha}\"")), "{}", view.body);
    app.form(&licensee, &format!("{path}/accept"), &[("text_sha256", &sha)]).await?;
    let done = app.form(&manager, &format!("{path}/accept"), &[]).await?;
    assert!(flash(&done).contains("executed"), "{}", flash(&done));
    let status: String = sqlx::query_scalar("SELECT status FROM agreements").fetch_one(&app.t.db.pool).await?;
    assert_eq!(status, "executed");

    // The executed PDF is kept as an encrypted artifact the licensee can download.
    let artifact: (String, Vec<u8>) =
        sqlx::query_as("SELECT id::text, sha256 FROM artifacts WHERE attached_kind = 'agreement'").fetch_one(&app.t.db.pool).await?;
    let l = app.token("licensee").await?;
    let pdf = app.send(app.get(&format!("/api/v1/artifacts/{}/content", artifact.0)).bearer_auth(&l)).await?;
    assert_eq!(pdf.status, StatusCode::OK);
    assert!(pdf.body.starts_with("%PDF-") && pdf.body.contains(&sha), "the PDF carries the text hash");

    // Its obligations join both parties' deadlines: a quarterly report always falls due within
    // the next 92 days of an open-ended agreement.
    for token in [&l, &m] {
        let due = app.get_as(token, "/api/v1/deadlines?days=92").await?.json();
        let reports: Vec<&serde_json::Value> =
            due["items"].as_array().map(|i| i.iter().filter(|d| d["rule"] == "obligation-report" && d["href"] == path.as_str()).collect()).unwrap_or_default();
        assert_eq!(reports.len(), 1, "{due}");
    }
    let lb = app.token("licensee_b").await?;
    assert_eq!(app.get_as(&lb, "/api/v1/deadlines?days=400").await?.json()["items"], json!([]));

    // Sales in the portal, then the statement page and the revenue chart.
    let sold = app
        .form(
            &licensee,
            &format!("{path}/sales"),
            &[("period_start", "2026-01-01"), ("period_end", "2026-03-31"), ("country", "DE"), ("net_sales", "100,000.00")],
        )
        .await?;
    assert!(flash(&sold).contains("ok=Sales"), "{}", flash(&sold));
    let st = app.page(&licensee, &format!("/statements?agreement={id}&period=2026-Q1")).await?;
    assert_eq!(st.status, StatusCode::OK);
    assert!(st.body.contains("id=\"statement-total\">EUR 3,500.00<"), "{}", st.body);
    let rev = app.page(&manager, "/revenue?year=2026").await?;
    assert!(rev.body.contains("<figcaption>EUR per quarter") && rev.body.contains("class=\"series-0\""), "{}", rev.body);
    assert!(rev.body.contains("<td>Sparse attention</td><td class=\"num\">EUR 3,500.00</td>"));
    // The other licensee sees none of it.
    let other = app.browser_login("licensee_b").await?;
    assert_eq!(app.page(&other, &path).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.page(&other, &format!("/statements?agreement={id}")).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.page(&other, &format!("{path}/versions/1/print")).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[actix_web::test]
async fn script_in_a_party_name_or_a_clause_is_inert_in_html_and_pdf() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let evil = "<script>alert(document.cookie)</script> Ltd";
    let org = app.send_json(app.post("/api/v1/organisations").bearer_auth(&admin), &json!({ "name": evil, "kind": "licensee" })).await?;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.body);
    let org_id = org.json()["id"].as_str().ok_or("no org")?.to_owned();
    let m = app.token("manager").await?;
    let asset = app
        .send_json(app.post("/api/v1/assets").bearer_auth(&m), &json!({ "kind": "patent", "title": "<img src=x onerror=alert(this)>", "jurisdiction": "DE" }))
        .await?
        .json()["id"]
        .as_str()
        .ok_or("no asset")?
        .to_owned();
    let r = app
        .send_json(
            app.post("/api/v1/agreements").bearer_auth(&m),
            &json!({ "kind": "non_exclusive_licence", "title": "Evil </title><script>x()</script>", "licensee_id": org_id, "assets": [asset],
                     "terms": { "territory": ["DE"], "effective_date": "2027-01-01", "royalty_bp": 100 },
                     "clauses": { "confidentiality": "<script>fetch('/api/me')</script> {{licensee}} keeps secrets." } }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_str().ok_or("no id")?.to_owned();
    let s = app.browser_login("manager").await?;
    for path in [format!("/agreements/{id}"), format!("/agreements/{id}/versions/1/print"), "/agreements".to_owned()] {
        let html = app.page(&s, &path).await?;
        assert_eq!(html.status, StatusCode::OK, "{path}");
        assert!(
            !html.body.contains("<script>alert")
                && !html.body.contains("<script>fetch")
                && !html.body.contains("<script>x()")
                && !html.body.contains("<img src=x"),
            "{path}: {}",
            html.body
        );
        assert!(html.body.contains("&#60;script&#62;"), "{path}: the text is shown, escaped");
    }
    let pdf = app.get_as(&m, &format!("/api/v1/agreements/{id}/versions/1/pdf")).await?;
    assert_eq!((pdf.status, pdf.header("content-type")), (StatusCode::OK, Some("application/pdf".to_owned())));
    let raw = pdf.body;
    // Inside a PDF string literal (balanced parentheses need no escape): text to draw, nothing else.
    assert!(raw.contains("(<script>fetch('/api/me')</script> ") || raw.contains("<script>fetch\\('/api/me'\\)</script>"), "printed as literal text");
    for active in ["/JavaScript", "/JS ", "/OpenAction", "/AA", "/Launch", "/URI", "/RichMedia", "/XFA", "/AcroForm"] {
        assert!(!raw.contains(active), "{active} in the PDF");
    }
    // The one embedded file is the text of record, as plain text: data, not something to open.
    assert_eq!(raw.matches("/Type /EmbeddedFile").count(), 1, "one embedded file");
    assert!(raw.contains("/Subtype /text#2Fplain") && raw.contains("(agreement-version-1.txt)"), "the embedded file is the version's plain text");
    Ok(())
}

/// One long clause no longer loses the editor's work: a 5,000-character clause of accented
/// letters (é is two bytes in UTF-8 and six percent-encoded: about 30 KB, over the old 16 KiB form
/// limit) saves as a version; the editor warns before leaving with unsaved changes.
#[actix_web::test]
async fn a_long_clause_saves_from_the_browser_and_the_editor_guards_unsaved_changes() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let asset = app
        .send_json(
            app.post("/api/v1/assets").bearer_auth(&m),
            &json!({ "kind": "patent", "title": "Lens", "jurisdiction": "DE", "status": "filed", "filing_date": "2021-05-04" }),
        )
        .await?
        .json()["id"]
        .as_str()
        .ok_or("no asset")?
        .to_owned();
    let created = app
        .send_json(
            app.post("/api/v1/agreements").bearer_auth(&m),
            &json!({ "kind": "non_exclusive_licence", "title": "Lens licence", "licensee_id": app.licensee_a.to_string(), "assets": [asset],
                     "terms": { "territory": ["DE"], "effective_date": "2027-01-01", "royalty_bp": 300, "currency": "EUR" } }),
        )
        .await?;
    let id = created.json()["id"].as_str().ok_or("no agreement")?.to_owned();
    let manager = app.browser_login("manager").await?;
    let editor = app.page(&manager, &format!("/agreements/{id}")).await?;
    assert!(editor.body.contains("id=\"version-editor\" data-warn-unsaved=\"true\""), "{}", editor.body);
    let long = "é".repeat(5_000);
    let fields = [
        ("territory", "DE"),
        ("effective_date", "2027-01-01"),
        ("royalty_percent", "3"),
        ("currency", "EUR"),
        ("reporting", "quarterly"),
        ("clause.confidentiality", long.as_str()),
    ];
    let saved = app.form(&manager, &format!("/agreements/{id}/versions"), &fields).await?;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(flash(&saved).contains("ok="), "{}", flash(&saved));
    let stored: String = sqlx::query_scalar("SELECT clauses->>'confidentiality' FROM agreement_versions WHERE number = 2").fetch_one(&app.t.db.pool).await?;
    assert_eq!(stored.chars().count(), 5_000);
    Ok(())
}
