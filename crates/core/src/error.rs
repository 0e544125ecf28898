//! The one error of the use cases: what went wrong, in terms a caller can act on, and nothing of
//! how a surface reports it. The JSON API maps each [`ErrorKind`] to a status and an error type;
//! a web page or the CLI can say the same thing in their own way.

use bursar_domain::ValidationError;
use bursar_store::StoreError;

/// How a caller should react to an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or breaks a rule: fix it before retrying.
    Invalid,
    /// No such object (in the caller's workspace).
    NotFound,
    /// The request conflicts with something that exists (a duplicate, a reused name).
    Conflict,
    /// The object's current state does not allow the request ([`Error::current_state`]).
    State,
    /// The caller may not do this to this object (a locked link, a foreign address).
    Forbidden,
    /// Too many requests from one address or for one object: wait, then retry.
    RateLimited,
    /// The content's type is not one this operation reads.
    UnsupportedMediaType,
    /// The Idempotency-Key was used for a different request.
    IdempotencyKeyReused,
    /// An outside service (a payment provider) failed or refused: retry later.
    ProviderFailed,
    /// Bursar cannot do this now (shutting down, not configured): retry later.
    Unavailable,
    /// Bursar failed; details are in the log, never in the message.
    Internal,
}

/// An error of a use case: a kind, a stable machine-readable code, a message for people, the
/// input field at fault and, for a refused transition, the object's state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    pub current_state: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            param: None,
            current_state: None,
        }
    }

    /// The object's current state does not allow the request.
    pub fn state(code: &'static str, current: &str, message: impl Into<String>) -> Self {
        let mut error = Self::new(ErrorKind::State, code, message);
        error.current_state = Some(current.to_owned());
        error
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn invalid(code: &'static str, param: Option<String>, message: impl Into<String>) -> Self {
        let mut error = Self::new(ErrorKind::Invalid, code, message);
        error.param = param;
        error
    }

    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            "resource_missing",
            format!("No such {resource}: '{id}'."),
        )
        .with_param("id")
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorKind::Internal,
            "internal_error",
            "Bursar failed to process the request. It is safe to retry with the same Idempotency-Key.",
        )
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<ValidationError> for Error {
    fn from(error: ValidationError) -> Self {
        Error::invalid(error.code, Some(error.param), error.message)
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::WriterStopped => {
                tracing::warn!(error = %error, "write refused: shutting down");
                Error::new(
                    ErrorKind::Unavailable,
                    "shutting_down",
                    "Bursar is shutting down; retry with the same Idempotency-Key.",
                )
            }
            // A server setting is missing (a secret key on PostgreSQL): say which, so the
            // operator can fix it. The message names settings, never values.
            StoreError::Config(message) => {
                tracing::error!(error = %error, "server not configured");
                Error::new(
                    ErrorKind::Unavailable,
                    "server_not_configured",
                    format!("The server is not configured for this: {message}."),
                )
            }
            _ => {
                tracing::error!(error = %error, "storage failure");
                Error::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_setting_is_named_and_storage_failures_are_not() {
        let missing = Error::from(StoreError::Config(
            "no secret key: set BURSAR_SECRET_KEY".into(),
        ));
        assert_eq!(
            (missing.kind, missing.code),
            (ErrorKind::Unavailable, "server_not_configured")
        );
        assert!(missing.message.contains("BURSAR_SECRET_KEY"));
        let broken = Error::from(StoreError::Corrupt("table x: bad row".into()));
        assert_eq!(
            (broken.kind, broken.code),
            (ErrorKind::Internal, "internal_error")
        );
        assert!(
            !broken.message.contains("table x"),
            "storage details stay in the log"
        );
    }
}
