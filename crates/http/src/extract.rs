//! Extractors: how a request becomes validated input, or a clear error naming what is wrong.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use bursar_domain::auth::{Permission, Scope, WorkspaceMode};
use bursar_domain::id::{ApiKeyId, WorkspaceId};
use bursar_store::idempotency::IDEMPOTENCY_KEY_LENGTH_MAX;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorType};
use crate::AppState;

/// The authenticated caller: an API key of one workspace.
///
/// Extracting it checks the key and that its scope allows the request's method (reads for
/// `GET`/`HEAD`, writes for everything else), so a new route cannot forget authorization.
/// Routes that need more call [`Principal::require`].
#[derive(Debug, Clone)]
pub struct Principal {
    pub workspace_id: WorkspaceId,
    pub key_id: ApiKeyId,
    pub scope: Scope,
    /// Whether the workspace is live or a sandbox: what every object answered says.
    pub mode: WorkspaceMode,
}

impl Principal {
    /// Whether the key's workspace is live.
    pub fn livemode(&self) -> bool {
        self.mode == WorkspaceMode::Live
    }

    /// A JSON answer in the key's workspace: its objects say whether it is live.
    pub fn json<T>(&self, value: T) -> crate::livemode::Json<T> {
        crate::livemode::Json::new(value, self.mode)
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.scope.allows(permission) {
            return Ok(());
        }
        let action = match permission {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "administer",
        };
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorType::PermissionError,
            "insufficient_scope",
            format!(
                "This API key has the '{}' scope, which cannot {action}.",
                self.scope.as_str()
            ),
        ))
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let now = state.db.now();
        let failures = state.config.failed_auth_per_minute;
        let address = || crate::limits::client_ip(&parts.extensions);
        let watched = failures > 0 && state.auth_failures.any();
        if watched && state.auth_failures.exceeded(&address(), failures, now) {
            return Err(crate::limits::too_many());
        }
        let (key, mode) = authenticate(parts, state).await.inspect_err(|_| {
            if failures > 0 {
                state.auth_failures.allow(&address(), failures, now);
            }
        })?;
        let per_key = state.config.key_requests_per_minute;
        if per_key > 0 && !state.limiter.allow(key.id.as_str(), per_key, now) {
            return Err(crate::limits::too_many_for_key());
        }
        let principal = Principal {
            workspace_id: key.workspace_id,
            key_id: key.id,
            scope: key.scope,
            mode,
        };
        let needed = match parts.method {
            Method::GET | Method::HEAD => Permission::Read,
            _ => Permission::Write,
        };
        principal.require(needed)?;
        Ok(principal)
    }
}

/// The key a request's `Authorization: Bearer …` header names, with its workspace's mode, or
/// a 401.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<(bursar_store::api_keys::ApiKey, WorkspaceMode), ApiError> {
    let unauthorized = |code: &'static str, message: &str| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::AuthenticationError,
            code,
            message,
        )
    };
    let header_value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            unauthorized(
                "api_key_missing",
                "No API key provided. Send it as 'Authorization: Bearer sk_...'.",
            )
        })?
        .to_str()
        .map_err(|_| unauthorized("api_key_invalid", "The Authorization header is malformed."))?;
    let secret = header_value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            unauthorized(
                "api_key_invalid",
                "The Authorization header must be 'Bearer <secret key>'.",
            )
        })?;
    state
        .keys
        .authenticate(&state.db, secret)
        .await?
        .ok_or_else(|| {
            unauthorized(
                "api_key_invalid",
                "Invalid API key: it is unknown or has been revoked.",
            )
        })
}

/// A JSON body with its `Idempotency-Key`, read once so the key's fingerprint covers exactly the
/// bytes that were parsed.
#[derive(Debug)]
pub struct Mutation<T> {
    pub body: T,
    pub idempotency: Idempotency,
}

/// The idempotency key of a request, if any, and the fingerprint of the request it was used on;
/// with the request id, which the events of the mutation carry.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: Option<String>,
    pub fingerprint: String,
    pub request_id: Option<String>,
}

impl Idempotency {
    /// Refuses a request that records money and has no natural id unless it carries an
    /// `Idempotency-Key`, so that a retry after a lost answer cannot record it twice. `what`
    /// names the action ("Recording a payment") and `alternative` any other way to be safe.
    pub fn require(&self, what: &str, alternative: &str) -> Result<(), ApiError> {
        if self.key.is_some() {
            return Ok(());
        }
        Err(ApiError::invalid(
            "idempotency_key_required",
            Some("Idempotency-Key".into()),
            format!(
                "{what} needs an Idempotency-Key header{alternative}, so that a retried request \
                 cannot record it twice."
            ),
        ))
    }
}

/// A mutation whose body the handler reads itself (any JSON, not only an object): the raw
/// bytes, with the request's idempotency.
pub struct RawMutation {
    pub bytes: bytes::Bytes,
    pub idempotency: Idempotency,
}

impl FromRequest<AppState> for RawMutation {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let (bytes, idempotency) = read_body(&parts, body, state).await?;
        crate::guard::refuse_nul_in_json(&bytes)?;
        Ok(RawMutation { bytes, idempotency })
    }
}

/// A mutation whose body is a CSV text (`text/csv`, UTF-8), up to [`CSV_BODY_LIMIT`] bytes.
pub struct CsvMutation {
    pub text: String,
    pub idempotency: Idempotency,
}

/// Largest CSV body accepted (a statement of 100,000 lines fits).
pub const CSV_BODY_LIMIT: usize = 16 * 1024 * 1024;

impl FromRequest<AppState> for CsvMutation {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let (bytes, idempotency) = read_body_as(&parts, body, Media::Csv, CSV_BODY_LIMIT).await?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
            ApiError::invalid(
                "csv_invalid",
                Some("csv".into()),
                "The statement is not UTF-8 text.",
            )
        })?;
        if text.contains('\0') {
            return Err(ApiError::invalid(
                "csv_invalid",
                Some("csv".into()),
                "The statement holds a NUL character.",
            ));
        }
        Ok(CsvMutation { text, idempotency })
    }
}

/// The media type a body must have.
#[derive(Clone, Copy)]
enum Media {
    Json,
    Csv,
}

/// The body of a mutation, after its idempotency key and content type are checked.
async fn read_body(
    parts: &Parts,
    body: axum::body::Body,
    state: &AppState,
) -> Result<(bytes::Bytes, Idempotency), ApiError> {
    read_body_as(parts, body, Media::Json, state.config.body_limit_bytes).await
}

async fn read_body_as(
    parts: &Parts,
    body: axum::body::Body,
    media: Media,
    limit: usize,
) -> Result<(bytes::Bytes, Idempotency), ApiError> {
    let key = idempotency_key(parts)?;
    match media {
        Media::Json => check_content_type(parts)?,
        Media::Csv => check_csv_content_type(parts)?,
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::InvalidRequestError,
            "body_too_large",
            format!("The request body exceeds {limit} bytes."),
        )
    })?;
    // Only a key is checked against the request it was first used with.
    let fingerprint = if key.is_some() {
        let mut fingerprint_input = Vec::with_capacity(bytes.len() + 64);
        fingerprint_input.extend_from_slice(parts.method.as_str().as_bytes());
        fingerprint_input.push(b' ');
        fingerprint_input.extend_from_slice(parts.uri.path().as_bytes());
        fingerprint_input.push(b'\n');
        fingerprint_input.extend_from_slice(&bytes);
        bursar_store::sha256_hex(&fingerprint_input)
    } else {
        String::new()
    };
    let idempotency = Idempotency {
        key,
        fingerprint,
        request_id: request_id(parts),
    };
    Ok((bytes, idempotency))
}

/// The request's id (`X-Request-Id`, set by the middleware when the client sent none).
pub(crate) fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Mutation<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let (bytes, idempotency) = read_body(&parts, body, state).await?;
        // An empty body means "no parameters", as for a POST that only triggers an action.
        let json: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // serde would read a struct from a JSON array too; the API takes objects only.
        if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            let parsed = serde_json::from_slice::<serde_json::Value>(json);
            let code = if parsed.is_ok() {
                "parameter_invalid"
            } else {
                "json_invalid"
            };
            return Err(ApiError::invalid(
                code,
                None,
                "The request body must be a JSON object.",
            ));
        }
        let body = parse_json(json)?;
        Ok(Mutation { body, idempotency })
    }
}

pub(crate) fn idempotency_key(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |message: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::IdempotencyError,
            "idempotency_key_invalid",
            message,
        )
        .with_param("Idempotency-Key")
    };
    let key = value
        .to_str()
        .map_err(|_| invalid("The Idempotency-Key must be ASCII text."))?;
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_LENGTH_MAX {
        return Err(invalid(
            "The Idempotency-Key must be 1 to 255 characters long.",
        ));
    }
    Ok(Some(key.to_owned()))
}

fn check_content_type(parts: &Parts) -> Result<(), ApiError> {
    let Some(value) = parts.headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if media.eq_ignore_ascii_case("application/json") || media.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorType::InvalidRequestError,
        "content_type_unsupported",
        format!("Content-Type '{media}' is not supported: send application/json."),
    ))
}

fn check_csv_content_type(parts: &Parts) -> Result<(), ApiError> {
    let media = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim();
    if media.eq_ignore_ascii_case("text/csv") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorType::InvalidRequestError,
        "content_type_unsupported",
        format!("Content-Type '{media}' is not supported: send text/csv."),
    ))
}

/// Parses JSON, turning serde's errors into 400s that name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::guard::refuse_nul_in_json(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(json_error)?;
    deserializer.end().map_err(|e| {
        ApiError::invalid(
            "json_invalid",
            None,
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    Ok(value)
}

/// Reads a typed value out of already-parsed JSON, with the same field-naming errors.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if let Some(path) = crate::guard::nul_path(&value, String::new()) {
        return Err(crate::guard::nul_refused(&path));
    }
    serde_path_to_error::deserialize(value).map_err(json_error)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = error.path().to_string();
    let inner = error.inner();
    if matches!(
        inner.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return ApiError::invalid(
            "json_invalid",
            None,
            format!("The body is not valid JSON: {inner}."),
        );
    }
    // serde ends data errors with " at line L column C"; the field name says more.
    let full = inner.to_string();
    let message = full.split(" at line ").next().unwrap_or(&full).to_owned();
    let join = |field: &str| {
        if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    if let Some(field) = backticked(&message, "unknown field `") {
        // The path already ends at the unknown field.
        let param = if path == "." { field } else { path.clone() };
        return ApiError::invalid(
            "parameter_unknown",
            Some(param.clone()),
            format!("Received unknown parameter: {param}."),
        );
    }
    if let Some(field) = backticked(&message, "missing field `") {
        let param = join(&field);
        return ApiError::invalid(
            "parameter_missing",
            Some(param.clone()),
            format!("Missing required parameter: {param}."),
        );
    }
    if path == "." {
        return ApiError::invalid(
            "parameter_invalid",
            None,
            format!("Invalid request body: {message}."),
        );
    }
    ApiError::invalid(
        "parameter_invalid",
        Some(path.clone()),
        format!("Invalid value for {path}: {message}."),
    )
}

fn backticked(message: &str, lead: &str) -> Option<String> {
    let rest = message.strip_prefix(lead)?;
    rest.split('`').next().map(str::to_owned)
}

/// Query parameters as name/value pairs, checked by the handler so errors name the parameter.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).map_err(|e| {
            ApiError::invalid(
                "parameter_invalid",
                None,
                format!("Malformed query string: {e}."),
            )
        })?;
        Ok(QueryParams(pairs))
    }
}

impl QueryParams {
    /// Every parameter in order, repeats included.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Refuses parameters other than `allowed`, and repeated ones.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for (index, (name, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::invalid(
                    "parameter_unknown",
                    Some(name.clone()),
                    format!("Received unknown parameter: {name}."),
                ));
            }
            if self.0[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::invalid(
                    "parameter_invalid",
                    Some(name.clone()),
                    format!("Parameter {name} was given more than once."),
                ));
            }
        }
        Ok(())
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.text(name)
            .map(|value| {
                value.trim().parse::<i64>().map_err(|_| {
                    ApiError::invalid(
                        "parameter_invalid",
                        Some(name.to_owned()),
                        format!("Invalid integer for {name}: '{value}'."),
                    )
                })
            })
            .transpose()
    }
}

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// An inbound webhook's headers as the adapters read them: names lower-cased, values that are
/// not text left out (a signature is always text).
pub fn inbound_headers(
    headers: &axum::http::HeaderMap,
) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_ascii_lowercase(),
                value.to_str().ok()?.to_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: Option<String>,
        count: i64,
        nested: Option<Nested>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        flag: bool,
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"count": "x"}"#).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            ("parameter_invalid", Some("count"))
        );
        let err = parse_json::<Body>(br#"{"count": 1, "colour": 2}"#).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            ("parameter_unknown", Some("colour"))
        );
        let err = parse_json::<Body>(br#"{"email": null}"#).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            ("parameter_missing", Some("count"))
        );
        let err = parse_json::<Body>(br#"{"count": 1, "nested": {"flag": 3}}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("nested.flag"));
        let err = parse_json::<Body>(br#"{"count": 1, "nested": {"flog": true}}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("nested.flog"));
        let err = parse_json::<Body>(b"{\"count\": ").unwrap_err();
        assert_eq!((err.code, err.param), ("json_invalid", None));
        let err = parse_json::<Body>(b"{\"count\": 1} trailing").unwrap_err();
        assert_eq!(err.code, "json_invalid");
        let err = parse_json::<Body>(b"[1]").unwrap_err();
        assert_eq!((err.code, err.status.as_u16()), ("parameter_invalid", 400));
    }
}
