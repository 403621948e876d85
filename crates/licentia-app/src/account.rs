//! A user's own account: changing the password, issuing the calendar feed token.

use std::time::{Duration, Instant};

use chrono::Utc;
use licentia_audit::{AuditEvent, Outcome};
use licentia_db::{logins, sessions, users};
use licentia_domain::{Email, Password, SessionId};
use serde_json::json;

use crate::Actor;
use crate::actor::Origin;
use crate::error::{AppError, AppResult};
use crate::rejections::Step;
use crate::state::AppState;

/// Checks the current password, stores the new hash, and revokes every other session of the user
/// (and the calendar token) in the same transaction as the audit entry; `session` is the one
/// making the change, which stays in.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn change_password(state: &AppState, actor: &Actor, session: SessionId, current: &str, new: &str) -> AppResult<u64> {
    let new = Password::parse(new)?;
    // Guessing the current password through this form is throttled exactly like logging in: the
    // same counters, keyed on the account and the address.
    let key = actor.label.to_lowercase();
    let ip = actor.origin.ip.clone().unwrap_or_default();
    let now = Utc::now();
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    throttle(state, &mut conn, &actor.origin, &key, &ip, now, "password_change").await?;
    let stored = licentia_db::users::password_hash(&mut conn, actor.user_id).await?;
    drop(conn);
    let permit = state.argon2.acquire().await.map_err(AppError::internal)?;
    let current = current.to_owned();
    let (ok, new_hash) = tokio::task::spawn_blocking(move || {
        let ok = licentia_crypto::password::verify(&stored, &current);
        let hash = if ok { licentia_crypto::password::hash(new.expose()).ok() } else { None };
        (ok, hash)
    })
    .await
    .map_err(AppError::internal)?;
    drop(permit);
    if !ok {
        let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
        logins::record(&mut conn, &key, &ip, false, now).await?;
        drop(conn);
        state.audit_alone(actor.event("auth.password_change_failed", Outcome::Failure)).await?;
        return Err(AppError::Validation { field: "current".into(), message: "the current password is not correct".into() });
    }
    let new_hash = new_hash.ok_or_else(|| AppError::internal("password hashing failed"))?;
    let mut tx = state.db.begin().await?;
    licentia_db::users::set_password_hash(&mut tx, actor.user_id, &new_hash).await?;
    let revoked = licentia_db::sessions::revoke_all_for_user(&mut tx, actor.user_id, Some(session), "password changed").await?;
    let event =
        actor.event("auth.password_changed", Outcome::Success).target("user", actor.user_id).details(serde_json::json!({ "other_sessions_revoked": revoked }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(revoked)
}

/// Refuses (429, audited, counted) an attempt on `key` from `ip` while the throttle says so,
/// before any password is looked at.
async fn throttle(
    state: &AppState,
    conn: &mut licentia_db::PgConnection,
    origin: &Origin,
    key: &str,
    ip: &str,
    now: chrono::DateTime<Utc>,
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

/// A new calendar feed token for the actor (shown once; stored as its SHA-256, so the old feed URL
/// stops working).
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn new_calendar_token(state: &AppState, actor: &Actor) -> AppResult<String> {
    let token = licentia_crypto::random::token().map_err(|_| AppError::internal("no randomness"))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut tx = state.db.begin().await?;
    licentia_db::deadlines::set_calendar_token(&mut tx, actor.user_id.as_uuid(), digest.as_ref()).await?;
    let seq = state.audit(&mut tx, actor.event("calendar.token_issued", Outcome::Success).target("user", actor.user_id)).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(token)
}

/// A successful login: the token and when it expires.
pub struct Issued {
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
    pub session_id: SessionId,
}

/// Checks a password login and opens a session. Throttled attempts are refused before the
/// password is looked at; unknown users cost a dummy argon2 verification.
pub async fn login(state: &AppState, origin: &Origin, email_raw: &str, password: &str, kind: &'static str) -> Result<Issued, AppError> {
    let ip = origin.ip.clone().unwrap_or_default();
    let now = Utc::now();
    // The throttling key is stored as text: control characters (NUL above all) are dropped so that
    // hostile input is just another failed login, never a database error.
    let key = email_raw.trim().to_lowercase().chars().filter(|c| !c.is_control()).take(320).collect::<String>();
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    throttle(state, &mut conn, origin, &key, &ip, now, kind).await?;
    let creds = match Email::parse(&key) {
        Ok(email) => users::credentials_by_email(&mut conn, &email).await?,
        Err(_) => None,
    };
    drop(conn);

    // Bounded concurrency for the expensive part; the permit is held only while hashing.
    let permit = state.argon2.acquire().await.map_err(AppError::internal)?;
    let stored = creds.as_ref().map(|c| c.password_hash.clone());
    let candidate = password.to_owned();
    let password_ok = tokio::task::spawn_blocking(move || match stored {
        Some(phc) => licentia_crypto::password::verify(&phc, &candidate),
        None => {
            licentia_crypto::password::verify_dummy(&candidate);
            false
        }
    })
    .await
    .map_err(AppError::internal)?;
    drop(permit);

    let mut tx = state.db.begin().await?;
    match creds.filter(|c| password_ok && !c.disabled && !c.organisation_disabled) {
        Some(c) => {
            let session_id = SessionId::new();
            let claims = state.jwt.claims(c.id, c.organisation_id, c.role, session_id, now, state.settings.token_ttl);
            let token = state.jwt.issue(&claims).map_err(AppError::internal)?;
            sessions::insert(
                &mut tx,
                sessions::NewSession {
                    id: session_id,
                    user_id: c.id,
                    kind,
                    expires_at: claims.expires_at(),
                    ip: Some(&ip),
                    user_agent: origin.user_agent.as_deref(),
                },
            )
            .await?;
            logins::record(&mut tx, &key, &ip, true, now).await?;
            let event = origin
                .stamp(AuditEvent::new("auth.login", Outcome::Success))
                .actor(Some(c.id.as_uuid()), Some(key.clone()), Some(c.organisation_id.as_uuid()))
                .target("session", session_id)
                .details(json!({ "kind": kind }));
            let seq = state.audit(&mut tx, event).await?;
            tx.commit().await.map_err(licentia_db::DbError::from)?;
            state.audited(seq).await;
            state.metrics.logins_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Issued { token, expires_at: claims.expires_at(), session_id })
        }
        None => {
            logins::record(&mut tx, &key, &ip, false, now).await?;
            let event = origin.stamp(AuditEvent::new("auth.login_failed", Outcome::Failure)).details(json!({ "email": key, "kind": kind }));
            let seq = state.audit(&mut tx, event).await?;
            tx.commit().await.map_err(licentia_db::DbError::from)?;
            state.audited(seq).await;
            state.metrics.logins_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(AppError::InvalidCredentials)
        }
    }
}

/// Revokes the caller's session (logout), audited.
pub async fn logout(state: &AppState, actor: &Actor, session_id: SessionId) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut tx, session_id, "logout").await?;
    let seq = state.audit(&mut tx, actor.event("auth.logout", Outcome::Success).target("session", session_id)).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(())
}

/// Records (or counts) one rejected bearer token from `origin` (see [`crate::rejections`]);
/// `Err(TooManyRequests)` when the address is over its allowance, else the caller answers 401.
pub async fn reject_token(state: &AppState, origin: &Origin, path: &str) -> Result<(), AppError> {
    let ip = origin.ip.clone().unwrap_or_default();
    let (window, max) = (state.settings.rejection_window, state.settings.rejections_per_window);
    match state.rejections.step(&ip, path, Instant::now(), window, max) {
        Step::Record { previous_repeats } => {
            if previous_repeats > 0 {
                rejection_summary(state, origin, previous_repeats, window).await;
            }
            let event = origin.stamp(AuditEvent::new("auth.token_rejected", Outcome::Denied)).details(json!({ "path": path }));
            let _ = state.audit_alone(event).await;
            Ok(())
        }
        Step::Count => Ok(()),
        Step::Limit(wait) => Err(AppError::TooManyRequests { retry_after_secs: i64::try_from(wait.as_secs()).unwrap_or(60).max(1) }),
    }
}

/// Writes the summaries of rejection windows that have ended (the checkpoint timer calls this),
/// so that an address that stopped still has its count in the log.
pub async fn flush_rejections(state: &AppState) {
    let window = state.settings.rejection_window;
    for (ip, repeats) in state.rejections.ended(Instant::now(), window).into_iter().filter(|(_, r)| *r > 0) {
        rejection_summary(state, &Origin { ip: Some(ip), user_agent: None, request_id: None }, repeats, window).await;
    }
}

async fn rejection_summary(state: &AppState, origin: &Origin, repeats: u64, window: Duration) {
    let event = origin
        .stamp(AuditEvent::new("auth.token_rejected", Outcome::Denied))
        .details(json!({ "repeated": repeats, "window_seconds": window.as_secs(), "summary": true }));
    let _ = state.audit_alone(event).await;
}
