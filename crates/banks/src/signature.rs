//! Modern Treasury's webhook signature: `X-Signature` is the lowercase hex HMAC-SHA256 of the
//! raw body, keyed with the endpoint's webhook key. There is no timestamp in it: a replay is
//! caught by the webhook's id (`X-Webhook-ID`), which Bursar processes once.

use hmac::digest::CtOutput;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::WebhookError;

/// The header's name, lower case.
pub const HEADER: &str = "x-signature";

fn mac(key: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body);
    mac
}

/// The signature of `body` under `key`, lowercase hex.
pub fn sign(key: &str, body: &[u8]) -> String {
    hex::encode(mac(key, body).finalize().into_bytes())
}

/// Verifies an `X-Signature` value against every key in `keys` (any may have signed it while a
/// key rotates), comparing in constant time.
pub fn verify(header: Option<&str>, body: &[u8], keys: &[String]) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?.trim();
    let bytes = hex::decode(header)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            WebhookError::MalformedSignature("not 64 hexadecimal digits (HMAC-SHA256)".into())
        })?;
    let given = CtOutput::<Hmac<Sha256>>::new(bytes.into());
    if keys.iter().any(|key| mac(key, body).finalize() == given) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}
