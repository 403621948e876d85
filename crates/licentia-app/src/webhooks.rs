//! Webhooks: endpoints per organisation, events queued in the transaction of the change that
//! caused them (an outbox: a rolled-back change sends nothing, a committed one cannot lose its
//! event), delivered by the worker and signed as the Standard Webhooks specification has it
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`), retried on the specification's
//! schedule, every attempt kept for the delivery log, and replayable.
//!
//! Who manages what: admins, any organisation's endpoints; licensees, their own organisation's,
//! which receive only that organisation's events (its agreements once shared, its runs).
//!
//! Server-side request forgery: a URL must resolve only to public addresses unless an admin set
//! `allow_private` on the endpoint; the check runs when the endpoint is saved and again at every
//! delivery, and the request goes to the address that was checked (no second lookup a DNS
//! rebinding could answer differently), without following redirects.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use licentia_audit::Outcome;
use licentia_crypto::webhook::WebhookSecret;
use licentia_db::PgConnection;
use licentia_db::webhooks::{self as db, Attempt, Delivery, Endpoint};
use licentia_domain::webhook::{self as rules, WebhookUrl};
use licentia_domain::{OrganisationId, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::Actor;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Deliveries sent per transaction.
const BATCH: i64 = 10;
/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer the log keeps.
const RESPONSE_KEPT: usize = 1024;

fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation { field: field.into(), message: message.into() }
}

/// Whose endpoints an actor manages: a licensee its own organisation's, an admin every one.
fn scope(actor: &Actor) -> Option<OrganisationId> {
    (actor.role != Role::Admin).then_some(actor.organisation_id)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"url": "https://erp.borealis.example/hooks/licentia", "description": "ERP", "events": ["agreement.executed", "run.succeeded"]}))]
#[serde(deny_unknown_fields)]
pub struct NewEndpointInput {
    pub url: String,
    #[serde(default)]
    pub description: String,
    pub events: Vec<String>,
    /// Admins only: let this endpoint reach private, loopback and link-local addresses.
    #[serde(default)]
    pub allow_private: bool,
    /// Admins only (default: their own organisation).
    pub organisation_id: Option<String>,
    /// Ignored: the browser form's CSRF token.
    pub csrf: Option<String>,
}

/// A new endpoint and its signing secret, which is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// The addresses `url` resolves to, each checked: 422 naming the first forbidden one, unless the
/// endpoint may reach private addresses.
async fn resolve(url: &WebhookUrl, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let host = url.host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host.as_str(), url.port))).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => return Err(format!("{host} does not resolve: {e}")),
        Err(_) => return Err(format!("{host} did not resolve within 5 s")),
    };
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if !allow_private && let Some((a, why)) = addrs.iter().find_map(|a| rules::forbidden_address(a.ip()).map(|why| (a, why))) {
        return Err(format!("{host} resolves to {}, a {why} address; only an admin may allow an endpoint to reach private addresses", a.ip()));
    }
    Ok(addrs)
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn create(state: &AppState, actor: &Actor, input: NewEndpointInput) -> AppResult<Created> {
    if input.allow_private && actor.role != Role::Admin {
        return Err(bad("allow_private", "only an admin may allow an endpoint to reach private addresses"));
    }
    let url = WebhookUrl::parse(&input.url, input.allow_private)?;
    let events = rules::parse_events(&input.events)?;
    let description = input.description.trim().to_owned();
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(bad("description", "at most 200 characters, without control characters"));
    }
    let organisation = match input.organisation_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => actor.organisation_id,
        Some(raw) => {
            let id = raw.parse::<OrganisationId>().map_err(|_| bad("organisation_id", "not an organisation id"))?;
            if scope(actor).is_some_and(|own| own != id) {
                return Err(state.not_found(actor, "organisation", raw).await);
            }
            id
        }
    };
    resolve(&url, input.allow_private).await.map_err(|m| bad("url", m))?;
    let id = Uuid::now_v7();
    let secret = WebhookSecret::generate().map_err(AppError::internal)?;
    let (version, sealed) = secret.seal(&state.keyring, id.as_bytes()).map_err(AppError::internal)?;
    let mut tx = state.db.begin().await?;
    if licentia_db::organisations::get_scoped(&mut tx, organisation, None).await.is_err() {
        return Err(bad("organisation_id", "no such organisation"));
    }
    db::insert(
        &mut tx,
        db::NewEndpoint {
            id,
            organisation_id: organisation,
            url: &url.url,
            description: &description,
            events: &events,
            secret_version: i32::try_from(version).unwrap_or(i32::MAX),
            secret_sealed: &sealed,
            allow_private: input.allow_private,
            created_by: actor.user_id,
        },
    )
    .await?;
    let event = actor
        .event("webhook.created", Outcome::Success)
        .target("webhook", id)
        .details(json!({ "organisation": organisation, "url": url.url, "events": events, "allow_private": input.allow_private }));
    let seq = state.audit(&mut tx, event).await?;
    let endpoint = db::get(&mut tx, id, None).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(Created { endpoint, secret: secret.reveal() })
}

/// The endpoints `actor` manages (URLs and subscriptions reveal integrations: an audited read).
pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<Endpoint>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let endpoints = db::list(&mut conn, scope(actor)).await?;
    drop(conn);
    state.audit_alone(actor.event("webhook.listed", Outcome::Success).details(json!({ "count": endpoints.len() }))).await?;
    Ok(endpoints)
}

async fn load(state: &AppState, actor: &Actor, conn: &mut PgConnection, id: Uuid) -> AppResult<Endpoint> {
    match db::get(conn, id, scope(actor)).await {
        Ok(e) => Ok(e),
        Err(licentia_db::DbError::NotFound) => Err(state.not_found(actor, "webhook", &id.to_string()).await),
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn delete(state: &AppState, actor: &Actor, id: Uuid) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let e = load(state, actor, &mut tx, id).await?;
    db::delete(&mut tx, e.id).await?;
    let seq = state.audit(&mut tx, actor.event("webhook.deleted", Outcome::Success).target("webhook", e.id).details(json!({ "url": e.url }))).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(())
}

/// A delivery with its attempts, for the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedDelivery {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempts: Vec<db::AttemptRow>,
}

/// An endpoint's latest 50 deliveries with every attempt (status, the start of the answer, the
/// error, the time taken). A sensitive read (payloads name agreements and runs): audited.
pub async fn log(state: &AppState, actor: &Actor, id: Uuid) -> AppResult<(Endpoint, Vec<LoggedDelivery>)> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let e = load(state, actor, &mut conn, id).await?;
    let deliveries = db::deliveries(&mut conn, e.id, 50).await?;
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let mut attempts = db::attempts(&mut conn, &ids).await?;
    drop(conn);
    state.audit_alone(actor.event("webhook.log_read", Outcome::Success).target("webhook", e.id)).await?;
    let logged = deliveries
        .into_iter()
        .map(|d| {
            let (mine, rest): (Vec<_>, Vec<_>) = attempts.drain(..).partition(|a| a.delivery_id == d.id);
            attempts = rest;
            LoggedDelivery { delivery: d, attempts: mine }
        })
        .collect();
    Ok((e, logged))
}

/// Sends a delivery again (same `webhook-id`, so a receiver that got it can tell), audited.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn replay(state: &AppState, actor: &Actor, delivery: Uuid) -> AppResult<Uuid> {
    let mut tx = state.db.begin().await?;
    let d = match db::delivery(&mut tx, delivery).await {
        Ok(d) => d,
        Err(licentia_db::DbError::NotFound) => return Err(state.not_found(actor, "webhook_delivery", &delivery.to_string()).await),
        Err(e) => return Err(e.into()),
    };
    let e = load(state, actor, &mut tx, d.endpoint_id).await?;
    db::replay(&mut tx, d.id).await?;
    let seq = state
        .audit(
            &mut tx,
            actor.event("webhook.replayed", Outcome::Success).target("webhook", e.id).details(json!({ "delivery": d.id, "event_type": d.event_type })),
        )
        .await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    state.webhooks_queued.notify_one();
    Ok(e.id)
}

/// Queues `event_type` with `data` for every live endpoint of `parties` that subscribed to it, in
/// the caller's transaction. Returns how many deliveries were queued.
pub async fn queue(conn: &mut PgConnection, parties: &[OrganisationId], event_type: &'static str, data: Value) -> AppResult<usize> {
    let mut n = 0;
    for e in db::of_organisations(conn, parties).await? {
        if rules::subscribed(&e.events, event_type) {
            let payload = json!({ "type": event_type, "timestamp": Utc::now(), "data": data });
            db::queue(conn, e.id, event_type, &payload, None).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// How far ahead a deadline is announced, and how long after it passed it still is.
const DEADLINE_AHEAD_DAYS: i64 = 30;
const DEADLINE_BEHIND_DAYS: i64 = 7;

/// The scheduled events as of `today`, each sent once per endpoint: `deadline.due` for every
/// deadline of the organisation's docket (a licensor's registry and obligations; a licensee's
/// obligations) due within 30 days or passed within 7, and `statement.period_closed` for every
/// royalty reporting period of an executed agreement that has ended and whose report is not yet
/// more than 7 days late (the statement for it can be drawn up). Returns how many were queued.
pub async fn queue_scheduled(state: &AppState, today: chrono::NaiveDate) -> AppResult<usize> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let endpoints = db::subscribed_to(&mut conn, &["deadline.due", "statement.period_closed"]).await?;
    let orgs = licentia_db::organisations::list_scoped(&mut conn, None).await?;
    drop(conn);
    let mut queued = 0;
    let from = today - chrono::Duration::days(DEADLINE_BEHIND_DAYS);
    let mut by_org: Vec<(OrganisationId, Vec<&Endpoint>)> = Vec::new();
    for e in &endpoints {
        match by_org.iter_mut().find(|(o, _)| *o == e.organisation_id) {
            Some((_, list)) => list.push(e),
            None => by_org.push((e.organisation_id, vec![e])),
        }
    }
    for (org, list) in by_org {
        let Some(o) = orgs.iter().find(|o| o.id == org) else { continue };
        // The organisation's own view of its docket: a licensor's as its managers see it, a
        // licensee's as its users do (its obligations only).
        let role = if o.kind == licentia_domain::OrgKind::Licensee { Role::Licensee } else { Role::Manager };
        let actor = Actor::new(licentia_domain::UserId::from_uuid(Uuid::nil()), org, role);
        let items = if role == Role::Licensee {
            crate::docket::obligations_between(state, &actor, from, today + chrono::Duration::days(DEADLINE_AHEAD_DAYS)).await?
        } else {
            crate::docket::deadlines_between(state, &actor, from, today + chrono::Duration::days(DEADLINE_AHEAD_DAYS)).await?
        };
        let mut tx = state.db.begin().await?;
        for d in &items {
            let due = d.deadline.due;
            let pending = d.state.is_none();
            let occurrence = format!("{}:{}:{}:{}", d.asset_id, d.deadline.rule, d.deadline.ordinal, due);
            let data = json!({
                "title": d.deadline.title, "due": due, "last_day": d.deadline.last_day, "rule": d.deadline.rule,
                "of": { "id": d.asset_id, "title": d.asset_title, "href": d.href }, "source": d.deadline.source,
            });
            if pending && due >= from && due <= today + chrono::Duration::days(DEADLINE_AHEAD_DAYS) {
                queued += queue_once(&mut tx, &list, "deadline.due", &format!("deadline:{occurrence}"), &data).await?;
            }
            // A report obligation is due 30 days after its period ends (`PAYMENT_DAYS`).
            let period_end = due - chrono::Duration::days(licentia_domain::agreement::PAYMENT_DAYS as i64);
            if d.deadline.rule == "obligation-report" && period_end < today && due >= from {
                let mut data = data.clone();
                data["period_ended"] = json!(period_end);
                queued += queue_once(&mut tx, &list, "statement.period_closed", &format!("statement:{occurrence}"), &data).await?;
            }
        }
        tx.commit().await.map_err(licentia_db::DbError::from)?;
    }
    if queued > 0 {
        state.webhooks_queued.notify_one();
    }
    Ok(queued)
}

async fn queue_once(conn: &mut PgConnection, endpoints: &[&Endpoint], event_type: &'static str, key: &str, data: &Value) -> AppResult<usize> {
    let mut n = 0;
    for e in endpoints.iter().filter(|e| rules::subscribed(&e.events, event_type)) {
        let payload = json!({ "type": event_type, "timestamp": Utc::now(), "data": data });
        n += usize::from(db::queue(conn, e.id, event_type, &payload, Some(key)).await?.is_some());
    }
    Ok(n)
}

/// The outcome of one attempt.
struct Sent {
    status: Option<u16>,
    response: String,
    error: Option<String>,
}

async fn send(state: &AppState, e: &Endpoint, d: &Delivery) -> Sent {
    let failed = |error: String| Sent { status: None, response: String::new(), error: Some(error) };
    let url = match WebhookUrl::parse(&e.url, e.allow_private) {
        Ok(u) => u,
        Err(err) => return failed(err.message),
    };
    let addrs = match resolve(&url, e.allow_private).await {
        Ok(a) => a,
        Err(m) => return failed(format!("refused: {m}")),
    };
    let secret = match WebhookSecret::unseal(&state.keyring, u32::try_from(e.secret_version).unwrap_or(0), e.id.as_bytes(), &e.secret_sealed) {
        Ok(s) => s,
        Err(err) => return failed(format!("the endpoint's secret cannot be unsealed: {err}")),
    };
    let body = d.payload.to_string();
    let id = format!("msg_{}", d.id.simple());
    let timestamp = Utc::now().timestamp();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Straight to the checked address: no proxy from the environment in between.
        .no_proxy()
        .timeout(TIMEOUT)
        .resolve_to_addrs(url.host.trim_start_matches('[').trim_end_matches(']'), &addrs)
        .user_agent(concat!("Licentia-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(err) => return failed(err.to_string()),
    };
    let request = client
        .post(&url.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", secret.sign(&id, timestamp, body.as_bytes()))
        .body(body);
    match request.send().await {
        Err(err) => failed(err.to_string()),
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let mut kept = Vec::new();
            while kept.len() < RESPONSE_KEPT {
                match resp.chunk().await {
                    Ok(Some(c)) => kept.extend_from_slice(&c[..c.len().min(RESPONSE_KEPT - kept.len())]),
                    _ => break,
                }
            }
            Sent { status: Some(status), response: String::from_utf8_lossy(&kept).into_owned(), error: None }
        }
    }
}

/// Sends what is due, a batch per transaction; returns how many were delivered.
pub async fn deliver_due(state: &AppState) -> AppResult<usize> {
    let mut delivered = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let due = db::claim_due(&mut tx, BATCH).await?;
        if due.is_empty() {
            return Ok(delivered);
        }
        let n = due.len();
        for d in &due {
            let e = db::get(&mut tx, d.endpoint_id, None).await?;
            let started = Instant::now();
            let sent = send(state, &e, d).await;
            let ok = sent.status.is_some_and(|s| (200..300).contains(&s));
            let retry = if ok { None } else { rules::next_retry(u32::try_from(d.attempts + 1).unwrap_or(u32::MAX)) };
            if !ok {
                tracing::info!(delivery = %d.id, status = ?sent.status, error = ?sent.error, "webhook delivery failed");
            }
            let attempt = Attempt {
                status: sent.status.map(i32::from),
                response: &sent.response,
                error: sent.error.as_deref(),
                duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            };
            db::record(&mut tx, d.id, attempt, ok, retry).await?;
            delivered += usize::from(ok);
        }
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        if (n as i64) < BATCH {
            return Ok(delivered);
        }
    }
}

/// The delivery loop beside the training workers: whenever a change queued an event
/// (`AppState::webhooks_queued`), or every `poll` for retries; scheduled events hourly.
pub async fn serve(state: AppState, poll: Duration, mut stop: watch::Receiver<bool>) {
    let mut last_schedule = None::<Instant>;
    loop {
        if *stop.borrow() {
            break;
        }
        // Scheduled events (deadlines coming due, periods closed): looked for hourly.
        if last_schedule.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            last_schedule = Some(Instant::now());
            if let Err(e) = queue_scheduled(&state, Utc::now().date_naive()).await {
                tracing::warn!(error = %e, "queuing scheduled webhook events failed");
            }
        }
        if let Err(e) = deliver_due(&state).await {
            tracing::warn!(error = %e, "webhook delivery failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = state.webhooks_queued.notified() => {}
            _ = stop.changed() => {}
        }
    }
}
