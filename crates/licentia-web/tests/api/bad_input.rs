//! Malformed, oversized and hostile input: a 4xx with a JSON error, never a 500, nothing written.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn malformed_json_wrong_types_and_wrong_content_types_are_4xx_json() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let users_before = app.count("SELECT count(*) FROM users").await?;
    let cases: Vec<(&str, awc::ClientRequest, &'static str, StatusCode)> = vec![
        (
            "truncated JSON",
            app.post("/api/v1/users").bearer_auth(&admin).insert_header(("content-type", "application/json")),
            "{\"email\": ",
            StatusCode::BAD_REQUEST,
        ),
        (
            "not JSON at all",
            app.post("/api/v1/users").bearer_auth(&admin).insert_header(("content-type", "application/json")),
            "<xml/>",
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong field type",
            app.post("/api/v1/users").bearer_auth(&admin).insert_header(("content-type", "application/json")),
            "{\"email\": 5, \"role\": [], \"organisation_id\": {}, \"password\": null}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("text/plain", app.post("/api/v1/users").bearer_auth(&admin).insert_header(("content-type", "text/plain")), "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("no content type", app.post("/api/v1/auth/token"), "{\"email\":\"a@b.example\",\"password\":\"x\"}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "login with a number",
            app.post("/api/v1/auth/token").insert_header(("content-type", "application/json")),
            "{\"email\": 1, \"password\": 2}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (name, req, body, expected) in cases {
        let r = app.send_body(req, body).await?;
        assert_eq!(r.status, expected, "{name}: {}", r.body);
        assert!(r.error_code().is_some(), "{name}: not a JSON error: {}", r.body);
        assert!(!r.body.to_lowercase().contains("sqlx") && !r.body.contains("panicked"), "{name}: {}", r.body);
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await?, users_before);
    Ok(())
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413_before_anything_is_written() -> TestResult {
    let app = spawn_with(|s| {
        s.json_limit = 4096;
        s.form_limit = 2048;
    })
    .await?;
    let admin = app.token("admin").await?;
    let orgs_before = app.count("SELECT count(*) FROM organisations").await?;
    let big_name = "x".repeat(4097);
    let r = app.send_json(app.post("/api/v1/organisations").bearer_auth(&admin), &json!({ "name": big_name, "kind": "licensee" })).await?;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.error_code().as_deref(), Some("payload_too_large"));
    // One byte over the form limit, through the browser path (cookie + form).
    let s = app.browser_login("admin").await?;
    let filler = "y".repeat(2049);
    let r = app
        .send_form(app.post("/admin/organisations").insert_header(("cookie", s.cookie.clone())), &[("csrf", &s.csrf), ("name", &filler), ("kind", "licensee")])
        .await?;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("SELECT count(*) FROM organisations").await?, orgs_before);
    Ok(())
}

#[actix_web::test]
async fn validation_errors_name_the_field_and_ids_that_do_not_parse_are_404() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let org = app.licensor.to_string();
    for (body, field) in [
        (json!({ "email": "not-an-email", "role": "manager", "organisation_id": org, "password": "long enough password" }), "email"),
        (json!({ "email": "new@aurora.example", "role": "emperor", "organisation_id": org, "password": "long enough password" }), "role"),
        (json!({ "email": "new@aurora.example", "role": "manager", "organisation_id": org, "password": "short" }), "password"),
        (json!({ "email": "new@aurora.example", "role": "manager", "organisation_id": "nope", "password": "long enough password" }), "organisation_id"),
        (json!({ "email": "new@aurora.example", "role": "licensee", "organisation_id": org, "password": "long enough password" }), "role"),
    ] {
        let r = app.send_json(app.post("/api/v1/users").bearer_auth(&admin), &body).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], json!(field), "{body}");
    }
    let dup = app
        .send_json(
            app.post("/api/v1/users").bearer_auth(&admin),
            &json!({ "email": app.email("manager"), "role": "manager", "organisation_id": org, "password": "long enough password" }),
        )
        .await?;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert!(dup.json()["error"]["message"].as_str().unwrap_or_default().contains("already exists"));
    for path in ["/api/v1/users/%00%27%22", "/api/v1/users/..%2f..%2fetc", "/api/v1/audit/not-a-number", "/api/v1/organisations/1'%20OR%20'1'='1"] {
        let r = app.get_as(&admin, path).await?;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let bad_filter = app.get_as(&app.token("auditor").await?, "/api/v1/audit?outcome=maybe").await?;
    assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_filter.json()["error"]["field"], json!("outcome"));
    Ok(())
}

#[actix_web::test]
async fn nul_bytes_in_queries_and_logins_are_client_errors_not_database_errors() -> TestResult {
    let app = spawn_app().await?;
    let auditor = app.token("auditor").await?;
    let manager = app.token("manager").await?;
    for (token, path, field) in [
        (&manager, "/api/v1/assets?q=a%00b", "q"),
        (&manager, "/api/v1/assets?tag=%00", "tag"),
        (&manager, "/api/v1/assets/export?owner=x%00", "owner"),
        (&auditor, "/api/v1/audit?action=auth.%00", "action"),
        (&auditor, "/api/v1/audit?actor=a%00%40b.example", "actor"),
    ] {
        let r = app.get_as(token, path).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], json!(field), "{path}");
    }
    let r = app.login_api("admin\u{0}@aurora.example", "whatever password").await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    Ok(())
}
