//! Webhook verification, with a throwaway test certificate and key (not PayPal's).

use super::*;
use bursar_testkit::pki::pki;

const BODY: &str = data!("event-payment-capture-completed.json");
const TRANSMISSION: &str = "6f1d2c80-fe4b-11ef-9b1c-0242ac120004";
const SENT: &str = "2025-03-11T09:16:42Z";
const SENT_AT: i64 = 1_741_684_602;
/// What PayPal signs for the fixture's transmission (939820586: the CRC32 of
/// `event-payment-capture-completed.json`, by Python's `zlib.crc32`).
const SIGNED_MESSAGE: &str =
    "6f1d2c80-fe4b-11ef-9b1c-0242ac120004|2025-03-11T09:16:42Z|3RW84501UK2297154|939820586";

/// The trusted certificate: the test key's.
pub(super) fn cert() -> &'static str {
    &pki().cert
}

/// A certificate that signed nothing.
fn other_cert() -> &'static str {
    &pki().other_cert
}

/// `openssl dgst -sha256 -sign` of the fixture's transmission with the test key: made by an
/// implementation other than the code under test.
fn openssl_signature() -> String {
    pki().openssl_signature(SIGNED_MESSAGE)
}

/// Signs like PayPal, with the test key.
fn sign(transmission_id: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    let pem = &pki().key;
    let start = pem.find("-----BEGIN PRIVATE KEY-----").unwrap() + 27;
    let end = pem.find("-----END PRIVATE KEY-----").unwrap();
    let der = webhook::base64_decode(&pem[start..end], true).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let mut signature = vec![0; key.public().modulus_len()];
    let message = signed_message(transmission_id, time, webhook_id, body);
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .unwrap();
    webhook::base64_encode(&signature)
}

/// The five headers of a transmission, with PayPal's certificate URL and algorithm.
pub(super) fn headers(transmission_id: &str, time: &str, signature: &str) -> Headers {
    Headers::from([
        (TRANSMISSION_ID.to_owned(), transmission_id.to_owned()),
        (TRANSMISSION_TIME.to_owned(), time.to_owned()),
        (TRANSMISSION_SIG.to_owned(), signature.to_owned()),
        (
            CERT_URL.to_owned(),
            "https://api-m.paypal.com/v1/notifications/certs/CERT-8e5f2b1c-4a7d0e93-6c1f8a20"
                .to_owned(),
        ),
        (AUTH_ALGO_HEADER.to_owned(), AUTH_ALGO.to_owned()),
    ])
}

/// A provider for the webhook `webhook_id` (it makes no call).
pub(super) fn provider_with_webhook(webhook_id: &str) -> PayPalProvider {
    let mut config = config("http://fake");
    config.webhook_id = webhook_id.into();
    let executor = HttpExecutor::new(
        ExecutorConfig::default(),
        bursar_outbound::Guard::new(bursar_outbound::Policy::default()),
    )
    .unwrap();
    PayPalProvider::new(config, executor)
}

#[test]
fn a_transmission_signed_like_paypal_verifies_and_parses() {
    assert_eq!(
        signed_message(TRANSMISSION, SENT, WEBHOOK_ID, BODY.as_bytes()),
        "6f1d2c80-fe4b-11ef-9b1c-0242ac120004|2025-03-11T09:16:42Z|3RW84501UK2297154|939820586"
    );
    assert_eq!(
        sign(TRANSMISSION, SENT, WEBHOOK_ID, BODY.as_bytes()),
        openssl_signature()
    );
    let provider = provider_with_webhook(WEBHOOK_ID);
    let event = provider
        .parse_webhook(
            &headers(TRANSMISSION, SENT, &openssl_signature()),
            BODY.as_bytes(),
            &[cert().to_owned()],
            SENT_AT + 30,
        )
        .unwrap();
    assert_eq!(
        event.provider_event_id,
        "WH-8BA52041YX316075F-2RJ63458EW907318C"
    );
    // Rotation: any trusted certificate may be the signer; an unusable secret is skipped.
    for secrets in [
        vec![other_cert().to_owned(), cert().to_owned()],
        vec!["not a certificate".to_owned(), cert().to_owned()],
    ] {
        let headers = headers(TRANSMISSION, SENT, &openssl_signature());
        assert!(provider
            .parse_webhook(&headers, BODY.as_bytes(), &secrets, SENT_AT)
            .is_ok());
    }
}

/// What `parse_webhook` of the webhook `webhook_id` says of a transmission it refuses.
fn refusal(
    webhook_id: &str,
    headers: &Headers,
    body: &str,
    certs: &[&str],
    now: i64,
) -> WebhookError {
    let secrets: Vec<String> = certs.iter().map(|c| (*c).to_owned()).collect();
    provider_with_webhook(webhook_id)
        .parse_webhook(headers, body.as_bytes(), &secrets, now)
        .unwrap_err()
}

#[test]
fn a_changed_or_foreign_transmission_is_refused() {
    let now = SENT_AT + 30;
    let genuine = headers(TRANSMISSION, SENT, &openssl_signature());
    let changed = |name: &str, value: &str| {
        let mut headers = genuine.clone();
        headers.insert(name.into(), value.into());
        headers
    };
    let other_id = changed(TRANSMISSION_ID, "7f1d2c80-fe4b-11ef-9b1c-0242ac120004");
    let body = BODY.replace("\"25.00\"", "\"2500.00\"");
    assert_ne!(body, BODY);
    // The certificate is used only while valid (this one: 2000-01-01 to 2099-12-31).
    let in_2100 = "2100-01-01T00:00:10Z";
    let late = headers(
        TRANSMISSION,
        in_2100,
        &sign(TRANSMISSION, in_2100, WEBHOOK_ID, BODY.as_bytes()),
    );
    for (what, refused) in [
        (
            "a changed body",
            refusal(WEBHOOK_ID, &genuine, &body, &[cert()], now),
        ),
        (
            "a changed transmission id",
            refusal(WEBHOOK_ID, &other_id, BODY, &[cert()], now),
        ),
        (
            "another webhook",
            refusal("9XX00000000000000", &genuine, BODY, &[cert()], now),
        ),
        (
            "another certificate",
            refusal(WEBHOOK_ID, &genuine, BODY, &[other_cert()], now),
        ),
        (
            "no certificate",
            refusal(WEBHOOK_ID, &genuine, BODY, &[], now),
        ),
        (
            "an expired certificate",
            refusal(WEBHOOK_ID, &late, BODY, &[cert()], 4_102_444_810),
        ),
    ] {
        assert_eq!(refused, WebhookError::BadSignature, "{what}");
    }
    for (what, header, value) in [
        (
            "a certificate elsewhere",
            CERT_URL,
            "https://paypal.com.evil.example/certs/CERT-1",
        ),
        (
            "a certificate over http",
            CERT_URL,
            "http://api.paypal.com/v1/notifications/certs/C",
        ),
        ("another algorithm", AUTH_ALGO_HEADER, "SHA1withRSA"),
        ("a signature not in base64", TRANSMISSION_SIG, "not base64!"),
        ("a time not in RFC 3339", TRANSMISSION_TIME, "yesterday"),
    ] {
        let refused = refusal(WEBHOOK_ID, &changed(header, value), BODY, &[cert()], now);
        assert!(
            matches!(refused, WebhookError::MalformedSignature(_)),
            "{what}: {refused:?}"
        );
    }
    for name in [
        TRANSMISSION_ID,
        TRANSMISSION_TIME,
        TRANSMISSION_SIG,
        CERT_URL,
        AUTH_ALGO_HEADER,
    ] {
        let mut missing = genuine.clone();
        missing.remove(name);
        let refused = refusal(WEBHOOK_ID, &missing, BODY, &[cert()], now);
        assert_eq!(refused, WebhookError::MissingSignature, "{name}");
    }
}

#[test]
fn a_transmission_outside_five_minutes_of_now_is_expired() {
    let ours = provider_with_webhook(WEBHOOK_ID);
    let genuine = headers(TRANSMISSION, SENT, &openssl_signature());
    let check = |now| ours.parse_webhook(&genuine, BODY.as_bytes(), &[cert().to_owned()], now);
    assert!(check(SENT_AT + 300).is_ok());
    assert!(check(SENT_AT - 300).is_ok());
    assert_eq!(
        check(SENT_AT + 301),
        Err(WebhookError::Expired { age_seconds: 301 })
    );
    assert_eq!(
        check(SENT_AT - 301),
        Err(WebhookError::Expired { age_seconds: -301 })
    );
    // An old transmission signed again for a new time is a new, valid transmission; the old
    // signature cannot be moved to the new time.
    let resent = headers(TRANSMISSION, "2025-03-11T10:16:42Z", &openssl_signature());
    assert_eq!(
        ours.parse_webhook(
            &resent,
            BODY.as_bytes(),
            &[cert().to_owned()],
            SENT_AT + 3600
        ),
        Err(WebhookError::BadSignature)
    );
}
