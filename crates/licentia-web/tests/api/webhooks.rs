//! Webhooks against a local receiver (a real HTTP server in the test): addresses checked for
//! server-side request forgery, signatures verified with the Standard Webhooks reference library
//! (`standardwebhooks`), retries until the receiver answers 2xx, the delivery log, replay, and
//! each organisation's endpoints kept to itself.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::agreements::{asset, draft, execute, terms};
use crate::helpers::*;

type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A receiver that answers each request with the next status of `answers` (then 200) and keeps
/// every request's headers and body.
fn receiver(answers: &[u16]) -> (actix_test::TestServer, Seen) {
    let seen: Seen = Arc::default();
    let queue = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<u16>>()));
    let (s, q) = (seen.clone(), queue);
    let srv = actix_test::start(move || {
        let (s, q) = (s.clone(), q.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (s, q) = (s.clone(), q.clone());
            async move {
                let headers = req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned())).collect();
                s.lock().map(|mut seen| seen.push((headers, body.to_vec()))).ok();
                let status = q.lock().ok().and_then(|mut q| q.pop_front()).unwrap_or(200);
                HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK)).body(format!("answer {status}"))
            }
        }))
    });
    (srv, seen)
}

fn header_map(pairs: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            map.append(k, v);
        }
    }
    map
}

#[actix_web::test]
async fn events_are_signed_retried_logged_and_replayed_and_private_addresses_need_an_admin() -> TestResult {
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let licensee = app.token("licensee").await?;
    let (srv, seen) = receiver(&[500, 500]);
    let hook = format!("http://{}/hook", srv.addr());
    let secure = format!("https://{}/hook", srv.addr());
    let create = async |token: &str, body: Value| app.send_json(app.post("/api/v1/webhooks").bearer_auth(token), &body).await;

    // Server-side request forgery: 127.0.0.1 is refused unless an admin allows private addresses.
    let events = json!(["agreement.executed", "run.succeeded"]);
    for (token, body, field, words) in [
        (&admin, json!({ "url": secure, "events": events }), "url", "loopback"),
        (&admin, json!({ "url": hook, "events": events }), "url", "https"),
        (&licensee, json!({ "url": secure, "events": events }), "url", "loopback"),
        (&licensee, json!({ "url": hook, "events": events, "allow_private": true }), "allow_private", "only an admin"),
        (&admin, json!({ "url": "https://169.254.169.254/latest/meta-data", "events": events }), "url", "link-local"),
        (&admin, json!({ "url": secure, "events": ["run.exploded"], "allow_private": true }), "events", "not an event type"),
    ] {
        let r = create(token, body.clone()).await?;
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {}", r.body);
        assert!(r.body.contains(words), "{body}: {}", r.body);
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await?, 0, "nothing saved");

    let r = create(&admin, json!({ "url": hook, "events": events, "allow_private": true, "description": "ERP" })).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.json()["secret"].as_str().ok_or("no secret")?.to_owned();
    let endpoint = r.json()["endpoint"]["id"].as_str().ok_or("no id")?.to_owned();
    assert!(secret.starts_with("whsec_"));
    let listed = app.get_as(&admin, "/api/v1/webhooks").await?;
    assert!(!listed.body.contains(&secret) && !listed.body.contains("secret_sealed"), "the secret is shown once: {}", listed.body);
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_sealed FROM webhook_endpoints").fetch_one(&app.t.db.pool).await?;
    assert!(!String::from_utf8_lossy(&sealed).contains(secret.trim_start_matches("whsec_")), "stored sealed");
    // Another organisation's endpoint is invisible to a licensee.
    assert_eq!(app.get_as(&licensee, "/api/v1/webhooks").await?.json()["items"], json!([]));
    assert_eq!(app.get_as(&licensee, &format!("/api/v1/webhooks/{endpoint}/deliveries")).await?.status, StatusCode::NOT_FOUND);

    // An agreement is executed: the event is queued with the change, then delivered.
    let m = app.token("manager").await?;
    let a = asset(&app, &m, "Hooked patent", "DE").await?;
    let id = draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&a], terms(&["DE"], &[], "2027-01-01", None)).await?.json()["id"]
        .as_str()
        .ok_or("no agreement")?
        .to_owned();
    execute(&app, &id).await?;
    let queued: Vec<String> = sqlx::query_scalar("SELECT event_type FROM webhook_deliveries").fetch_all(&app.t.db.pool).await?;
    assert_eq!(queued, ["agreement.executed"], "only what the endpoint subscribed to");

    // The receiver answers 500 twice: the event arrives on the third try.
    let mut delivered = Vec::new();
    for _ in 0..3 {
        delivered.push(licentia_app::webhooks::deliver_due(&app.state).await?);
        let (later,): (bool,) = sqlx::query_as("SELECT coalesce(next_attempt_at > now(), false) FROM webhook_deliveries").fetch_one(&app.t.db.pool).await?;
        assert!(later || delivered.last() == Some(&1), "a failed attempt waits for its retry");
        assert_eq!(licentia_app::webhooks::deliver_due(&app.state).await?, 0, "not before the retry is due");
        sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE delivered_at IS NULL").execute(&app.t.db.pool).await?;
    }
    assert_eq!(delivered, [0, 0, 1]);
    let requests = seen.lock().map(|s| s.clone()).map_err(|_| "poisoned")?;
    assert_eq!(requests.len(), 3);
    let ids: Vec<String> = requests.iter().map(|(h, _)| h.iter().find(|(k, _)| k == "webhook-id").map(|(_, v)| v.clone()).unwrap_or_default()).collect();
    assert!(ids[0].starts_with("msg_") && ids.iter().all(|i| *i == ids[0]), "one webhook-id for every attempt: {ids:?}");
    let verifier = standardwebhooks::Webhook::new(&secret).map_err(|e| format!("{e:?}"))?;
    for (headers, body) in &requests {
        verifier.verify(body, &header_map(headers)).map_err(|e| format!("signature does not verify: {e:?}"))?;
    }
    let (headers, body) = &requests[2];
    let mut forged = body.clone();
    forged.extend_from_slice(b" ");
    assert!(verifier.verify(&forged, &header_map(headers)).is_err(), "a changed body fails");
    let payload: Value = serde_json::from_slice(body)?;
    assert_eq!((payload["type"].as_str(), payload["data"]["agreement_id"].as_str()), (Some("agreement.executed"), Some(id.as_str())));

    // The log shows all three attempts, with what the receiver answered.
    let log = app.get_as(&admin, &format!("/api/v1/webhooks/{endpoint}/deliveries")).await?.json();
    let attempts: Vec<(i64, String)> = log["items"][0]["attempts"]
        .as_array()
        .ok_or("no attempts")?
        .iter()
        .map(|a| (a["status"].as_i64().unwrap_or(0), a["response"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(attempts, [(500, "answer 500".into()), (500, "answer 500".into()), (200, "answer 200".into())]);
    assert!(log["items"][0]["delivered_at"].is_string());
    let page = app.browser_login("admin").await?;
    let html = app.send(app.get(&format!("/webhooks?log={endpoint}")).insert_header(("cookie", page.cookie.clone()))).await?.body;
    assert_eq!(html.matches("HTTP 500").count(), 2, "{html}");
    assert!(html.contains("HTTP 200") && html.contains("delivered"), "{html}");

    // Replay: the same message again, audited.
    let delivery = log["items"][0]["id"].as_str().ok_or("no delivery id")?.to_owned();
    let r = app.send_json(app.post(&format!("/api/v1/webhooks/deliveries/{delivery}/replay")).bearer_auth(&admin), &json!({})).await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(
        app.send_json(app.post(&format!("/api/v1/webhooks/deliveries/{delivery}/replay")).bearer_auth(&licensee), &json!({})).await?.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(licentia_app::webhooks::deliver_due(&app.state).await?, 1);
    let again = seen.lock().map(|s| s.clone()).map_err(|_| "poisoned")?;
    assert_eq!(again.len(), 4);
    assert!(again[3].0.iter().any(|(k, v)| k == "webhook-id" && *v == ids[0]), "replayed with its id");
    // Created once, replayed once, the log read twice (the JSON and the page).
    for (action, times) in [("webhook.created", 1), ("webhook.replayed", 1), ("webhook.log_read", 2)] {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1").bind(action).fetch_one(&app.t.db.pool).await?;
        assert_eq!(n, times, "{action}");
    }
    Ok(())
}

#[actix_web::test]
async fn a_quota_crossing_80_and_100_percent_is_an_event_for_both_parties_and_nobody_else() -> TestResult {
    use crate::training::{csv, hyper, licence, upload};
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let l = app.token("licensee").await?;
    let lic = licence(&app, json!({ "quota_runs": 5 })).await?;
    // One endpoint for each licensee and one for the licensor; the event reaches the two parties.
    let mut endpoints = Vec::new();
    for org in [app.licensor, app.licensee_a, app.licensee_b] {
        let body =
            json!({ "url": "http://127.0.0.1:9/hook", "events": ["licence.quota_threshold"], "allow_private": true, "organisation_id": org.to_string() });
        let r = app.send_json(app.post("/api/v1/webhooks").bearer_auth(&admin), &body).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        endpoints.push(r.json()["endpoint"]["id"].as_str().ok_or("no id")?.to_owned());
    }
    let ds = upload(&app, &l, csv(200)).await?.json()["id"].as_str().ok_or("no dataset")?.to_owned();
    let mut seen = Vec::new();
    for i in 1..=5 {
        let r = app.send_json(app.post("/api/v1/runs").bearer_auth(&l), &json!({ "licence_id": lic, "dataset_id": ds, "hyper": hyper(1) })).await?;
        assert_eq!(r.status, StatusCode::ACCEPTED, "run {i}: {}", r.body);
        let rows: Vec<(String, Value)> =
            sqlx::query_as("SELECT endpoint_id::text, payload FROM webhook_deliveries ORDER BY created_at, endpoint_id").fetch_all(&app.t.db.pool).await?;
        seen.push(rows.len());
        if i == 4 {
            let to: Vec<&str> = rows.iter().map(|(e, _)| e.as_str()).collect();
            assert!(to.contains(&endpoints[0].as_str()) && to.contains(&endpoints[1].as_str()) && !to.contains(&endpoints[2].as_str()), "{to:?}");
            assert_eq!((rows[0].1["data"]["threshold_percent"].as_i64(), rows[0].1["data"]["used"].as_i64()), (Some(80), Some(4)), "{:?}", rows[0].1);
        }
    }
    // Runs 1–3: under 80 %; run 4 crosses 80 % (two parties); run 5 reaches 100 % (two more).
    assert_eq!(seen, [0, 0, 0, 2, 4]);
    Ok(())
}

#[actix_web::test]
async fn deadlines_coming_due_and_closed_reporting_periods_are_announced_once() -> TestResult {
    use chrono::Datelike as _;
    let app = spawn_app().await?;
    let admin = app.token("admin").await?;
    let mut endpoint = std::collections::HashMap::new();
    for (org, events) in [(app.licensor, "deadline.due"), (app.licensee_a, "statement.period_closed")] {
        let body = json!({ "url": "http://127.0.0.1:9/hook", "events": [events], "allow_private": true, "organisation_id": org.to_string() });
        let r = app.send_json(app.post("/api/v1/webhooks").bearer_auth(&admin), &body).await?;
        endpoint.insert(events, r.json()["endpoint"]["id"].as_str().ok_or("no id")?.to_owned());
    }
    let m = app.token("manager").await?;
    let a = asset(&app, &m, "Scheduled patent", "DE").await?;
    let today = chrono::Utc::now().date_naive();
    for (title, days) in [("File the translation", 10), ("Far away", 60)] {
        let r = app
            .send_json(
                app.post(&format!("/api/v1/assets/{a}/manual-deadlines")).bearer_auth(&m),
                &json!({ "title": title, "due": (today + chrono::Days::new(days)).to_string() }),
            )
            .await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    // Quarterly royalty reports since 1 January 2026.
    let id = draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&a], terms(&["DE"], &[], "2026-01-01", None)).await?.json()["id"]
        .as_str()
        .ok_or("no agreement")?
        .to_owned();
    execute(&app, &id).await?;
    let sent = async |event: &str| -> Res<Vec<Value>> {
        Ok(sqlx::query_scalar("SELECT payload FROM webhook_deliveries WHERE event_type = $1 ORDER BY created_at").bind(event).fetch_all(&app.t.db.pool).await?)
    };

    licentia_app::webhooks::queue_scheduled(&app.state, today).await?;
    let due = sent("deadline.due").await?;
    let titles: Vec<&str> = due.iter().filter_map(|p| p["data"]["title"].as_str()).collect();
    assert!(titles.contains(&"File the translation") && !titles.contains(&"Far away"), "due within 30 days only: {titles:?}");
    let translation = due.iter().find(|p| p["data"]["title"] == "File the translation").ok_or("no translation")?;
    assert_eq!(translation["data"]["of"]["href"].as_str(), Some(format!("/assets/{a}").as_str()));
    licentia_app::webhooks::queue_scheduled(&app.state, today).await?;
    assert_eq!(sent("deadline.due").await?.len(), due.len(), "each occurrence once");
    // (Within a week after a quarter's end the previous quarter is announced already today.)
    let closed_before = sent("statement.period_closed").await?.len();

    // Three days after the current quarter ends, its statement can be drawn up.
    let quarter_start = chrono::NaiveDate::from_ymd_opt(today.year(), today.month0() / 3 * 3 + 1, 1).ok_or("date")?;
    let quarter_end = quarter_start.checked_add_months(chrono::Months::new(3)).and_then(|d| d.pred_opt()).ok_or("date")?;
    let label = format!("{}-Q{}", quarter_start.year(), quarter_start.month0() / 3 + 1);
    licentia_app::webhooks::queue_scheduled(&app.state, quarter_end + chrono::Days::new(3)).await?;
    let closed = sent("statement.period_closed").await?;
    assert_eq!(closed.len(), closed_before + 1, "{closed:?}");
    let last = closed.last().ok_or("none")?;
    assert_eq!(last["data"]["title"].as_str(), Some(format!("Royalty report and payment for {label}").as_str()));
    assert_eq!(last["data"]["period_ended"].as_str(), Some(quarter_end.to_string().as_str()));
    let to: Vec<String> = sqlx::query_scalar("SELECT DISTINCT endpoint_id::text FROM webhook_deliveries WHERE event_type = 'statement.period_closed'")
        .fetch_all(&app.t.db.pool)
        .await?;
    assert_eq!(to, [endpoint["statement.period_closed"].clone()], "to the endpoint that subscribed");
    Ok(())
}
