//! Password recovery by e-mail, and the reset an admin forces.
//!
//! The request answers the same whether or not the address has an account (the caller shows one
//! text), is throttled on its own key (`reset:<address>`, not the login key: asking for resets
//! must not lock the owner out) and on the address it came from, and is audited either way. The
//! link carries 256 random bits; only their SHA-256 is stored, the link works once (one UPDATE
//! spends it) and for [`RESET_MINUTES`]. Setting the new password revokes every session, API
//! token and calendar token of the account and ends its pending logins. It never touches second
//! factors: a reset password still owes its second step.

use chrono::Utc;
use licentia_audit::{AuditEvent, Outcome};
use licentia_db::{DbError, PgConnection, logins, resets, sessions, users};
use licentia_domain::{Email, Password, UserId};
use serde_json::json;

use crate::Actor;
use crate::actor::Origin;
use crate::credentials;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How long an e-mailed link works (OWASP's Forgot Password Cheat Sheet: tokens "should expire
/// after an appropriate period"; half an hour is enough to read one's mail).
pub const RESET_MINUTES: i64 = 30;
/// A reset an admin forced: the old password stops working at once, so the link lasts a day.
pub const FORCED_RESET_HOURS: i64 = 24;
/// What a forced reset leaves as the password hash: not a PHC string, so no password matches it.
const NO_PASSWORD: &str = "!reset-forced";

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Creates a reset token for `user` and queues the e-mail that carries it, in `tx`.
async fn issue(state: &AppState, tx: &mut PgConnection, user: UserId, email: &str, forced_by: Option<UserId>) -> AppResult<()> {
    let token = licentia_crypto::random::token().map_err(|_| AppError::internal("no randomness"))?;
    let lifetime = if forced_by.is_some() { chrono::Duration::hours(FORCED_RESET_HOURS) } else { chrono::Duration::minutes(RESET_MINUTES) };
    resets::insert(&mut *tx, &digest(&token), user, forced_by, Utc::now() + lifetime).await?;
    let base = state.settings.public_url.trim_end_matches('/');
    let (subject, why) = if forced_by.is_some() {
        ("Set a new Licentia password", "An administrator has reset your Licentia password; your old password no longer works.")
    } else {
        ("Reset your Licentia password", "Somebody (we hope you) asked to reset the password of your Licentia account.")
    };
    let hours = lifetime.num_minutes() as f64 / 60.0;
    let body = format!(
        "{why}\n\nChoose a new password here (the link works once, for {}):\n{base}/password-reset/{token}\n\nIf you did not ask for this, ignore this message: your password stays as it is.\n",
        if hours >= 1.0 { format!("{hours:.0} hours") } else { format!("{} minutes", lifetime.num_minutes()) }
    );
    licentia_db::mail::queue(
        &mut *tx,
        licentia_db::mail::NewMail {
            user_id: user,
            recipient: email,
            kind: "password_reset",
            subject,
            body: &body,
            dedupe_key: &format!("password_reset:{}", hex::encode(&digest(&token)[..16])),
        },
    )
    .await?;
    Ok(())
}

/// Asks for a reset link for `email_raw`. `Ok` whatever the address (an unknown, disabled or
/// malformed one just sends nothing); `Err` only when throttled.
pub async fn request(state: &AppState, origin: &Origin, email_raw: &str) -> AppResult<()> {
    let ip = origin.ip.clone().unwrap_or_default();
    let now = Utc::now();
    let address = credentials::account_key(email_raw);
    let key = format!("reset:{address}");
    let mut tx = state.db.begin().await?;
    credentials::throttle(state, &mut tx, origin, &key, &ip, now, "password_reset").await?;
    // Every request counts against its key as an "attempt that did not log in", so the throttle
    // limits how many links one address can be sent.
    logins::record(&mut tx, &key, &ip, false, now).await?;
    let account = match Email::parse(&address) {
        Ok(email) => users::credentials_by_email(&mut tx, &email).await?,
        Err(_) => None,
    };
    let account = account.filter(|c| !c.disabled && !c.organisation_disabled);
    let event = origin.stamp(AuditEvent::new("auth.password_reset_requested", Outcome::Success));
    let event = match &account {
        Some(c) => {
            issue(state, &mut tx, c.id, &address, None).await?;
            event.actor(Some(c.id.as_uuid()), Some(address.clone()), Some(c.organisation_id.as_uuid())).target("user", c.id).details(json!({ "sent": true }))
        }
        None => event.details(json!({ "email": address, "sent": false })),
    };
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    if account.is_some() {
        state.notified(crate::state::Queued { mail: 1, webhooks: 0 });
    }
    Ok(())
}

/// Whether a reset link is live (the page only offers the form for one).
pub async fn is_live(state: &AppState, token: &str) -> AppResult<bool> {
    let mut conn = state.db.pool.acquire().await.map_err(DbError::from)?;
    Ok(resets::is_live(&mut conn, &digest(token)).await?)
}

/// Sets a new password with a reset link: 422 for a password the rules refuse (the link stays
/// usable), 410 for a link that is unknown, used or expired. Returns how many sessions and
/// tokens were revoked.
pub async fn complete(state: &AppState, origin: &Origin, token: &str, new: &str) -> AppResult<u64> {
    let new = Password::parse(new)?;
    let ip = origin.ip.clone().unwrap_or_default();
    let now = Utc::now();
    // Guessing tokens is pointless (256 bits) but still throttled per address.
    // Keyed on the address alone: a key shared by everybody would let one attacker lock every
    // reset link out.
    let key = format!("reset-link:{ip}");
    let mut conn = state.db.pool.acquire().await.map_err(DbError::from)?;
    credentials::throttle(state, &mut conn, origin, &key, &ip, now, "password_reset_link").await?;
    drop(conn);
    let permit = state.argon2.acquire().await.map_err(AppError::internal)?;
    let hash =
        tokio::task::spawn_blocking(move || licentia_crypto::password::hash(new.expose())).await.map_err(AppError::internal)?.map_err(AppError::internal)?;
    drop(permit);
    let mut tx = state.db.begin().await?;
    let Some(user) = resets::spend(&mut tx, &digest(token)).await? else {
        drop(tx);
        let mut conn = state.db.pool.acquire().await.map_err(DbError::from)?;
        logins::record(&mut conn, &key, &ip, false, now).await?;
        drop(conn);
        state.audit_alone(origin.stamp(AuditEvent::new("auth.password_reset_refused", Outcome::Denied))).await?;
        return Err(AppError::Gone { message: "this reset link has expired or was already used; ask for a new one".into() });
    };
    let account = users::get_scoped(&mut tx, user, None).await?;
    users::set_password_hash(&mut tx, user, &hash).await?;
    let revoked = sessions::revoke_all_for_user(&mut tx, user, None, "password reset").await?;
    licentia_db::factors::delete_challenges_for(&mut tx, user).await?;
    let event = origin
        .stamp(AuditEvent::new("auth.password_reset", Outcome::Success))
        .actor(Some(user.as_uuid()), Some(account.email.clone()), Some(account.organisation_id.as_uuid()))
        .target("user", user)
        .details(json!({ "sessions_revoked": revoked }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok(revoked)
}

/// An admin forces a reset: the password stops working now, every session and token of the user
/// is revoked, and a link to set a new one is e-mailed (valid [`FORCED_RESET_HOURS`]).
pub async fn force(state: &AppState, actor: &Actor, user: UserId) -> AppResult<u64> {
    if user == actor.user_id {
        return Err(AppError::Conflict { message: "change your own password on your account page".into() });
    }
    let mut tx = state.db.begin().await?;
    let target = users::get_scoped(&mut tx, user, None).await?;
    if target.disabled {
        return Err(AppError::Conflict { message: "this user is disabled; enable them first".into() });
    }
    users::set_password_hash(&mut tx, user, NO_PASSWORD).await?;
    let revoked = sessions::revoke_all_for_user(&mut tx, user, None, "password reset by an admin").await?;
    licentia_db::factors::delete_challenges_for(&mut tx, user).await?;
    issue(state, &mut tx, user, &target.email, Some(actor.user_id)).await?;
    let event = actor.event("user.password_reset_forced", Outcome::Success).target("user", user).details(json!({ "sessions_revoked": revoked }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    state.notified(crate::state::Queued { mail: 1, webhooks: 0 });
    Ok(revoked)
}
