//! Tokens for programs: `POST /api/v1/auth/token`, logout, `me`, password change.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use licentia_domain::{OrganisationId, Role, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, CurrentUser};
use crate::context::RequestContext;
use crate::error::Reply;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "manager@aurora.example", "password": "correct horse battery staple"}))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    email: String,
    password: String,
}

/// A bearer token for the API.
#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
}

pub async fn token(state: web::Data<AppState>, ctx: RequestContext, body: web::Json<TokenRequest>) -> Reply<HttpResponse> {
    let issued = auth::login(&state, &ctx, &body.email, &body.password, "api").await?;
    Ok(HttpResponse::Ok().json(IssuedToken { token: issued.token, token_type: "Bearer", expires_at: issued.expires_at }))
}

pub async fn logout(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    auth::logout(&state, &ctx, &user).await?;
    Ok(HttpResponse::NoContent().cookie(auth::expired_session_cookie()).finish())
}

/// Who the credential belongs to.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub organisation_id: OrganisationId,
}

pub async fn me(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(Me { id: user.id, email: user.email, display_name: user.display_name, role: user.role, organisation_id: user.organisation_id })
}

/// E-mail choices and time zone.
#[derive(Serialize, ToSchema)]
pub struct Preferences {
    pub notify_email: bool,
    pub notify_digest: bool,
    /// An IANA time zone name, such as `Europe/Berlin`.
    pub time_zone: String,
}

/// `GET /api/v1/me/preferences`: e-mail choices and time zone.
pub async fn preferences(state: web::Data<AppState>, user: CurrentUser) -> Reply<HttpResponse> {
    let p = licentia_app::notify::preferences(&state, &user.actor()).await?;
    Ok(HttpResponse::Ok().json(Preferences { notify_email: p.notify_email, notify_digest: p.notify_digest, time_zone: p.time_zone.name().to_owned() }))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"notify_email": true, "notify_digest": true, "time_zone": "Europe/Berlin"}))]
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

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"current": "correct horse battery staple", "new": "a longer passphrase of my own"}))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current: String,
    new: String,
}

pub async fn change_password(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<PasswordChange>) -> Reply<HttpResponse> {
    let revoked = licentia_app::account::change_password(&state, &user.actor_in(&ctx), user.session_id, &body.current, &body.new).await?;
    Ok(HttpResponse::Ok().json(PasswordChanged { other_sessions_revoked: revoked }))
}

#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// How many other sessions and tokens were ended.
    pub other_sessions_revoked: u64,
}
