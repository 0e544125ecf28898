//! Stripe's webhook signature scheme: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`
//! where each `v1` is HMAC-SHA256, keyed with the endpoint's signing secret (the whole
//! `whsec_…` string), over `"<t>.<raw body>"`. Several `v1` values appear while a secret is
//! being rotated; any one matching is enough. The timestamp must be within the tolerance of now,
//! so a captured request cannot be replayed later.

use hmac::digest::CtOutput;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::WebhookError;

/// Stripe's default tolerance.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The header's name, lower case.
pub const HEADER: &str = "stripe-signature";

/// The most `v1` signatures a header may carry: two while a secret rotates, a few to spare.
/// More is refused before any HMAC is computed, so a request costs at most one HMAC of its
/// body per endpoint secret.
pub const MAX_SIGNATURES: usize = 8;

/// The longest header accepted, in bytes (t=…, eight 64-hex-digit signatures and some slack).
pub const MAX_HEADER_BYTES: usize = 1024;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1` signature of `body` at `timestamp`, hex.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// A complete header value signed by every secret given (one `v1` each).
pub fn header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&sign(secret, timestamp, body));
    }
    value
}

/// Verifies a `Stripe-Signature` header value. Returns the signed timestamp.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[String],
    now: i64,
    tolerance_seconds: i64,
) -> Result<i64, WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?;
    if header.len() > MAX_HEADER_BYTES {
        return Err(WebhookError::MalformedSignature(format!(
            "the header is longer than {MAX_HEADER_BYTES} bytes"
        )));
    }
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(WebhookError::MalformedSignature(format!(
                "'{part}' is not key=value"
            )));
        };
        match key {
            "t" => {
                let t = value.parse::<i64>().map_err(|_| {
                    WebhookError::MalformedSignature(format!("t='{value}' is not a timestamp"))
                })?;
                timestamp = Some(t);
            }
            "v1" => {
                if candidates.len() == MAX_SIGNATURES {
                    return Err(WebhookError::MalformedSignature(format!(
                        "more than {MAX_SIGNATURES} v1 signatures"
                    )));
                }
                // A value that is not a SHA-256 in hex can never match; skip it like Stripe's
                // libraries do.
                if let Ok(bytes) = <[u8; 32]>::try_from(hex::decode(value).unwrap_or_default()) {
                    candidates.push(CtOutput::<Hmac<Sha256>>::new(bytes.into()));
                }
            }
            // v0 (test-mode legacy) and unknown schemes are ignored.
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| WebhookError::MalformedSignature("no timestamp (t=…)".into()))?;
    if candidates.is_empty() {
        return Err(WebhookError::MalformedSignature("no v1 signature".into()));
    }
    // One HMAC per secret, compared with every candidate (`CtOutput` compares in constant
    // time).
    let matched = secrets.iter().any(|secret| {
        let expected = mac(secret, timestamp, body).finalize();
        candidates.contains(&expected)
    });
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    let age = now - timestamp;
    if age.abs() > tolerance_seconds {
        return Err(WebhookError::Expired { age_seconds: age });
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_signed_body_verifies_and_any_change_does_not() {
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
        let value = header(&[SECRET], 1_700_000_000, body);
        let secrets = vec![SECRET.to_owned()];
        assert_eq!(
            verify(Some(&value), body, &secrets, 1_700_000_100, 300),
            Ok(1_700_000_000)
        );
        assert_eq!(
            verify(
                Some(&value),
                b"{\"id\":\"evt_2\"}",
                &secrets,
                1_700_000_100,
                300
            ),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(
                Some(&value),
                body,
                &["whsec_other".to_owned()],
                1_700_000_100,
                300
            ),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(Some(&value), body, &secrets, 1_700_000_301, 300),
            Err(WebhookError::Expired { age_seconds: 301 })
        );
        assert_eq!(
            verify(None, body, &secrets, 0, 300),
            Err(WebhookError::MissingSignature)
        );
        assert!(matches!(
            verify(Some("v1=abcd"), body, &secrets, 0, 300),
            Err(WebhookError::MalformedSignature(_))
        ));
    }

    #[test]
    fn during_rotation_either_secret_verifies() {
        let body = b"{}";
        let value = header(&["whsec_old", "whsec_new"], 10, body);
        assert!(verify(Some(&value), body, &["whsec_new".to_owned()], 10, 300).is_ok());
        assert!(verify(Some(&value), body, &["whsec_old".to_owned()], 10, 300).is_ok());
        let only_new = header(&["whsec_new"], 10, body);
        assert!(verify(
            Some(&only_new),
            body,
            &["whsec_old".to_owned(), "whsec_new".to_owned()],
            10,
            300
        )
        .is_ok());
    }

    /// A flood of candidates would cost one HMAC of the whole body each: it is refused before
    /// any is computed, and a header within the caps still verifies.
    #[test]
    fn a_flood_of_signatures_is_refused_unhashed() {
        let body = vec![b'x'; 1 << 20];
        let secrets = vec![SECRET.to_owned()];
        let fake = format!(",v1={}", "ab".repeat(32));
        let flood = format!("t=10{}", fake.repeat(MAX_SIGNATURES + 1));
        assert!(
            flood.len() <= MAX_HEADER_BYTES,
            "refused for its count, not its length"
        );
        let started = std::time::Instant::now();
        assert!(matches!(
            verify(Some(&flood), &body, &secrets, 10, 300),
            Err(WebhookError::MalformedSignature(m)) if m.contains("more than 8")
        ));
        let huge = format!("t=10{}", ",v1=00".repeat(100_000));
        assert!(matches!(
            verify(Some(&huge), &body, &secrets, 10, 300),
            Err(WebhookError::MalformedSignature(m)) if m.contains("longer than")
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let at_cap = format!(
            "{}{}",
            header(&[SECRET], 10, &body),
            fake.repeat(MAX_SIGNATURES - 1)
        );
        assert_eq!(verify(Some(&at_cap), &body, &secrets, 10, 300), Ok(10));
    }

    /// The example from Stripe's documentation of manual verification: signed payload
    /// `t.body`, key = the whole secret string.
    #[test]
    fn matches_an_independent_hmac() {
        let body = b"payload";
        let expected = {
            let mut m = Hmac::<Sha256>::new_from_slice(b"whsec_x").unwrap();
            m.update(b"42.payload");
            hex::encode(m.finalize().into_bytes())
        };
        assert_eq!(sign("whsec_x", 42, body), expected);
    }
}
