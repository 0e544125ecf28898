//! The USPS adapter against USPS's published payloads (`shared/data/couriers/`): the token and
//! tracking requests it builds, every field of the answers it reads, each error shape, its
//! event-code table, and the signed push notifications.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use bursar_couriers::usps::{self, Usps};
use bursar_couriers::*;

const DETAIL: &[u8] = include_bytes!("fixtures/usps-tracking-v3-detail.json");
const ERROR_SHAPE: &[u8] = include_bytes!("fixtures/usps-error-shape.json");
const OAUTH_ERROR: &[u8] = include_bytes!("fixtures/usps-oauth-error.json");

const NUMBER: &str = "9400109104250532908587";

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> ProviderResponse {
    ProviderResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        body: body.to_vec(),
    }
}

fn credentials() -> Credentials {
    Credentials {
        api_base: "https://apis.usps.com".to_owned(),
        key: Some("client-id-1".to_owned()),
        secret: Some("client-secret-1".to_owned()),
        ..Credentials::default()
    }
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).unwrap()
}

// ---- OAuth2 -----------------------------------------------------------------------------------

#[test]
fn the_token_request_posts_the_client_credentials() {
    let request = Usps.token_request(&credentials()).unwrap();
    assert_eq!(request.operation, "oauth.token");
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.url, "https://apis.usps.com/oauth2/v3/token");
    assert_eq!(
        request.form,
        Some(vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), "client-id-1".to_owned()),
            ("client_secret".to_owned(), "client-secret-1".to_owned()),
        ])
    );
    assert!(request.json.is_none());
    assert!(request.idempotency_key.is_none());
}

#[test]
fn token_answers_are_read() {
    /// An answer, and the token and lifetime (seconds) read from it, or the error.
    type Case = (ProviderResponse, Result<(&'static str, u64), CourierError>);
    let cases: Vec<Case> = vec![
        (
            response(
                200,
                &[],
                br#"{"access_token": "tok-1", "token_type": "Bearer", "expires_in": 28799, "scope": "tracking"}"#,
            ),
            Ok(("tok-1", 28_799)),
        ),
        (
            response(200, &[], br#"{"access_token": "tok-2", "expires_in": "900"}"#),
            Ok(("tok-2", 900)),
        ),
        // No lifetime given: an hour, short of USPS's usual eight.
        (
            response(200, &[], br#"{"access_token": "tok-3"}"#),
            Ok(("tok-3", 3_600)),
        ),
        (
            response(401, &[], OAUTH_ERROR),
            Err(CourierError::Unauthorized("Client authentication failed.".to_owned())),
        ),
        // `invalid_client` refuses the credentials whatever the status.
        (
            response(400, &[], OAUTH_ERROR),
            Err(CourierError::Unauthorized("Client authentication failed.".to_owned())),
        ),
        (
            response(
                400,
                &[],
                br#"{"error": "unsupported_grant_type", "error_description": "Grant type is not supported."}"#,
            ),
            Err(CourierError::Refused {
                status: 400,
                code: "unsupported_grant_type".to_owned(),
                message: "Grant type is not supported.".to_owned(),
            }),
        ),
        (
            response(429, &[("retry-after", "17")], ERROR_SHAPE),
            Err(CourierError::RateLimited {
                retry_after: Duration::from_secs(17),
            }),
        ),
        (
            response(500, &[], b""),
            Err(CourierError::Unavailable("USPS answered 500".to_owned())),
        ),
    ];
    for (answer, want) in cases {
        let got = Usps.parse_token(&answer);
        let got = got.map(|t| (t.token, t.expires_in));
        let want = want.map(|(token, secs)| (token.to_owned(), Duration::from_secs(secs)));
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&answer.body));
    }
    let no_token = Usps.parse_token(&response(200, &[], br#"{"token_type": "Bearer"}"#));
    assert!(
        matches!(no_token, Err(CourierError::BadResponse(_))),
        "{no_token:?}"
    );
}

// ---- tracking ---------------------------------------------------------------------------------

#[test]
fn the_tracking_request_carries_the_bearer_token() {
    let request = Usps.tracking_request(&credentials(), Some("tok-1"), NUMBER);
    assert_eq!(request.operation, "tracking.get");
    assert_eq!(request.method, Method::GET);
    assert_eq!(
        request.url,
        "https://apis.usps.com/tracking/v3/tracking/9400109104250532908587?expand=DETAIL"
    );
    assert_eq!(
        request.headers,
        vec![
            ("Authorization".to_owned(), "Bearer tok-1".to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ]
    );
    assert!(request.form.is_none());
    assert!(request.json.is_none());
}

#[test]
fn uspss_sample_answer_is_read_field_by_field() {
    let tracking = Usps
        .parse_tracking(NUMBER, &response(200, &[], DETAIL))
        .unwrap();
    assert_eq!(tracking.tracking_number, NUMBER);
    assert_eq!(tracking.estimated_delivery, None);
    use TrackingStatus as S;
    let expected = [
        (
            "01",
            "Delivered, Parcel Locker",
            "2024-11-22T18:58:40Z",
            Some("HERNANDO, FL 34442"),
            S::Delivered,
        ),
        (
            "OF",
            "Out for Delivery",
            "2024-11-22T14:10:45Z",
            Some("HERNANDO, FL 34442"),
            S::OutForDelivery,
        ),
        (
            "07",
            "Arrived at Post Office",
            "2024-11-22T13:59:45Z",
            Some("LECANTO, FL 34461"),
            S::InTransit,
        ),
        (
            "TL",
            "In Transit to Next Facility",
            "2024-11-20T06:11:52Z",
            None,
            S::InTransit,
        ),
        (
            "SF",
            "Departed Post Office",
            "2024-11-18T22:01:35Z",
            Some("JAMAICA, NY 11430"),
            S::InTransit,
        ),
        (
            "03",
            "USPS in possession of item",
            "2024-11-18T16:10:31Z",
            Some("JAMAICA, NY 11430"),
            S::InTransit,
        ),
        (
            "GX",
            "Shipping Label Created, USPS Awaiting Item",
            "2024-11-15T16:32:33Z",
            Some("SPRINGFIELD GARDENS, NY 11413"),
            S::PreTransit,
        ),
    ];
    assert_eq!(tracking.events.len(), expected.len());
    for (event, (code, description, occurred_at, location, status)) in
        tracking.events.iter().zip(expected)
    {
        assert_eq!(event.code, code);
        assert_eq!(event.description, description, "{code}");
        assert_eq!(event.occurred_at, at(occurred_at), "{code}");
        assert_eq!(event.occurred_at.to_rfc3339(), occurred_at, "{code}");
        assert_eq!(event.utc_offset.as_deref(), Some("-05:00"), "{code}");
        assert_eq!(event.location.as_deref(), location, "{code}");
        assert_eq!(event.status, status, "{code}");
    }
}

#[test]
fn the_expected_delivery_and_odd_events_are_read() {
    let body = br#"{"trackingNumber": "9400100000000000000000",
        "expectedDeliveryTimeStamp": "2026-03-08T21:00:00Z",
        "trackingEvents": [
          {"eventType": "Arrived at USPS Regional Facility", "eventCode": "U1",
           "eventTimestamp": "2026-03-06T02:19:00", "GMTTimestamp": "2026-03-06T10:19:00",
           "GMTOffset": "-8:00", "eventCity": "SAN DIEGO CA NETWORK DISTRIBUTION CENTER"},
          {"eventType": "Departed", "eventTimestamp": "2026-03-05T20:00:00", "GMTOffset": "-08:00",
           "eventCountry": "US", "eventState": "CA"},
          {"eventType": "Moved to a new kind of van", "eventCode": "Q9",
           "GMTTimestamp": "2026-03-05T01:00:00Z"}
        ]}"#;
    let tracking = Usps
        .parse_tracking("9400100000000000000000", &response(200, &[], body))
        .unwrap();
    assert_eq!(
        tracking.estimated_delivery,
        Some(at("2026-03-08T21:00:00Z"))
    );
    let [first, second, third] = tracking.events.as_slice() else {
        panic!("three events expected: {:?}", tracking.events);
    };
    // A GMT time without its `Z` is still GMT; the offset gains its leading zero.
    assert_eq!(first.occurred_at, at("2026-03-06T10:19:00Z"));
    assert_eq!(first.utc_offset.as_deref(), Some("-08:00"));
    assert_eq!(
        first.location.as_deref(),
        Some("SAN DIEGO CA NETWORK DISTRIBUTION CENTER")
    );
    assert_eq!(first.status, TrackingStatus::InTransit);
    // No GMT time: the local time at its offset. No code: the words stand in, unknown.
    assert_eq!(second.occurred_at, at("2026-03-06T04:00:00Z"));
    assert_eq!(second.code, "Departed");
    assert_eq!(second.status, TrackingStatus::Unknown);
    assert_eq!(second.location.as_deref(), Some("CA, US"));
    // A code no table knows is kept and unknown.
    assert_eq!(third.code, "Q9");
    assert_eq!(third.utc_offset, None);
    assert_eq!(third.status, TrackingStatus::Unknown);
}

#[test]
fn each_error_shape_is_the_right_courier_error() {
    let cases: Vec<(ProviderResponse, CourierError)> = vec![
        (
            response(404, &[], ERROR_SHAPE),
            CourierError::NotFound("string".to_owned()),
        ),
        (response(404, &[], b""), CourierError::NotFound(NUMBER.to_owned())),
        (
            response(401, &[("www-authenticate", "Bearer")], ERROR_SHAPE),
            CourierError::Unauthorized("string".to_owned()),
        ),
        (
            response(403, &[], ERROR_SHAPE),
            CourierError::Unauthorized("string".to_owned()),
        ),
        (
            response(429, &[("retry-after", "17")], ERROR_SHAPE),
            CourierError::RateLimited {
                retry_after: Duration::from_secs(17),
            },
        ),
        (
            response(429, &[], b""),
            CourierError::RateLimited {
                retry_after: Duration::from_secs(60),
            },
        ),
        (
            response(400, &[], ERROR_SHAPE),
            CourierError::Refused {
                status: 400,
                code: "string".to_owned(),
                message: "string".to_owned(),
            },
        ),
        (
            response(
                400,
                &[],
                br#"{"apiVersion": "/tracking/v3", "error": {"errors": [{"status": "400", "code": "010", "title": "Bad tracking number", "detail": "The tracking number is not valid."}]}}"#,
            ),
            CourierError::Refused {
                status: 400,
                code: "010".to_owned(),
                message: "The tracking number is not valid.".to_owned(),
            },
        ),
        (
            response(503, &[], ERROR_SHAPE),
            CourierError::Unavailable("string".to_owned()),
        ),
    ];
    for (answer, want) in cases {
        assert_eq!(
            Usps.parse_tracking(NUMBER, &answer),
            Err(want),
            "{}",
            answer.status
        );
    }
    for unreadable in [
        &b"<html/>"[..],
        ERROR_SHAPE,
        br#"{"trackingEvents": [{"eventCode": "01"}]}"#,
    ] {
        let got = Usps.parse_tracking(NUMBER, &response(200, &[], unreadable));
        assert!(matches!(got, Err(CourierError::BadResponse(_))), "{got:?}");
    }
}

#[test]
fn every_code_of_the_event_table() {
    use TrackingStatus as S;
    let rows: &[(&[&str], S)] = &[
        (&["MA", "GX"], S::PreTransit),
        (
            &[
                "03", "OA", "TM", "PA", "06", "07", "08", "10", "15", "19", "41", "42", "71", "80",
                "81", "82", "EF", "L1", "NT", "PC", "SF", "T1", "TL", "U1",
            ],
            S::InTransit,
        ),
        (&["OF", "of", " OF "], S::OutForDelivery),
        (&["14", "16"], S::AvailableForPickup),
        (&["01", "17", "43"], S::Delivered),
        (
            &["02", "30", "51", "52", "53", "54", "55", "56"],
            S::DeliveryFailed,
        ),
        (&["05", "11"], S::Exception),
        (
            &[
                "04", "09", "21", "22", "23", "24", "25", "26", "27", "28", "29", "31",
            ],
            S::ReturnedToSender,
        ),
        (&["DX", "44", "ZZ", "1", "", "Delivered"], S::Unknown),
    ];
    for (codes, want) in rows {
        for code in *codes {
            assert_eq!(usps::status_of(code), *want, "{code:?}");
        }
    }
}

#[test]
fn the_reported_default_quota_is_the_limit() {
    assert_eq!(Usps.carrier(), Carrier::Usps);
    assert_eq!(
        Usps.rate_limit(),
        RateLimit {
            requests: 60,
            per: Duration::from_secs(3_600),
        }
    );
}

// ---- push -------------------------------------------------------------------------------------

/// USPS's signature: Base64 of HMAC-SHA256 over the envelope's `timestamp` then `payload`.
fn sign(secret: &str, timestamp: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(payload.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

const TIMESTAMP: &str = "2024-11-22T19:00:02Z";

fn tracking_payload() -> String {
    serde_json::json!({
        "trackingNumber": NUMBER,
        "status": "Delivered, Parcel Locker",
        "statusCategory": "Delivered",
        "trackingEvents": [
            {"eventType": "Delivered, Parcel Locker", "eventTimestamp": "2024-11-22T13:58:00",
             "GMTTimestamp": "2024-11-22T18:58:40Z", "GMTOffset": "-05:00", "eventCountry": null,
             "eventCity": "HERNANDO", "eventState": "FL", "eventZIP": "34442", "eventCode": "01"},
            {"eventType": "Out for Delivery", "eventTimestamp": "2024-11-22T09:10:00",
             "GMTTimestamp": "2024-11-22T14:10:45Z", "GMTOffset": "-05:00",
             "eventCity": "HERNANDO", "eventState": "FL", "eventZIP": "34442", "eventCode": "OF"}
        ]
    })
    .to_string()
}

fn envelope(timestamp: &str, payload: &str) -> Vec<u8> {
    serde_json::json!({
        "subscriptionId": "a1b2c3d4-0000-0000-0000-000000000000",
        "subscriptionType": "TRACKING",
        "timestamp": timestamp,
        "payload": payload,
        "links": [{"rel": "self", "href": "https://apis.usps.com/subscriptions-tracking/v3/subscriptions/a1b2c3d4"}]
    })
    .to_string()
    .into_bytes()
}

fn signed_with(name: &str, signature: String) -> Headers {
    Headers::from([
        (name.to_owned(), signature),
        ("content-type".to_owned(), "application/json".to_owned()),
    ])
}

fn secrets() -> Vec<String> {
    vec![
        "old-secret-0123456789abcdef012345".to_owned(),
        "new-secret-0123456789abcdef012345".to_owned(),
    ]
}

#[test]
fn a_signed_notification_is_read_field_by_field() {
    let payload = tracking_payload();
    let body = envelope(TIMESTAMP, &payload);
    // The newer of two secrets signed it (rotation), under the current header name.
    let headers = signed_with("x-hmac", sign(&secrets()[1], TIMESTAMP, &payload));
    let pushed = Usps.parse_push(&headers, &body, &secrets()).unwrap();
    assert_eq!(
        pushed,
        vec![Tracking {
            tracking_number: NUMBER.to_owned(),
            events: vec![
                CarrierEvent {
                    code: "01".to_owned(),
                    description: "Delivered, Parcel Locker".to_owned(),
                    occurred_at: at("2024-11-22T18:58:40Z"),
                    utc_offset: Some("-05:00".to_owned()),
                    location: Some("HERNANDO, FL 34442".to_owned()),
                    status: TrackingStatus::Delivered,
                },
                CarrierEvent {
                    code: "OF".to_owned(),
                    description: "Out for Delivery".to_owned(),
                    occurred_at: at("2024-11-22T14:10:45Z"),
                    utc_offset: Some("-05:00".to_owned()),
                    location: Some("HERNANDO, FL 34442".to_owned()),
                    status: TrackingStatus::OutForDelivery,
                },
            ],
            estimated_delivery: None,
        }]
    );

    // The header's deprecated name is still read.
    let legacy = signed_with("hmac-header", sign(&secrets()[0], TIMESTAMP, &payload));
    assert_eq!(Usps.parse_push(&legacy, &body, &secrets()).unwrap(), pushed);
}

#[test]
fn a_scan_extract_notification_is_one_event() {
    let payload = serde_json::json!({
        "trackingNumber": NUMBER, "eventCode": "16", "eventType": "Available for Pickup",
        "GMTTimestamp": "2024-11-21T15:00:00Z", "GMTOffset": "-05:00",
        "eventCity": "LECANTO", "eventState": "FL", "eventZIP": "34461"
    })
    .to_string();
    let headers = signed_with("x-hmac", sign(&secrets()[0], TIMESTAMP, &payload));
    let pushed = Usps
        .parse_push(&headers, &envelope(TIMESTAMP, &payload), &secrets())
        .unwrap();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].tracking_number, NUMBER);
    let [event] = pushed[0].events.as_slice() else {
        panic!("one event expected: {pushed:?}");
    };
    assert_eq!(event.code, "16");
    assert_eq!(event.status, TrackingStatus::AvailableForPickup);
    assert_eq!(event.location.as_deref(), Some("LECANTO, FL 34461"));
    assert_eq!(event.occurred_at, at("2024-11-21T15:00:00Z"));
}

#[test]
fn unsigned_forged_and_tampered_notifications_are_refused() {
    let payload = tracking_payload();
    let body = envelope(TIMESTAMP, &payload);
    let good = sign(&secrets()[0], TIMESTAMP, &payload);
    let tampered_payload = String::from_utf8(body.clone())
        .unwrap()
        .replace("HERNANDO", "ELSEWHERE")
        .into_bytes();
    assert_ne!(tampered_payload, body);
    let keys = secrets();
    let none: Vec<String> = Vec::new();
    let empty = vec![String::new()];
    /// What is wrong, the headers, the body, the secrets, and the refusal.
    type Case<'a> = (&'a str, Headers, Vec<u8>, &'a [String], PushError);
    let cases: Vec<Case> = vec![
        (
            "no header",
            Headers::from([("content-type".to_owned(), "application/json".to_owned())]),
            body.clone(),
            &keys,
            PushError::MissingSignature,
        ),
        (
            "a blank header",
            signed_with("x-hmac", "  ".to_owned()),
            body.clone(),
            &keys,
            PushError::MissingSignature,
        ),
        (
            "signed with another key",
            signed_with(
                "x-hmac",
                sign("a-guess-0123456789abcdef0123456", TIMESTAMP, &payload),
            ),
            body.clone(),
            &keys,
            PushError::BadSignature,
        ),
        (
            "a tampered payload",
            signed_with("x-hmac", good.clone()),
            tampered_payload,
            &keys,
            PushError::BadSignature,
        ),
        (
            "a tampered timestamp",
            signed_with("x-hmac", good.clone()),
            envelope("2024-11-23T19:00:02Z", &payload),
            &keys,
            PushError::BadSignature,
        ),
        (
            "the raw body signed instead of timestamp + payload",
            signed_with("x-hmac", {
                let mut mac = Hmac::<Sha256>::new_from_slice(secrets()[0].as_bytes()).unwrap();
                mac.update(&body);
                BASE64.encode(mac.finalize().into_bytes())
            }),
            body.clone(),
            &keys,
            PushError::BadSignature,
        ),
        (
            "hex instead of Base64",
            signed_with("x-hmac", hex::encode(BASE64.decode(&good).unwrap())),
            body.clone(),
            &keys,
            PushError::BadSignature,
        ),
        (
            "not an envelope",
            signed_with("x-hmac", good.clone()),
            payload.clone().into_bytes(),
            &keys,
            PushError::BadSignature,
        ),
        (
            "no secrets",
            signed_with("x-hmac", good.clone()),
            body.clone(),
            &none,
            PushError::BadSignature,
        ),
        (
            "an empty secret",
            signed_with("x-hmac", sign("", TIMESTAMP, &payload)),
            body.clone(),
            &empty,
            PushError::BadSignature,
        ),
    ];
    for (case, headers, body, secrets, want) in cases {
        assert_eq!(
            Usps.parse_push(&headers, &body, secrets),
            Err(want),
            "{case}"
        );
    }
}

#[test]
fn a_signed_notification_that_is_no_tracking_is_a_bad_payload() {
    for payload in [
        r#"{"trackingNumber": "9400"}"#,
        r#"{"trackingEvents": []}"#,
        "not json",
    ] {
        let headers = signed_with("x-hmac", sign(&secrets()[0], TIMESTAMP, payload));
        let got = Usps.parse_push(&headers, &envelope(TIMESTAMP, payload), &secrets());
        assert!(
            matches!(got, Err(PushError::BadPayload(_))),
            "{payload}: {got:?}"
        );
    }
}
