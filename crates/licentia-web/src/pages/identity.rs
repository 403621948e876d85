//! The pages of identity: a login's second step (and setting up a first factor when the role
//! requires one), the account's second factors, its sessions, and password recovery. Every
//! decision is the use cases'; these parse forms and render.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use licentia_app::factors::{self, Proof, Summary, TotpEnrolment};
use licentia_domain::SessionId;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::{self, CurrentUser, PRE_COOKIE, csrf_for_pre};
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::layout::safe_next;
use crate::pages::{Nav, flash_from, see_other_with};
use crate::state::AppState;

/// The QR code of an `otpauth://` URI: its side in modules (with a four-module quiet zone) and
/// the dark modules' coordinates, which the template draws as SVG squares. Nothing from the URI
/// reaches the page as markup, so no template needs escaping turned off.
pub struct Qr {
    pub side: usize,
    pub dark: Vec<(usize, usize)>,
}

pub fn qr(uri: &str) -> Result<Qr, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(AppError::internal)?;
    let width = code.width();
    let colors = code.to_colors();
    let dark = colors.iter().enumerate().filter(|(_, c)| **c == qrcode::Color::Dark).map(|(i, _)| (i % width + 4, i / width + 4)).collect();
    Ok(Qr { side: width + 8, dark })
}

/// A secret enrolment as shown: grouped in fours for typing, and its QR code.
pub struct ShownEnrolment {
    pub secret_grouped: String,
    pub qr: Qr,
}

fn shown(e: &TotpEnrolment) -> Result<ShownEnrolment, AppError> {
    let grouped = e.secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
    Ok(ShownEnrolment { secret_grouped: grouped, qr: qr(&e.otpauth_uri)? })
}

fn pre_value(req: &HttpRequest) -> Result<String, AppError> {
    match req.cookie(PRE_COOKIE) {
        Some(c) if c.value().len() >= 32 => Ok(c.value().to_owned()),
        _ => licentia_crypto::random::token().map_err(|_| AppError::internal("no randomness")),
    }
}

#[derive(Template)]
#[template(path = "login_second.html")]
struct SecondStepPage {
    nav: Nav,
    csrf: String,
    next: String,
    challenge: String,
    methods: Vec<&'static str>,
    enrolment: Option<ShownEnrolment>,
    error: Option<String>,
}

impl SecondStepPage {
    fn offers(&self, method: &str) -> bool {
        self.methods.contains(&method)
    }
}

/// The second-step page for a login that answered `second_factor_required` (the login page's
/// form handler calls this). When a factor must be set up first, the authenticator-app secret is
/// created now and shown with its QR code.
/// A login that still owes its second step, as the 401 `second_factor_required` named it.
pub struct PendingLogin {
    pub challenge: String,
    pub methods: Vec<&'static str>,
    pub enrol: bool,
}

pub async fn second_step_page(state: &AppState, req: &HttpRequest, ctx: &RequestContext, pending: PendingLogin, next: String) -> Reply<HttpResponse> {
    let PendingLogin { challenge, methods, enrol } = pending;
    let (error, status) = (None, StatusCode::OK);
    let enrolment = if enrol { Some(shown(&licentia_app::account::enrol_totp_for_login(state, &ctx.origin(), &challenge).await?)?) } else { None };
    let pre = pre_value(req)?;
    let page = SecondStepPage { nav: Nav::anonymous(), csrf: csrf_for_pre(state, &pre), next, challenge, methods, enrolment, error };
    let body = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status).cookie(auth::pre_cookie(&pre)).content_type("text/html; charset=utf-8").body(body))
}

#[derive(Deserialize)]
pub struct SecondStepForm {
    challenge: String,
    totp: Option<String>,
    recovery_code: Option<String>,
    /// The passkey assertion, as JSON, filled in by static/licentia.js.
    passkey: Option<String>,
    /// Whether this form enrolled a first factor (so a wrong code shows the enrolment again).
    enrol: Option<String>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    nav: Nav,
    codes: Vec<String>,
    next: String,
}

/// `POST /login/second-factor`.
pub async fn submit_second_step(state: web::Data<AppState>, req: HttpRequest, ctx: RequestContext, form: web::Form<SecondStepForm>) -> Reply<HttpResponse> {
    let f = form.into_inner();
    let next = safe_next(f.next.as_deref());
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let proof = match (nonempty(f.totp), nonempty(f.recovery_code), nonempty(f.passkey)) {
        (_, _, Some(p)) => Proof::Passkey(serde_json::from_str(&p).unwrap_or(serde_json::Value::Null)),
        (Some(c), _, None) => Proof::Totp(c),
        (None, Some(c), None) => Proof::RecoveryCode(c),
        (None, None, None) => Proof::Totp(String::new()),
    };
    match licentia_app::account::second_step(&state, &ctx.origin(), &f.challenge, proof).await {
        Ok(issued) => {
            let cookie = auth::session_cookie(&issued.token, state.settings.token_ttl);
            match issued.recovery_codes {
                Some(codes) => {
                    let body = RecoveryCodesPage { nav: Nav::anonymous(), codes, next }.render().map_err(AppError::internal)?;
                    Ok(HttpResponse::Ok().cookie(cookie).content_type("text/html; charset=utf-8").body(body))
                }
                None => Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((actix_web::http::header::LOCATION, next)).finish()),
            }
        }
        Err(e @ AppError::InvalidSecondFactor) => {
            // The same challenge again (it has tries left); an enrolment shows its secret again
            // rather than a new one, which the app already holds.
            let mut conn_methods = Vec::new();
            if f.enrol.is_none() {
                conn_methods = licentia_app::account::pending_methods(&state, &f.challenge).await?;
            }
            let pre = pre_value(&req)?;
            let enrolment =
                if f.enrol.is_some() { licentia_app::account::pending_enrolment(&state, &f.challenge).await?.map(|e| shown(&e)).transpose()? } else { None };
            let methods = if f.enrol.is_some() { vec!["totp"] } else { conn_methods };
            let page = SecondStepPage {
                nav: Nav::anonymous(),
                csrf: csrf_for_pre(&state, &pre),
                next,
                challenge: f.challenge,
                methods,
                enrolment,
                error: Some(e.to_string()),
            };
            let body = page.render().map_err(AppError::internal)?;
            Ok(HttpResponse::Unauthorized().cookie(auth::pre_cookie(&pre)).content_type("text/html; charset=utf-8").body(body))
        }
        Err(AppError::LoginExpired) => Ok(see_other_with("/login", false, &AppError::LoginExpired.to_string())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "security.html")]
pub struct SecurityPage {
    nav: Nav,
    summary: Summary,
    enrolment: Option<ShownEnrolment>,
    codes: Option<Vec<String>>,
    flash: Option<(bool, String)>,
}

/// `GET /account/security`: second factors.
pub async fn security(state: web::Data<AppState>, user: CurrentUser, req: HttpRequest) -> Reply<SecurityPage> {
    let summary = factors::summary(&state, &user.actor()).await?;
    Ok(SecurityPage { nav: Nav::for_user(&state, &user, "/account"), summary, enrolment: None, codes: None, flash: flash_from(req.query_string()) })
}

/// `POST /account/totp`: a new secret to scan, shown with the form that confirms it.
pub async fn begin_totp(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    match factors::begin_totp(&state, &user.actor_in(&ctx)).await {
        Ok(e) => {
            let summary = factors::summary(&state, &user.actor()).await?;
            let page = SecurityPage { nav: Nav::for_user(&state, &user, "/account"), summary, enrolment: Some(shown(&e)?), codes: None, flash: None };
            Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page.render().map_err(AppError::internal)?))
        }
        Err(AppError::Conflict { message }) => Ok(see_other_with("/account/security", false, &message)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /account/totp/confirm`.
pub async fn confirm_totp(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<CodeForm>) -> Reply<HttpResponse> {
    match factors::confirm_totp(&state, &user.actor_in(&ctx), &form.code).await {
        Ok(codes) => {
            let summary = factors::summary(&state, &user.actor()).await?;
            let flash = Some((true, "Authenticator app set up: from now on, logging in asks for its code.".to_owned()));
            let page = SecurityPage { nav: Nav::for_user(&state, &user, "/account"), summary, enrolment: None, codes, flash };
            Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page.render().map_err(AppError::internal)?))
        }
        Err(AppError::Validation { message, .. }) => Ok(see_other_with("/account/security", false, &format!("{message}; set the app up again"))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

/// `POST /account/totp/remove`.
pub async fn remove_totp(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<PasswordForm>) -> Reply<HttpResponse> {
    match factors::remove_totp(&state, &user.actor_in(&ctx), &form.password).await {
        Ok(()) => Ok(see_other_with("/account/security", true, "Authenticator app removed.")),
        Err(AppError::Validation { message, .. } | AppError::Conflict { message }) => Ok(see_other_with("/account/security", false, &message)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/passkeys/{id}/remove`.
pub async fn remove_passkey(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<Uuid>,
    form: web::Form<PasswordForm>,
) -> Reply<HttpResponse> {
    match factors::remove_passkey(&state, &user.actor_in(&ctx), *id, &form.password).await {
        Ok(()) => Ok(see_other_with("/account/security", true, "Passkey removed.")),
        Err(AppError::Validation { message, .. } | AppError::Conflict { message }) => Ok(see_other_with("/account/security", false, &message)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/recovery-codes`: ten new codes, shown once.
pub async fn regenerate_codes(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    match factors::regenerate_recovery_codes(&state, &user.actor_in(&ctx)).await {
        Ok(codes) => {
            let summary = factors::summary(&state, &user.actor()).await?;
            let flash = Some((true, "New recovery codes: the old ones no longer work.".to_owned()));
            let page = SecurityPage { nav: Nav::for_user(&state, &user, "/account"), summary, enrolment: None, codes: Some(codes), flash };
            Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page.render().map_err(AppError::internal)?))
        }
        Err(AppError::Conflict { message }) => Ok(see_other_with("/account/security", false, &message)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    nav: Nav,
    sessions: Vec<licentia_db::sessions::SessionSummary>,
    current: SessionId,
    flash: Option<(bool, String)>,
}

/// `GET /account/sessions`: where the user is logged in, and their API tokens.
pub async fn sessions(state: web::Data<AppState>, user: CurrentUser, req: HttpRequest) -> Reply<SessionsPage> {
    let sessions = licentia_app::account::sessions(&state, &user.actor()).await?;
    Ok(SessionsPage { nav: Nav::for_user(&state, &user, "/account"), sessions, current: user.session_id, flash: flash_from(req.query_string()) })
}

/// `POST /account/sessions/{id}/end`.
pub async fn end_session(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<SessionId>) -> Reply<HttpResponse> {
    licentia_app::account::end_session(&state, &user.actor_in(&ctx), *id).await?;
    if *id == user.session_id {
        return Ok(HttpResponse::SeeOther().cookie(auth::expired_session_cookie()).insert_header((actix_web::http::header::LOCATION, "/login")).finish());
    }
    Ok(see_other_with("/account/sessions", true, "Session ended."))
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    nav: Nav,
    csrf: String,
    /// `request` (the address form), `sent`, `choose` (the new password form), `expired`.
    mode: &'static str,
    token: String,
    error: Option<String>,
    message: &'static str,
}

fn reset_page(state: &AppState, req: &HttpRequest, mode: &'static str, token: String, error: Option<String>, status: StatusCode) -> Reply<HttpResponse> {
    let pre = pre_value(req)?;
    let page = ResetPage { nav: Nav::anonymous(), csrf: csrf_for_pre(state, &pre), mode, token, error, message: crate::api::identity::RESET_REQUESTED };
    let body = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status).cookie(auth::pre_cookie(&pre)).content_type("text/html; charset=utf-8").body(body))
}

/// `GET /password-reset`.
pub async fn reset_form(state: web::Data<AppState>, req: HttpRequest) -> Reply<HttpResponse> {
    reset_page(&state, &req, "request", String::new(), None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct ResetRequestForm {
    email: String,
}

/// `POST /password-reset`: the same page whatever the address.
pub async fn request_reset(state: web::Data<AppState>, req: HttpRequest, ctx: RequestContext, form: web::Form<ResetRequestForm>) -> Reply<HttpResponse> {
    licentia_app::reset::request(&state, &ctx.origin(), &form.email).await?;
    reset_page(&state, &req, "sent", String::new(), None, StatusCode::ACCEPTED)
}

/// `GET /password-reset/{token}`: the new-password form, or 410 for a dead link.
pub async fn choose_form(state: web::Data<AppState>, req: HttpRequest, token: web::Path<String>) -> Reply<HttpResponse> {
    if licentia_app::reset::is_live(&state, &token).await? {
        reset_page(&state, &req, "choose", token.into_inner(), None, StatusCode::OK)
    } else {
        reset_page(&state, &req, "expired", String::new(), None, StatusCode::GONE)
    }
}

#[derive(Deserialize)]
pub struct ChooseForm {
    password: String,
}

/// `POST /password-reset/{token}`.
pub async fn choose(
    state: web::Data<AppState>,
    req: HttpRequest,
    ctx: RequestContext,
    token: web::Path<String>,
    form: web::Form<ChooseForm>,
) -> Reply<HttpResponse> {
    match licentia_app::reset::complete(&state, &ctx.origin(), &token, &form.password).await {
        Ok(_) => Ok(see_other_with("/login", true, "Password changed: log in with the new one.")),
        Err(AppError::Validation { message, .. }) => reset_page(&state, &req, "choose", token.into_inner(), Some(message), StatusCode::UNPROCESSABLE_ENTITY),
        Err(AppError::Gone { .. }) => reset_page(&state, &req, "expired", String::new(), None, StatusCode::GONE),
        Err(e) => Err(e.into()),
    }
}
