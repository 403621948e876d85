//! What attackers try, walked over the route table where the table can drive it: CSRF on every
//! state-changing route, methods the table does not list, foreign ids on the training routes,
//! mass assignment on every create/update body, tampered tokens, compressed bodies, open
//! redirects, a lockout that an attacker cannot extend, and bodies over the CSV limit.

use std::collections::HashMap;
use std::io::Write as _;

use actix_web::http::{Method, StatusCode};
use base64::Engine as _;
use licentia_domain::Role;
use licentia_web::routes::{Access, table};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::training::{csv, hyper, licence, upload};

fn who(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Manager => "manager",
        Role::Auditor => "auditor",
        Role::Licensee => "licensee",
    }
}

/// A concrete path for a table pattern; ids that exist nowhere (the CSRF check comes first).
fn concrete(pattern: &str) -> String {
    pattern.replace("{id}", "0190f7a2-0000-7000-8000-000000000000").replace("{n}", "1").replace("{seq}", "1").replace("{name}", "licentia.css")
}

/// Every POST/PATCH/DELETE route of the table, sent with a browser session's cookie: refused with
/// 403 and an `authz.csrf_refused` audit entry without a token and with another session's token;
/// with the session's own token the request gets past the check (whatever the handler says then).
#[actix_web::test]
async fn every_state_changing_route_needs_the_session_s_own_csrf_token() -> TestResult {
    let app = spawn_app().await?;
    let mut sessions = HashMap::new();
    for role in Role::ALL {
        sessions.insert(role, app.browser_login(who(role)).await?);
    }
    let stranger = app.browser_login("reviewer").await?; // a valid token, bound to another session
    let routes: Vec<_> = table().into_iter().filter(|r| !matches!(r.method, Method::GET | Method::HEAD)).collect();
    let mut checked = 0;
    for r in routes {
        let Access::Requires(permission) = r.access else { continue }; // /login, /api/v1/auth/token: pre-session, tested in auth.rs
        let role = Role::ALL.into_iter().find(|role| role.allows(permission)).ok_or("a permission no role has")?;
        // Logging out ends a session: those routes get one of their own.
        let fresh;
        let s = if r.path.contains("logout") {
            fresh = app.browser_login(who(role)).await?;
            &fresh
        } else {
            &sessions[&role]
        };
        let path = concrete(r.path);
        let refused_before = app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.csrf_refused'").await?;
        for token in [None, Some(stranger.csrf.as_str())] {
            let mut req = app.request(r.method.clone(), &path).insert_header(("cookie", s.cookie.clone()));
            if let Some(t) = token {
                req = req.insert_header(("x-csrf-token", t));
            }
            let reply = app.send_json(req, &json!({})).await?;
            // JSON for the API, the HTML error page for browser routes: the same refusal.
            let cross_site = reply.error_code().as_deref() == Some("cross_site_request") || reply.body.contains("cross-site request refused");
            assert!(reply.status == StatusCode::FORBIDDEN && cross_site, "{} {path} with token {token:?}: {} {}", r.method, reply.status, reply.body);
        }
        let refused_after = app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.csrf_refused'").await?;
        assert_eq!(refused_after - refused_before, 2, "{} {path}: each refusal audited", r.method);
        let own = app.request(r.method.clone(), &path).insert_header(("cookie", s.cookie.clone())).insert_header(("x-csrf-token", s.csrf.clone()));
        let reply = app.send_json(own, &json!({})).await?;
        assert!(
            reply.error_code().as_deref() != Some("cross_site_request") && !reply.body.contains("cross-site request refused"),
            "{} {path} refused with its own token",
            r.method
        );
        assert!(reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN, "{} {path}: {} {}", r.method, reply.status, reply.body);
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} state-changing routes found");
    Ok(())
}

/// actix matches a path's pattern before its method: a method the table does not list for a
/// known path is answered 405 by the authorisation layer, before any handler runs.
#[actix_web::test]
async fn a_method_the_table_does_not_list_is_405_before_any_handler() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    for (method, path) in [
        (Method::PATCH, "/api/v1/assets/export"),
        (Method::DELETE, "/api/v1/assets/import"),
        (Method::GET, "/api/v1/assets/import"),
        (Method::PUT, "/api/v1/assets"),
        (Method::DELETE, "/audit"),
    ] {
        for auth in [None, Some(m.as_str())] {
            let mut req = app.request(method.clone(), path);
            if let Some(t) = auth {
                req = req.bearer_auth(t);
            }
            let reply = app.send(req).await?;
            assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {}", reply.body);
            if path.starts_with("/api/") {
                assert_eq!(reply.error_code().as_deref(), Some("method_not_allowed"));
            } else {
                assert!(reply.body.contains("this method is not allowed here"), "an HTML page saying so: {}", reply.body);
            }
        }
    }
    Ok(())
}

/// Another licensee's dataset and run, by id, on every training route that takes one: 404 as if
/// it did not exist, each one audited as `authz.not_found`, and nothing changed.
#[actix_web::test]
async fn a_foreign_licensee_gets_404_on_every_training_route_with_an_id() -> TestResult {
    let app = spawn_app().await?;
    let lic = licence(&app, json!({ "quota_runs": 5 })).await?;
    let a = app.token("licensee").await?;
    let ds = upload(&app, &a, csv(100)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let run = app.send_json(app.post("/api/v1/runs").bearer_auth(&a), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(2) })).await?;
    let run = run.json()["id"].as_str().ok_or("no run")?.to_owned();
    let b = app.token("licensee_b").await?;
    let before = app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.not_found'").await?;
    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/licences/{lic}"), None),
        (Method::GET, format!("/api/v1/datasets/{ds}"), None),
        (Method::PATCH, format!("/api/v1/datasets/{ds}"), Some(json!({ "columns": { "a": "mask" } }))),
        (Method::GET, format!("/api/v1/runs/{run}"), None),
        (Method::POST, format!("/api/v1/runs/{run}/cancel"), Some(json!({}))),
        (Method::GET, format!("/api/v1/runs/{run}/events"), None),
        (Method::GET, format!("/api/v1/runs/{run}/model"), None),
        (Method::GET, format!("/runs/{run}"), None),
    ];
    for (method, path, body) in &probes {
        let req = app.request(method.clone(), path).bearer_auth(&b);
        let reply = match body {
            Some(v) => app.send_json(req, v).await?,
            None => app.send(req).await?,
        };
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}: {}", reply.body);
    }
    let predict = app
        .send_body(app.post(&format!("/api/v1/runs/{run}/predict")).bearer_auth(&b).insert_header(("content-type", "text/csv")), "a,b,name\n0.1,0.2,x\n")
        .await?;
    assert_eq!(predict.status, StatusCode::NOT_FOUND, "{}", predict.body);
    let after = app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.not_found'").await?;
    assert_eq!(after - before, probes.len() as i64 + 1, "every probe audited");
    // Nothing moved: the run is still queued, the dataset's columns untouched.
    let mine = app.get_as(&a, &format!("/api/v1/runs/{run}")).await?.json();
    assert_eq!(mine["status"], "queued");
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action IN ('run.cancel_requested', 'dataset.columns_set')").await?, 0);
    Ok(())
}

/// Ownership, organisation, role, status and bookkeeping fields in bodies are refused (400 or
/// 422, the unknown field named) on every create and update, and nothing is written.
#[actix_web::test]
async fn mass_assignment_is_refused_on_every_create_and_update_body() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let admin = app.token("admin").await?;
    let l = app.token("licensee").await?;
    let lic = licence(&app, json!({})).await?;
    let ds = upload(&app, &l, csv(50)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let asset = app
        .send_json(app.post("/api/v1/assets").bearer_auth(&m), &json!({ "kind": "trade_secret", "title": "Recipe", "description": "d", "custodian": "c" }))
        .await?;
    let asset = asset.json()["id"].as_str().ok_or("no asset")?.to_owned();
    let agreement: String = sqlx::query_scalar("SELECT id::text FROM agreements LIMIT 1").fetch_one(&app.t.db.pool).await?;
    let foreign = app.licensee_b.to_string();
    let cases: Vec<(&str, Method, String, Value, &str)> = vec![
        (
            &m,
            Method::POST,
            "/api/v1/assets".into(),
            json!({ "kind": "trade_secret", "title": "X", "description": "d", "custodian": "c", "organisation_id": foreign }),
            "organisation_id",
        ),
        (&m, Method::PATCH, format!("/api/v1/assets/{asset}"), json!({ "organisation_id": foreign }), "organisation_id"),
        (&m, Method::PATCH, format!("/api/v1/assets/{asset}"), json!({ "created_by": foreign }), "created_by"),
        (
            &m,
            Method::POST,
            "/api/v1/agreements".into(),
            json!({ "kind": "non_exclusive_licence", "title": "Y", "licensee_id": app.licensee_a.to_string(), "assets": [asset], "terms": { "territory": ["DE"], "effective_date": "2026-01-01" }, "status": "executed" }),
            "status",
        ),
        (&m, Method::POST, format!("/api/v1/agreements/{agreement}/versions"), json!({ "owner": foreign }), "owner"),
        (
            &m,
            Method::POST,
            "/api/v1/licences".into(),
            json!({ "agreement_id": agreement, "templates": ["logistic-regression"], "valid_until": "2099-01-01T00:00:00Z", "organisation_id": foreign }),
            "organisation_id",
        ),
        (&l, Method::PATCH, format!("/api/v1/datasets/{ds}"), json!({ "columns": {}, "organisation_id": foreign }), "organisation_id"),
        (&l, Method::POST, "/api/v1/runs".into(), json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(1), "status": "succeeded" }), "status"),
        (&l, Method::POST, "/api/v1/runs".into(), json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(1), "reserved_units": 0 }), "reserved_units"),
        (
            &admin,
            Method::POST,
            "/api/v1/users".into(),
            json!({ "email": "new@aurora.example", "display_name": "N", "role": "manager", "organisation_id": app.licensor.to_string(), "password": "a long enough password", "id": foreign }),
            "id",
        ),
        (&admin, Method::PATCH, format!("/api/v1/organisations/{}", app.licensee_a), json!({ "id": foreign }), "id"),
        (
            &admin,
            Method::PATCH,
            format!("/api/v1/users/{}", app.accounts["licensee"].id),
            json!({ "organisation_id": app.licensor.to_string() }),
            "organisation_id",
        ),
        (&l, Method::POST, "/api/v1/me/password".into(), json!({ "current": PASSWORD, "new": "another long password", "role": "admin" }), "role"),
    ];
    let tables = "SELECT (SELECT count(*) FROM ip_assets) + (SELECT count(*) FROM agreements) + (SELECT count(*) FROM agreement_versions) + (SELECT count(*) FROM licences) + (SELECT count(*) FROM runs) + (SELECT count(*) FROM users) + (SELECT count(*) FROM organisations)";
    let snapshot = "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (SELECT row_to_json(t)::text x FROM ip_assets t UNION ALL SELECT row_to_json(t)::text FROM users t UNION ALL SELECT row_to_json(t)::text FROM organisations t UNION ALL SELECT row_to_json(t)::text FROM datasets t UNION ALL SELECT row_to_json(t)::text FROM licences t) s";
    let rows_before = app.count(tables).await?;
    let state_before: Option<String> = sqlx::query_scalar(snapshot).fetch_one(&app.t.db.pool).await?;
    for (token, method, path, body, field) in &cases {
        let reply = app.send_json(app.request(method.clone(), path).bearer_auth(token), body).await?;
        assert!(matches!(reply.status, StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY), "{method} {path} {body}: {} {}", reply.status, reply.body);
        // Refused *for* the injected field, not for something else wrong with the body.
        assert!(reply.body.contains(&format!("unknown field `{field}`")), "{method} {path}: {}", reply.body);
    }
    assert_eq!(app.count(tables).await?, rows_before, "no row written");
    let state_after: Option<String> = sqlx::query_scalar(snapshot).fetch_one(&app.t.db.pool).await?;
    assert_eq!(state_after, state_before, "no row changed");
    Ok(())
}

/// A token whose claims were edited (another user, a later expiry) with the original signature
/// kept is 401, as is the same claims re-signed with HS256 and the public key.
#[actix_web::test]
async fn tampered_claims_under_the_original_signature_are_401() -> TestResult {
    let app = spawn_app().await?;
    let token = app.token("licensee").await?;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: Value = serde_json::from_slice(&b64.decode(parts[1])?)?;
    let admin_id = app.accounts["admin"].id.to_string();
    let mut edits = Vec::new();
    for (field, value) in [
        ("sub", json!(admin_id)),
        ("exp", json!(claims["exp"].as_i64().unwrap_or(0) + 86_400)),
        ("role", json!("admin")),
        ("org", json!(app.licensor.to_string())),
    ] {
        let mut c = claims.clone();
        c[field] = value;
        edits.push(format!("{}.{}.{}", parts[0], b64.encode(serde_json::to_vec(&c)?), parts[2]));
    }
    let header: Value = serde_json::from_slice(&b64.decode(parts[0])?)?;
    assert_eq!(header["alg"], "EdDSA", "the algorithm is pinned to the server's key type");
    // Algorithm confusion: the same claims "signed" with HS256, the server's public key as secret.
    let public = {
        use ring::signature::KeyPair as _;
        ring::signature::Ed25519KeyPair::from_pkcs8(&app.keys.jwt_pkcs8).map_err(|e| e.to_string())?.public_key().as_ref().to_vec()
    };
    let hs = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &jsonwebtoken::EncodingKey::from_secret(&public))?;
    edits.push(hs);
    let rejected_before = app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.token_rejected'").await?;
    for forged in &edits {
        let reply = app.get_as(forged, "/api/v1/me").await?;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{forged}: {}", reply.body);
        assert!(!reply.body.contains(&admin_id), "nothing about the impersonated user");
    }
    // One entry per address and window, the rest summarised (hostile_input tests the summary).
    let rejected = app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.token_rejected'").await? - rejected_before;
    assert!(rejected <= 1, "{rejected} entries for {} rejections from one address", edits.len());
    assert_eq!(app.get_as(&token, "/api/v1/me").await?.status, StatusCode::OK, "the untouched token still works");
    Ok(())
}

fn gzip(data: &[u8]) -> Res<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// A gzip bomb (64 MiB of zeros in ~64 KiB) sent as JSON, form, CSV or multipart is 415 before
/// a byte is inflated, and nothing is written.
#[actix_web::test]
async fn compressed_bodies_are_refused_before_they_inflate() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let l = app.token("licensee").await?;
    let bomb = gzip(&vec![b' '; 64 * 1024 * 1024])?;
    assert!(bomb.len() < 200 * 1024, "{} bytes", bomb.len());
    let before = app.count("SELECT (SELECT count(*) FROM ip_assets) + (SELECT count(*) FROM datasets) + (SELECT count(*) FROM artifacts)").await?;
    for (token, path, content_type) in [
        (&m, "/api/v1/assets", "application/json"),
        (&l, "/api/v1/datasets?name=x.csv", "text/csv"),
        (&m, "/api/v1/assets/import", "text/csv"),
        (&m, "/api/v1/artifacts", "multipart/form-data; boundary=x"),
    ] {
        for encoding in ["gzip", "deflate", "br", "x-gzip"] {
            let req = app.post(path).bearer_auth(token).insert_header(("content-type", content_type)).insert_header(("content-encoding", encoding));
            let reply = app.send_body(req, bomb.clone()).await?;
            assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path} {encoding}: {}", reply.body);
            assert!(reply.json()["error"]["message"].as_str().unwrap_or("").contains("uncompressed"), "{}", reply.body);
        }
    }
    assert_eq!(app.count("SELECT (SELECT count(*) FROM ip_assets) + (SELECT count(*) FROM datasets) + (SELECT count(*) FROM artifacts)").await?, before);
    Ok(())
}

/// A dataset or prediction body that announces more than the upload limit is 413 at once: the
/// server does not read (or buffer) it first.
#[actix_web::test]
async fn an_oversized_csv_is_413_on_its_content_length_before_reading() -> TestResult {
    let app = spawn_with(|s| s.max_upload = 64 * 1024).await?;
    let l = app.token("licensee").await?;
    // Announce 1 GiB, send a few bytes: only a Content-Length check can answer before the body.
    // Raw blocking socket work goes to a blocking thread: this test's runtime also drives the
    // server's database connections.
    let addr = app.srv.addr();
    let answer = actix_web::rt::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut stream = std::net::TcpStream::connect(addr)?;
        write!(stream, "POST /api/v1/datasets?name=big.csv HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {l}\r\nContent-Type: text/csv\r\nContent-Length: 1073741824\r\n\r\na,b,y\n")?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = std::io::Read::read(&mut stream, &mut buf)?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        Ok(answer)
    })
    .await??;
    let head = String::from_utf8_lossy(&answer);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(app.count("SELECT count(*) FROM datasets").await?, 0);
    Ok(())
}

/// `next` after login and `return_to` after an upload stay on this site, whatever a browser
/// would make of tabs, newlines and backslashes.
#[actix_web::test]
async fn login_next_cannot_redirect_off_site() -> TestResult {
    let app = spawn_app().await?;
    for hostile in ["//evil.example", "/\t/evil.example", "/\\evil.example", "https://evil.example", "/\n/evil.example", " /evil"] {
        assert_eq!(licentia_web::layout::safe_next(Some(hostile)), "/", "{hostile:?}");
    }
    assert_eq!(licentia_web::layout::safe_next(Some("/agreements?status=draft")), "/agreements?status=draft");
    let page = app.send(app.get("/login?next=%2F%09%2Fevil.example")).await?;
    assert!(page.body.contains(r#"name="next" value="/""#), "{}", page.body);
    Ok(())
}

/// An attacker who keeps knocking on a locked account does not keep it locked: attempts refused
/// by the throttle are not failures, so the lock ends when the last real failure ages out.
#[actix_web::test]
async fn knocking_on_a_locked_account_does_not_extend_the_lock() -> TestResult {
    let app = spawn_with(|s| {
        s.throttle.pair_max_failures = 3;
        s.throttle.account_window = chrono::Duration::seconds(3);
        s.throttle.ip_max_attempts = 1000;
    })
    .await?;
    let email = app.email("manager");
    for _ in 0..3 {
        assert_eq!(app.login_api(&email, "wrong password!").await?.status, StatusCode::UNAUTHORIZED);
    }
    let locked_at = std::time::Instant::now();
    // Knock while locked: every answer is 429, the right password included (no oracle).
    for pw in ["wrong password!", PASSWORD, "wrong password!", PASSWORD] {
        assert_eq!(app.login_api(&email, pw).await?.status, StatusCode::TOO_MANY_REQUESTS);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    // Once the three real failures have left the window the right password works, although the
    // knocks were inside it.
    let wait = std::time::Duration::from_millis(3300).saturating_sub(locked_at.elapsed());
    actix_web::rt::time::sleep(wait).await;
    let ok = app.login_api(&email, PASSWORD).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(app.count("SELECT count(*) FROM login_attempts WHERE throttled").await?, 4);
    Ok(())
}

/// Errors say what went wrong in the user's terms and never how: a real internal failure (the
/// table gone under a running server) is a 500 with "internal error" and a request id, in JSON
/// and as an HTML page, with no SQL, driver message, stack trace, connection string, token or key.
#[actix_web::test]
async fn error_answers_never_show_sql_traces_tokens_or_keys() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let s = app.browser_login("manager").await?;
    let mut bodies = Vec::new();
    // Ordinary refusals first.
    bodies.push(app.send_body(app.post("/api/v1/assets").bearer_auth(&m).insert_header(("content-type", "application/json")), "{\"kind\": ").await?);
    bodies.push(
        app.send_json(app.post("/api/v1/assets").bearer_auth(&m), &json!({ "kind": "patent", "title": "x'; DROP TABLE users; --", "jurisdiction": "ZZ" }))
            .await?,
    );
    bodies.push(app.get_as(&format!("{m}x"), "/api/v1/me").await?);
    bodies.push(app.send(app.get("/assets/not-a-uuid").insert_header(("cookie", s.cookie.clone()))).await?);
    // Then a real internal failure.
    sqlx::query("DROP TABLE ip_assets CASCADE").execute(&app.t.db.pool).await?;
    let api = app.get_as(&m, "/api/v1/assets").await?;
    assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", api.body);
    assert_eq!(api.json()["error"]["message"], "internal error");
    let page = app.send(app.get("/assets").insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.header("content-type").unwrap_or_default().starts_with("text/html"), "browsers get a page");
    let request_id = page.header("x-request-id").ok_or("no request id")?;
    assert!(page.body.contains(&request_id), "the page quotes its request id for support: {}", page.body);
    bodies.push(api);
    bodies.push(page);
    let secrets = [
        "sqlx",
        "SELECT",
        "does not exist",
        "ip_assets",
        "postgres://",
        "panicked",
        "src/",
        "RUST_BACKTRACE",
        m.as_str(),
        s.csrf.as_str(),
        "BEGIN PRIVATE KEY",
        &hex::encode(&app.keys.csrf_secret),
    ];
    for b in &bodies {
        for secret in secrets {
            assert!(!b.body.contains(secret), "{} answer shows {secret:?}: {}", b.status, b.body);
        }
        assert!(b.status.is_client_error() || b.status.is_server_error(), "{}", b.status);
    }
    Ok(())
}
