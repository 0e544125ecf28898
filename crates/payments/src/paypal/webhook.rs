//! PayPal webhooks: the self-verification PayPal documents, and the events Bursar reads.
//!
//! PayPal signs `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body, in
//! decimal>` with SHA256withRSA under the key of the certificate that `PAYPAL-CERT-URL` points
//! to, and sends the signature base64 encoded in `PAYPAL-TRANSMISSION-SIG`. `parse_webhook` does
//! no I/O, so the certificate is never downloaded: the webhook's secrets are the trusted PEM
//! certificates (several while PayPal rotates its certificate). [`verify`] checks, in order,
//! that every header is present and well formed, that the certificate URL is an `https` URL on a
//! `paypal.com` host, that one trusted certificate (valid now) verifies the signature, and that
//! the transmission time is within [`TOLERANCE_SECONDS`] of now. [`parse_event`] reads the body
//! only after that.

use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::Value;

use super::money::money_of;
use super::responses::{capture_of_refund, refund_status, str_of};
use crate::{DeclineClass, Headers, PaymentEvent, PaymentEventKind, WebhookError};

/// `PAYPAL-TRANSMISSION-ID`, lower case like every name in [`Headers`].
pub const TRANSMISSION_ID: &str = "paypal-transmission-id";
/// `PAYPAL-TRANSMISSION-TIME`: RFC 3339, part of the signed message.
pub const TRANSMISSION_TIME: &str = "paypal-transmission-time";
/// `PAYPAL-TRANSMISSION-SIG`: the signature, base64.
pub const TRANSMISSION_SIG: &str = "paypal-transmission-sig";
/// `PAYPAL-CERT-URL`: where PayPal publishes the signing certificate.
pub const CERT_URL: &str = "paypal-cert-url";
/// `PAYPAL-AUTH-ALGO`: always [`AUTH_ALGO`].
pub const AUTH_ALGO_HEADER: &str = "paypal-auth-algo";

/// The only algorithm PayPal signs with.
pub const AUTH_ALGO: &str = "SHA256withRSA";

/// How far the transmission time may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The longest header value accepted, in bytes. A 4096-bit signature is 684 base64 characters.
pub const MAX_HEADER_BYTES: usize = 1024;

/// The DER encoding of the `rsaEncryption` object identifier (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The headers of one transmission, checked for form but not yet for authenticity.
struct Transmission<'a> {
    id: &'a str,
    time: &'a str,
    /// `time` in Unix seconds.
    sent_at: i64,
    signature: Vec<u8>,
}

/// The message PayPal signs for `body`.
pub fn signed_message(
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> String {
    let crc = crc32fast::hash(body);
    format!("{transmission_id}|{transmission_time}|{webhook_id}|{crc}")
}

/// Verifies one PayPal transmission of `body` to the webhook `webhook_id`: see the module docs.
/// Returns the transmission time (Unix seconds).
pub fn verify(
    headers: &Headers,
    body: &[u8],
    webhook_id: &str,
    certificates: &[String],
    now: i64,
) -> Result<i64, WebhookError> {
    let transmission = read_headers(headers)?;
    let message = signed_message(transmission.id, transmission.time, webhook_id, body);
    let verified = certificates
        .iter()
        .filter_map(|pem| trusted_key(pem, now))
        .any(|key| {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
                .verify(message.as_bytes(), &transmission.signature)
                .is_ok()
        });
    if !verified {
        return Err(WebhookError::BadSignature);
    }
    let age = now - transmission.sent_at;
    if age.abs() > TOLERANCE_SECONDS {
        return Err(WebhookError::Expired { age_seconds: age });
    }
    Ok(transmission.sent_at)
}

/// The five headers, each present, bounded and of the right form.
fn read_headers(headers: &Headers) -> Result<Transmission<'_>, WebhookError> {
    let header = |name: &str| -> Result<&str, WebhookError> {
        let value = headers
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .ok_or(WebhookError::MissingSignature)?;
        if value.len() > MAX_HEADER_BYTES {
            return Err(malformed(format!(
                "{name} is longer than {MAX_HEADER_BYTES} bytes"
            )));
        }
        Ok(value)
    };
    let (id, time, sig, cert_url, algo) = (
        header(TRANSMISSION_ID)?,
        header(TRANSMISSION_TIME)?,
        header(TRANSMISSION_SIG)?,
        header(CERT_URL)?,
        header(AUTH_ALGO_HEADER)?,
    );
    check_cert_url(cert_url).map_err(malformed)?;
    if algo != AUTH_ALGO {
        return Err(malformed(format!(
            "{AUTH_ALGO_HEADER} is '{algo}', expected {AUTH_ALGO}"
        )));
    }
    let sent_at = unix_seconds(time)
        .ok_or_else(|| malformed(format!("{TRANSMISSION_TIME} '{time}' is not RFC 3339")))?;
    let signature = base64_decode(sig, false)
        .ok_or_else(|| malformed(format!("{TRANSMISSION_SIG} is not base64")))?;
    Ok(Transmission {
        id,
        time,
        sent_at,
        signature,
    })
}

/// A [`WebhookError::MalformedSignature`].
fn malformed(reason: String) -> WebhookError {
    WebhookError::MalformedSignature(reason)
}

/// Refuses a certificate URL that is not `https` on `paypal.com` or one of its subdomains
/// (without credentials or a port other than 443): a transmission naming another host did not
/// come from PayPal, whatever it is signed with.
pub fn check_cert_url(url: &str) -> Result<(), String> {
    let refused = || format!("{CERT_URL} '{url}' is not an https URL on a paypal.com host");
    let parsed = reqwest::Url::parse(url).map_err(|_| refused())?;
    let host = parsed
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default();
    let on_paypal = host == "paypal.com" || host.ends_with(".paypal.com");
    let plain = parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.port().is_none_or(|port| port == 443);
    if parsed.scheme() == "https" && on_paypal && plain {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The RSA public key (PKCS#1 `RSAPublicKey`, as *ring* takes it) of the first certificate in
/// `pem`, if it is an RSA certificate valid at `now`. Anything else is skipped with a warning:
/// one unusable secret must not stop the others from verifying.
fn trusted_key(pem: &str, now: i64) -> Option<Vec<u8>> {
    let parsed = pem_certificate(pem)
        .ok_or("not a PEM certificate")
        .and_then(|der| parse_certificate(&der));
    match parsed {
        Ok(cert) if cert.not_before <= now && now <= cert.not_after => Some(cert.rsa_public_key),
        Ok(_) => {
            tracing::warn!("a PayPal webhook certificate is outside its validity period");
            None
        }
        Err(reason) => {
            tracing::warn!(
                reason,
                "a PayPal webhook secret is not a usable certificate"
            );
            None
        }
    }
}

/// The DER bytes of the first `CERTIFICATE` block of a PEM text.
fn pem_certificate(pem: &str) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN)? + BEGIN.len();
    let end = start + pem[start..].find(END)?;
    base64_decode(&pem[start..end], true)
}

/// What verification needs of a certificate.
struct Certificate {
    rsa_public_key: Vec<u8>,
    not_before: i64,
    not_after: i64,
}

/// Reads an X.509 certificate far enough to find its validity and its RSA key:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, … }, … }`.
fn parse_certificate(der: &[u8]) -> Result<Certificate, &'static str> {
    let bad = "not an X.509 certificate";
    let (certificate, _) = expect(der, 0x30).ok_or(bad)?;
    let (tbs, _) = expect(certificate, 0x30).ok_or(bad)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest).ok_or(bad)?.2;
    }
    let (_serial, rest) = expect(rest, 0x02).ok_or(bad)?;
    let (_signature, rest) = expect(rest, 0x30).ok_or(bad)?;
    let (_issuer, rest) = expect(rest, 0x30).ok_or(bad)?;
    let (validity, rest) = expect(rest, 0x30).ok_or(bad)?;
    let (_subject, rest) = expect(rest, 0x30).ok_or(bad)?;
    let (spki, _) = expect(rest, 0x30).ok_or(bad)?;
    let (not_before, validity) = der_time(validity).ok_or("unreadable validity")?;
    let (not_after, _) = der_time(validity).ok_or("unreadable validity")?;
    let (algorithm, key) = expect(spki, 0x30).ok_or(bad)?;
    let (oid, _) = expect(algorithm, 0x06).ok_or(bad)?;
    if oid != RSA_ENCRYPTION {
        return Err("not an RSA certificate (PayPal signs with SHA256withRSA)");
    }
    let (bits, _) = expect(key, 0x03).ok_or(bad)?;
    match bits.split_first() {
        Some((0, rsa_public_key)) => Ok(Certificate {
            rsa_public_key: rsa_public_key.to_vec(),
            not_before,
            not_after,
        }),
        _ => Err(bad),
    }
}

/// One DER element: `(tag, contents, what follows)`. Definite lengths of up to four bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The contents of the element at the start of `input` if its tag is `tag`, and what follows.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = tlv(input)?;
    (found == tag).then_some((contents, rest))
}

/// A `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`)
/// element, in Unix seconds, and what follows.
fn der_time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, contents, rest) = tlv(input)?;
    let text = std::str::from_utf8(contents).ok()?;
    let digits = text.strip_suffix('Z')?;
    let (year, digits) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { digits.get(i..i + 2)?.parse().ok() };
    let seconds = civil_seconds(year, field(0)?, field(2)?, field(4)?, field(6)?, field(8)?)?;
    Some((seconds, rest))
}

/// An RFC 3339 timestamp (`2019-05-21T17:44:50Z`, `2018-08-15T12:13:29-07:00`, fractions
/// allowed and dropped) in Unix seconds.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let local = civil_seconds(
        number(0..4)?,
        number(5..7)?,
        number(8..10)?,
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
    )?;
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let hours: i64 = rest[1..3].parse().ok()?;
            let minutes: i64 = rest[4..6].parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(local - offset)
}

/// Seconds since the Unix epoch of a UTC calendar time (proleptic Gregorian), or `None` if a
/// field is out of range. Leap seconds (`:60`) count as the next second.
fn civil_seconds(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let in_month = usize::try_from(month - 1)
        .ok()
        .and_then(|i| month_days.get(i))?;
    if !(1..=*in_month).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding. With `skip_whitespace` (PEM bodies), ASCII whitespace is
/// ignored; otherwise any character outside the alphabet is refused.
pub(crate) fn base64_decode(text: &str, skip_whitespace: bool) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text
        .bytes()
        .filter(|b| !(skip_whitespace && b.is_ascii_whitespace()))
        .collect();
    if symbols.is_empty() || !symbols.len().is_multiple_of(4) {
        return None;
    }
    let padding = symbols.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    let data = &symbols[..symbols.len() - padding];
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &symbol in data {
        let value = BASE64.iter().position(|&b| b == symbol)?;
        buffer = (buffer << 6) | u32::try_from(value).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    // Leftover bits must be zero, or two encodings would decode alike.
    (buffer & ((1 << bits) - 1) == 0).then_some(out)
}

/// Standard base64 with padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(BASE64[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reads a PayPal webhook event (already verified: see [`verify`]) into a [`PaymentEvent`].
///
/// The envelope needs `id`, `event_type`, `create_time` and a `resource` object; an event type
/// Bursar acts on also needs the fields it uses ([`WebhookError::BadPayload`] otherwise). Other
/// types are [`PaymentEventKind::Other`]. The Bursar order comes from the `custom_id` Bursar set
/// on the purchase unit (captures and orders) or the disputed transaction's `custom`.
pub fn parse_event(body: &[u8]) -> Result<PaymentEvent, WebhookError> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::BadPayload(format!("not JSON: {e}")))?;
    let field = |key: &str| {
        str_of(&event, key)
            .map(str::to_owned)
            .ok_or_else(|| WebhookError::BadPayload(format!("'{key}' is missing")))
    };
    let id = field("id")?;
    let event_type = field("event_type")?;
    let create_time = field("create_time")?;
    let created = unix_seconds(&create_time).ok_or_else(|| {
        WebhookError::BadPayload(format!("create_time '{create_time}' is not RFC 3339"))
    })?;
    let resource = event
        .get("resource")
        .filter(|r| r.is_object())
        .ok_or_else(|| WebhookError::BadPayload("'resource' is missing".into()))?;
    let (kind, order_id) = event_kind(&event_type, resource)
        .map_err(|e| WebhookError::BadPayload(format!("{event_type} {id}: {e}")))?;
    Ok(PaymentEvent {
        provider_event_id: id,
        provider_event_type: event_type,
        created,
        order_id,
        kind,
    })
}

/// The kind of an event and the Bursar order it names.
fn event_kind(
    event_type: &str,
    resource: &Value,
) -> Result<(PaymentEventKind, Option<String>), String> {
    Ok(match event_type {
        "CHECKOUT.ORDER.APPROVED" => order_approved(resource)?,
        "PAYMENT.CAPTURE.COMPLETED" => (capture_completed(resource)?, custom_id(resource)),
        "PAYMENT.CAPTURE.PENDING" => (
            PaymentEventKind::PaymentProcessing {
                payment_id: required(resource, "id")?,
            },
            custom_id(resource),
        ),
        "PAYMENT.CAPTURE.DENIED" | "PAYMENT.CAPTURE.DECLINED" => {
            (capture_failed(resource)?, custom_id(resource))
        }
        "PAYMENT.CAPTURE.REFUNDED" => (refunded(resource)?, None),
        "CUSTOMER.DISPUTE.CREATED" | "CUSTOMER.DISPUTE.RESOLVED" => dispute(event_type, resource)?,
        "VAULT.PAYMENT-TOKEN.CREATED" => (token_created(resource)?, None),
        _ => (PaymentEventKind::Other, None),
    })
}

/// The string at `key` of an event's resource, or why it is missing.
fn required(value: &Value, key: &str) -> Result<String, String> {
    str_of(value, key)
        .map(str::to_owned)
        .ok_or_else(|| format!("'{key}' is missing or not a string"))
}

/// The `custom_id` Bursar set (the order on purchase units and captures).
fn custom_id(value: &Value) -> Option<String> {
    str_of(value, "custom_id").map(str::to_owned)
}

/// The buyer approved the order; it still has to be captured, so it is not paid.
fn order_approved(order: &Value) -> Result<(PaymentEventKind, Option<String>), String> {
    let unit = order
        .get("purchase_units")
        .and_then(|units| units.get(0))
        .ok_or("'purchase_units' is empty")?;
    let (amount, currency) = money_of(unit, "amount")?;
    let payment_id = unit
        .pointer("/payments/captures/0/id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = PaymentEventKind::CheckoutCompleted {
        session_id: required(order, "id")?,
        payment_id,
        paid: false,
        amount,
        currency,
        provider_customer: order
            .pointer("/payment_source/paypal/attributes/vault/customer/id")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    Ok((kind, custom_id(unit)))
}

/// A completed capture; PayPal's fee when the breakdown gives it in the capture's currency.
fn capture_completed(capture: &Value) -> Result<PaymentEventKind, String> {
    let (amount, currency) = money_of(capture, "amount")?;
    let fee = capture
        .get("seller_receivable_breakdown")
        .and_then(|breakdown| money_of(breakdown, "paypal_fee").ok())
        .filter(|(_, fee_currency)| *fee_currency == currency)
        .map(|(fee, _)| fee);
    Ok(PaymentEventKind::PaymentSucceeded {
        payment_id: required(capture, "id")?,
        amount,
        currency,
        fee,
        payment_method: None,
        provider_customer: None,
    })
}

/// A denied or declined capture: a decline PayPal gives no class for, so a soft one.
fn capture_failed(capture: &Value) -> Result<PaymentEventKind, String> {
    Ok(PaymentEventKind::PaymentFailed {
        payment_id: required(capture, "id")?,
        code: Some(str_of(capture, "status").unwrap_or("DECLINED").to_owned()),
        message: capture
            .pointer("/status_details/reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        decline_code: capture
            .pointer("/processor_response/response_code")
            .and_then(Value::as_str)
            .map(str::to_owned),
        decline_class: Some(DeclineClass::Soft),
        card: None,
    })
}

/// A refund of a capture. The capture is the refund's `up` link; Bursar's refund id is the
/// `custom_id` Bursar set on the refund (an `rf_…` id: a refund made elsewhere has none).
fn refunded(refund: &Value) -> Result<PaymentEventKind, String> {
    let (amount, currency) = money_of(refund, "amount")?;
    Ok(PaymentEventKind::Refund {
        refund_id: required(refund, "id")?,
        payment_id: capture_of_refund(refund),
        amount,
        currency,
        status: refund_status(str_of(refund, "status")),
        bursar_refund_id: custom_id(refund).filter(|id| id.starts_with("rf_")),
    })
}

/// A dispute opened or resolved, about its first disputed transaction.
fn dispute(
    event_type: &str,
    dispute: &Value,
) -> Result<(PaymentEventKind, Option<String>), String> {
    let transaction = dispute.pointer("/disputed_transactions/0");
    let payment_id = transaction
        .and_then(|t| str_of(t, "seller_transaction_id"))
        .map(str::to_owned);
    let order_id = transaction
        .and_then(|t| str_of(t, "custom"))
        .map(str::to_owned);
    let dispute_id = required(dispute, "dispute_id")?;
    let (amount, currency) = money_of(dispute, "dispute_amount")?;
    let kind = if event_type == "CUSTOMER.DISPUTE.CREATED" {
        PaymentEventKind::DisputeOpened {
            dispute_id,
            payment_id,
            amount,
            currency,
            reason: str_of(dispute, "reason").map(str::to_owned),
            fee: None,
        }
    } else {
        let outcome = dispute
            .pointer("/dispute_outcome/outcome_code")
            .and_then(Value::as_str);
        PaymentEventKind::DisputeClosed {
            dispute_id,
            payment_id,
            amount,
            currency,
            won: seller_kept_the_money(outcome),
        }
    };
    Ok((kind, order_id))
}

/// Whether a dispute outcome leaves the money with the seller: resolved in the seller's favour,
/// cancelled by the buyer, or the claim denied. Everything else (the buyer's favour, the seller
/// accepting the claim, a payout, no outcome) counts as lost.
pub fn seller_kept_the_money(outcome_code: Option<&str>) -> bool {
    matches!(
        outcome_code,
        Some("RESOLVED_SELLER_FAVOUR" | "CANCELED_BY_BUYER" | "DENIED")
    )
}

/// A payment token saved in PayPal's vault (after a setup token was approved and confirmed).
/// The Bursar customer is the `merchant_customer_id` Bursar set on the setup token.
fn token_created(token: &Value) -> Result<PaymentEventKind, String> {
    let id = required(token, "id")?;
    Ok(PaymentEventKind::PaymentMethodSaved {
        setup_id: token
            .pointer("/metadata/setup_token_id")
            .and_then(Value::as_str)
            .map_or_else(|| id.clone(), str::to_owned),
        payment_method: id,
        provider_customer: token
            .pointer("/customer/id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        customer_id: token
            .pointer("/customer/merchant_customer_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dispute_is_won_when_the_money_stays_with_the_seller() {
        for (outcome, won) in [
            (Some("RESOLVED_SELLER_FAVOUR"), true),
            (Some("CANCELED_BY_BUYER"), true),
            (Some("DENIED"), true),
            (Some("RESOLVED_BUYER_FAVOUR"), false),
            (Some("ACCEPTED"), false),
            (Some("RESOLVED_WITH_PAYOUT"), false),
            (Some("NONE"), false),
            (None, false),
        ] {
            assert_eq!(seller_kept_the_money(outcome), won, "{outcome:?}");
        }
    }

    #[test]
    fn certificate_urls_must_be_https_on_paypal() {
        for ok in [
            "https://api-m.paypal.com/v1/notifications/certs/CERT-8e5f2b1c-4a7d0e93-6c1f8a20",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
            "https://paypal.com/c",
            "https://API.PAYPAL.COM:443/c",
        ] {
            assert!(check_cert_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://api.paypal.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com.example/c",
            "https://evilpaypal.com/c",
            "https://paypal.com@evil.example/c",
            "https://user@api.paypal.com/c",
            "https://api.paypal.com:8443/c",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_cert_url(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn rfc3339_times_and_base64_are_read_exactly() {
        for (text, seconds) in [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2021-10-17T05:05:04Z", Some(1_634_447_104)),
            ("2021-10-17T05:05:03.389Z", Some(1_634_447_103)),
            ("2018-08-15T12:13:29-07:00", Some(1_534_360_409)),
            ("2000-02-29T00:00:00+01:00", Some(951_778_800)),
            ("2001-02-29T00:00:00Z", None),
            ("2021-13-01T00:00:00Z", None),
            ("2021-10-17 05:05:04", None),
            ("2021-10-17T05:05:04+0700", None),
            ("2021-10-17T05:05:04.Z", None),
            ("2022-08-26T18:25:57.449PDT", None),
        ] {
            assert_eq!(unix_seconds(text), seconds, "{text}");
        }
        for bytes in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0, 255, 128, 7],
        ] {
            let text = base64_encode(bytes);
            if !bytes.is_empty() {
                assert_eq!(base64_decode(&text, false).as_deref(), Some(bytes));
            }
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        for refused in ["Zm8", "Zm9=", "Z===", "Zm 8=", "Zm8=Zm8=", ""] {
            assert_eq!(base64_decode(refused, false), None, "{refused}");
        }
        assert_eq!(
            base64_decode("Zm9v\nYmFy\n", true).as_deref(),
            Some(&b"foobar"[..])
        );
    }

    #[test]
    fn certificates_are_read_for_their_rsa_key_and_validity() {
        let pem = &bursar_testkit::pki::pki().cert;
        let cert = parse_certificate(&pem_certificate(pem).unwrap()).unwrap();
        // 2000-01-01T00:00:00Z (a UTCTime) to 2099-12-31T23:59:59Z (a GeneralizedTime).
        assert_eq!(
            (cert.not_before, cert.not_after),
            (946_684_800, 4_102_444_799)
        );
        assert_eq!(cert.rsa_public_key[0], 0x30, "an RSAPublicKey SEQUENCE");
        assert!(trusted_key(pem, 946_684_800).is_some());
        assert!(trusted_key(pem, 946_684_799).is_none());
        assert!(trusted_key(pem, 4_102_444_800).is_none());
        assert!(parse_certificate(b"\x30\x03\x02\x01\x01").is_err());
        let garbled = "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----";
        assert!(pem_certificate(garbled).is_none());
    }
}
