//! The login page, its form post, and logout.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::csrf_for_pre;
use crate::auth::{self, CurrentUser, PRE_COOKIE};
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::layout::safe_next;
use crate::pages::Nav;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf: String,
    next: String,
    error: Option<String>,
    /// A notice carried by the redirect here (`?ok=` after a reset, `?error=` after an expired
    /// second step).
    notice: Option<(bool, String)>,
    email: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn render_login(
    state: &AppState,
    req: &HttpRequest,
    next: String,
    error: Option<String>,
    email: String,
    status: actix_web::http::StatusCode,
) -> Reply<HttpResponse> {
    // Reuse the pre-session value if the browser has one, so two open tabs both work.
    let pre = match req.cookie(PRE_COOKIE) {
        Some(c) if c.value().len() >= 32 => c.value().to_owned(),
        _ => licentia_crypto::random::token().map_err(|_| AppError::internal("no randomness"))?,
    };
    let notice = crate::pages::flash_from(req.query_string());
    let page = LoginPage { nav: Nav::anonymous(), csrf: csrf_for_pre(state, &pre), next, error, notice, email };
    let body = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status).cookie(auth::pre_cookie(&pre)).content_type("text/html; charset=utf-8").body(body))
}

pub async fn form(state: web::Data<AppState>, req: HttpRequest, q: web::Query<NextQuery>) -> Reply<HttpResponse> {
    render_login(&state, &req, safe_next(q.next.as_deref()), None, String::new(), actix_web::http::StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn submit(state: web::Data<AppState>, req: HttpRequest, ctx: RequestContext, form: web::Form<LoginForm>) -> Reply<HttpResponse> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    match auth::login(&state, &ctx, &form.email, &form.password, "browser").await {
        Ok(issued) => Ok(HttpResponse::SeeOther()
            .cookie(auth::session_cookie(&issued.token, state.settings.token_ttl))
            .insert_header((actix_web::http::header::LOCATION, next))
            .finish()),
        Err(e @ AppError::InvalidCredentials) => render_login(&state, &req, next, Some(e.to_string()), form.email, actix_web::http::StatusCode::UNAUTHORIZED),
        Err(AppError::SecondFactorRequired { challenge, methods, enrol }) => {
            let pending = crate::pages::identity::PendingLogin { challenge, methods, enrol };
            crate::pages::identity::second_step_page(&state, &req, &ctx, pending, next).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    auth::logout(&state, &ctx, &user).await?;
    Ok(HttpResponse::SeeOther().cookie(auth::expired_session_cookie()).insert_header((actix_web::http::header::LOCATION, "/login")).finish())
}
