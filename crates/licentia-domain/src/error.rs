/// A value that failed validation at the edge. `field` names the offending input so that the web
/// layer can answer 422 with a message the user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DomainError {
    pub field: &'static str,
    pub message: String,
}

impl DomainError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}
