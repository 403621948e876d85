//! The role × route matrix, generated from the route table, and organisation scoping.

use actix_web::http::{Method, StatusCode};
use licentia_domain::Role;
use licentia_web::routes::{Access, table};
use serde_json::json;

use crate::helpers::*;

/// Fills a route's path parameters with ids that exist nowhere (the matrix tests the permission
/// gate, which runs before any lookup).
fn concrete(path: &str) -> String {
    path.replace("{id}", "0190aaaa-0000-7000-8000-000000000000").replace("{seq}", "999999").replace("{name}", "licentia.css")
}

async fn call(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> Res<Reply> {
    let mut req = app.request(method.clone(), path);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if *method == Method::GET { app.send(req).await } else { app.send_json(req, &json!({})).await }
}

#[actix_web::test]
async fn every_route_answers_every_role_exactly_as_the_permission_table_says() -> TestResult {
    let app = spawn_app().await?;
    let mut tokens = Vec::new();
    for (who, role) in [("admin", Role::Admin), ("manager", Role::Manager), ("auditor", Role::Auditor), ("licensee", Role::Licensee)] {
        tokens.push((role, app.token(who).await?));
    }
    let routes = table();
    assert!(routes.len() >= 30, "the table lost routes");
    let mut checked = 0;
    for r in &routes {
        let path = concrete(r.path);
        // Logout routes would end the session the rest of the matrix needs; they get their own
        // test. Everything else is exercised for every role.
        if path.ends_with("/logout") {
            continue;
        }
        let anonymous = call(&app, &r.method, &path, None).await?;
        match r.access {
            Access::Public => assert_ne!(anonymous.status, StatusCode::UNAUTHORIZED, "{} {} is public", r.method, r.path),
            Access::Requires(_) if r.path.starts_with("/api/") || r.path == "/metrics" => {
                assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{} {} anonymous", r.method, r.path)
            }
            Access::Requires(_) if r.method == Method::GET => assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "{} {} anonymous page", r.method, r.path),
            Access::Requires(_) => assert!(matches!(anonymous.status, StatusCode::SEE_OTHER | StatusCode::UNAUTHORIZED), "{} {}", r.method, r.path),
        }
        for (role, token) in &tokens {
            let reply = call(&app, &r.method, &path, Some(token)).await?;
            assert!(reply.status.as_u16() < 500, "{} {} as {role}: {} {}", r.method, r.path, reply.status, reply.body);
            match r.access {
                Access::Public => {}
                Access::Requires(p) if role.allows(p) => assert!(
                    reply.status != StatusCode::FORBIDDEN && reply.status != StatusCode::UNAUTHORIZED,
                    "{} {} must be allowed for {role}: {}",
                    r.method,
                    r.path,
                    reply.status
                ),
                Access::Requires(_) => assert_eq!(reply.status, StatusCode::FORBIDDEN, "{} {} must be refused for {role}", r.method, r.path),
            }
            checked += 1;
        }
    }
    assert!(checked >= 4 * 30);
    // Every refusal above is in the audit log.
    let denied = app.count("SELECT count(*) FROM audit_log WHERE action = 'authz.denied'").await?;
    let expected = routes
        .iter()
        .filter(|r| !r.path.ends_with("/logout"))
        .map(|r| match r.access {
            Access::Requires(p) => Role::ALL.iter().filter(|role| !role.allows(p)).count() as i64,
            Access::Public => 0,
        })
        .sum::<i64>();
    assert_eq!(denied, expected);
    Ok(())
}

#[actix_web::test]
async fn routes_are_unique_and_every_one_declares_its_access() {
    let routes = table();
    let mut seen = std::collections::HashSet::new();
    for r in &routes {
        assert!(seen.insert((r.method.clone(), r.path)), "{} {} registered twice", r.method, r.path);
        assert!(licentia_web::routes::access_for(&r.method, r.path).is_some());
    }
    // Nothing outside the table is reachable: an unknown path is a JSON 404, not a handler.
    let app = match spawn_app().await {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let r = app.send(app.get("/api/v1/not-a-route")).await.map_err(|e| e.to_string());
    assert!(matches!(r, Ok(ref r) if r.status == StatusCode::NOT_FOUND && r.error_code().as_deref() == Some("not_found")));
}

#[actix_web::test]
async fn a_licensee_asking_for_another_organisation_gets_404_like_a_missing_one() -> TestResult {
    let app = spawn_app().await?;
    let token = app.token("licensee").await?;
    let own = app.get_as(&token, &format!("/api/v1/organisations/{}", app.licensee_a)).await?;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.json()["name"], json!("Borealis Analytics"));
    let foreign = app.get_as(&token, &format!("/api/v1/organisations/{}", app.licensee_b)).await?;
    let licensor = app.get_as(&token, &format!("/api/v1/organisations/{}", app.licensor)).await?;
    let missing = app.get_as(&token, "/api/v1/organisations/0190aaaa-0000-7000-8000-000000000000").await?;
    for r in [&foreign, &licensor] {
        assert_eq!((r.status, &r.body), (missing.status, &missing.body), "a foreign object must look missing");
        assert!(!r.body.contains("Cirrus") && !r.body.contains("Aurora"));
    }
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // The list is scoped in SQL: only the caller's organisation.
    let list = app.get_as(&token, "/api/v1/organisations").await?.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'authz.not_found' AND target_id = $1")
        .bind(app.licensee_b.to_string())
        .fetch_one(&app.t.db.pool)
        .await?;
    assert_eq!(audited, 1);
    // Licensor-side roles do see every organisation.
    let manager = app.token("manager").await?;
    assert_eq!(app.get_as(&manager, &format!("/api/v1/organisations/{}", app.licensee_b)).await?.status, StatusCode::OK);
    Ok(())
}

#[actix_web::test]
async fn mass_assignment_fields_are_refused_and_change_nothing() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let target = app.accounts.get("licensee").map(|a| a.id).ok_or("no licensee")?;
    let r = app
        .send_json(
            app.patch(&format!("/api/v1/users/{target}")).bearer_auth(&admin),
            &json!({ "disabled": false, "organisation_id": app.licensor.to_string(), "email": "x@y.example" }),
        )
        .await?;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_ne!(r.status, StatusCode::NOT_FOUND);
    let org: uuid::Uuid = sqlx::query_scalar("SELECT organisation_id FROM users WHERE id = $1").bind(target).fetch_one(&app.t.db.pool).await?;
    assert_eq!(org, app.licensee_a.as_uuid());
    // A role that does not fit the organisation is a 422 naming the field.
    let r = app.send_json(app.patch(&format!("/api/v1/users/{target}")).bearer_auth(&admin), &json!({ "role": "admin" })).await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], json!("role"));
    Ok(())
}
