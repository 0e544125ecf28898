//! Outbound webhooks: endpoint rules and Standard Webhooks signatures.
//!
//! Signatures follow the Standard Webhooks specification (<https://www.standardwebhooks.com>),
//! so receivers verify them with its official libraries (or Svix's): the signed content is
//! `{webhook-id}.{webhook-timestamp}.{body}`, the key is the base64 part of a `whsec_` secret,
//! the signature is `v1,` followed by the base64 HMAC-SHA256. During a secret rotation both
//! the new and the previous secret sign, space-separated in one `webhook-signature` header.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::id::{WebhookAttemptId, WebhookEndpointId};
use crate::time::Timestamp;
use crate::ValidationError;

/// Bytes of a generated secret (Svix uses 24).
pub const SECRET_BYTES: usize = 24;
/// Most event-type filters on one endpoint.
pub const EVENT_TYPES_MAX: usize = 100;
/// Longest endpoint URL.
pub const URL_LENGTH_MAX: usize = 2048;

/// What [`WebhookSecret::parse`] reads: `whsec_` and the canonical base64 (padded, no stray
/// bits) of 24 to 64 bytes.
pub const SECRET_PATTERN: &str = "^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,20}\
     (?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?\
     |(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/][AQgw]==)?)$";

/// What [`EventFilter::parse`] reads of one event type.
pub const EVENT_TYPE_PATTERN: &str = r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$";

crate::schema_only!(
    /// The schema of a signing secret given by the caller ([`WebhookSecret::parse`]).
    WebhookSecretText => crate::schema::text(
        "`whsec_` followed by the base64 of 24 to 64 random bytes",
        SECRET_PATTERN,
        None,
        None,
    )
);

crate::schema_only!(
    /// The schema of one event type of an endpoint's filter ([`EventFilter::parse`]).
    EventTypeFilter => crate::schema::text(
        "An event type (`customer.created`), a family (`customer.*`) or `*`",
        EVENT_TYPE_PATTERN,
        None,
        None,
    )
);

/// A signing secret: `whsec_` and the base64 of its key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        WebhookSecret(bytes)
    }

    pub fn parse(text: &str, param: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::invalid(
                param,
                "A secret is 'whsec_' followed by base64 of 24 to 64 bytes.",
            )
        };
        let encoded = text.strip_prefix("whsec_").ok_or_else(invalid)?;
        let bytes = BASE64.decode(encoded).map_err(|_| invalid())?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(invalid());
        }
        Ok(WebhookSecret(bytes))
    }

    /// The secret as receivers configure it.
    pub fn expose(&self) -> String {
        format!("whsec_{}", BASE64.encode(&self.0))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, message_id: &str, timestamp_secs: i64, body: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC takes keys of any length")
        };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_secs.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    message_id: &str,
    timestamp_secs: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(message_id, timestamp_secs, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Which event types an endpoint receives: exact types (`customer.created`), a family
/// (`customer.*`), or everything (`*`, also when the list is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<String>);

impl EventFilter {
    pub fn parse(types: Vec<String>, param: &str) -> Result<Self, ValidationError> {
        if types.len() > EVENT_TYPES_MAX {
            return Err(ValidationError::invalid(
                param,
                format!("At most {EVENT_TYPES_MAX} event types."),
            ));
        }
        for t in &types {
            let body = t.strip_suffix(".*").unwrap_or(t);
            let valid = t == "*"
                || (!body.is_empty()
                    && body.split('.').all(|part| {
                        !part.is_empty()
                            && part
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    }));
            if !valid {
                return Err(ValidationError::invalid(
                    param,
                    format!("'{t}' is not an event type: use e.g. 'customer.created', 'customer.*' or '*'."),
                ));
            }
        }
        Ok(EventFilter(types))
    }

    pub fn types(&self) -> &[String] {
        &self.0
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|t| {
                t == "*"
                    || t == event_type
                    || t.strip_suffix('*').is_some_and(|family| {
                        event_type.starts_with(family) && family.ends_with('.')
                    })
            })
    }
}

/// An endpoint URL: absolute `http` or `https`.
pub fn parse_url(url: &str, param: &str) -> Result<String, ValidationError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    if url.len() > URL_LENGTH_MAX
        || rest.is_none_or(|r| r.is_empty() || r.starts_with('/'))
        || url.chars().any(char::is_whitespace)
    {
        return Err(ValidationError::invalid(
            param,
            "The endpoint URL must be an absolute http(s) URL.",
        ));
    }
    Ok(url.to_owned())
}

/// Whether an endpoint receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointStatus {
    Enabled,
    /// Disabled after persistent failure (or by an admin); re-enabled by an admin.
    Disabled,
}

impl EndpointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Enabled => "enabled",
            EndpointStatus::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(EndpointStatus::Enabled),
            "disabled" => Some(EndpointStatus::Disabled),
            _ => None,
        }
    }
}

/// An outbound webhook endpoint (its secret is kept apart, sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub description: String,
    pub filter: EventFilter,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One delivery attempt, as the endpoint's log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: WebhookAttemptId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: String,
    pub event_type: String,
    pub attempted_at: Timestamp,
    pub succeeded: bool,
    pub status_code: Option<i64>,
    /// The start of the response body.
    pub response: Option<String>,
    /// Why there was no acceptable response (connection refused, timeout, ...).
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// An outbound webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointObject {
    /// `we_` followed by a time-sortable ULID.
    pub id: String,
    /// Always `webhook_endpoint`.
    pub object: &'static str,
    pub url: String,
    pub description: String,
    /// Event types it receives (`customer.created`, `customer.*`, `*`); empty: all.
    pub event_types: Vec<String>,
    /// `enabled` or `disabled`.
    pub status: &'static str,
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`): only in the responses that create or rotate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointObject {
    /// The endpoint as shown, with its secret only when `secret` is given.
    pub fn new(endpoint: &WebhookEndpoint, secret: Option<&WebhookSecret>) -> Self {
        EndpointObject {
            id: endpoint.id.to_string(),
            object: "webhook_endpoint",
            url: endpoint.url.clone(),
            description: endpoint.description.clone(),
            event_types: endpoint.filter.types().to_vec(),
            status: endpoint.status.as_str(),
            disabled_reason: endpoint.disabled_reason.clone(),
            secret: secret.map(WebhookSecret::expose),
            created_at: endpoint.created_at.to_rfc3339(),
            updated_at: endpoint.updated_at.to_rfc3339(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "s").unwrap();
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(secret.expose(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }

    #[test]
    fn filters_match_exact_family_and_all() {
        let filter =
            EventFilter::parse(vec!["customer.*".into(), "wallet.funded".into()], "t").unwrap();
        assert!(filter.matches("customer.created"));
        assert!(filter.matches("wallet.funded"));
        assert!(!filter.matches("wallet.committed"));
        assert!(!filter.matches("customers.created"));
        assert!(EventFilter::parse(vec![], "t")
            .unwrap()
            .matches("anything.at_all"));
        assert!(EventFilter::parse(vec!["Customer created".into()], "t").is_err());
    }
}
