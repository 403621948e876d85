//! E-mail notices of what waits for someone, queued in the transaction of the change that made
//! it wait (so a rolled-back change sends nothing and a committed one cannot lose its notice),
//! and the daily digest the worker composes from the same lists as the home page. Delivery is
//! [`crate::mail`]'s job.
//!
//! Who is told what (the inbox's sections):
//! - a version submitted for review: the licensor's managers, except its author (four eyes);
//! - a version approved: the licensee's users and the licensor's managers (both sides accept),
//!   except the approver;
//! - changes requested by the licensee: the licensor's managers;
//! - an agreement executed: both sides;
//! - a run ended (succeeded, failed, cancelled): the licensee organisation's users.
//!
//! Each person's preferences decide: `notify_email` for these notices, `notify_digest` for the
//! daily digest, sent once per local day from 07:00 in their time zone.

use chrono::{DateTime, Utc};
use licentia_db::PgConnection;
use licentia_db::agreements::AgreementRow;
use licentia_db::mail::{self as db, NewMail, Recipient};
use licentia_db::training::Run;
use licentia_domain::{Role, RunStatus, TimeZone, UserId};

use crate::error::AppResult;
use crate::state::AppState;
use serde_json::json;

use crate::{Actor, docket, inbox};

/// The local hour from which a day's digest is sent.
pub const DIGEST_HOUR: u32 = 7;

/// What happened, for the notices it causes.
pub enum Event<'a> {
    Submitted { agreement: &'a AgreementRow, version: i32, author: UserId },
    Approved { agreement: &'a AgreementRow, version: i32, approver: UserId },
    ChangesRequested { agreement: &'a AgreementRow, by: UserId, comment: &'a str },
    Executed { agreement: &'a AgreementRow, version: i32 },
    RunEnded { run: &'a Run, status: RunStatus, error: Option<&'a str> },
}

pub use crate::state::Queued;

/// Queues the e-mail notices and webhook events `event` causes, in the caller's transaction.
pub async fn queue(conn: &mut PgConnection, state: &AppState, event: Event<'_>) -> AppResult<Queued> {
    let webhooks = queue_webhooks(conn, &event).await?;
    let mail = queue_mail(conn, state, event).await?;
    Ok(Queued { mail, webhooks })
}

/// The webhook event of `event`, for the endpoints of the organisations party to it: both parties
/// of an agreement once the licensee has seen it (a submission for review is the licensor's
/// alone), the licensee and the licensor of a run.
async fn queue_webhooks(conn: &mut PgConnection, event: &Event<'_>) -> AppResult<usize> {
    let agreement = |a: &AgreementRow, version: i32| {
        json!({
            "agreement_id": a.id, "title": a.title, "kind": a.kind.as_str(), "version": version,
            "licensor": { "id": a.licensor_id, "name": a.licensor_name }, "licensee": { "id": a.licensee_id, "name": a.licensee_name },
        })
    };
    let (parties, kind, data) = match event {
        Event::Submitted { agreement: a, version, .. } => (vec![a.licensor_id], "agreement.submitted", agreement(a, *version)),
        Event::Approved { agreement: a, version, .. } => (vec![a.licensor_id, a.licensee_id], "agreement.approved", agreement(a, *version)),
        Event::ChangesRequested { agreement: a, comment, .. } => {
            let mut d = agreement(a, a.shared_version);
            d["comment"] = json!(comment);
            (vec![a.licensor_id, a.licensee_id], "agreement.changes_requested", d)
        }
        Event::Executed { agreement: a, version } => (vec![a.licensor_id, a.licensee_id], "agreement.executed", agreement(a, *version)),
        Event::RunEnded { run, status, error } => {
            let licensor = licentia_db::agreements::get(conn, run.agreement_id, licentia_db::agreements::Scope::All).await?.licensor_id;
            let kind = match status {
                RunStatus::Succeeded => "run.succeeded",
                RunStatus::Cancelled => "run.cancelled",
                _ => "run.failed",
            };
            let data = json!({
                "run_id": run.id, "number": run.seq, "name": run.name, "template": run.template, "licence_id": run.licence_id,
                "agreement_id": run.agreement_id, "licensee_id": run.organisation_id, "status": status.as_str(),
                "epochs_done": run.epochs_done, "error": error,
            });
            (vec![run.organisation_id, licensor], kind, data)
        }
    };
    crate::webhooks::queue(conn, &parties, kind, data).await
}

async fn queue_mail(conn: &mut PgConnection, state: &AppState, event: Event<'_>) -> AppResult<usize> {
    let base = state.settings.public_url.trim_end_matches('/');
    let (kind, key, people, subject, body): (&str, String, Vec<Recipient>, String, String) = match event {
        Event::Submitted { agreement: a, version, author } => {
            let people = db::members(conn, a.licensor_id, &[Role::Manager]).await?.into_iter().filter(|r| r.id != author).collect();
            (
                "approval",
                format!("approval:{}:{version}", a.id),
                people,
                format!("Approval waiting: {} (version {version})", a.title),
                format!(
                    "Version {version} of \"{}\" ({} with {}) waits for a second manager's approval.\n\nReview the changes and approve or send it back:\n{base}/agreements/{}\n",
                    a.title, a.licensor_name, a.licensee_name, a.id
                ),
            )
        }
        Event::Approved { agreement: a, version, approver } => {
            let mut people = db::members(conn, a.licensee_id, &[Role::Licensee]).await?;
            people.extend(db::members(conn, a.licensor_id, &[Role::Manager]).await?);
            people.retain(|r| r.id != approver);
            (
                "acceptance",
                format!("acceptance:{}:{version}", a.id),
                people,
                format!("Acceptance waiting: {} (version {version})", a.title),
                format!(
                    "Version {version} of \"{}\" between {} and {} is approved and waits for your side's acceptance. It binds both parties once both have accepted.\n\nRead it and accept, or ask for changes:\n{base}/agreements/{}\n",
                    a.title, a.licensor_name, a.licensee_name, a.id
                ),
            )
        }
        Event::ChangesRequested { agreement: a, by, comment } => {
            let people = db::members(conn, a.licensor_id, &[Role::Manager]).await?.into_iter().filter(|r| r.id != by).collect();
            (
                "changes",
                format!("changes:{}:{}:{}", a.id, a.shared_version, Utc::now().timestamp_micros()),
                people,
                format!("Changes requested: {}", a.title),
                format!(
                    "{} asks for changes to version {} of \"{}\":\n\n{comment}\n\n{base}/agreements/{}\n",
                    a.licensee_name, a.shared_version, a.title, a.id
                ),
            )
        }
        Event::Executed { agreement: a, version } => {
            let mut people = db::members(conn, a.licensee_id, &[Role::Licensee]).await?;
            people.extend(db::members(conn, a.licensor_id, &[Role::Manager]).await?);
            (
                "executed",
                format!("executed:{}:{version}", a.id),
                people,
                format!("Executed: {}", a.title),
                format!(
                    "Both parties accepted version {version} of \"{}\"; it is executed. The signed PDF is on its page:\n{base}/agreements/{}\n",
                    a.title, a.id
                ),
            )
        }
        Event::RunEnded { run, status, error } => {
            let people = db::members(conn, run.organisation_id, &[Role::Licensee]).await?;
            let name = run.name.clone().unwrap_or_else(|| format!("Run {}", run.seq));
            let what = match status {
                RunStatus::Failed => format!("failed: {}", error.unwrap_or("no reason recorded")),
                RunStatus::Cancelled => "was cancelled; the epochs it finished are billed".to_owned(),
                _ => format!("succeeded after {} epoch(s)", run.epochs_done),
            };
            (
                "run",
                format!("run:{}:{}", run.id, status.as_str()),
                people,
                format!("{name} {}", if status == RunStatus::Failed { "failed" } else { status.as_str() }),
                format!("{name} ({}) {what}.\n\n{base}/runs/{}\n", run.template, run.id),
            )
        }
    };
    let mut queued = 0;
    for p in people.iter().filter(|p| p.notify_email) {
        let key = format!("{key}:{}", p.id);
        let body = format!("Hello {},\n\n{body}\n-- \nLicentia. Choose which e-mails you get on your account page: {base}/account\n", p.display_name);
        let mail = NewMail { user_id: p.id, recipient: &p.email, kind, subject: &subject, body: &body, dedupe_key: &key };
        queued += usize::from(db::queue(conn, mail).await?);
    }
    Ok(queued)
}

/// The day's digest for everyone who wants one, whose local time is past [`DIGEST_HOUR`] and who
/// has something waiting; at most one per person and local day. Returns how many were queued.
pub async fn queue_digests(state: &AppState, now: DateTime<Utc>) -> AppResult<usize> {
    let base = state.settings.public_url.trim_end_matches('/');
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let readers = db::digest_readers(&mut conn).await?;
    drop(conn);
    let mut queued = 0;
    for p in readers {
        let zone = TimeZone::parse(&p.time_zone).unwrap_or_default();
        let local = zone.local(now);
        if local.hour < DIGEST_HOUR {
            continue;
        }
        if p.digest_on == Some(local.date) {
            continue;
        }
        let key = format!("digest:{}:{}", p.id, local.date);
        let actor = Actor::new(p.id, p.organisation_id, p.role).labelled(p.email.clone(), crate::actor::Origin::default());
        let items = inbox::items(state, &actor).await?;
        // Deadlines are for those who act on them (as on the home page), not every reader of the registry.
        let deadlines = if p.role.allows(licentia_domain::Permission::AssetManage) { docket::upcoming(state, &actor, 30).await? } else { Vec::new() };
        if items.is_empty() && deadlines.is_empty() {
            let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
            db::set_digest_on(&mut conn, p.id, local.date).await?;
            continue;
        }
        let mut body = format!("Hello {},\n\nWhat waits for you on {}:\n", p.display_name, local.date);
        if !items.is_empty() {
            body.push('\n');
            for i in &items {
                body.push_str(&format!("- {}: {}\n  {base}{}\n", i.title, i.detail, i.href));
            }
        }
        let overdue = deadlines.iter().filter(|d| d.standing == licentia_domain::ip::deadlines::Standing::Overdue).count();
        if !deadlines.is_empty() {
            body.push_str(&format!("\nDeadlines ({overdue} overdue, then the next 30 days):\n"));
            for d in &deadlines {
                body.push_str(&format!("- {} {}: {} ({}), {base}{}\n", d.deadline.due, d.standing_label(), d.deadline.title, d.asset_title, d.href));
            }
        }
        body.push_str(&format!("\n-- \nLicentia. Choose which e-mails you get on your account page: {base}/account\n"));
        let subject = format!(
            "Licentia digest for {}: {} item(s), {} deadline(s){}",
            local.date,
            items.len(),
            deadlines.len(),
            if overdue > 0 { format!(", {overdue} overdue") } else { String::new() }
        );
        let mut tx = state.db.begin().await?;
        let mail = NewMail { user_id: p.id, recipient: &p.email, kind: "digest", subject: &subject, body: &body, dedupe_key: &key };
        let fresh = db::queue(&mut tx, mail).await?;
        db::set_digest_on(&mut tx, p.id, local.date).await?;
        // What the registry told someone by e-mail is a read like the home page's, audited with it.
        let event = licentia_audit::AuditEvent::new("digest.queued", licentia_audit::Outcome::Success)
            .actor(None, Some("licentia-mailer".into()), Some(p.organisation_id.as_uuid()))
            .target("user", p.id)
            .details(serde_json::json!({ "day": local.date, "items": items.len(), "deadlines": deadlines.len(), "overdue": overdue }));
        let seq = state.audit(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        state.audited(seq).await;
        queued += usize::from(fresh);
    }
    Ok(queued)
}

/// A person's e-mail choices and time zone, with what was mailed to them lately.
#[derive(Debug, Clone)]
pub struct Preferences {
    pub notify_email: bool,
    pub notify_digest: bool,
    pub time_zone: TimeZone,
    /// The last messages queued for them: subject, when, and whether sent (or the last error).
    pub recent: Vec<db::Mail>,
}

pub async fn preferences(state: &AppState, actor: &Actor) -> AppResult<Preferences> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let me = db::recipient(&mut conn, actor.user_id).await?.ok_or(crate::error::AppError::NotFound)?;
    let recent = db::of_user(&mut conn, actor.user_id, 10).await?;
    Ok(Preferences { notify_email: me.notify_email, notify_digest: me.notify_digest, time_zone: TimeZone::parse(&me.time_zone).unwrap_or_default(), recent })
}

/// Changes one's own preferences (audited). The zone must be one of the tz database's names.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn set_preferences(state: &AppState, actor: &Actor, notify_email: bool, notify_digest: bool, time_zone: &str) -> AppResult<()> {
    let zone = TimeZone::parse(time_zone)?;
    let mut tx = state.db.begin().await?;
    db::set_preferences(&mut tx, actor.user_id, notify_email, notify_digest, zone.name()).await?;
    let event = actor
        .event("account.preferences_changed", licentia_audit::Outcome::Success)
        .target("user", actor.user_id)
        .details(serde_json::json!({ "notify_email": notify_email, "notify_digest": notify_digest, "time_zone": zone.name() }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(())
}
