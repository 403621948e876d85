//! The account page: who am I, and changing my password (which logs out my other sessions).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use licentia_audit::Outcome;
use licentia_domain::Password;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::pages::{Nav, flash_from, see_other_with};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    nav: Nav,
    email: String,
    display_name: String,
    role: &'static str,
    flash: Option<(bool, String)>,
}

pub async fn show(state: web::Data<AppState>, user: CurrentUser, req: HttpRequest) -> AccountPage {
    AccountPage {
        nav: Nav::for_user(&state, &user, "/account"),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role: user.role.as_str(),
        flash: flash_from(req.query_string()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
}

/// Checks the current password, stores the new hash, and revokes every other session of the user
/// in the same transaction as the audit entry.
pub async fn change_password_inner(state: &AppState, ctx: &RequestContext, user: &CurrentUser, current: &str, new: &str) -> AppResult<u64> {
    let new = Password::parse(new)?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let stored = licentia_db::users::password_hash(&mut conn, user.id).await?;
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
        state.audit_alone(user.event(ctx, "auth.password_change_failed", Outcome::Failure)).await?;
        return Err(AppError::Validation { field: "current".into(), message: "the current password is not correct".into() });
    }
    let new_hash = new_hash.ok_or_else(|| AppError::internal("password hashing failed"))?;
    let mut tx = state.db.begin().await?;
    licentia_db::users::set_password_hash(&mut tx, user.id, &new_hash).await?;
    let revoked = licentia_db::sessions::revoke_all_for_user(&mut tx, user.id, Some(user.session_id), "password changed").await?;
    let event =
        user.event(ctx, "auth.password_changed", Outcome::Success).target("user", user.id).details(serde_json::json!({ "other_sessions_revoked": revoked }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq);
    Ok(revoked)
}

pub async fn change_password(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<PasswordForm>) -> Reply<HttpResponse> {
    match change_password_inner(&state, &ctx, &user, &form.current, &form.new).await {
        Ok(n) => Ok(see_other_with("/account", true, &format!("Password changed; {n} other session(s) logged out."))),
        Err(AppError::Validation { message, .. }) => Ok(see_other_with("/account", false, &message)),
        Err(e) => Err(e.into()),
    }
}
