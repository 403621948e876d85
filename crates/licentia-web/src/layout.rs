//! The pieces of the HTML layout that sit below the pages: navigation, post/redirect/get helpers
//! and the middleware that renders errors as pages. Pages, upload handlers and the error
//! middleware all use them, so they depend on nothing page-specific.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpResponse};
use askama::Template;
use licentia_domain::Permission;

use crate::auth::CurrentUser;
use crate::context::{RequestContext, urlencode};
use crate::error::ErrorInfo;
use crate::state::AppState;

/// The layout's navigation: who is logged in, the links their role may follow, the CSRF token for
/// the logout button and htmx requests.
pub struct Nav {
    pub user: Option<NavUser>,
    pub links: Vec<NavLink>,
    pub csrf: String,
    pub current: &'static str,
    pub version: &'static str,
    /// The reader's time zone: every timestamp on the page is shown in it, with its name.
    pub tz: licentia_domain::TimeZone,
    /// The largest form body the server accepts: the page script refuses to send a bigger one
    /// (and says so, keeping what was typed) rather than losing it to a 413. 0: no check.
    pub form_limit: usize,
}

pub struct NavUser {
    pub display_name: String,
    pub email: String,
    pub role: &'static str,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
}

impl Nav {
    pub fn anonymous() -> Self {
        Self { user: None, links: Vec::new(), csrf: String::new(), current: "", version: crate::static_files::VERSION, tz: Default::default(), form_limit: 0 }
    }

    pub fn for_user(state: &AppState, user: &CurrentUser, current: &'static str) -> Self {
        let candidates = [
            ("/", "Home", Permission::SelfService),
            ("/portfolio", "Portfolio", Permission::AssetRead),
            ("/assets", "Registry", Permission::AssetRead),
            ("/deadlines", "Deadlines", Permission::AssetRead),
            ("/agreements", "Agreements", Permission::AgreementRead),
            ("/revenue", "Revenue", Permission::StatementRead),
            ("/training", "Training", Permission::RunRead),
            ("/admin/organisations", "Organisations", Permission::OrgManage),
            ("/admin/users", "Users", Permission::UserRead),
            ("/audit", "Audit log", Permission::AuditRead),
            ("/webhooks", "Webhooks", Permission::WebhookManage),
            ("/account", "Account", Permission::SelfService),
        ];
        let links = candidates
            .into_iter()
            .filter(|(href, _, p)| user.role.allows(*p) || (*href == "/admin/organisations" && user.role.allows(Permission::UserRead)))
            .map(|(href, label, _)| NavLink { href, label })
            .collect();
        Self {
            user: Some(NavUser { display_name: user.display_name.clone(), email: user.email.clone(), role: user.role.as_str() }),
            links,
            csrf: crate::auth::csrf_for_session(state, user.session_id),
            current,
            version: crate::static_files::VERSION,
            tz: user.time_zone,
            form_limit: state.settings.form_limit,
        }
    }

    /// A timestamp in the reader's zone: `2026-12-05 08:34 CET`.
    pub fn ts(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        self.tz.timestamp(*at)
    }

    /// With seconds, for logs: `2026-12-05 08:34:05 CET`.
    pub fn ts_seconds(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        self.tz.timestamp_seconds(*at)
    }
}

/// `114880` → `114,880`: counts are grouped in thousands wherever they are shown. (Templates pass
/// their arguments by reference.)
pub fn count(n: &impl Count) -> String {
    licentia_domain::agreement::grouped(n.value())
}

/// A whole number to show grouped, however many references a template wraps it in.
pub trait Count {
    fn value(&self) -> i64;
}
impl Count for i64 {
    fn value(&self) -> i64 {
        *self
    }
}
impl Count for i32 {
    fn value(&self) -> i64 {
        i64::from(*self)
    }
}
impl<T: Count + ?Sized> Count for &T {
    fn value(&self) -> i64 {
        (**self).value()
    }
}

/// A one-line message shown above a page after a form post (passed in the redirect's query).
pub fn flash_from(query: &str) -> Option<(bool, String)> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    let ok = pairs.iter().find(|(k, _)| k == "ok").map(|(_, v)| (true, v.clone()));
    let bad = pairs.iter().find(|(k, _)| k == "error").map(|(_, v)| (false, v.clone()));
    ok.or(bad).map(|(good, text)| (good, text.chars().take(300).collect()))
}

/// A redirect after a successful (or refused) form post: post/redirect/get.
pub fn see_other(location: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, location.to_owned())).finish()
}

pub fn see_other_with(path: &str, ok: bool, message: &str) -> actix_web::HttpResponse {
    let key = if ok { "ok" } else { "error" };
    let q = serde_urlencoded::to_string([(key, message)]).unwrap_or_default();
    see_other(&format!("{path}?{q}"))
}

/// Post/redirect/get for a form: success and the user's own mistakes (422, 409) come back to
/// `path` as a one-line message; anything else is an error page.
pub fn back(path: &str, result: crate::error::AppResult<String>) -> crate::error::Reply<actix_web::HttpResponse> {
    use crate::error::AppError;
    match result {
        Ok(msg) => Ok(see_other_with(path, true, &msg)),
        Err(AppError::Validation { field, message }) => Ok(see_other_with(path, false, &format!("{field}: {message}"))),
        Err(AppError::Conflict { message }) => Ok(see_other_with(path, false, &message)),
        Err(e) => Err(e.into()),
    }
}

/// Only local paths: an open redirect after login would be a phishing helper.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        // Browsers drop tabs and newlines from URLs and read `\\` as `/`, so `/\t/evil.example`
        // would become `//evil.example`: any whitespace, control character or backslash is refused.
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
    nav: Nav,
}

/// Browser routes (everything outside `/api`, `/healthz`, `/readyz`, `/metrics`) get HTML error
/// pages, and a missing login becomes a redirect to the login page.
pub async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let path = req.path().to_owned();
    let browser = !(path.starts_with("/api/") || path == "/healthz" || path == "/readyz" || path == "/metrics" || path.starts_with("/static/"));
    let query = req.query_string().to_owned();
    let res = next.call(req).await?;
    let status = res.status();
    // Only errors raised as `AppError` are re-rendered; a page that chose its own error status
    // (the login form after a wrong password) passes through.
    let info = res.response().extensions().get::<ErrorInfo>().cloned();
    if !browser || info.is_none() || !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_left_body());
    }
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let (http_req, _) = res.into_parts();
    if status == StatusCode::UNAUTHORIZED {
        let target = if query.is_empty() { path } else { format!("{path}?{query}") };
        let location = format!("/login?next={}", urlencode(&target));
        let redirect = HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish();
        return Ok(ServiceResponse::new(http_req, redirect).map_into_right_body());
    }
    let ctx = RequestContext::of(&http_req);
    let title = status.canonical_reason().unwrap_or("Error");
    let message = info.map(|i| i.message).unwrap_or_default();
    // A logged-in user keeps the navigation (and the logout button) on an error page.
    let user = http_req.extensions().get::<CurrentUser>().cloned();
    let state = http_req.app_data::<actix_web::web::Data<AppState>>().cloned();
    let nav = match (user, state) {
        // Without the session's CSRF token: an error answer never carries it (no logout button
        // here; every other page has one).
        (Some(u), Some(s)) => Nav { csrf: String::new(), ..Nav::for_user(&s, &u, "") },
        _ => Nav::anonymous(),
    };
    let page = ErrorPage { status: status.as_u16(), title, message: &message, request_id: &ctx.request_id, nav };
    let body = page.render().unwrap_or_else(|_| format!("Error {} (request {})", status.as_u16(), ctx.request_id));
    let mut out = HttpResponse::build(status);
    out.content_type("text/html; charset=utf-8");
    if let Some(retry) = retry_after {
        out.insert_header((header::RETRY_AFTER, retry));
    }
    Ok(ServiceResponse::new(http_req, out.body(body)).map_into_right_body())
}
