//! The second step of a login, second factors on one's own account, password resets and the list
//! of one's sessions. Each handler parses and calls one use case (`licentia_app::account`,
//! `::factors`, `::reset`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use licentia_app::factors::{self, Proof};
use licentia_domain::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{CurrentUser, not_found};
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::state::AppState;

/// The second step: the challenge from the 401 `second_factor_required` answer and exactly one
/// proof.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"challenge": "k3V0…", "totp": "492039"}))]
#[serde(deny_unknown_fields)]
pub struct SecondStep {
    pub challenge: String,
    /// The six digits the authenticator app shows (also the first code when enrolling).
    pub totp: Option<String>,
    /// One of the recovery codes (each works once).
    pub recovery_code: Option<String>,
    /// The `PublicKeyCredential` that `navigator.credentials.get` returned for the options of
    /// `POST /api/v1/auth/second-factor/passkey-options`.
    #[schema(value_type = Option<Object>)]
    pub passkey: Option<serde_json::Value>,
}

impl SecondStep {
    pub fn proof(self) -> Result<(String, Proof), AppError> {
        let proof = match (self.totp, self.recovery_code, self.passkey) {
            (Some(c), None, None) => Proof::Totp(c),
            (None, Some(c), None) => Proof::RecoveryCode(c),
            (None, None, Some(p)) => Proof::Passkey(p),
            _ => return Err(AppError::Validation { field: "totp".into(), message: "give exactly one of totp, recovery_code or passkey".into() }),
        };
        Ok((self.challenge, proof))
    }
}

/// A bearer token after the second step, with the recovery codes when this login set up the
/// account's first factor (shown once: store them now).
#[derive(Serialize, ToSchema)]
pub struct SecondStepToken {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

pub async fn second_step(state: web::Data<AppState>, ctx: RequestContext, body: web::Json<SecondStep>) -> Reply<HttpResponse> {
    let (challenge, proof) = body.into_inner().proof()?;
    let issued = licentia_app::account::second_step(&state, &ctx.origin(), &challenge, proof).await?;
    Ok(HttpResponse::Ok().json(SecondStepToken {
        token: issued.token,
        token_type: "Bearer",
        expires_at: issued.expires_at,
        recovery_codes: issued.recovery_codes,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"challenge": "k3V0…"}))]
#[serde(deny_unknown_fields)]
pub struct ChallengeRef {
    pub challenge: String,
}

/// `POST /api/v1/auth/second-factor/totp-enrolment`: the secret to set up when the login answered
/// `enrol: true`.
pub async fn enrol_totp_for_login(state: web::Data<AppState>, ctx: RequestContext, body: web::Json<ChallengeRef>) -> Reply<HttpResponse> {
    let enrolment = licentia_app::account::enrol_totp_for_login(&state, &ctx.origin(), &body.challenge).await?;
    Ok(HttpResponse::Ok().json(enrolment))
}

/// `POST /api/v1/auth/second-factor/passkey-options`: what `navigator.credentials.get` takes.
pub async fn passkey_options_for_login(state: web::Data<AppState>, body: web::Json<ChallengeRef>) -> Reply<HttpResponse> {
    let options = licentia_app::account::passkey_options_for_login(&state, &body.challenge).await?;
    Ok(HttpResponse::Ok().json(options))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "manager@aurora.example"}))]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// The one answer to a reset request, whether or not the address has an account.
#[derive(Serialize, ToSchema)]
pub struct ResetRequested {
    pub message: &'static str,
}

pub const RESET_REQUESTED: &str = "If an account uses this address, a link to choose a new password is on its way. It works once, for 30 minutes.";

pub async fn request_reset(state: web::Data<AppState>, ctx: RequestContext, body: web::Json<ResetRequest>) -> Reply<HttpResponse> {
    licentia_app::reset::request(&state, &ctx.origin(), &body.email).await?;
    Ok(HttpResponse::Accepted().json(ResetRequested { message: RESET_REQUESTED }))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "the token from the e-mailed link", "password": "a new long passphrase"}))]
#[serde(deny_unknown_fields)]
pub struct ResetCompletion {
    pub token: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResetCompleted {
    /// Sessions and API tokens of the account that were ended.
    pub sessions_revoked: u64,
}

pub async fn complete_reset(state: web::Data<AppState>, ctx: RequestContext, body: web::Json<ResetCompletion>) -> Reply<HttpResponse> {
    let revoked = licentia_app::reset::complete(&state, &ctx.origin(), &body.token, &body.password).await?;
    Ok(HttpResponse::Ok().json(ResetCompleted { sessions_revoked: revoked }))
}

/// `POST /api/v1/users/{id}/password-reset`: an admin forces a reset.
pub async fn force_reset(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<UserId>) -> Reply<HttpResponse> {
    match licentia_app::reset::force(&state, &user.actor_in(&ctx), *id).await {
        Err(AppError::NotFound) => Err(not_found(&state, &ctx, &user, "user", &id.to_string()).await.into()),
        Ok(revoked) => Ok(HttpResponse::Accepted().json(ResetCompleted { sessions_revoked: revoked })),
        Err(e) => Err(e.into()),
    }
}

pub async fn factors_summary(state: web::Data<AppState>, user: CurrentUser) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(factors::summary(&state, &user.actor()).await?))
}

pub async fn begin_totp(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(factors::begin_totp(&state, &user.actor_in(&ctx)).await?))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "492039"}))]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// Recovery codes, shown once (absent when the account already had some).
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

pub async fn confirm_totp(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<TotpCode>) -> Reply<HttpResponse> {
    let codes = factors::confirm_totp(&state, &user.actor_in(&ctx), &body.code).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes: codes }))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
#[serde(deny_unknown_fields)]
pub struct PasswordRecheck {
    pub password: String,
}

pub async fn remove_totp(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<PasswordRecheck>) -> Reply<HttpResponse> {
    factors::remove_totp(&state, &user.actor_in(&ctx), &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn regenerate_recovery_codes(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let codes = factors::regenerate_recovery_codes(&state, &user.actor_in(&ctx)).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes: Some(codes) }))
}

pub async fn begin_passkey(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(factors::begin_passkey(&state, &user.actor_in(&ctx)).await?))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "Work laptop", "credential": {"id": "…", "rawId": "…", "type": "public-key", "response": {}}}))]
#[serde(deny_unknown_fields)]
pub struct NewPasskey {
    pub name: String,
    /// The `PublicKeyCredential` that `navigator.credentials.create` returned.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyAdded {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

pub async fn finish_passkey(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<NewPasskey>) -> Reply<HttpResponse> {
    let b = body.into_inner();
    let (id, codes) = factors::finish_passkey(&state, &user.actor_in(&ctx), &b.name, b.credential).await?;
    Ok(HttpResponse::Created().json(PasskeyAdded { id, recovery_codes: codes }))
}

pub async fn remove_passkey(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<Uuid>,
    body: web::Json<PasswordRecheck>,
) -> Reply<HttpResponse> {
    factors::remove_passkey(&state, &user.actor_in(&ctx), *id, &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One of the caller's sessions or tokens.
#[derive(Serialize, ToSchema)]
pub struct SessionItem {
    pub id: SessionId,
    /// `browser` (a login in a browser) or `api` (a bearer token).
    pub kind: String,
    /// The address it was opened from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session or token making this request.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionItem>,
}

pub async fn sessions(state: web::Data<AppState>, user: CurrentUser) -> Reply<HttpResponse> {
    let items = licentia_app::account::sessions(&state, &user.actor()).await?;
    let items = items
        .into_iter()
        .map(|s| SessionItem {
            current: s.id == user.session_id,
            id: s.id,
            kind: s.kind,
            ip: s.ip,
            user_agent: s.user_agent,
            created_at: s.created_at,
            expires_at: s.expires_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { items }))
}

pub async fn end_session(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<SessionId>) -> Reply<HttpResponse> {
    licentia_app::account::end_session(&state, &user.actor_in(&ctx), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
