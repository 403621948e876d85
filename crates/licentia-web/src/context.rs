//! Per-request context and the outer middleware: request ids, security headers, metrics, and HTML
//! error pages for browser routes.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use tracing::Instrument as _;

use crate::error::{AppError, HttpError};
use crate::state::AppState;

/// Who is asking and from where, for the audit log and error pages.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub ip: String,
    pub user_agent: Option<String>,
}

impl RequestContext {
    pub fn of(req: &HttpRequest) -> RequestContext {
        req.extensions().get::<RequestContext>().cloned().unwrap_or_else(|| RequestContext {
            request_id: "-".into(),
            ip: req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into()),
            user_agent: None,
        })
    }

    /// Fills the request fields of an audit event.
    /// Where the request came from, for use cases.
    pub fn origin(&self) -> licentia_app::actor::Origin {
        licentia_app::actor::Origin { ip: Some(self.ip.clone()), user_agent: self.user_agent.clone(), request_id: Some(self.request_id.clone()) }
    }

    pub fn stamp(&self, mut e: licentia_audit::AuditEvent) -> licentia_audit::AuditEvent {
        e.ip = Some(self.ip.clone());
        e.user_agent = self.user_agent.clone();
        e.request_id = Some(self.request_id.clone());
        e
    }
}

impl FromRequest for RequestContext {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(RequestContext::of(req)))
    }
}

/// CSP without inline script or style; nothing may frame the app.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// Outermost middleware: assigns the request id, echoes it, adds security headers, counts.
pub async fn outer(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let ctx = RequestContext {
        request_id: request_id.clone(),
        ip: req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into()),
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(512).collect()),
    };
    req.extensions_mut().insert(ctx);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.path());
    // The span follows the request's future (`instrument`), never a guard held across `.await`,
    // which would attach other tasks' events to this request while it waits.
    // No clone of the request may live across `next.call`: the router needs it unshared.
    let mut res = next.call(req).instrument(span.clone()).await?;
    let _in_span = span.enter();
    let status = res.status();
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(status = status.as_u16(), "request done");
    }
    if let Some(state) = state {
        state.metrics.record_status(status.as_u16());
    }
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends `Origin: null` on our own
    // form posts, which the same-origin check must then refuse; other sites still get no referrer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Percent-encodes a path for a query parameter.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Maps actix's own extractor errors (bad JSON, wrong content type, too large) to [`AppError`], so
/// that they too answer with the JSON error shape and never a 500.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let e = match err {
        J::OverflowKnownLength { limit, .. } | J::Overflow { limit } => AppError::PayloadTooLarge { limit },
        J::ContentType => AppError::UnsupportedMediaType { expected: "application/json" },
        J::Deserialize(e) if e.is_data() => AppError::Validation { field: "body".into(), message: e.to_string() },
        J::Deserialize(e) => AppError::BadRequest { message: format!("malformed JSON: {e}") },
        other => AppError::BadRequest { message: other.to_string() },
    };
    HttpError(e).into()
}

pub fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::UrlencodedError as U;
    let e = match err {
        U::Overflow { limit, .. } => AppError::PayloadTooLarge { limit },
        U::ContentType => AppError::UnsupportedMediaType { expected: "application/x-www-form-urlencoded" },
        U::Parse(e) => AppError::Validation { field: "form".into(), message: e.to_string() },
        other => AppError::BadRequest { message: other.to_string() },
    };
    HttpError(e).into()
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    HttpError(AppError::Validation { field: "query".into(), message: err.to_string() }).into()
}

pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    // An id that does not parse names no object: the same answer as a missing one.
    HttpError(AppError::NotFound).into()
}
