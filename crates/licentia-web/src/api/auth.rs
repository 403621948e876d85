//! Tokens for programs: `POST /api/v1/auth/token`, logout, `me`, password change.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, CurrentUser};
use crate::context::RequestContext;
use crate::error::Reply;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    email: String,
    password: String,
}

pub async fn token(state: web::Data<AppState>, ctx: RequestContext, body: web::Json<TokenRequest>) -> Reply<HttpResponse> {
    let issued = auth::login(&state, &ctx, &body.email, &body.password, "api").await?;
    Ok(HttpResponse::Ok().json(json!({
        "token": issued.token,
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
    })))
}

pub async fn logout(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    auth::logout(&state, &ctx, &user).await?;
    Ok(HttpResponse::NoContent().cookie(auth::expired_session_cookie()).finish())
}

pub async fn me(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role,
        "organisation_id": user.organisation_id,
    }))
}

/// `GET /api/v1/me/preferences`: e-mail choices and time zone.
pub async fn preferences(state: web::Data<AppState>, user: CurrentUser) -> Reply<HttpResponse> {
    let p = licentia_app::notify::preferences(&state, &user.actor()).await?;
    Ok(HttpResponse::Ok().json(json!({ "notify_email": p.notify_email, "notify_digest": p.notify_digest, "time_zone": p.time_zone.name() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesInput {
    pub notify_email: bool,
    pub notify_digest: bool,
    pub time_zone: String,
}

/// `PUT /api/v1/me/preferences`: all three at once (422 `time_zone` for a zone the tz database
/// does not know).
pub async fn set_preferences(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<PreferencesInput>) -> Reply<HttpResponse> {
    let b = body.into_inner();
    licentia_app::notify::set_preferences(&state, &user.actor_in(&ctx), b.notify_email, b.notify_digest, &b.time_zone).await?;
    preferences(state, user).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current: String,
    new: String,
}

pub async fn change_password(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<PasswordChange>) -> Reply<HttpResponse> {
    let revoked = licentia_app::account::change_password(&state, &user.actor_in(&ctx), user.session_id, &body.current, &body.new).await?;
    Ok(HttpResponse::Ok().json(json!({ "other_sessions_revoked": revoked })))
}
