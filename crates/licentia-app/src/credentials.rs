//! What every check of a secret shares: the throttle in front of it, and re-checking a logged-in
//! user's password before a change that a stolen session must not make (a new password, removing
//! a second factor). Login, the second step and password resets all count against the same
//! `login_attempts` rows, so one throttle covers every way of guessing.

use chrono::{DateTime, Utc};
use licentia_audit::{AuditEvent, Outcome};
use licentia_db::logins;
use serde_json::json;

use crate::Actor;
use crate::actor::Origin;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Refuses (429, audited, counted) an attempt on `key` from `ip` while the throttle says so,
/// before any secret is looked at.
pub(crate) async fn throttle(
    state: &AppState,
    conn: &mut licentia_db::PgConnection,
    origin: &Origin,
    key: &str,
    ip: &str,
    now: DateTime<Utc>,
    kind: &str,
) -> AppResult<()> {
    let policy = &state.settings.throttle;
    let recent = logins::recent(conn, key, ip, now, policy.account_window, policy.ip_window).await?;
    if let Some(wait) = policy.check(&recent, now) {
        logins::record_throttled(conn, key, ip, now).await?;
        state.metrics.logins_throttled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.audit_alone(origin.stamp(AuditEvent::new("auth.throttled", Outcome::Denied).details(json!({ "email": key, "kind": kind })))).await?;
        return Err(AppError::TooManyRequests { retry_after_secs: wait.num_seconds().max(1) });
    }
    Ok(())
}

/// The throttling key of an account: its address as typed, lower-cased, without control
/// characters (stored as text: NUL above all must be just another failed attempt).
pub(crate) fn account_key(email_raw: &str) -> String {
    email_raw.trim().to_lowercase().chars().filter(|c| !c.is_control()).take(320).collect()
}

/// Checks the actor's current password (throttled like a login; a failure is counted and audited
/// as `<action>_failed`) and hashes `new` alongside when given, in one blocking task.
pub(crate) async fn recheck_password(state: &AppState, actor: &Actor, password: &str, action: &'static str, new: Option<String>) -> AppResult<Option<String>> {
    let key = actor.label.to_lowercase();
    let ip = actor.origin.ip.clone().unwrap_or_default();
    let now = Utc::now();
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    throttle(state, &mut conn, &actor.origin, &key, &ip, now, action).await?;
    let stored = licentia_db::users::password_hash(&mut conn, actor.user_id).await?;
    drop(conn);
    let permit = state.argon2.acquire().await.map_err(AppError::internal)?;
    let candidate = password.to_owned();
    let (ok, new_hash) = tokio::task::spawn_blocking(move || {
        let ok = licentia_crypto::password::verify(&stored, &candidate);
        let hash = if ok { new.and_then(|n| licentia_crypto::password::hash(&n).ok()) } else { None };
        (ok, hash)
    })
    .await
    .map_err(AppError::internal)?;
    drop(permit);
    if !ok {
        let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
        logins::record(&mut conn, &key, &ip, false, now).await?;
        drop(conn);
        let failed = match action {
            "auth.password_change" => "auth.password_change_failed",
            _ => "auth.password_recheck_failed",
        };
        state.audit_alone(actor.event(failed, Outcome::Failure).details(json!({ "for": action }))).await?;
        return Err(AppError::Validation { field: "current".into(), message: "the current password is not correct".into() });
    }
    Ok(new_hash)
}
