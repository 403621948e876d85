//! Login, tokens, sessions, throttling, cookies and CSRF.

use actix_web::http::StatusCode;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn unknown_user_and_wrong_password_answer_identically() -> TestResult {
    let app = spawn_app().await?;
    let unknown = app.login_api("nobody@aurora.example", "wrong password 123").await?;
    let wrong = app.login_api(&app.email("manager"), "wrong password 123").await?;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
    assert_eq!(wrong.error_code().as_deref(), Some("invalid_credentials"));
    // Both failures are in the audit log, without the password.
    let failures = app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'").await?;
    assert_eq!(failures, 2);
    let leaked = app.count("SELECT count(*) FROM audit_log WHERE details::text LIKE '%wrong password%'").await?;
    assert_eq!(leaked, 0);
    Ok(())
}

#[actix_web::test]
async fn a_password_guessing_run_is_throttled_before_the_101st_attempt_without_an_oracle() -> TestResult {
    let app = spawn_app().await?;
    let email = app.email("licensee");
    let mut first_429 = None;
    for attempt in 1..=101 {
        let r = app.login_api(&email, &format!("guess number {attempt}")).await?;
        assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            let retry: i64 = r.header("retry-after").ok_or("429 without Retry-After")?.parse()?;
            assert!(retry >= 1);
            first_429 = Some((attempt, r.body.clone()));
            break;
        }
    }
    let (attempt, locked_body) = first_429.ok_or("no 429 within 101 attempts")?;
    assert!(attempt <= 100, "throttled only at attempt {attempt}");
    // The right password during the lock gets exactly the same answer: no oracle.
    let right = app.login_api(&email, PASSWORD).await?;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(right.body, locked_body);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await?, 0, "no session was opened during the lock");
    assert!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.throttled'").await? >= 2);
    Ok(())
}

#[actix_web::test]
async fn forged_expired_and_revoked_tokens_are_all_401() -> TestResult {
    let app = spawn_app().await?;
    let good = app.token("manager").await?;
    assert_eq!(app.get_as(&good, "/api/v1/me").await?.status, StatusCode::OK);

    let parts: Vec<&str> = good.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1])?)?;
    let server_key = EncodingKey::from_ed_der(&app.keys.jwt_pkcs8);
    let sign = |claims: &serde_json::Value| jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &server_key);

    let alg_none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let other_key = licentia_crypto::SigningKey::generate_pkcs8()?;
    let wrong_key = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &EncodingKey::from_ed_der(&other_key))?;
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-service");
    let mut exp_string = claims.clone();
    exp_string["exp"] = json!("never");
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 120);
    let mut control = claims.clone();
    control["iat"] = json!(chrono::Utc::now().timestamp() - 1);

    // The control token, re-signed by the test with the server's key, must work: otherwise the
    // failures below would prove nothing.
    assert_eq!(app.get_as(&sign(&control)?, "/api/v1/me").await?.status, StatusCode::OK);
    for (name, token) in [
        ("alg none", alg_none),
        ("wrong key", wrong_key),
        ("wrong aud", sign(&wrong_aud)?),
        ("exp as a string", sign(&exp_string)?),
        ("expired", sign(&expired)?),
        ("garbage", "not.a.token".to_owned()),
    ] {
        let r = app.get_as(&token, "/api/v1/me").await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.body);
    }
    assert!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.token_rejected'").await? >= 1);

    // Revoked jti: log out, then the same (valid, unexpired) token is refused.
    let out = app.send(app.post("/api/v1/auth/logout").bearer_auth(&good)).await?;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get_as(&good, "/api/v1/me").await?.status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[actix_web::test]
async fn password_change_and_disabling_revoke_sessions_at_once() -> TestResult {
    let app = spawn_app().await?;
    let keep = app.token("licensee").await?;
    let other = app.token("licensee").await?;
    let new_password = "a brand new passphrase";
    let r = app.send_json(app.post("/api/v1/me/password").bearer_auth(&keep), &json!({ "current": PASSWORD, "new": new_password })).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["other_sessions_revoked"], json!(1));
    assert_eq!(app.get_as(&other, "/api/v1/me").await?.status, StatusCode::UNAUTHORIZED, "other session survived");
    assert_eq!(app.get_as(&keep, "/api/v1/me").await?.status, StatusCode::OK, "the changing session stays in");
    assert_eq!(app.login_api(&app.email("licensee"), PASSWORD).await?.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_api(&app.email("licensee"), new_password).await?.status, StatusCode::OK);

    let admin = app.token("admin").await?;
    let id = app.accounts.get("licensee").map(|a| a.id.to_string()).ok_or("no licensee")?;
    let r = app.send_json(app.patch(&format!("/api/v1/users/{id}")).bearer_auth(&admin), &json!({ "disabled": true })).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get_as(&keep, "/api/v1/me").await?.status, StatusCode::UNAUTHORIZED, "a disabled user's session survived");
    assert_eq!(app.login_api(&app.email("licensee"), new_password).await?.error_code().as_deref(), Some("invalid_credentials"));
    Ok(())
}

#[actix_web::test]
async fn the_session_cookie_has_every_protective_flag_and_logout_kills_it() -> TestResult {
    let app = spawn_app().await?;
    let s = app.browser_login("manager").await?;
    let cookie = s.set_cookie.iter().find(|c| c.starts_with("__Host-licentia=")).ok_or("no session cookie")?;
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing from {cookie}");
    }
    assert!(!cookie.contains("Domain="), "__Host- cookies must not name a domain");
    let home = app.send(app.get("/").insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(home.status, StatusCode::OK);
    let out = app.send_form(app.post("/logout").insert_header(("cookie", s.cookie.clone())), &[("csrf", &s.csrf)]).await?;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = app.send(app.get("/").insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the old cookie still opens pages");
    assert!(after.header("location").unwrap_or_default().starts_with("/login"));
    Ok(())
}

#[actix_web::test]
async fn form_posts_without_a_valid_csrf_token_change_nothing() -> TestResult {
    let app = spawn_app().await?;
    let s = app.browser_login("admin").await?;
    let other = app.browser_login("admin").await?;
    let orgs_before = app.count("SELECT count(*) FROM organisations").await?;
    type Attempt<'a> = (&'a str, Vec<(&'a str, String)>, Vec<(&'a str, &'a str)>);
    let attempts: Vec<Attempt> = vec![
        ("no token", vec![], vec![]),
        ("empty token", vec![("csrf", String::new())], vec![]),
        ("another session's token", vec![("csrf", other.csrf.clone())], vec![]),
        ("cross-site fetch", vec![("csrf", s.csrf.clone())], vec![("sec-fetch-site", "cross-site")]),
        ("foreign origin", vec![("csrf", s.csrf.clone())], vec![("origin", "https://evil.example")]),
    ];
    for (name, extra, headers) in attempts {
        let mut form: Vec<(&str, &str)> = vec![("name", "Mallory Ltd"), ("kind", "licensee")];
        for (k, v) in &extra {
            form.push((k, v.as_str()));
        }
        let mut req = app.post("/admin/organisations").insert_header(("cookie", s.cookie.clone()));
        for h in headers {
            req = req.insert_header(h);
        }
        let r = app.send_form(req, &form).await?;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(app.count("SELECT count(*) FROM organisations").await?, orgs_before, "{name} changed state");
    }
    // A cookie-authenticated JSON call needs the token too.
    let r = app
        .send_json(app.post("/api/v1/organisations").insert_header(("cookie", s.cookie.clone())), &json!({ "name": "Mallory Ltd", "kind": "licensee" }))
        .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.csrf_refused'").await? >= 6);
    // The control: the same post with the right token works.
    let ok = app
        .send_form(
            app.post("/admin/organisations").insert_header(("cookie", s.cookie.clone())),
            &[("name", "Delta Labs"), ("kind", "licensee"), ("csrf", &s.csrf)],
        )
        .await?;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(app.count("SELECT count(*) FROM organisations").await?, orgs_before + 1);
    // And the login form itself refuses a post without its pre-session binding.
    let r = app.send_form(app.post("/login"), &[("email", &app.email("admin")), ("password", PASSWORD)]).await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    Ok(())
}
