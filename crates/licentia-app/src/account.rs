//! A user's own account: logging in (the password, then the second step), the sessions they
//! have open, changing the password, issuing the calendar feed token.

use std::time::{Duration, Instant};

use chrono::Utc;
use licentia_audit::{AuditEvent, Outcome};
use licentia_db::factors as factors_db;
use licentia_db::{logins, sessions, users};
use licentia_domain::{Email, OrganisationId, Password, Role, SessionId, UserId};
use serde_json::json;

use crate::Actor;
use crate::actor::Origin;
use crate::error::{AppError, AppResult};
use crate::rejections::Step;
use crate::state::AppState;
use crate::{credentials, factors};

/// Checks the current password, stores the new hash, and revokes every other session of the user
/// (and the calendar token) in the same transaction as the audit entry; `session` is the one
/// making the change, which stays in.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn change_password(state: &AppState, actor: &Actor, session: SessionId, current: &str, new: &str) -> AppResult<u64> {
    let new = Password::parse(new)?;
    // Guessing the current password through this form is throttled exactly like logging in: the
    // same counters, keyed on the account and the address.
    let new_hash = credentials::recheck_password(state, actor, current, "auth.password_change", Some(new.expose().to_owned()))
        .await?
        .ok_or_else(|| AppError::internal("password hashing failed"))?;
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
    /// Recovery codes issued by this login (it enrolled the user's first factor): shown once.
    pub recovery_codes: Option<Vec<String>>,
}

/// How long a pending login waits for its second step, and how many wrong answers it takes.
const CHALLENGE_MINUTES: i64 = 5;
const CHALLENGE_TRIES: i32 = 5;

fn challenge_hash(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The user a session is opened for.
struct Opening {
    user: UserId,
    organisation: OrganisationId,
    role: Role,
}

/// Opens a session in `tx` and writes `auth.login` (with the second factor used, if any).
async fn open_session(
    state: &AppState,
    tx: &mut licentia_db::PgConnection,
    origin: &Origin,
    who: Opening,
    key: &str,
    kind: &str,
    second_factor: Option<&str>,
) -> AppResult<(Issued, licentia_audit::Appended)> {
    let now = Utc::now();
    let ip = origin.ip.clone().unwrap_or_default();
    let session_id = SessionId::new();
    let claims = state.jwt.claims(who.user, who.organisation, who.role, session_id, now, state.settings.token_ttl);
    let token = state.jwt.issue(&claims).map_err(AppError::internal)?;
    sessions::insert(
        &mut *tx,
        sessions::NewSession {
            id: session_id,
            user_id: who.user,
            kind,
            expires_at: claims.expires_at(),
            ip: Some(&ip),
            user_agent: origin.user_agent.as_deref(),
        },
    )
    .await?;
    logins::record(&mut *tx, key, &ip, true, now).await?;
    let event = origin
        .stamp(AuditEvent::new("auth.login", Outcome::Success))
        .actor(Some(who.user.as_uuid()), Some(key.to_owned()), Some(who.organisation.as_uuid()))
        .target("session", session_id)
        .details(json!({ "kind": kind, "second_factor": second_factor }));
    let seq = state.audit(tx, event).await?;
    Ok((Issued { token, expires_at: claims.expires_at(), session_id, recovery_codes: None }, seq))
}

/// Checks a password login and opens a session. Throttled attempts are refused before the
/// password is looked at; unknown users cost a dummy argon2 verification. A right password of an
/// account with a second factor, or whose role requires one, opens no session: it answers
/// [`AppError::SecondFactorRequired`] with a short-lived challenge that [`second_step`] completes
/// (after [`enrol_totp_for_login`] when a factor must be set up first).
pub async fn login(state: &AppState, origin: &Origin, email_raw: &str, password: &str, kind: &'static str) -> Result<Issued, AppError> {
    let ip = origin.ip.clone().unwrap_or_default();
    let now = Utc::now();
    let key = credentials::account_key(email_raw);
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    credentials::throttle(state, &mut conn, origin, &key, &ip, now, kind).await?;
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
            let enrolled = factors_db::enrolled(&mut tx, c.id).await?;
            if enrolled.any() || c.second_factor_required {
                let enrol = !enrolled.any();
                let token = licentia_crypto::random::token().map_err(|_| AppError::internal("no randomness"))?;
                let purpose = if enrol { "enrol" } else { "verify" };
                factors_db::insert_challenge(&mut tx, &challenge_hash(&token), c.id, kind, purpose, now + chrono::Duration::minutes(CHALLENGE_MINUTES)).await?;
                let methods = if enrol { vec!["totp"] } else { factors::methods(state, &mut tx, c.id).await? };
                let event = origin
                    .stamp(AuditEvent::new("auth.second_factor_required", Outcome::Denied))
                    .actor(Some(c.id.as_uuid()), Some(key.clone()), Some(c.organisation_id.as_uuid()))
                    .details(json!({ "kind": kind, "enrol": enrol, "methods": methods }));
                let seq = state.audit(&mut tx, event).await?;
                tx.commit().await.map_err(licentia_db::DbError::from)?;
                state.audited(seq).await;
                return Err(AppError::SecondFactorRequired { challenge: token, methods, enrol });
            }
            let (issued, seq) =
                open_session(state, &mut tx, origin, Opening { user: c.id, organisation: c.organisation_id, role: c.role }, &key, kind, None).await?;
            tx.commit().await.map_err(licentia_db::DbError::from)?;
            state.audited(seq).await;
            state.metrics.logins_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(issued)
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

/// The live pending login behind `token` (401 `login_expired` otherwise).
async fn pending(conn: &mut licentia_db::PgConnection, token: &str) -> AppResult<([u8; 32], factors_db::Challenge)> {
    let hash = challenge_hash(token.trim());
    let challenge = factors_db::challenge(conn, &hash).await?.ok_or(AppError::LoginExpired)?;
    Ok((hash, challenge))
}

/// A pending login that must enrol a first factor: the authenticator-app secret to set up (the
/// first code from it then completes the login through [`second_step`]).
pub async fn enrol_totp_for_login(state: &AppState, origin: &Origin, token: &str) -> AppResult<factors::TotpEnrolment> {
    let mut tx = state.db.begin().await?;
    let (_, c) = pending(&mut tx, token).await?;
    if c.purpose != "enrol" {
        return Err(AppError::Conflict { message: "this account already has a second factor; use it".into() });
    }
    let enrolment = factors::begin_totp_for(state, &mut tx, c.user_id, &c.email).await?;
    let event = origin
        .stamp(AuditEvent::new("auth.totp_enrolment_started", Outcome::Success))
        .actor(Some(c.user_id.as_uuid()), Some(c.email.clone()), Some(c.organisation_id.as_uuid()))
        .target("user", c.user_id)
        .details(json!({ "during_login": true }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(enrolment)
}

/// What a pending login can still be completed with (the page shows them again after a miss).
pub async fn pending_methods(state: &AppState, token: &str) -> AppResult<Vec<&'static str>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let (_, c) = pending(&mut conn, token).await?;
    if c.purpose == "enrol" { Ok(vec!["totp"]) } else { factors::methods(state, &mut conn, c.user_id).await }
}

/// The secret a pending enrolment set up, shown again after a wrong first code.
pub async fn pending_enrolment(state: &AppState, token: &str) -> AppResult<Option<factors::TotpEnrolment>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let (_, c) = pending(&mut conn, token).await?;
    if c.purpose != "enrol" {
        return Ok(None);
    }
    factors::pending_totp_for(state, &mut conn, c.user_id, &c.email).await
}

/// The options for `navigator.credentials.get` that complete a pending login with a passkey; the
/// ceremony's state stays with the login, server side.
pub async fn passkey_options_for_login(state: &AppState, token: &str) -> AppResult<webauthn_rs::prelude::RequestChallengeResponse> {
    let mut tx = state.db.begin().await?;
    let (hash, c) = pending(&mut tx, token).await?;
    if c.purpose != "verify" {
        return Err(AppError::Conflict { message: "this account has no passkey yet".into() });
    }
    let (options, ceremony) = factors::passkey_options(state, &mut tx, c.user_id).await?;
    factors_db::set_challenge_ceremony(&mut tx, &hash, Some(&ceremony)).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    Ok(options)
}

/// Completes a pending login with its second step. Throttled and counted on the same account key
/// as the password (so guessing codes locks the account like guessing passwords), at most
/// `CHALLENGE_TRIES` (five) per challenge; every failure is audited. The challenge is spent by the
/// success (deleted in the same transaction as the session it opens), so it completes once.
pub async fn second_step(state: &AppState, origin: &Origin, token: &str, proof: factors::Proof) -> AppResult<Issued> {
    let ip = origin.ip.clone().unwrap_or_default();
    let now = Utc::now();
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let (hash, c) = pending(&mut conn, token).await?;
    credentials::throttle(state, &mut conn, origin, &c.email, &ip, now, "second_factor").await?;
    drop(conn);
    let method = proof.method();
    let enrolling = c.purpose == "enrol";
    let mut tx = state.db.begin().await?;
    let held = match (&proof, enrolling) {
        (factors::Proof::Totp(code), true) => match factors::confirm_totp_for(state, &mut tx, c.user_id, code).await {
            Ok(codes) => Some(codes),
            Err(AppError::Validation { .. }) => None,
            Err(e) => return Err(e),
        },
        (_, true) => None,
        (proof, false) => factors::check(state, &mut tx, c.user_id, proof, c.ceremony.as_ref()).await?.then_some(None),
    };
    let Some(recovery_codes) = held else {
        drop(tx);
        let mut tx = state.db.begin().await?;
        let tries = factors_db::count_challenge_failure(&mut tx, &hash).await?;
        if tries >= CHALLENGE_TRIES {
            factors_db::delete_challenge(&mut tx, &hash).await?;
        }
        logins::record(&mut tx, &c.email, &ip, false, now).await?;
        let event = origin
            .stamp(AuditEvent::new("auth.second_factor_failed", Outcome::Failure))
            .actor(Some(c.user_id.as_uuid()), Some(c.email.clone()), Some(c.organisation_id.as_uuid()))
            .details(json!({ "method": method, "tries": tries, "enrol": enrolling }));
        let seq = state.audit(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        state.audited(seq).await;
        state.metrics.logins_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(if tries >= CHALLENGE_TRIES { AppError::LoginExpired } else { AppError::InvalidSecondFactor });
    };
    if !factors_db::delete_challenge(&mut tx, &hash).await? {
        return Err(AppError::LoginExpired);
    }
    let kind = if c.kind == "api" { "api" } else { "browser" };
    let (mut issued, seq) =
        open_session(state, &mut tx, origin, Opening { user: c.user_id, organisation: c.organisation_id, role: c.role }, &c.email, kind, Some(method)).await?;
    let mut seqs = vec![seq];
    if enrolling {
        let event = origin
            .stamp(AuditEvent::new("auth.totp_enrolled", Outcome::Success))
            .actor(Some(c.user_id.as_uuid()), Some(c.email.clone()), Some(c.organisation_id.as_uuid()))
            .target("user", c.user_id)
            .details(json!({ "during_login": true, "recovery_codes_issued": recovery_codes.is_some() }));
        seqs.push(state.audit(&mut tx, event).await?);
    }
    if method == "recovery_code" {
        let left = factors_db::enrolled(&mut tx, c.user_id).await?.recovery_codes;
        let event = origin
            .stamp(AuditEvent::new("auth.recovery_code_used", Outcome::Success))
            .actor(Some(c.user_id.as_uuid()), Some(c.email.clone()), Some(c.organisation_id.as_uuid()))
            .target("user", c.user_id)
            .details(json!({ "left": left }));
        seqs.push(state.audit(&mut tx, event).await?);
    }
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    for seq in seqs {
        state.audited(seq).await;
    }
    state.metrics.logins_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    issued.recovery_codes = recovery_codes;
    Ok(issued)
}

/// The actor's live sessions and API tokens (where, when).
pub async fn sessions(state: &AppState, actor: &Actor) -> AppResult<Vec<sessions::SessionSummary>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    Ok(sessions::list_live_for_user(&mut conn, actor.user_id).await?)
}

/// Ends one of the actor's own sessions or tokens, audited; anybody else's is a 404.
pub async fn end_session(state: &AppState, actor: &Actor, id: SessionId) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    if !sessions::revoke_own(&mut tx, actor.user_id, id, "ended by its user").await? {
        drop(tx);
        return Err(state.not_found(actor, "session", &id.to_string()).await);
    }
    let seq = state.audit(&mut tx, actor.event("auth.session_ended", Outcome::Success).target("session", id)).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(())
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
