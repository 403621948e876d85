//! The one error type of the use cases. Every face maps it to its own answer in one place (the
//! web crate's `HttpError`: a status code and a JSON body or an HTML page).

use licentia_db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthorized,
    /// A failed login: one message for unknown users, wrong passwords and disabled accounts.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// A right password for an account that must also present a second factor (or set one up
    /// first, `enrol`): the challenge token continues the login.
    #[error("second factor required")]
    SecondFactorRequired { challenge: String, methods: Vec<&'static str>, enrol: bool },
    /// A second step that did not hold (wrong, reused or stale code, unknown key).
    #[error("the code or key was not accepted")]
    InvalidSecondFactor,
    /// A pending login that expired, was completed, or ran out of tries.
    #[error("this login has expired; enter your password again")]
    LoginExpired,
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
    ExclusivityConflict { id: licentia_domain::AgreementId, title: String, reason: String },
    /// A data file refused at a line and column.
    #[error("{message}")]
    BadData { line: u64, column: Option<String>, message: String },
    /// A refusal with its own code and figures (quota_exceeded with what remains, ...).
    #[error("{message}")]
    Refused { code: &'static str, message: String, details: serde_json::Value },
    /// Content that existed and was destroyed on purpose (an erased dataset): 410, not 404.
    #[error("{message}")]
    Gone { message: String },
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

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::SecondFactorRequired { .. } => "second_factor_required",
            AppError::InvalidSecondFactor => "invalid_second_factor",
            AppError::LoginExpired => "login_expired",
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
            AppError::Gone { .. } => "gone",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::UnsupportedMediaType { .. } => "unsupported_media_type",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable => "unavailable",
            AppError::Integrity => "integrity_check_failed",
            AppError::Internal(_) => "internal",
        }
    }

    /// What a caller may be told: everything but the cause of an internal error.
    pub fn public_message(&self) -> String {
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
            DbError::InvalidText => AppError::Validation { field: "body".into(), message: "text must not contain NUL (U+0000) characters".into() },
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
        "model_versions_asset_fk" => "this model has published versions; it stays in the registry (mark it abandoned instead)".into(),
        "ip_assets_parent_fk" => "other assets name this one as their parent".into(),
        // The schema's names stay in the log, not in the answer.
        other => {
            tracing::info!(constraint = other, "change refused by a constraint");
            "the change conflicts with existing data".into()
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// A 422 naming the field.
pub fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation { field: field.into(), message: message.into() }
}

pub fn db_err(e: sqlx::Error) -> AppError {
    licentia_db::DbError::from(e).into()
}
