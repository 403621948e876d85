//! Browser pages: rendering, escaping, headers, error pages.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn every_response_carries_the_security_headers_and_a_request_id() -> TestResult {
    let app = spawn_app().await?;
    for path in ["/login", "/healthz", "/api/v1/me", "/no-such-page"] {
        let r = app.send(app.get(path)).await?;
        let csp = r.header("content-security-policy").ok_or("no CSP")?;
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(r.header("referrer-policy").as_deref(), Some("same-origin"));
        assert_eq!(r.header("x-request-id").map(|v| v.len()), Some(32), "{path}");
    }
    let missing = app.send(app.get("/no-such-page")).await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let id = missing.header("x-request-id").ok_or("no id")?;
    assert!(missing.body.contains(&id), "the error page shows the request id");
    assert!(missing.header("content-type").unwrap_or_default().starts_with("text/html"));
    Ok(())
}

#[actix_web::test]
async fn hostile_text_is_rendered_inert() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let payloads = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>"];
    for p in payloads {
        let r = app.send_json(app.post("/api/v1/organisations").bearer_auth(&admin), &serde_json::json!({ "name": p, "kind": "licensee" })).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let s = app.browser_login("admin").await?;
    for page in ["/admin/organisations", "/admin/users", "/audit"] {
        let r = app.send(app.get(page).insert_header(("cookie", s.cookie.clone()))).await?;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        for p in payloads {
            assert!(!r.body.contains(p), "{page} renders {p} raw");
        }
    }
    let orgs = app.send(app.get("/admin/organisations").insert_header(("cookie", s.cookie.clone()))).await?;
    // Present, but escaped (askama writes `<` as `&#60;`).
    assert!(orgs.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{}", orgs.body);
    Ok(())
}

#[actix_web::test]
async fn templates_never_disable_escaping() -> TestResult {
    // The CI guard of SECURITY-TESTS 11: no `|safe` and no `escape = "none"` in any template.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let mut stack = vec![dir];
    let mut checked = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path)?;
                assert!(!text.contains("|safe") && !text.contains("| safe") && !text.contains("escape = \"none\""), "{} disables escaping", path.display());
                checked += 1;
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path)?.contains(concat!("escape = ", "\"none\"")) {
                panic!("{} disables escaping", path.display());
            }
        }
    }
    assert!(checked >= 8);
    Ok(())
}

#[actix_web::test]
async fn each_role_gets_its_own_navigation_and_pages() -> TestResult {
    let app = spawn_app().await?;
    let auditor = app.browser_login("auditor").await?;
    let home = app.send(app.get("/").insert_header(("cookie", auditor.cookie.clone()))).await?;
    assert!(home.body.contains("href=\"/audit\""));
    assert!(home.body.contains("id=\"stat-audit\""));
    let verify = app.send(app.get("/audit/verify").insert_header(("cookie", auditor.cookie.clone()))).await?;
    assert!(verify.body.contains("The chain verifies."), "{}", verify.body);
    let licensee = app.browser_login("licensee").await?;
    let home = app.send(app.get("/").insert_header(("cookie", licensee.cookie.clone()))).await?;
    assert!(!home.body.contains("href=\"/audit\"") && !home.body.contains("href=\"/admin/users\""));
    assert!(home.body.contains("Borealis Analytics"));
    let forbidden = app.send(app.get("/audit").insert_header(("cookie", licensee.cookie.clone()))).await?;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden.header("content-type").unwrap_or_default().starts_with("text/html"));
    Ok(())
}

/// An error page keeps the logged-in user's navigation (without the session's CSRF token, which no
/// error answer carries); a missing statement query names the parameter instead of the parser's
/// "missing field" text.
#[actix_web::test]
async fn error_pages_keep_the_navigation_and_say_what_is_missing() -> TestResult {
    let app = spawn_app().await?;
    let manager = app.browser_login("manager").await?;
    let missing = app.send(app.get(&format!("/assets/{}", uuid::Uuid::now_v7())).insert_header(("cookie", manager.cookie.clone()))).await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("href=\"/agreements\"") && missing.body.contains("manager@aurora.example"), "{}", missing.body);
    assert!(!missing.body.contains(&manager.csrf), "no CSRF token in an error answer");
    let anonymous = app.send(app.get("/no-such-page")).await?;
    assert!(!anonymous.body.contains("href=\"/agreements\""), "{}", anonymous.body);

    let bare = app.send(app.get("/statements").insert_header(("cookie", manager.cookie.clone()))).await?;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bare.body.contains("name the agreement") && !bare.body.contains("deserialize"), "{}", bare.body);
    let api = app.get_as(&app.token("manager").await?, "/api/v1/statements?period=2026").await?;
    assert_eq!((api.status, api.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("agreement")), "{}", api.body);
    Ok(())
}
