//! E-mail: notices queued with the change that makes something wait (outbox), each person's
//! preferences, the daily digest by local day, and delivery over SMTP to a real local server
//! (`aiosmtpd`, from PyPI, which `.ci/run` starts and which writes what it receives into a maildir),
//! with retries when the server is down.

use actix_web::http::StatusCode;
use chrono::{TimeZone as _, Utc};
use licentia_app::mail::{MailConfig, Mailer};
use serde_json::json;

use crate::agreements::{asset, draft, post, terms};
use crate::helpers::*;

async fn outbox(app: &TestApp, needle: &str) -> Res<Vec<(String, String, String)>> {
    Ok(sqlx::query_as("SELECT recipient, kind, subject FROM mail_outbox WHERE body LIKE '%' || $1 || '%' ORDER BY recipient")
        .bind(needle)
        .fetch_all(&app.t.db.pool)
        .await?)
}

#[actix_web::test]
async fn a_waiting_approval_is_mailed_to_the_other_manager_and_delivered_by_smtp_with_retries() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let a = asset(&app, &m, "Notified patent", "DE").await?;
    let id =
        draft(&app, &m, "non_exclusive_licence", &app.licensee_a.to_string(), &[&a], terms(&["DE"], &["automotive"], "2027-01-01", None)).await?.json()["id"]
            .as_str()
            .ok_or("no agreement")?
            .to_owned();
    let link = format!("/agreements/{id}");
    assert!(outbox(&app, &link).await?.is_empty(), "a draft waits for nobody");

    // The licensee turns notices off in the browser (the form, with its CSRF token).
    let s = app.browser_login("licensee").await?;
    let r = app
        .send_form(
            app.post("/account/preferences").insert_header(("cookie", s.cookie.clone())),
            &[("csrf", &s.csrf), ("notify_digest", "on"), ("time_zone", "Europe/Berlin")],
        )
        .await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let bad = app
        .send_form(app.post("/account/preferences").insert_header(("cookie", s.cookie.clone())), &[("csrf", &s.csrf), ("time_zone", "Mars/Olympus")])
        .await?;
    assert!(bad.header("location").is_some_and(|l| l.contains("not%20a%20time%20zone") || l.contains("not+a+time+zone")), "{:?}", bad.header("location"));
    // The same choices over the API.
    let l = app.token("licensee_b").await?;
    let put = async |body: serde_json::Value| app.send_json(app.put("/api/v1/me/preferences").bearer_auth(&l), &body).await;
    let r = put(json!({ "notify_email": true, "notify_digest": false, "time_zone": "Pacific/Nowhere" })).await?;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("time_zone")), "{}", r.body);
    let r = put(json!({ "notify_email": true, "notify_digest": false, "time_zone": "Asia/Tokyo" })).await?;
    assert_eq!(r.json(), json!({ "notify_email": true, "notify_digest": false, "time_zone": "Asia/Tokyo" }), "{}", r.body);
    assert_eq!(app.get_as(&l, "/api/v1/me/preferences").await?.json()["time_zone"], "Asia/Tokyo");
    let (notify, zone): (bool, String) =
        sqlx::query_as("SELECT notify_email, time_zone FROM users WHERE email = 'licensee@borealis.example'").fetch_one(&app.t.db.pool).await?;
    assert_eq!((notify, zone.as_str()), (false, "Europe/Berlin"), "the bad zone changed nothing");

    post(&app, &m, &format!("/api/v1/agreements/{id}/transition"), json!({ "to": "in_review" })).await?;
    let queued = outbox(&app, &link).await?;
    assert_eq!(
        queued,
        vec![(
            "reviewer@aurora.example".to_owned(),
            "approval".to_owned(),
            "Approval waiting: non_exclusive_licence for ".to_owned() + &app.licensee_a.to_string() + " (version 1)"
        )],
        "only the other manager: the author does not approve their own version"
    );
    post(&app, &app.token("reviewer").await?, &format!("/api/v1/agreements/{id}/approve"), json!({})).await?;
    let kinds: Vec<(String, String)> = outbox(&app, &link).await?.into_iter().map(|(to, kind, _)| (to, kind)).collect();
    assert!(kinds.contains(&("manager@aurora.example".into(), "acceptance".into())), "the licensor's countersignature waits: {kinds:?}");
    assert!(!kinds.iter().any(|(to, _)| to == "licensee@borealis.example"), "the licensee turned notices off: {kinds:?}");
    assert!(!kinds.iter().any(|(to, k)| to == "reviewer@aurora.example" && k == "acceptance"), "not the approver: {kinds:?}");

    // The mail server is down: nothing is lost, the attempt is recorded and retried later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(); // bound, then freed: nothing listens
    let down = Mailer::new(&MailConfig { smtp_url: format!("smtp://127.0.0.1:{port}"), from: "Licentia <licentia@aurora.example>".into() })?;
    assert_eq!(licentia_app::mail::send_due(&app.state, &down).await?, 0);
    let (attempts, error, later): (i32, Option<String>, bool) = sqlx::query_as(
        "SELECT attempts, last_error, next_attempt_at > now() FROM mail_outbox WHERE recipient = 'reviewer@aurora.example' AND kind = 'approval'",
    )
    .fetch_one(&app.t.db.pool)
    .await?;
    assert!(attempts == 1 && error.is_some() && later, "{attempts} {error:?} {later}");
    assert_eq!(licentia_app::mail::send_due(&app.state, &down).await?, 0);
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM mail_outbox WHERE recipient = 'reviewer@aurora.example' AND kind = 'approval'")
        .fetch_one(&app.t.db.pool)
        .await?;
    assert_eq!(attempts, 1, "not retried before its backoff");

    let Some((addr, maildir)) = smtp_server()? else { return Ok(()) };
    sqlx::query("UPDATE mail_outbox SET next_attempt_at = now()").execute(&app.t.db.pool).await?;
    let up = Mailer::new(&MailConfig { smtp_url: format!("smtp://{addr}"), from: "Licentia <licentia@aurora.example>".into() })?;
    let sent = licentia_app::mail::send_due(&app.state, &up).await?;
    assert_eq!(sent, outbox(&app, &link).await?.len(), "everything due went out");
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL").fetch_one(&app.t.db.pool).await?;
    assert_eq!(unsent, 0);
    let arrived = maildir_messages(&maildir);
    let approval = arrived
        .iter()
        .find(|m| m.contains(&link) && m.contains("Subject: Approval waiting"))
        .ok_or_else(|| format!("the approval notice did not arrive in {}", maildir.display()))?;
    assert!(approval.contains("To: reviewer@aurora.example"), "{approval}");
    assert!(approval.contains("From: Licentia <licentia@aurora.example>"), "{approval}");
    assert!(approval.contains("waits for a second manager's approval"), "{approval}");
    assert_eq!(licentia_app::mail::send_due(&app.state, &up).await?, 0, "sent once");
    assert_eq!(maildir_messages(&maildir).iter().filter(|m| m.contains(&link) && m.contains("Subject: Approval waiting")).count(), 1);
    Ok(())
}

#[actix_web::test]
async fn the_daily_digest_lists_overdue_deadlines_once_per_local_day_from_seven() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let a = asset(&app, &m, "Digest patent", "DE").await?;
    let yesterday = (Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let r = post(&app, &m, &format!("/api/v1/assets/{a}/manual-deadlines"), json!({ "title": "Answer the examiner", "due": yesterday })).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Both managers see the overdue deadline; one reads in Berlin, one in Los Angeles.
    sqlx::query("UPDATE users SET time_zone = 'America/Los_Angeles' WHERE email = 'reviewer@aurora.example'").execute(&app.t.db.pool).await?;
    sqlx::query("UPDATE users SET time_zone = 'Europe/Berlin' WHERE email = 'manager@aurora.example'").execute(&app.t.db.pool).await?;
    sqlx::query("UPDATE users SET notify_digest = false WHERE email = 'admin@aurora.example'").execute(&app.t.db.pool).await?;
    let today = Utc::now().date_naive();
    let noon = Utc.from_utc_datetime(&today.and_hms_opt(12, 0, 0).ok_or("time")?);
    licentia_app::notify::queue_digests(&app.state, noon).await?;
    let digests = || async {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT recipient, subject, body FROM mail_outbox WHERE kind = 'digest' ORDER BY recipient").fetch_all(&app.t.db.pool).await?;
        Ok::<_, sqlx::Error>(rows)
    };
    let first = digests().await?;
    let to: Vec<&str> = first.iter().map(|(r, _, _)| r.as_str()).collect();
    assert!(to.contains(&"manager@aurora.example"), "13:00 in Berlin: {to:?}");
    assert!(!to.contains(&"reviewer@aurora.example"), "04:00 in Los Angeles is before 07:00: {to:?}");
    assert!(!to.contains(&"admin@aurora.example"), "the admin turned the digest off: {to:?}");
    assert!(!to.contains(&"auditor@aurora.example"), "nothing waits for the auditor: {to:?}");
    let (_, subject, body) = first.iter().find(|(r, _, _)| r == "manager@aurora.example").ok_or("no digest")?;
    assert!(subject.contains("1 overdue") && subject.contains(&today.to_string()), "{subject}");
    assert!(body.contains(&format!("{yesterday} overdue: Answer the examiner (Digest patent)")) && body.contains(&format!("/assets/{a}")), "{body}");

    licentia_app::notify::queue_digests(&app.state, noon + chrono::Duration::minutes(5)).await?;
    assert_eq!(digests().await?.len(), first.len(), "once per local day");
    licentia_app::notify::queue_digests(&app.state, noon + chrono::Duration::hours(4)).await?;
    let later = digests().await?;
    assert!(later.iter().any(|(r, _, _)| r == "reviewer@aurora.example"), "08:00 in Los Angeles");
    assert_eq!(later.iter().filter(|(r, _, _)| r == "manager@aurora.example").count(), 1, "still one for Berlin's day");
    Ok(())
}
