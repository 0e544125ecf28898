//! The one HTTP executor every provider adapter goes through.
//!
//! It serves payment providers and banks alike (a request carries a form or a JSON body).
//! Adapters are pure: they turn a Bursar request into a [`ProviderRequest`] and a
//! [`ProviderResponse`] back into a result. Everything that touches the network lives here, once:
//! timeouts, retries with the same idempotency key, request ids, masked logging and metrics.
//!
//! # The split between executor and adapter
//!
//! [`HttpExecutor::execute`] returns `Ok(response)` for every answer it decides not to retry:
//! 2xx, 4xx other than a 429 without `Retry-After`, any status the provider marked
//! `Stripe-Should-Retry: false`, and a 5xx to a request that is not safe to repeat (below).
//! Reading those answers (including turning a 4xx error body into [`ProviderError::Refused`]) is
//! the adapter's job, since only it knows the wire format. The executor returns an error only when
//! it has no answer worth reading: [`ProviderError::Unavailable`] once its attempts are exhausted
//! on connection errors, timeouts, 429 or 5xx.
//!
//! # When a request is retried
//!
//! * `Stripe-Should-Retry: true|false` on a response wins over everything else: the provider knows
//!   whether the request took effect.
//! * Otherwise a 429 without `Retry-After` and connection failures (nothing was sent) are
//!   always retried. A 429 with `Retry-After` is returned to the adapter, which reports how
//!   long to wait: no request is sent before then.
//! * 5xx, timeouts and other transport errors are retried only when a repeat cannot duplicate an
//!   effect: the request carries an idempotency key (sent unchanged on every attempt, so the
//!   provider replays the first result) or its method is idempotent (`GET`, `PUT`, `DELETE`…).

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bursar_outbound::{read_capped, Guard, Timeouts, Url};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
pub use reqwest::Method;

use crate::ProviderError;

/// Our id for one logical call, the same on each of its attempts; lets a log line at the provider
/// be matched with ours.
pub const REQUEST_ID_HEADER: &str = "X-Bursar-Request-Id";

/// Counter: one increment per attempt, labelled `provider`, `operation`, `outcome`
/// (`ok`, `refused`, `retry`, `unavailable`). Attempts that were retried count as `retry`, so
/// `ok + refused + unavailable` is the number of logical calls.
pub const REQUESTS_TOTAL: &str = "bursar_provider_requests_total";

/// Histogram: seconds per attempt (one HTTP exchange), labelled `provider`, `operation`.
pub const REQUEST_SECONDS: &str = "bursar_provider_request_seconds";

/// No single backoff sleeps longer than this, whatever the attempt number.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One call to a provider's HTTP API, as an adapter describes it.
#[derive(Clone)]
pub struct ProviderRequest {
    /// What the call does, for logs and metrics (`checkout.create`).
    pub operation: &'static str,
    pub method: Method,
    pub url: String,
    /// Extra headers (`Authorization`, `Stripe-Version`…). Never logged.
    pub headers: Vec<(String, String)>,
    /// An `application/x-www-form-urlencoded` body, in order.
    pub form: Option<Vec<(String, String)>>,
    /// An `application/json` body, already encoded (bank APIs speak JSON). At most one of `form`
    /// and `json` is set. Never logged or printed: it can carry account numbers.
    pub json: Option<String>,
    /// Sent as `Idempotency-Key`, unchanged on every attempt.
    pub idempotency_key: Option<String>,
}

/// Debug output redacts `Authorization` and masks secret-looking tokens, so a request can be
/// printed in a test failure or a log without leaking the API key.
impl fmt::Debug for ProviderRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if name.eq_ignore_ascii_case("authorization") {
                    "<redacted>".to_owned()
                } else {
                    mask_secrets(value)
                };
                (name.as_str(), shown)
            })
            .collect();
        let form: Option<Vec<(&str, String)>> = self.form.as_ref().map(|form| {
            form.iter()
                .map(|(k, v)| (k.as_str(), mask_secrets(v)))
                .collect()
        });
        f.debug_struct("ProviderRequest")
            .field("operation", &self.operation)
            .field("method", &self.method)
            .field("url", &mask_secrets(&self.url))
            .field("headers", &headers)
            .field("form", &form)
            .field(
                "json",
                &self
                    .json
                    .as_ref()
                    .map(|json| format!("<{} bytes>", json.len())),
            )
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// A provider's answer, handed to the adapter to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderResponse {
    pub status: u16,
    /// Lower-case names; repeated headers joined with `", "`.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl ProviderResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// Per attempt, connecting included.
    pub timeout: Duration,
    /// Attempts per logical call, the first included (0 is treated as 1).
    pub max_attempts: u32,
    /// The sleep before the second attempt; doubles on each further attempt (capped at 5 s),
    /// with jitter so clients that failed together do not retry together.
    pub base_backoff: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
        }
    }
}

/// Cheap to clone (the connection pool is shared), so one executor can serve every adapter.
#[derive(Debug, Clone)]
pub struct HttpExecutor {
    client: reqwest::Client,
    config: ExecutorConfig,
    /// Where requests may go: a connection's `api_base` is the tenant's choice.
    guard: Guard,
}

/// The most of a provider's answer that is read.
pub const ANSWER_CAP_BYTES: usize = 1024 * 1024;

/// How one attempt ended.
enum Attempt {
    /// An answer to hand to the adapter.
    Done(ProviderResponse),
    /// Worth another attempt. `status` and `provider_request_id` when the provider answered.
    Retry {
        reason: String,
        status: Option<u16>,
        provider_request_id: Option<String>,
    },
    /// Not worth another attempt and nothing to read.
    Fail(String),
}

impl HttpExecutor {
    /// Requests go only where `guard` allows (checked at every connection; no redirects).
    /// Fails only if the TLS backend cannot be initialised.
    pub fn new(config: ExecutorConfig, guard: Guard) -> Result<Self, ProviderError> {
        let timeouts = Timeouts {
            connect: config.timeout,
            total: config.timeout,
        };
        let client = guard
            .client(timeouts, concat!("bursar/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| ProviderError::Unavailable(mask_secrets(&format!("HTTP client: {e}"))))?;
        Ok(Self {
            client,
            config,
            guard,
        })
    }

    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Sends `request` to `provider` (`stripe`), retrying as described in the module docs.
    pub async fn execute(
        &self,
        provider: &str,
        request: &ProviderRequest,
    ) -> Result<ProviderResponse, ProviderError> {
        let request_id = new_request_id();
        let max_attempts = self.config.max_attempts.max(1);
        let body = request_body(request)?;
        let mut last_reason = String::new();
        for attempt in 1..=max_attempts {
            let started = Instant::now();
            let outcome = self
                .attempt(
                    request,
                    body.as_ref().map(|(kind, text)| (*kind, text.as_str())),
                    &request_id,
                    attempt,
                )
                .await;
            let elapsed = started.elapsed();
            let last = attempt == max_attempts;
            let (label, status, provider_request_id, error) = match &outcome {
                Attempt::Done(response) => (
                    outcome_label(response.status),
                    Some(response.status),
                    response.header("request-id"),
                    None,
                ),
                Attempt::Retry {
                    reason,
                    status,
                    provider_request_id,
                } => (
                    if last { "unavailable" } else { "retry" },
                    *status,
                    provider_request_id.as_deref(),
                    Some(reason.as_str()),
                ),
                Attempt::Fail(reason) => ("unavailable", None, None, Some(reason.as_str())),
            };
            record(provider, request.operation, label, elapsed);
            log_attempt(
                provider,
                request,
                &request_id,
                attempt,
                max_attempts,
                label,
                status,
                provider_request_id,
                elapsed,
                error,
            );
            match outcome {
                Attempt::Done(response) => return Ok(response),
                Attempt::Fail(reason) => {
                    return Err(ProviderError::Unavailable(format!(
                        "{} failed (not repeated): {reason}",
                        request.operation
                    )))
                }
                Attempt::Retry { reason, .. } => {
                    last_reason = reason;
                    if !last {
                        tokio::time::sleep(backoff(self.config.base_backoff, attempt)).await;
                    }
                }
            }
        }
        Err(ProviderError::Unavailable(format!(
            "{} failed after {max_attempts} attempt(s): {last_reason}",
            request.operation
        )))
    }

    async fn attempt(
        &self,
        request: &ProviderRequest,
        body: Option<(&'static str, &str)>,
        request_id: &str,
        attempt: u32,
    ) -> Attempt {
        let target = Url::parse(&request.url)
            .map_err(|e| e.to_string())
            .and_then(|url| self.guard.check_target(&url).map_err(|e| e.to_string()));
        if let Err(refusal) = target {
            return Attempt::Fail(format!("the provider URL {}", mask_secrets(&refusal)));
        }
        let mut builder = self
            .client
            .request(request.method.clone(), &request.url)
            .timeout(self.config.timeout);
        for (name, value) in &request.headers {
            // The executor owns these two; an adapter's copy would be a second, conflicting value.
            if name.eq_ignore_ascii_case("idempotency-key")
                || name.eq_ignore_ascii_case(REQUEST_ID_HEADER)
            {
                continue;
            }
            let (Ok(name), Ok(mut value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                return Attempt::Fail(format!("header '{}' is not valid HTTP", mask_secrets(name)));
            };
            if name == reqwest::header::AUTHORIZATION {
                value.set_sensitive(true);
            }
            builder = builder.header(name, value);
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder = builder.header(REQUEST_ID_HEADER, request_id);
        if let Some((content_type, body)) = body {
            builder = builder
                .header(CONTENT_TYPE, content_type)
                .body(body.to_owned());
        }
        let safe = request.idempotency_key.is_some() || request.method.is_idempotent();
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return transport_failure(&e, safe, attempt),
        };
        let status = response.status().as_u16();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_ascii_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let body = match read_capped(response, ANSWER_CAP_BYTES).await {
            Ok((_, true)) => {
                return Attempt::Fail(format!(
                    "the answer is longer than {ANSWER_CAP_BYTES} bytes"
                ))
            }
            Ok((body, false)) => body,
            Err(e) => return transport_failure(&e, safe, attempt),
        };
        let response = ProviderResponse {
            status,
            headers,
            body,
        };
        let retry = match response.header("stripe-should-retry") {
            Some("true") => true,
            Some("false") => false,
            // A 429 that names when to come back is the caller's to wait out: sending again
            // before `Retry-After` would break the provider's limit (couriers count it).
            _ if status == 429 => response.header("retry-after").is_none(),
            _ => status >= 500 && safe,
        };
        if retry {
            let provider_request_id = response.header("request-id").map(mask_secrets);
            Attempt::Retry {
                reason: match &provider_request_id {
                    Some(id) => format!("HTTP {status} (request-id {id})"),
                    None => format!("HTTP {status}"),
                },
                status: Some(status),
                provider_request_id,
            }
        } else {
            Attempt::Done(response)
        }
    }
}

/// The body to send and its content type: the form encoded, or the JSON as given.
fn request_body(
    request: &ProviderRequest,
) -> Result<Option<(&'static str, String)>, ProviderError> {
    match (&request.form, &request.json) {
        (Some(_), Some(_)) => Err(ProviderError::Unsupported(
            "a request with both a form and a JSON body",
        )),
        // Encoding string pairs cannot fail; the error arm is for the type system.
        (Some(form), None) => serde_urlencoded::to_string(form)
            .map(|text| Some(("application/x-www-form-urlencoded", text)))
            .map_err(|_| ProviderError::Unsupported("a form body that cannot be encoded")),
        (None, Some(json)) => Ok(Some(("application/json", json.clone()))),
        (None, None) => Ok(None),
    }
}

fn transport_failure(error: &reqwest::Error, safe: bool, attempt: u32) -> Attempt {
    // reqwest's message can include the URL; mask it like anything else we keep.
    let reason = mask_secrets(&format!("{error} (attempt {attempt})"));
    let reason = if error.is_timeout() {
        format!("timeout: {reason}")
    } else {
        reason
    };
    // A failed connect sent nothing, so a repeat cannot duplicate anything.
    if error.is_connect() || safe {
        Attempt::Retry {
            reason,
            status: None,
            provider_request_id: None,
        }
    } else {
        Attempt::Fail(reason)
    }
}

fn outcome_label(status: u16) -> &'static str {
    match status {
        400..=499 => "refused",
        500.. => "unavailable",
        _ => "ok",
    }
}

fn record(provider: &str, operation: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(
        REQUESTS_TOTAL,
        "provider" => provider.to_owned(),
        "operation" => operation,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        REQUEST_SECONDS,
        "provider" => provider.to_owned(),
        "operation" => operation
    )
    .record(elapsed.as_secs_f64());
}

#[allow(clippy::too_many_arguments)]
fn log_attempt(
    provider: &str,
    request: &ProviderRequest,
    request_id: &str,
    attempt: u32,
    max_attempts: u32,
    outcome: &'static str,
    status: Option<u16>,
    provider_request_id: Option<&str>,
    elapsed: Duration,
    error: Option<&str>,
) {
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let url = mask_secrets(&request.url);
    let error = error.map(mask_secrets);
    let provider_request_id = provider_request_id.map(mask_secrets);
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                provider,
                operation = request.operation,
                method = %request.method,
                url = %url,
                attempt,
                max_attempts,
                outcome,
                status,
                elapsed_ms,
                request_id,
                provider_request_id = provider_request_id.as_deref(),
                error = error.as_deref(),
                "provider request"
            )
        };
    }
    if outcome == "ok" {
        line!(info);
    } else {
        line!(warn);
    }
}

/// The sleep after failed attempt `attempt` (1-based): half of `base · 2^(attempt-1)` (capped)
/// plus a random part of up to the other half ("equal jitter": it still grows, but spreads out).
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exponent).min(MAX_BACKOFF);
    let half = full / 2;
    let half_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if half_nanos == 0 {
        0
    } else {
        random_u64() % (half_nanos + 1)
    };
    half + Duration::from_nanos(jitter)
}

/// A fresh id for one logical call: `brq_` + 12 hex digits of Unix milliseconds + 16 random hex
/// digits, so ids sort by time like a ULID without another dependency.
pub fn new_request_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!(
        "brq_{:012x}{:016x}",
        millis & 0xffff_ffff_ffff,
        random_u64()
    )
}

/// Randomness good enough for jitter and log correlation (not for secrets): the standard
/// library's randomly keyed SipHash over a counter and the clock.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.finish()
}

/// Secret prefixes: Stripe secret and restricted API keys, and webhook signing secrets.
const SECRET_PREFIXES: [&str; 3] = ["sk_", "rk_", "whsec_"];

/// Masks every Stripe secret in `text`: an `sk_…`, `rk_…` or `whsec_…` token (starting at a word
/// boundary) keeps its prefix and mode (`sk_live_`, `sk_test_`) and loses the rest, so a log line
/// still says which kind of key was involved but never contains one.
pub fn mask_secrets(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let at_boundary = !previous.is_some_and(is_token_char);
        if at_boundary {
            if let Some(prefix) = SECRET_PREFIXES.iter().find(|p| rest.starts_with(**p)) {
                let after = &rest[prefix.len()..];
                let mode = ["live_", "test_"]
                    .into_iter()
                    .find(|m| after.starts_with(m))
                    .unwrap_or("");
                let secret = &after[mode.len()..];
                let secret_len = secret.find(|c| !is_token_char(c)).unwrap_or(secret.len());
                if secret_len > 0 {
                    out.push_str(prefix);
                    out.push_str(mode);
                    out.push_str("***");
                    rest = &secret[secret_len..];
                    previous = Some('*');
                    continue;
                }
            }
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys_and_signing_secrets_wherever_they_appear() {
        assert_eq!(
            mask_secrets("Bearer sk_test_51HxYzAbC"),
            "Bearer sk_test_***"
        );
        assert_eq!(mask_secrets("sk_live_abc123"), "sk_live_***");
        assert_eq!(mask_secrets("key=rk_live_XyZ&x=1"), "key=rk_live_***&x=1");
        assert_eq!(
            mask_secrets("secrets: whsec_abcDEF123, whsec_old"),
            "secrets: whsec_***, whsec_***"
        );
        assert_eq!(mask_secrets("\"sk_abcdef\""), "\"sk_***\"");
        assert_eq!(mask_secrets("sk_test_🔑 after"), "sk_test_🔑 after");
    }

    #[test]
    fn leaves_everything_else_alone() {
        for text in [
            "",
            "plain text, no keys",
            "desk_lamp and task_42 and rework_1",
            "pk_test_publishable is public",
            "sk_",
            "cus_123 pi_456 évt_ünïcode",
        ] {
            assert_eq!(mask_secrets(text), text);
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(200);
        for _ in 0..50 {
            let first = backoff(base, 1);
            assert!(
                first >= Duration::from_millis(100) && first <= base,
                "{first:?}"
            );
            let third = backoff(base, 3);
            assert!(
                third >= Duration::from_millis(400) && third <= Duration::from_millis(800),
                "{third:?}"
            );
            assert!(backoff(base, 40) <= MAX_BACKOFF);
        }
        assert_eq!(backoff(Duration::ZERO, 2), Duration::ZERO);
    }

    #[test]
    fn request_ids_are_fresh_and_shaped() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 12 + 16);
        assert!(a.starts_with("brq_"));
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let request = ProviderRequest {
            operation: "checkout.create",
            method: Method::POST,
            url: "https://api.example/v1/x".into(),
            headers: vec![
                ("Authorization".into(), "Bearer sk_test_secret".into()),
                ("X-Note".into(), "whsec_abc".into()),
            ],
            form: Some(vec![("k".into(), "rk_live_zzz".into())]),
            json: None,
            idempotency_key: Some("bursar-x".into()),
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("whsec_abc"), "{shown}");
        assert!(!shown.contains("zzz"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn a_json_body_is_sent_as_json_and_never_printed() {
        let mut request = ProviderRequest {
            operation: "counterparty.create",
            method: Method::POST,
            url: "https://api.example/api/counterparties".into(),
            headers: vec![],
            form: None,
            json: Some(r#"{"account_number":"123456789"}"#.into()),
            idempotency_key: None,
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("123456789"), "{shown}");
        assert!(shown.contains("<30 bytes>"), "{shown}");
        assert_eq!(
            request_body(&request),
            Ok(Some((
                "application/json",
                r#"{"account_number":"123456789"}"#.to_owned()
            )))
        );
        request.form = Some(vec![("a".into(), "b".into())]);
        assert!(matches!(
            request_body(&request),
            Err(ProviderError::Unsupported(_))
        ));
        request.json = None;
        assert_eq!(
            request_body(&request),
            Ok(Some((
                "application/x-www-form-urlencoded",
                "a=b".to_owned()
            )))
        );
    }

    #[test]
    fn outcome_labels_follow_the_status() {
        assert_eq!(outcome_label(200), "ok");
        assert_eq!(outcome_label(404), "refused");
        assert_eq!(outcome_label(503), "unavailable");
    }
}
