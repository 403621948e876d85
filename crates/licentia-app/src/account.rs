//! A user's own account: changing the password, issuing the calendar feed token.

use licentia_audit::Outcome;
use licentia_domain::{Password, SessionId};

use crate::Actor;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Checks the current password, stores the new hash, and revokes every other session of the user
/// (and the calendar token) in the same transaction as the audit entry; `session` is the one
/// making the change, which stays in.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn change_password(state: &AppState, actor: &Actor, session: SessionId, current: &str, new: &str) -> AppResult<u64> {
    let new = Password::parse(new)?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
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
