//! Building and appending entries.

use chrono::{SubsecRound as _, Utc};
use licentia_db::PgConnection;
use licentia_db::audit::{AuditRow, PendingRow};
use serde_json::{Value, json};
use uuid::Uuid;

use licentia_crypto::KeyRing;

use crate::{AuditError, Head, canonical, chain_hash, entry_mac_message};

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

/// The value whose canonical bytes are hashed, rebuilt from a row's columns. Every column except
/// the hashes and the canonical bytes themselves appears here, so editing any of them is detectable.
pub fn row_value(r: &AuditRow) -> Value {
    json!({
        "v": 1,
        "seq": r.seq,
        "occurred_at": r.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "actor_id": r.actor_id,
        "actor_label": r.actor_label,
        "organisation_id": r.organisation_id,
        "action": r.action,
        "target_kind": r.target_kind,
        "target_id": r.target_id,
        "outcome": r.outcome,
        "ip": r.ip,
        "user_agent": r.user_agent,
        "request_id": r.request_id,
        "details": r.details,
    })
}

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

/// What [`append`] did inside the caller's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "hand it to AuditLog::committed after the commit"]
pub enum Appended {
    /// The chain's lock was free: the entry (and any committed pending ones) is chained; this is
    /// the new head, valid once the transaction commits.
    Chained(Head),
    /// Another transaction held the lock: the entry waits in `audit_pending` and is chained by
    /// [`seal`] right after the commit.
    Pending,
}

/// Appends `event` inside the caller's transaction, authenticated with the current MAC key of
/// `macs`. When the chain's lock is free it is chained at once (the lock is then held until the
/// transaction ends: keep audited transactions short); otherwise it is written to
/// `audit_pending`, so concurrent writers do not wait for each other's commit. After the commit,
/// hand the result to [`crate::AuditLog::committed`], which chains what is pending and feeds the
/// witness.
pub async fn append(conn: &mut PgConnection, macs: &KeyRing, event: AuditEvent) -> Result<Appended, AuditError> {
    if macs.current_version() == 0 {
        return Err(AuditError::NoMacKey);
    }
    let row = PendingRow {
        id: i64::MAX,
        // PostgreSQL keeps microseconds: truncate first so the stored value equals the hashed one.
        occurred_at: Utc::now().trunc_subsecs(6),
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
    };
    if licentia_db::audit::try_lock(conn).await? {
        // Entries other writers left pending are theirs to chain right after their commit (taking
        // them here would cost every uncontended append a statement).
        let head = chain(conn, macs, vec![row]).await?.ok_or(AuditError::Vanished)?;
        Ok(Appended::Chained(head))
    } else {
        licentia_db::audit::insert_pending(conn, &row).await?;
        Ok(Appended::Pending)
    }
}

/// The most pending entries one transaction chains.
const SEAL_BATCH: i64 = 5_000;

/// Chains every committed pending entry, in transactions of its own; returns the new head when
/// there was anything to chain.
pub async fn seal(db: &licentia_db::Db, macs: &KeyRing) -> Result<Option<Head>, AuditError> {
    let mut head = None;
    loop {
        let mut tx = db.begin().await?;
        licentia_db::audit::lock(&mut tx).await?;
        let rows = licentia_db::audit::take_pending(&mut tx, SEAL_BATCH).await?;
        let n = rows.len();
        let h = if rows.is_empty() { None } else { chain(&mut tx, macs, rows).await? };
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        head = h.or(head);
        if (n as i64) < SEAL_BATCH {
            return Ok(head);
        }
    }
}

/// Chains `rows` after the current head (the caller holds the lock); returns the new head.
async fn chain(conn: &mut PgConnection, macs: &KeyRing, rows: Vec<PendingRow>) -> Result<Option<Head>, AuditError> {
    let mac_key = macs.current_version();
    let mac_key_column = i32::try_from(mac_key).map_err(|_| AuditError::NoMacKey)?;
    let (mut seq, mut prev_hash) = licentia_db::audit::last_entry(conn).await?.unwrap_or((0, crate::GENESIS.to_vec()));
    let mut head = None;
    let mut chained = Vec::with_capacity(rows.len());
    for r in rows {
        seq += 1;
        let mut row = AuditRow {
            seq,
            occurred_at: r.occurred_at,
            actor_id: r.actor_id,
            actor_label: r.actor_label,
            organisation_id: r.organisation_id,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            outcome: r.outcome,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            details: r.details,
            prev_hash,
            hash: Vec::new(),
            canonical: Vec::new(),
            mac: None,
            mac_key: Some(mac_key_column),
        };
        row.canonical = canonical::to_bytes(&row_value(&row));
        let hash = chain_hash(&row.prev_hash, &row.canonical);
        row.mac = Some(macs.hmac_sign(mac_key, &entry_mac_message(seq, &hash)).ok_or(AuditError::NoMacKey)?);
        row.hash = hash.to_vec();
        prev_hash = row.hash.clone();
        chained.push(row);
        head = Some(Head { seq, hash });
    }
    licentia_db::audit::insert_many(conn, &chained).await?;
    Ok(head)
}
