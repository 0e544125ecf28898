//! Request hygiene every route shares: text never carries a NUL character (PostgreSQL cannot
//! store one and SQLite would, so both backends refuse it here, the same way), and every
//! client error leaves in the JSON error envelope, including the plain-text rejections of
//! axum's own extractors (an undecodable path, a bad query).

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::{ApiError, ErrorType};

/// The content security policy of JSON answers: nothing may load, nothing may frame them.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
/// The policy of the server's own pages (the API reference, the test provider's hosted
/// pages): their inline style and script only, forms to this server only, never framed.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     script-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers every answer carries: a content security policy (one for pages,
/// one for everything else), no framing, no content sniffing, no referrer.
pub async fn security_headers(request: Request, next: Next) -> Response {
    use axum::http::HeaderValue;
    let mut response = next.run(request).await;
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    let policy = if page { PAGE_POLICY } else { API_POLICY };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A page's own forms must carry its origin: under `no-referrer` a browser sends
    // `Origin: null`, which the forms' check refuses as another site's.
    let referrer = if page { "same-origin" } else { "no-referrer" };
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    response
}

/// The longest plain-text rejection carried over into an error envelope.
const REJECTION_TEXT_MAX: usize = 4096;

/// Refuses a path or query holding an encoded NUL (`%00`) and wraps plain-text client errors
/// in the JSON envelope.
pub async fn request_hygiene(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let nul_in = |text: &str| text.contains("%00");
    if nul_in(uri.path()) {
        return nul_refused("path").into_response();
    }
    if uri.query().is_some_and(nul_in) {
        return nul_refused("query").into_response();
    }
    let response = next.run(request).await;
    if response.status().is_client_error() && is_plain_text(&response) {
        return enveloped(response).await;
    }
    response
}

fn is_plain_text(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

/// A plain-text client error (axum's extractor rejections) as a JSON error with the same
/// status.
async fn enveloped(response: Response) -> Response {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), REJECTION_TEXT_MAX)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("Bad request")
            .to_owned()
    } else {
        text
    };
    let code = match status {
        StatusCode::NOT_FOUND => "resource_missing",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "content_type_unsupported",
        _ => "parameter_invalid",
    };
    let mut response =
        ApiError::new(status, ErrorType::InvalidRequestError, code, message).into_response();
    // The original body is gone; the envelope replaces it whole.
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

pub(crate) fn nul_refused(param: &str) -> ApiError {
    ApiError::invalid(
        "parameter_invalid",
        Some(param.to_owned()),
        "Text may not contain the NUL character (\\u0000).",
    )
}

/// Refuses a JSON body with a string holding NUL, naming the field. A linear scan for the
/// `\u0000` escape (a raw NUL is already invalid JSON); only a body that has one is parsed
/// again, to name where.
pub fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !has_escaped_nul(bytes) {
        return Ok(());
    }
    let path = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|value| nul_path(&value, String::new()));
    Err(nul_refused(path.as_deref().unwrap_or("body")))
}

/// Whether JSON text holds a `\u0000` escape (not a literal `\\u0000`).
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes[i + 1..].starts_with(b"u0000") {
                return true;
            }
            // Skip the escaped character, so `\\` never starts another escape.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The dotted path of the first string (or key) in `value` that holds a NUL.
pub fn nul_path(value: &Value, at: String) -> Option<String> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                // Named by where the key is: the key itself cannot be shown.
                Some(if at.is_empty() {
                    "body".to_owned()
                } else {
                    at.clone()
                })
            } else {
                nul_path(item, join(key))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_nul_is_found_and_named() {
        assert!(refuse_nul_in_json(br#"{"name":"a\u0000b"}"#).is_err());
        let error = refuse_nul_in_json(br#"{"lines":[{"x":1},{"name":"\u0000"}]}"#).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("lines[1].name"));
        // An escaped backslash followed by u0000 is six ordinary characters.
        assert!(refuse_nul_in_json(br#"{"name":"a\\u0000b"}"#).is_ok());
        assert!(refuse_nul_in_json(br#"{"name":"a\\\u0000b"}"#).is_err());
        assert!(refuse_nul_in_json(br#"{"name":"\u00001"}"#).is_err());
        assert!(refuse_nul_in_json(br#"{"name":"\u0001"}"#).is_ok());
    }
}
