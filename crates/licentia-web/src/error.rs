//! The one error type of the HTTP layer and its mapping to responses. Every response body is JSON
//! `{"error": {"code", "message", "request_id"}}`; the `error_pages` middleware turns it into an HTML
//! page for browser routes. 5xx bodies say nothing but the request id: the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use licentia_db::DbError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthorized,
    /// A failed login: one message for unknown users, wrong passwords and disabled accounts.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Four eyes: the author of a version cannot approve it.
    #[error("you wrote the current version; another manager must approve it")]
    FourEyes,
    #[error("cross-site request refused")]
    CrossSite,
    #[error("not found")]
    NotFound,
    /// A path that exists, with a method it does not take.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("{message}")]
    BadRequest { message: String },
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("{message}")]
    Conflict { message: String },
    /// A workflow move that the current state does not allow; the body lists the ones it does.
    #[error("cannot move from {from} to {to}; allowed: {}", if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") })]
    InvalidTransition { from: String, to: String, allowed: Vec<String> },
    /// Approving would grant rights another binding agreement already holds exclusively.
    #[error("conflicts with agreement {title:?} ({id}): {reason}")]
    ExclusivityConflict { id: uuid::Uuid, title: String, reason: String },
    /// A data file refused at a line and column.
    #[error("{message}")]
    BadData { line: u64, column: Option<String>, message: String },
    /// A refusal with its own code and figures (quota_exceeded with what remains, ...).
    #[error("{message}")]
    Refused { code: &'static str, message: String, details: serde_json::Value },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type: {expected} expected")]
    UnsupportedMediaType { expected: &'static str },
    #[error("too many attempts; try again later")]
    TooManyRequests { retry_after_secs: i64 },
    #[error("service temporarily unavailable")]
    Unavailable,
    /// Stored data failed its cryptographic check (tampered ciphertext, a moved key).
    #[error("the stored artifact failed its integrity check")]
    Integrity,
    #[error("internal error")]
    Internal(String),
}

/// Placed in the response's extensions so that the HTML error-page middleware can render it.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden => "forbidden",
            AppError::FourEyes => "four_eyes",
            AppError::CrossSite => "cross_site_request",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::BadRequest { .. } => "bad_request",
            AppError::Validation { .. } => "validation_failed",
            AppError::Conflict { .. } => "conflict",
            AppError::BadData { .. } => "invalid_data",
            AppError::Refused { code, .. } => code,
            AppError::InvalidTransition { .. } => "invalid_transition",
            AppError::ExclusivityConflict { .. } => "exclusivity_conflict",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::UnsupportedMediaType { .. } => "unsupported_media_type",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable => "unavailable",
            AppError::Integrity => "integrity_check_failed",
            AppError::Internal(_) => "internal",
        }
    }

    fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AppError::NotFound,
            DbError::Conflict { constraint } => AppError::Conflict { message: conflict_message(&constraint) },
            DbError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                AppError::Unavailable
            }
            DbError::Other(e) => AppError::Internal(e.to_string()),
        }
    }
}

impl From<licentia_audit::AuditError> for AppError {
    fn from(e: licentia_audit::AuditError) -> Self {
        match e {
            licentia_audit::AuditError::Db(db) => db.into(),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<licentia_domain::DomainError> for AppError {
    fn from(e: licentia_domain::DomainError) -> Self {
        AppError::Validation { field: e.field.to_owned(), message: e.message }
    }
}

/// Constraint names from the migrations, in words a user can act on.
fn conflict_message(constraint: &str) -> String {
    match constraint {
        "users_email_key" => "a user with this e-mail address already exists".into(),
        "organisations_name_key" => "an organisation with this name already exists".into(),
        // The schema's names stay in the log, not in the answer.
        other => {
            tracing::info!(constraint = other, "change refused by a constraint");
            "the change conflicts with existing data".into()
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthorized | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::FourEyes | AppError::CrossSite => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Validation { .. } | AppError::BadData { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Refused { .. } => StatusCode::CONFLICT,
            AppError::Conflict { .. } | AppError::InvalidTransition { .. } | AppError::ExclusivityConflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) | AppError::Integrity => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let mut error = json!({ "code": self.code(), "message": self.public_message() });
        match self {
            AppError::Validation { field, .. } => error["field"] = json!(field),
            AppError::InvalidTransition { allowed, .. } => error["allowed"] = json!(allowed),
            AppError::ExclusivityConflict { id, .. } => error["conflicting_agreement"] = json!(id),
            AppError::BadData { line, column, .. } => {
                error["line"] = json!(line);
                error["column"] = json!(column);
            }
            AppError::Refused { details, .. } => error["details"] = details.clone(),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            AppError::TooManyRequests { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            AppError::Unavailable => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            AppError::Unauthorized => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"licentia\"")));
            }
            _ => {}
        }
        let mut response = res.json(json!({ "error": error }));
        response.extensions_mut().insert(ErrorInfo { code: self.code(), message: self.public_message() });
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
