//! The one error format of the API: `{"error": {"type", "code", "message", "param"}}`.
//!
//! `type` says how a client should react (fix the request, fix the key, retry later), `code` is
//! a stable machine-readable reason, `message` is for people, and `param` names the offending
//! field when there is one. Internal failures are logged with detail and answered with a
//! generic message: nothing about the database or the code leaks to the caller.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bursar_core::{Error, ErrorKind};
use bursar_domain::ValidationError;
use bursar_store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is malformed or breaks a rule: fix it before retrying.
    InvalidRequestError,
    /// The API key is missing, invalid or revoked.
    AuthenticationError,
    /// The API key is valid but its scope does not allow this.
    PermissionError,
    /// The Idempotency-Key was used for a different request.
    IdempotencyError,
    /// The request conflicts with the current state of an object.
    StateError,
    /// Too many requests from one address or for one object: wait, then retry.
    RateLimitError,
    /// Bursar failed; retrying with the same Idempotency-Key is safe.
    ApiError,
}

/// An error answered to an API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// For a refused state transition: the object's state now.
    pub current_state: Option<String>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// Stable, machine-readable reason, e.g. `parameter_invalid`, `resource_missing`.
    pub code: String,
    pub message: String,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// For a refused state transition: the object's state now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: ErrorType,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            current_state: None,
        }
    }

    /// 409: the object's current state does not allow the request.
    pub fn state(code: &'static str, current: &str, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::CONFLICT, ErrorType::StateError, code, message);
        error.current_state = Some(current.to_owned());
        error
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn invalid(code: &'static str, param: Option<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: ErrorType::InvalidRequestError,
            code,
            message: message.into(),
            param,
            current_state: None,
        }
    }

    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequestError,
            "resource_missing",
            format!("No such {resource}: '{id}'."),
        )
        .with_param("id")
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::ApiError,
            "internal_error",
            "Bursar failed to process the request. It is safe to retry with the same Idempotency-Key.",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                kind: self.kind,
                code: self.code.to_owned(),
                message: self.message.clone(),
                param: self.param.clone(),
                current_state: self.current_state.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            // Every limit counts in one-minute windows: the next one starts this many
            // seconds from now.
            let second = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() % 60);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(60 - second));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::invalid(error.code, Some(error.param), error.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::from(Error::from(error))
    }
}

/// How the API answers each kind of core error: a status and an error type.
fn status_of(kind: ErrorKind) -> (StatusCode, ErrorType) {
    match kind {
        ErrorKind::Invalid => (StatusCode::BAD_REQUEST, ErrorType::InvalidRequestError),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, ErrorType::InvalidRequestError),
        ErrorKind::Conflict => (StatusCode::CONFLICT, ErrorType::InvalidRequestError),
        ErrorKind::State => (StatusCode::CONFLICT, ErrorType::StateError),
        ErrorKind::Forbidden => (StatusCode::FORBIDDEN, ErrorType::InvalidRequestError),
        ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, ErrorType::RateLimitError),
        ErrorKind::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::InvalidRequestError,
        ),
        ErrorKind::IdempotencyKeyReused => (StatusCode::BAD_REQUEST, ErrorType::IdempotencyError),
        ErrorKind::ProviderFailed => (StatusCode::BAD_GATEWAY, ErrorType::ApiError),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, ErrorType::ApiError),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, ErrorType::ApiError),
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let (status, kind) = status_of(error.kind);
        ApiError {
            status,
            kind,
            code: error.code,
            message: error.message,
            param: error.param,
            current_state: error.current_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_setting_is_named_and_storage_failures_are_not() {
        let missing = ApiError::from(StoreError::Config(
            "no secret key: set BURSAR_SECRET_KEY".into(),
        ));
        assert_eq!(
            (missing.status, missing.code),
            (StatusCode::SERVICE_UNAVAILABLE, "server_not_configured")
        );
        assert!(missing.message.contains("BURSAR_SECRET_KEY"));
        let broken = ApiError::from(StoreError::Corrupt("table x: bad row".into()));
        assert_eq!(
            (broken.status, broken.code, broken.kind),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                ErrorType::ApiError
            )
        );
        assert!(
            !broken.message.contains("table x"),
            "storage details stay in the log"
        );
    }

    #[test]
    fn each_kind_of_core_error_has_the_status_the_api_always_answered() {
        let cases = [
            (ErrorKind::Invalid, 400, ErrorType::InvalidRequestError),
            (ErrorKind::NotFound, 404, ErrorType::InvalidRequestError),
            (ErrorKind::Conflict, 409, ErrorType::InvalidRequestError),
            (ErrorKind::State, 409, ErrorType::StateError),
            (ErrorKind::Forbidden, 403, ErrorType::InvalidRequestError),
            (ErrorKind::RateLimited, 429, ErrorType::RateLimitError),
            (
                ErrorKind::UnsupportedMediaType,
                415,
                ErrorType::InvalidRequestError,
            ),
            (
                ErrorKind::IdempotencyKeyReused,
                400,
                ErrorType::IdempotencyError,
            ),
            (ErrorKind::ProviderFailed, 502, ErrorType::ApiError),
            (ErrorKind::Unavailable, 503, ErrorType::ApiError),
            (ErrorKind::Internal, 500, ErrorType::ApiError),
        ];
        for (kind, status, error_type) in cases {
            let error = ApiError::from(Error::state("x", "draft", "refused").with_param("id"));
            assert_eq!(error.current_state.as_deref(), Some("draft"));
            let mapped = ApiError::from(Error::new(kind, "code", "message"));
            assert_eq!(
                (mapped.status.as_u16(), mapped.kind),
                (status, error_type),
                "{kind:?}"
            );
            assert_eq!((mapped.code, error.param.as_deref()), ("code", Some("id")));
        }
    }
}
