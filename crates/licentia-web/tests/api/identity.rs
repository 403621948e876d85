//! Identity (issue 20): second factors (TOTP per RFC 6238, recovery codes, passkeys through a
//! software WebAuthn authenticator), the per-organisation policy that requires them, password
//! resets by e-mail to a real SMTP server, and each user's list of sessions.

use actix_web::http::StatusCode;
use licentia_crypto::totp::{STEP_SECONDS, hotp};
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::helpers::*;

/// RFC 4648 base32 (unpadded), the form the enrolment shows the secret in.
fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes().filter(|c| *c != b' ') {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else { continue };
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// What the user's authenticator app shows `steps` time steps from now.
fn code(key: &[u8], steps: i64) -> String {
    let step = chrono::Utc::now().timestamp().div_euclid(STEP_SECONDS) + steps;
    format!("{:06}", hotp(key, step as u64, 6))
}

async fn require_second_factor(app: &TestApp, roles: &[&str]) -> Res<()> {
    let admin = app.token("admin").await?;
    let r = app.send_json(app.patch(&format!("/api/v1/organisations/{}", app.licensor)).bearer_auth(&admin), &json!({ "second_factor_roles": roles })).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    Ok(())
}

/// A password login that must answer `second_factor_required`: its challenge and details.
async fn challenge_for(app: &TestApp, who: &str) -> Res<Value> {
    let r = app.login_api(&app.email(who), PASSWORD).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.error_code().as_deref(), Some("second_factor_required"), "{}", r.body);
    assert!(r.json().get("token").is_none(), "no token with a password alone: {}", r.body);
    Ok(r.json()["error"]["details"].clone())
}

async fn second_step(app: &TestApp, challenge: &Value, proof: Value) -> Res<Reply> {
    let mut body = proof;
    body["challenge"] = challenge["challenge"].clone();
    app.send_json(app.post("/api/v1/auth/second-factor"), &body).await
}

/// Enrols `who`'s authenticator app during a login the policy stopped; returns the key and the
/// recovery codes the enrolment issued.
async fn enrol_during_login(app: &TestApp, who: &str) -> Res<(Vec<u8>, Vec<String>)> {
    let c = challenge_for(app, who).await?;
    assert_eq!(c["enrol"], json!(true), "{c}");
    let e = app.send_json(app.post("/api/v1/auth/second-factor/totp-enrolment"), &json!({ "challenge": c["challenge"] })).await?;
    assert_eq!(e.status, StatusCode::OK, "{}", e.body);
    let uri = e.json()["otpauth_uri"].as_str().unwrap_or_default().to_owned();
    assert!(uri.starts_with("otpauth://totp/Licentia:") && uri.contains("issuer=Licentia"), "{uri}");
    let key = base32_decode(e.json()["secret"].as_str().unwrap_or_default());
    assert_eq!(key.len(), 32, "256-bit secret");
    let ok = second_step(app, &c, json!({ "totp": code(&key, 0) })).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.json()["token"].as_str().is_some());
    let codes: Vec<String> =
        ok.json()["recovery_codes"].as_array().map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect()).unwrap_or_default();
    assert_eq!(codes.len(), 10, "{}", ok.body);
    Ok((key, codes))
}

#[actix_web::test]
async fn a_password_alone_gets_only_second_factor_required_where_the_policy_names_the_role() -> TestResult {
    let app = spawn_app().await?;
    // The default, on organisations created the way every face creates them.
    let admin = app.token("admin").await?;
    let r = app.send_json(app.post("/api/v1/organisations").bearer_auth(&admin), &json!({ "name": "Second Licensor", "kind": "licensor" })).await?;
    assert_eq!(r.json()["second_factor_roles"], json!(["admin", "manager"]), "{}", r.body);
    let r = app.send_json(app.post("/api/v1/organisations").bearer_auth(&admin), &json!({ "name": "New Licensee", "kind": "licensee" })).await?;
    assert_eq!(r.json()["second_factor_roles"], json!([]), "{}", r.body);
    let r =
        app.send_json(app.patch(&format!("/api/v1/organisations/{}", app.licensor)).bearer_auth(&admin), &json!({ "second_factor_roles": ["owner"] })).await?;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("second_factor_roles")), "{}", r.body);

    require_second_factor(&app, &["admin", "manager"]).await?;
    let sessions_before = app.count("SELECT count(*) FROM sessions").await?;
    let c = challenge_for(&app, "manager").await?;
    assert_eq!((c["enrol"].clone(), c["methods"].clone()), (json!(true), json!(["totp"])), "nothing enrolled yet: set one up first");
    assert_eq!(app.count("SELECT count(*) FROM sessions").await?, sessions_before, "no session was opened");
    // The challenge opens nothing by itself: it is not a bearer token.
    let r = app.get_as(c["challenge"].as_str().unwrap_or_default(), "/api/v1/me").await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A wrong password still says only that.
    let r = app.login_api(&app.email("manager"), "not the password at all").await?;
    assert_eq!(r.error_code().as_deref(), Some("invalid_credentials"));
    // Roles the policy does not name log in as before.
    assert!(app.token("auditor").await.is_ok());
    assert!(app.token("licensee").await.is_ok());
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.second_factor_required'").await?, 1);

    // The browser form shows the second step (an enrolment with its QR code), and no session.
    let page = app.send(app.get("/login")).await?;
    let pre = page.cookie_value("__Host-licentia-pre").ok_or("no pre cookie")?;
    let csrf = extract_csrf(&page.body).ok_or("no csrf")?;
    let email = app.email("admin");
    let r = app
        .send_form(
            app.post("/login").insert_header(("cookie", format!("__Host-licentia-pre={pre}"))),
            &[("csrf", &csrf), ("email", &email), ("password", PASSWORD), ("next", "/")],
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.cookie_value("__Host-licentia").is_none(), "no session cookie before the second step");
    assert!(r.body.contains("Set up a second factor") && r.body.contains("<svg") && r.body.contains("id=\"totp-secret\""), "{}", r.body);
    Ok(())
}

#[actix_web::test]
async fn totp_refuses_wrong_reused_and_out_of_window_codes_and_recovery_codes_work_once() -> TestResult {
    let app = spawn_with(|s| s.throttle.ip_max_attempts = 1000).await?;
    require_second_factor(&app, &["manager"]).await?;
    let (key, recovery) = enrol_during_login(&app, "manager").await?;
    assert_eq!(app.count("SELECT count(*) FROM recovery_codes WHERE used_at IS NULL").await?, 10);
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM recovery_codes").fetch_all(&app.t.db.pool).await?;
    assert!(stored.iter().all(|h| h.len() == 32) && !stored.iter().any(|h| recovery.iter().any(|c| h == c.as_bytes())), "stored hashed");

    // Enrolled now: the login asks to verify, and offers the app and the codes.
    let c = challenge_for(&app, "manager").await?;
    assert_eq!((c["enrol"].clone(), c["methods"].clone()), (json!(false), json!(["totp", "recovery_code"])));
    let wrong = format!("{:06}", (code(&key, 0).parse::<u32>()? + 1) % 1_000_000);
    for (why, attempt) in
        [("a wrong code", wrong), ("the code enrolment used", code(&key, 0)), ("a code two steps old", code(&key, -2)), ("two steps ahead", code(&key, 2))]
    {
        let r = second_step(&app, &c, json!({ "totp": attempt })).await?;
        assert_eq!((r.status, r.error_code()), (StatusCode::UNAUTHORIZED, Some("invalid_second_factor".into())), "{why}: {}", r.body);
    }
    // The next step is within the one step of skew RFC 6238 allows: accepted once.
    let next = code(&key, 1);
    let ok = second_step(&app, &c, json!({ "totp": next })).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let me = app.get_as(ok.json()["token"].as_str().unwrap_or_default(), "/api/v1/me").await?;
    assert_eq!(me.json()["email"], json!(app.email("manager")));
    // The challenge is spent by its success.
    let again = second_step(&app, &c, json!({ "totp": code(&key, 1) })).await?;
    assert_eq!(again.error_code().as_deref(), Some("login_expired"));
    // A new login cannot reuse the step just used, nor go back to an earlier one.
    let c = challenge_for(&app, "manager").await?;
    for attempt in [next.clone(), code(&key, 0)] {
        let r = second_step(&app, &c, json!({ "totp": attempt })).await?;
        assert_eq!(r.error_code().as_deref(), Some("invalid_second_factor"), "{}", r.body);
    }
    // A recovery code works, however it is typed, once.
    let typed = recovery[3].to_lowercase().replace('-', " ");
    let ok = second_step(&app, &c, json!({ "recovery_code": typed })).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let c = challenge_for(&app, "manager").await?;
    let r = second_step(&app, &c, json!({ "recovery_code": recovery[3] })).await?;
    assert_eq!(r.error_code().as_deref(), Some("invalid_second_factor"), "a recovery code works once");
    let ok = second_step(&app, &c, json!({ "recovery_code": recovery[4] })).await?;
    assert_eq!(ok.status, StatusCode::OK);
    // Exactly one proof per step.
    let c = challenge_for(&app, "manager").await?;
    let r = second_step(&app, &c, json!({ "totp": "123456", "recovery_code": recovery[5] })).await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.count("SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL").await?, 2);
    assert!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.second_factor_failed'").await? >= 7);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.recovery_code_used'").await?, 2);
    let methods: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT details->>'second_factor' FROM audit_log WHERE action = 'auth.login' AND actor_label = 'manager@aurora.example' ORDER BY seq",
    )
    .fetch_all(&app.t.db.pool)
    .await?;
    assert_eq!(
        methods.iter().filter(|m| m.is_some()).map(|m| m.as_deref().unwrap_or_default()).collect::<Vec<_>>(),
        ["totp", "totp", "recovery_code", "recovery_code"]
    );
    Ok(())
}

#[actix_web::test]
async fn the_second_step_is_throttled_like_the_password_and_a_challenge_has_five_tries() -> TestResult {
    let app = spawn_app().await?;
    require_second_factor(&app, &["manager"]).await?;
    let (_key, _codes) = enrol_during_login(&app, "manager").await?;
    let mut failures = 0;
    let mut throttled = false;
    for _round in 0..3 {
        let r = app.login_api(&app.email("manager"), PASSWORD).await?;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            assert!(r.header("retry-after").is_some());
            break;
        }
        let c = r.json()["error"]["details"].clone();
        for attempt in 1..=5 {
            let r = second_step(&app, &c, json!({ "totp": "000000" })).await?;
            failures += 1;
            let expected = if attempt == 5 { "login_expired" } else { "invalid_second_factor" };
            assert_eq!(r.error_code().as_deref(), Some(expected), "try {attempt}: {}", r.body);
        }
    }
    // Ten failed second steps on the account from one address: the default pair limit of the
    // password throttle, which now refuses even the right password.
    assert!(throttled && failures == 10, "throttled {throttled} after {failures} failures");
    Ok(())
}

#[actix_web::test]
async fn a_passkey_registered_and_used_through_a_software_authenticator_logs_in() -> TestResult {
    // WebAuthn binds credentials to a host name: an installation reached by IP has no passkeys.
    let by_ip = spawn_app().await?;
    let m = by_ip.token("manager").await?;
    let r = by_ip.send_json(by_ip.post("/api/v1/me/passkeys/options").bearer_auth(&m), &json!({})).await?;
    assert_eq!((r.status, r.error_code().as_deref()), (StatusCode::CONFLICT, Some("passkeys_unavailable")), "{}", r.body);

    let app = spawn_with(|s| {
        s.public_url = "http://localhost:8080".into();
        s.throttle.ip_max_attempts = 1000;
    })
    .await?;
    let origin = Url::parse("http://localhost:8080")?;
    let m = app.token("manager").await?;
    let options = app.send_json(app.post("/api/v1/me/passkeys/options").bearer_auth(&m), &json!({})).await?;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    assert_eq!(options.json()["publicKey"]["rp"]["id"], json!("localhost"));
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.passkey_registration_started'").await?, 1);
    let mut authenticator = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let ccr: CreationChallengeResponse = serde_json::from_value(options.json())?;
    let credential = authenticator.do_registration(origin.clone(), ccr).map_err(|e| format!("{e:?}"))?;
    let added = app.send_json(app.post("/api/v1/me/passkeys").bearer_auth(&m), &json!({ "name": "Test key", "credential": credential })).await?;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.json()["recovery_codes"].as_array().map(Vec::len), Some(10), "the first factor comes with recovery codes");
    // The ceremony answers once.
    let replay = app.send_json(app.post("/api/v1/me/passkeys").bearer_auth(&m), &json!({ "name": "Again", "credential": credential })).await?;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);

    // A passkey is a factor: the password alone no longer logs in, even without a policy.
    let c = challenge_for(&app, "manager").await?;
    assert_eq!(c["methods"], json!(["passkey", "recovery_code"]));
    let get = app.send_json(app.post("/api/v1/auth/second-factor/passkey-options"), &json!({ "challenge": c["challenge"] })).await?;
    assert_eq!(get.status, StatusCode::OK, "{}", get.body);
    let rcr: RequestChallengeResponse = serde_json::from_value(get.json())?;
    let assertion = authenticator.do_authentication(origin.clone(), rcr).map_err(|e| format!("{e:?}"))?;
    let assertion = serde_json::to_value(&assertion)?;
    let ok = second_step(&app, &c, json!({ "passkey": assertion })).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let used: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar("SELECT last_used_at FROM passkeys").fetch_one(&app.t.db.pool).await?;
    assert!(used.is_some(), "the credential was written back after use");

    // The same assertion replayed into a new login fails: it signed another challenge.
    let c = challenge_for(&app, "manager").await?;
    let get = app.send_json(app.post("/api/v1/auth/second-factor/passkey-options"), &json!({ "challenge": c["challenge"] })).await?;
    assert_eq!(get.status, StatusCode::OK);
    let r = second_step(&app, &c, json!({ "passkey": assertion })).await?;
    assert_eq!(r.error_code().as_deref(), Some("invalid_second_factor"), "{}", r.body);
    // Another authenticator (not registered) cannot answer either.
    let rcr: RequestChallengeResponse = serde_json::from_value(get.json())?;
    let mut stranger = WebauthnAuthenticator::new(SoftPasskey::new(true));
    if let Ok(foreign) = stranger.do_authentication(origin.clone(), rcr) {
        let r = second_step(&app, &c, json!({ "passkey": foreign })).await?;
        assert_eq!(r.error_code().as_deref(), Some("invalid_second_factor"), "{}", r.body);
    }
    // And junk is refused, not a 500.
    let r = second_step(&app, &c, json!({ "passkey": { "id": "x" } })).await?;
    assert_eq!(r.error_code().as_deref(), Some("invalid_second_factor"), "{}", r.body);
    // The rightful key still works on this challenge (it has tries left).
    let get = app.send_json(app.post("/api/v1/auth/second-factor/passkey-options"), &json!({ "challenge": c["challenge"] })).await?;
    let rcr: RequestChallengeResponse = serde_json::from_value(get.json())?;
    let assertion = authenticator.do_authentication(origin, rcr).map_err(|e| format!("{e:?}"))?;
    let ok = second_step(&app, &c, json!({ "passkey": assertion })).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    Ok(())
}

#[actix_web::test]
async fn removing_a_factor_needs_the_password_and_the_last_one_stays_while_the_role_requires_it() -> TestResult {
    let app = spawn_with(|s| s.throttle.ip_max_attempts = 1000).await?;
    let m = app.token("manager").await?;
    let begun = app.send(app.post("/api/v1/me/totp").bearer_auth(&m)).await?;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.body);
    let key = base32_decode(begun.json()["secret"].as_str().unwrap_or_default());
    let r = app.send_json(app.post("/api/v1/me/totp/confirm").bearer_auth(&m), &json!({ "code": "000000" })).await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a wrong first code confirms nothing");
    let r = app.send_json(app.post("/api/v1/me/totp/confirm").bearer_auth(&m), &json!({ "code": code(&key, 0) })).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["recovery_codes"].as_array().map(Vec::len), Some(10));
    let summary = app.get_as(&m, "/api/v1/me/second-factors").await?;
    assert_eq!((summary.json()["totp"].clone(), summary.json()["required"].clone()), (json!(true), json!(false)));
    // A second app cannot silently replace the first.
    let r = app.send(app.post("/api/v1/me/totp").bearer_auth(&m)).await?;
    assert_eq!(r.status, StatusCode::CONFLICT);

    require_second_factor(&app, &["manager"]).await?;
    let r = app.send_json(app.post("/api/v1/me/totp/remove").bearer_auth(&m), &json!({ "password": "wrong password, surely" })).await?;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("current")));
    let r = app.send_json(app.post("/api/v1/me/totp/remove").bearer_auth(&m), &json!({ "password": PASSWORD })).await?;
    assert_eq!(r.status, StatusCode::CONFLICT, "the last factor of a role that requires one: {}", r.body);
    require_second_factor(&app, &[]).await?;
    let r = app.send_json(app.post("/api/v1/me/totp/remove").bearer_auth(&m), &json!({ "password": PASSWORD })).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.count("SELECT count(*) FROM recovery_codes").await?, 0, "codes go with the last factor");
    assert!(app.token("manager").await.is_ok(), "no factor, no policy: the password logs in again");
    Ok(())
}

/// The reset link in the newest message to `to` in the maildir.
fn reset_link(maildir: &std::path::Path, to: &str) -> Option<String> {
    let messages = maildir_messages(maildir);
    let m = messages.iter().find(|m| m.contains(&format!("To: {to}")) && m.contains("/password-reset/"))?;
    let at = m.find("/password-reset/")? + "/password-reset/".len();
    Some(m[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect())
}

async fn create_user(app: &TestApp, email: &str) -> Res<String> {
    let admin = app.token("admin").await?;
    let body = json!({ "email": email, "role": "licensee", "organisation_id": app.licensee_a.to_string(), "password": PASSWORD });
    let r = app.send_json(app.post("/api/v1/users").bearer_auth(&admin), &body).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok(r.json()["id"].as_str().unwrap_or_default().to_owned())
}

async fn deliver(app: &TestApp, addr: &str) -> Res<usize> {
    let mailer = licentia_app::mail::Mailer::new(&licentia_app::mail::MailConfig {
        smtp_url: format!("smtp://{addr}"),
        from: "Licentia <licentia@aurora.example>".into(),
    })?;
    Ok(licentia_app::mail::send_due(&app.state, &mailer).await?)
}

#[actix_web::test]
async fn a_reset_link_arrives_by_mail_works_once_expires_and_unknown_addresses_get_the_same_answer() -> TestResult {
    let app = spawn_with(|s| s.throttle.ip_max_attempts = 1000).await?;
    let email = format!("reset-{}@borealis.example", uuid::Uuid::new_v4().simple());
    create_user(&app, &email).await?;
    let old_token = app.login_api(&email, PASSWORD).await?.json()["token"].as_str().unwrap_or_default().to_owned();

    let known = app.send_json(app.post("/api/v1/auth/password-reset"), &json!({ "email": email.to_uppercase() })).await?;
    let unknown = app.send_json(app.post("/api/v1/auth/password-reset"), &json!({ "email": "nobody-at-all@borealis.example" })).await?;
    let malformed = app.send_json(app.post("/api/v1/auth/password-reset"), &json!({ "email": "not an address" })).await?;
    for r in [&known, &unknown, &malformed] {
        assert_eq!((r.status, r.body.as_str()), (known.status, known.body.as_str()), "one answer whatever the address");
    }
    assert_eq!(known.status, StatusCode::ACCEPTED);
    // The browser form says the same.
    let page = app.send(app.get("/password-reset")).await?;
    let pre = page.cookie_value("__Host-licentia-pre").ok_or("no pre cookie")?;
    let csrf = extract_csrf(&page.body).ok_or("no csrf")?;
    let r = app
        .send_form(
            app.post("/password-reset").insert_header(("cookie", format!("__Host-licentia-pre={pre}"))),
            &[("csrf", &csrf), ("email", "nobody@else.example")],
        )
        .await?;
    assert!(r.body.contains("If an account uses this address"), "{}", r.body);
    assert_eq!(app.count("SELECT count(*) FROM mail_outbox WHERE kind = 'password_reset'").await?, 1, "only the real account is mailed");
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM password_resets").fetch_all(&app.t.db.pool).await?;
    assert_eq!(stored.len(), 1);

    let Some((addr, maildir)) = smtp_server()? else { return Ok(()) };
    assert_eq!(deliver(&app, &addr).await?, 1);
    let token = reset_link(&maildir, &email).ok_or_else(|| format!("no reset mail to {email} in {}", maildir.display()))?;
    assert!(token.len() >= 43, "256 bits in the link: {token}");
    assert!(!stored.iter().any(|h| h == token.as_bytes()), "the token is stored hashed");
    let body: String = sqlx::query_scalar("SELECT body FROM mail_outbox WHERE kind = 'password_reset'").fetch_one(&app.t.db.pool).await?;
    assert!(!body.contains(&token), "the sent message's link does not stay in the database");

    // The link's page offers the form; a password the rules refuse leaves the link usable.
    let page = app.send(app.get(&format!("/password-reset/{token}"))).await?;
    assert_eq!(page.status, StatusCode::OK);
    // The token is in the path: the site-wide policy sends no referrer to other origins.
    assert_eq!(page.header("referrer-policy").as_deref(), Some("same-origin"));
    let r = app.send_json(app.post("/api/v1/auth/password-reset/complete"), &json!({ "token": token, "password": "short" })).await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let new_password = "a brand new passphrase of mine";
    let r = app.send_json(app.post("/api/v1/auth/password-reset/complete"), &json!({ "token": token, "password": new_password })).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["sessions_revoked"], json!(1));
    assert_eq!(app.get_as(&old_token, "/api/v1/me").await?.status, StatusCode::UNAUTHORIZED, "the old token ended with the reset");
    assert_eq!(app.login_api(&email, PASSWORD).await?.status, StatusCode::UNAUTHORIZED, "the old password is gone");
    assert_eq!(app.login_api(&email, new_password).await?.status, StatusCode::OK);
    // Once.
    let r = app.send_json(app.post("/api/v1/auth/password-reset/complete"), &json!({ "token": token, "password": "yet another passphrase" })).await?;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.body);
    assert_eq!(app.send(app.get(&format!("/password-reset/{token}"))).await?.status, StatusCode::GONE);

    // And a link expires: one whose 30 minutes are over is refused.
    app.send_json(app.post("/api/v1/auth/password-reset"), &json!({ "email": email })).await?;
    assert_eq!(deliver(&app, &addr).await?, 1);
    let mut second = None;
    for m in maildir_messages(&maildir).iter().filter(|m| m.contains(&format!("To: {email}"))) {
        let at = m.find("/password-reset/").map(|i| i + "/password-reset/".len()).unwrap_or(0);
        let t: String = m[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        if t != token && !t.is_empty() {
            second = Some(t);
        }
    }
    let second = second.ok_or("the second reset mail did not arrive")?;
    let minutes: f64 = sqlx::query_scalar("SELECT extract(epoch FROM expires_at - created_at)::float8 / 60 FROM password_resets WHERE used_at IS NULL")
        .fetch_one(&app.t.db.pool)
        .await?;
    assert!((minutes - 30.0).abs() < 0.1, "{minutes}");
    sqlx::query("UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL").execute(&app.t.db.pool).await?;
    let r = app.send_json(app.post("/api/v1/auth/password-reset/complete"), &json!({ "token": second, "password": "too late for this one" })).await?;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.password_reset_requested'").await?, 5);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.password_reset'").await?, 1);
    Ok(())
}

#[actix_web::test]
async fn requests_for_reset_links_are_throttled_per_address_without_locking_the_login() -> TestResult {
    let app = spawn_with(|s| s.throttle.ip_max_attempts = 1000).await?;
    let email = app.email("licensee");
    let mut refused_at = None;
    for i in 1..=12 {
        let r = app.send_json(app.post("/api/v1/auth/password-reset"), &json!({ "email": email })).await?;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(i);
            break;
        }
    }
    assert_eq!(refused_at, Some(11), "ten links per address and window");
    assert_eq!(app.count("SELECT count(*) FROM mail_outbox WHERE kind = 'password_reset'").await?, 10);
    assert!(app.token("licensee").await.is_ok(), "asking for links does not lock the owner out");
    Ok(())
}

#[actix_web::test]
async fn an_admin_forces_a_reset_from_the_users_page() -> TestResult {
    let app = spawn_app().await?;
    let email = format!("forced-{}@borealis.example", uuid::Uuid::new_v4().simple());
    let id = create_user(&app, &email).await?;
    let victim = app.login_api(&email, PASSWORD).await?.json()["token"].as_str().unwrap_or_default().to_owned();
    let admin = app.browser_login("admin").await?;
    let users = app.page(&admin, "/admin/users").await?;
    assert!(users.body.contains(&format!("action=\"/admin/users/{id}/password-reset\"")), "the users page offers it");
    let r = app.form(&admin, &format!("/admin/users/{id}/password-reset"), &[]).await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(app.get_as(&victim, "/api/v1/me").await?.status, StatusCode::UNAUTHORIZED, "sessions end at once");
    assert_eq!(app.login_api(&email, PASSWORD).await?.status, StatusCode::UNAUTHORIZED, "the password stops working");
    let (kind, subject): (String, String) =
        sqlx::query_as("SELECT kind, subject FROM mail_outbox WHERE recipient = $1").bind(&email).fetch_one(&app.t.db.pool).await?;
    assert_eq!((kind.as_str(), subject.as_str()), ("password_reset", "Set a new Licentia password"));
    let hours: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM expires_at - created_at)::float8 / 3600 FROM password_resets").fetch_one(&app.t.db.pool).await?;
    assert!((hours - 24.0).abs() < 0.01, "{hours}");
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'user.password_reset_forced'").await?, 1);
    // Only admins: a manager's token is refused by the route table.
    let m = app.token("manager").await?;
    let r = app.send(app.post(&format!("/api/v1/users/{id}/password-reset")).bearer_auth(&m)).await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    Ok(())
}

#[actix_web::test]
async fn users_see_and_end_their_own_sessions_and_tokens_but_nobody_else_s() -> TestResult {
    let app = spawn_app().await?;
    let browser = app.browser_login("manager").await?;
    let api = app.token("manager").await?;
    let other = app.token("reviewer").await?;
    let list = app.get_as(&api, "/api/v1/me/sessions").await?;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let items = list.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{}", list.body);
    assert_eq!(items.iter().filter(|i| i["current"] == json!(true)).count(), 1);
    let browser_id = items.iter().find(|i| i["kind"] == json!("browser")).and_then(|i| i["id"].as_str()).ok_or("no browser session")?.to_owned();
    // The page lists them too.
    let page = app.page(&browser, "/account/sessions").await?;
    assert!(page.body.contains("this one") && page.body.contains("API token"), "{}", page.body);
    // Somebody else's session is a 404, and stays live.
    let r = app.send(app.request(actix_web::http::Method::DELETE, &format!("/api/v1/me/sessions/{browser_id}")).bearer_auth(&other)).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.page(&browser, "/account").await?.status, StatusCode::OK);
    // The owner ends it: the browser is logged out.
    let r = app.send(app.request(actix_web::http::Method::DELETE, &format!("/api/v1/me/sessions/{browser_id}")).bearer_auth(&api)).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_ne!(app.page(&browser, "/account").await?.status, StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.session_ended'").await?, 1);
    Ok(())
}
