//! Building and appending entries.

use chrono::{DateTime, SubsecRound as _, Utc};
use licentia_db::audit::AuditRow;
use licentia_db::PgConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{AuditError, canonical, chain_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// One thing that happened. `action` is a dotted name (`auth.login`, `user.created`,
/// `authz.denied`); the request context (IP, user agent, request id) is filled in by the web layer.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub organisation_id: Option<Uuid>,
    pub action: &'static str,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<String>,
    pub outcome: Outcome,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(action: &'static str, outcome: Outcome) -> Self {
        Self {
            actor_id: None,
            actor_label: None,
            organisation_id: None,
            action,
            target_kind: None,
            target_id: None,
            outcome,
            ip: None,
            user_agent: None,
            request_id: None,
            details: json!({}),
        }
    }

    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target_kind = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn actor(mut self, id: Option<Uuid>, label: Option<String>, organisation: Option<Uuid>) -> Self {
        self.actor_id = id;
        self.actor_label = label;
        self.organisation_id = organisation;
        self
    }
}

/// The value whose canonical bytes are hashed. Every column of the row except the hashes and the
/// canonical bytes themselves appears here, so editing any of them is detectable.
pub fn canonical_value(
    seq: i64,
    occurred_at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    actor_label: Option<&str>,
    organisation_id: Option<Uuid>,
    action: &str,
    target_kind: Option<&str>,
    target_id: Option<&str>,
    outcome: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
    request_id: Option<&str>,
    details: &Value,
) -> Value {
    json!({
        "v": 1,
        "seq": seq,
        "occurred_at": occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "organisation_id": organisation_id,
        "action": action,
        "target_kind": target_kind,
        "target_id": target_id,
        "outcome": outcome,
        "ip": ip,
        "user_agent": user_agent,
        "request_id": request_id,
        "details": details,
    })
}

/// The canonical value of a stored row, rebuilt from its columns.
pub fn row_value(r: &AuditRow) -> Value {
    canonical_value(
        r.seq,
        r.occurred_at,
        r.actor_id,
        r.actor_label.as_deref(),
        r.organisation_id,
        &r.action,
        r.target_kind.as_deref(),
        r.target_id.as_deref(),
        &r.outcome,
        r.ip.as_deref(),
        r.user_agent.as_deref(),
        r.request_id.as_deref(),
        &r.details,
    )
}

/// Bounds a text field and replaces NUL, which PostgreSQL's `text` and `jsonb` cannot store: an
/// attacker's `%00` in a path must be recorded, not turn the audit write into a 500.
fn clip(s: Option<String>, max: usize) -> Option<String> {
    s.map(|s| s.chars().take(max).map(|c| if c == '\0' { '\u{FFFD}' } else { c }).collect())
}

fn sanitize(v: Value) -> Value {
    match v {
        Value::String(s) if s.contains('\0') => Value::String(s.replace('\0', "\u{FFFD}")),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitize).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k.replace('\0', "\u{FFFD}"), sanitize(v))).collect()),
        other => other,
    }
}

/// Appends `event` inside the caller's transaction and returns its sequence number. The head stays
/// locked until that transaction ends; keep audited transactions short.
pub async fn append(conn: &mut PgConnection, event: AuditEvent) -> Result<i64, AuditError> {
    let (seq, prev_hash) = licentia_db::audit::advance_head(conn).await?;
    // PostgreSQL keeps microseconds: truncate first so the stored value equals the hashed one.
    let occurred_at = Utc::now().trunc_subsecs(6);
    let mut row = AuditRow {
        seq,
        occurred_at,
        actor_id: event.actor_id,
        actor_label: clip(event.actor_label, 320),
        organisation_id: event.organisation_id,
        action: event.action.to_owned(),
        target_kind: event.target_kind.map(str::to_owned),
        target_id: clip(event.target_id, 200),
        outcome: event.outcome.as_str().to_owned(),
        ip: clip(event.ip, 64),
        user_agent: clip(event.user_agent, 512),
        request_id: clip(event.request_id, 64),
        details: sanitize(event.details),
        prev_hash,
        hash: Vec::new(),
        canonical: Vec::new(),
    };
    row.canonical = canonical::to_bytes(&row_value(&row));
    row.hash = chain_hash(&row.prev_hash, &row.canonical);
    licentia_db::audit::insert(conn, &row).await?;
    Ok(seq)
}
