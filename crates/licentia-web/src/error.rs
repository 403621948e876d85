//! The mapping of the use cases' [`AppError`] to HTTP, in one place. Every response body is JSON
//! `{"error": {"code", "message", "request_id"}}`; the `error_pages` middleware turns it into an HTML
//! page for browser routes. 5xx bodies say nothing but the request id: the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
pub use licentia_app::error::{AppError, AppResult};

/// Placed in the response's extensions so that the HTML error-page middleware can render it.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

/// An [`AppError`] on its way out as an HTTP response: what handlers return.
#[derive(Debug)]
pub struct HttpError(pub AppError);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<AppError>> From<E> for HttpError {
    fn from(e: E) -> Self {
        HttpError(e.into())
    }
}

/// What a handler returns.
pub type Reply<T> = Result<T, HttpError>;

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            AppError::Unauthorized
            | AppError::InvalidCredentials
            | AppError::SecondFactorRequired { .. }
            | AppError::InvalidSecondFactor
            | AppError::LoginExpired => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::FourEyes | AppError::CrossSite => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Validation { .. } | AppError::BadData { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Refused { .. } => StatusCode::CONFLICT,
            AppError::Conflict { .. } | AppError::InvalidTransition { .. } | AppError::ExclusivityConflict { .. } => StatusCode::CONFLICT,
            AppError::Gone { .. } => StatusCode::GONE,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) | AppError::Integrity => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(cause) = &self.0 {
            tracing::error!(%cause, "internal error");
        }
        let mut error = ErrorDetail { code: self.0.code(), message: self.0.public_message(), ..ErrorDetail::default() };
        match &self.0 {
            AppError::Validation { field, .. } => error.field = Some(field.clone()),
            AppError::InvalidTransition { allowed, .. } => error.allowed = Some(allowed.iter().map(|s| s.to_string()).collect()),
            AppError::ExclusivityConflict { id, .. } => error.conflicting_agreement = Some(id.to_string()),
            AppError::BadData { line, column, .. } => {
                error.line = Some(*line);
                error.column = column.clone();
            }
            AppError::Refused { details, .. } => error.details = Some(details.clone()),
            AppError::SecondFactorRequired { challenge, methods, enrol } => {
                error.details = Some(serde_json::json!({ "challenge": challenge, "methods": methods, "enrol": enrol }))
            }
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        match &self.0 {
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
        let mut response = res.json(ErrorBody { error });
        response.extensions_mut().insert(ErrorInfo { code: self.0.code(), message: self.0.public_message() });
        response
    }
}

/// Every error the API answers: `{"error": {...}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `validation_failed`, `not_found`, `quota_exceeded`, ...
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The invalid field (422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where the workflow may go instead (409 `invalid_transition`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// The agreement an exclusive grant would overlap (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicting_agreement: Option<String>,
    /// The CSV line and column of bad data (422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What a refusal is about (for example the licence and its quota).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}
