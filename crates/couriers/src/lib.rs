//! The courier boundary.
//!
//! Bursar tracks parcels through one small, I/O-free trait, [`CarrierAdapter`]: it builds the
//! request that asks a carrier about a tracking number (and, for carriers that use OAuth2, the
//! request for an access token), parses the carrier's answer into rail-neutral [`Tracking`],
//! and verifies and parses the events a carrier pushes. The one `HttpExecutor` of
//! `bursar_payments::executor` sends the requests (timeouts, retries, masked logs, metrics);
//! nothing outside this crate knows a carrier's wire format.
//!
//! Every carrier code maps to one of the ten [`TrackingStatus`]es; a code no table knows maps
//! to `unknown` and is kept with its raw code, never guessed at. Instants are UTC, with the
//! offset the carrier gave kept beside them.

pub mod canada_post;
pub mod chit_chats;
pub mod dhl;
pub mod test_courier;
pub mod usps;

use std::time::Duration;

pub use bursar_domain::shipping::{Carrier, TrackingStatus};
pub use bursar_domain::time::Timestamp;
pub use bursar_payments::executor::{Method, ProviderRequest, ProviderResponse};
pub use bursar_payments::Headers;

/// A workspace's credentials for one carrier, unsealed only to build a request.
///
/// | carrier | `key` | `secret` | `account` |
/// |---|---|---|---|
/// | `dhl` | the `DHL-API-Key` | — | — |
/// | `usps` | the OAuth2 client id | the client secret | — |
/// | `canada_post` | the API user name | its password | — |
/// | `chit_chats` | the access token | — | the client id |
/// | `test_courier` | — | — | — |
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Where the carrier's API is (`https://api-eu.dhl.com`); a fake's address in tests.
    pub api_base: String,
    pub key: Option<String>,
    pub secret: Option<String>,
    pub account: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_base", &self.api_base)
            .field("key", &self.key.as_ref().map(|_| "…"))
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("account", &self.account)
            .finish()
    }
}

/// An OAuth2 access token and how long it lives.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// One event as the carrier reported it, with its normalised status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierEvent {
    /// The carrier's own code (`01`, `transit`, `1496`, `delivered`), as given; when the
    /// carrier has no code, its status text.
    pub code: String,
    /// The carrier's words for it.
    pub description: String,
    /// When it happened, in UTC.
    pub occurred_at: Timestamp,
    /// The offset from UTC of the place it happened, as the carrier gave it (`-05:00`); none
    /// when the carrier gave only UTC.
    pub utc_offset: Option<String>,
    /// City, region, country, as far as the carrier says.
    pub location: Option<String>,
    pub status: TrackingStatus,
}

/// What a carrier knows about one tracking number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    pub tracking_number: String,
    /// In the carrier's order (usually newest first); the fold sorts by instant.
    pub events: Vec<CarrierEvent>,
    pub estimated_delivery: Option<Timestamp>,
}

/// How many requests a carrier accepts per window, per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

/// A failed question to a carrier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CourierError {
    /// The carrier does not know the tracking number (yet): DHL's 404, Canada Post's `004`.
    #[error("the carrier knows no such tracking number: {0}")]
    NotFound(String),
    /// The credentials were refused (401, 403, OAuth2 `invalid_client`).
    #[error("the carrier refused the credentials: {0}")]
    Unauthorized(String),
    /// Too many requests: nothing may be sent before `retry_after` has passed.
    #[error("the carrier asks to wait {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// Any other refusal (4xx), with the carrier's code and message.
    #[error("the carrier refused the request ({status}): {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The carrier could not be reached, or failed (5xx, timeouts) after the executor's
    /// retries.
    #[error("the carrier is unavailable: {0}")]
    Unavailable(String),
    /// An answer this adapter cannot read.
    #[error("the carrier's answer could not be read: {0}")]
    BadResponse(String),
}

impl From<bursar_payments::ProviderError> for CourierError {
    fn from(error: bursar_payments::ProviderError) -> Self {
        use bursar_payments::ProviderError as P;
        match error {
            P::Refused {
                status,
                code,
                message,
            } => CourierError::Refused {
                status,
                code,
                message,
            },
            P::Unavailable(reason) => CourierError::Unavailable(reason),
            P::BadResponse(reason) => CourierError::BadResponse(reason),
            P::Unsupported(what) => CourierError::BadResponse(format!("unsupported: {what}")),
        }
    }
}

/// Why a pushed event was refused. Nothing of a refused push is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("this carrier does not push events")]
    Unsupported,
    #[error("the signature header is missing")]
    MissingSignature,
    #[error("no key's signature matches the payload")]
    BadSignature,
    #[error("the payload is not a tracking event: {0}")]
    BadPayload(String),
}

/// The boundary every carrier implements. Adapters build requests and parse answers; they
/// never do I/O.
pub trait CarrierAdapter: Send + Sync {
    fn carrier(&self) -> Carrier;

    /// The carrier's published limit; the tracking worker never exceeds it.
    fn rate_limit(&self) -> RateLimit;

    /// The request for an OAuth2 access token, for carriers that need one (USPS).
    fn token_request(&self, _credentials: &Credentials) -> Option<ProviderRequest> {
        None
    }

    /// Reads the answer to [`CarrierAdapter::token_request`].
    fn parse_token(&self, response: &ProviderResponse) -> Result<AccessToken, CourierError> {
        Err(CourierError::BadResponse(format!(
            "{} issues no tokens (answer {})",
            self.carrier().as_str(),
            response.status
        )))
    }

    /// The request that asks about `tracking_number`; `token` from
    /// [`CarrierAdapter::token_request`] when the carrier needs one.
    fn tracking_request(
        &self,
        credentials: &Credentials,
        token: Option<&str>,
        tracking_number: &str,
    ) -> ProviderRequest;

    /// Reads the answer to [`CarrierAdapter::tracking_request`], error bodies included.
    fn parse_tracking(
        &self,
        tracking_number: &str,
        response: &ProviderResponse,
    ) -> Result<Tracking, CourierError>;

    /// Verifies a pushed notification against `secrets` (any may have signed it: rotation),
    /// then parses it. Verification comes first: nothing of an unverified body is read.
    fn parse_push(
        &self,
        _headers: &Headers,
        _body: &[u8],
        _secrets: &[String],
    ) -> Result<Vec<Tracking>, PushError> {
        Err(PushError::Unsupported)
    }
}

/// The adapter for `carrier`.
pub fn adapter(carrier: Carrier) -> &'static dyn CarrierAdapter {
    match carrier {
        Carrier::Dhl => &dhl::Dhl,
        Carrier::Usps => &usps::Usps,
        Carrier::CanadaPost => &canada_post::CanadaPost,
        Carrier::ChitChats => &chit_chats::ChitChats,
        Carrier::TestCourier => &test_courier::TestCourier,
    }
}

/// Percent-encodes a value put in a URL (RFC 3986 unreserved characters pass), so a tracking
/// number or an account id stays one path segment or one query value: no `/`, `?`, `&` or `#`
/// of it gets through.
pub fn percent_encode(value: &str) -> String {
    value
        .trim()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `Retry-After` of a 429 (seconds, or an HTTP date is read as one minute); `default` when
/// absent or unreadable.
pub fn retry_after(response: &ProviderResponse, default: Duration) -> Duration {
    response
        .header("retry-after")
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(default)
}
