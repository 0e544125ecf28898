//! The DHL adapter against DHL's published payloads (`shared/data/couriers/`): the request it
//! builds, every field of the answer it reads, each error answer, and its status table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use bursar_couriers::dhl::{self, Dhl};
use bursar_couriers::*;

const TRACKING: &[u8] = include_bytes!("fixtures/dhl-unified-tracking-response.json");
const NOT_FOUND: &[u8] = include_bytes!("fixtures/dhl-unified-tracking-404.json");

const NUMBER: &str = "7777777770";

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
        api_base: "https://api-eu.dhl.com/".to_owned(),
        key: Some("dhl-key-123".to_owned()),
        ..Credentials::default()
    }
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).unwrap()
}

#[test]
fn the_request_asks_for_one_number_with_the_workspace_key() {
    let request = Dhl.tracking_request(&credentials(), None, NUMBER);
    assert_eq!(request.operation, "tracking.get");
    assert_eq!(request.method, Method::GET);
    assert_eq!(
        request.url,
        "https://api-eu.dhl.com/track/shipments?trackingNumber=7777777770"
    );
    assert_eq!(
        request.headers,
        vec![
            ("DHL-API-Key".to_owned(), "dhl-key-123".to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ]
    );
    assert!(request.form.is_none());
    assert!(request.json.is_none());
    assert!(request.idempotency_key.is_none());
    assert!(Dhl.token_request(&credentials()).is_none());

    let odd = Dhl.tracking_request(&credentials(), None, "JD01&service=x");
    assert!(odd.url.ends_with("trackingNumber=JD01%26service%3Dx"));
}

#[test]
fn dhls_sample_answer_is_read_field_by_field() {
    let tracking = Dhl
        .parse_tracking(NUMBER, &response(200, &[], TRACKING))
        .unwrap();
    assert_eq!(tracking.tracking_number, NUMBER);
    assert_eq!(
        tracking.estimated_delivery,
        Some(at("2018-08-03T00:00:00Z"))
    );
    assert_eq!(
        tracking.events,
        vec![CarrierEvent {
            code: "pre-transit".to_owned(),
            description: "JESSICA".to_owned(),
            // DHL gives this one without a zone: read as UTC, no offset kept.
            occurred_at: at("2018-03-02T07:53:47Z"),
            utc_offset: None,
            location: Some("Oderweg 2, AMSTERDAM, NL".to_owned()),
            // The code decides; the sample's "DELIVERED" text does not move it.
            status: TrackingStatus::PreTransit,
        }]
    );
}

/// An answer with two shipments (the asked-for one second) and events in every shape DHL
/// sends: offsets with and without a colon, `Z`, no zone, a missing description, no code.
const MIXED: &str = r#"{"shipments": [
  {"id": "JD014600006281230704", "events": [
    {"timestamp": "2026-01-01T00:00:00Z", "statusCode": "delivered", "description": "Someone else's"}]},
  {"id": "1234567890", "service": "express",
   "estimatedTimeOfDelivery": "2026-06-25T18:00:00+02:00",
   "events": [
    {"timestamp": "2026-06-24T13:04:00+02:00", "statusCode": "transit", "status": "WITH DELIVERY COURIER",
     "description": "Shipment is out with courier for delivery",
     "location": {"address": {"addressLocality": "LEIPZIG - GERMANY", "countryCode": "DE"}}},
    {"timestamp": "2026-06-23T22:10:00-0500", "statusCode": "failure",
     "description": "Delivery attempt failed: recipient not present",
     "location": {"address": {"countryCode": "US"}}},
    {"timestamp": "2026-06-23T08:00:00Z", "statusCode": "failure", "description": "Held by customs"},
    {"timestamp": "2026-06-22T09:30:00", "statusCode": "transit", "status": "PROCESSED AT LEIPZIG"},
    {"timestamp": "2026-06-21T09:30:00.000+01:00", "status": "Shipment information received"}
  ]}
]}"#;

#[test]
fn the_asked_for_shipment_is_read_whatever_its_events_look_like() {
    let tracking = Dhl
        .parse_tracking("1234567890", &response(200, &[], MIXED.as_bytes()))
        .unwrap();
    assert_eq!(tracking.tracking_number, "1234567890");
    assert_eq!(
        tracking.estimated_delivery,
        Some(at("2026-06-25T16:00:00Z"))
    );
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        TrackingStatus,
    );
    let expected: [Row; 5] = [
        (
            "transit",
            "Shipment is out with courier for delivery",
            "2026-06-24T11:04:00Z",
            Some("+02:00"),
            Some("LEIPZIG - GERMANY, DE"),
            TrackingStatus::OutForDelivery,
        ),
        (
            "failure",
            "Delivery attempt failed: recipient not present",
            "2026-06-24T03:10:00Z",
            Some("-05:00"),
            Some("US"),
            TrackingStatus::DeliveryFailed,
        ),
        (
            "failure",
            "Held by customs",
            "2026-06-23T08:00:00Z",
            None,
            None,
            TrackingStatus::Exception,
        ),
        (
            "transit",
            // No description: the status text stands in.
            "PROCESSED AT LEIPZIG",
            "2026-06-22T09:30:00Z",
            None,
            None,
            TrackingStatus::InTransit,
        ),
        (
            // No code: the status text is the code, and no table knows it.
            "Shipment information received",
            "Shipment information received",
            "2026-06-21T08:30:00Z",
            Some("+01:00"),
            None,
            TrackingStatus::Unknown,
        ),
    ];
    assert_eq!(tracking.events.len(), expected.len());
    for (event, (code, description, occurred_at, offset, location, status)) in
        tracking.events.iter().zip(expected)
    {
        assert_eq!(event.code, code);
        assert_eq!(event.description, description, "{code}");
        assert_eq!(event.occurred_at.to_rfc3339(), occurred_at, "{description}");
        assert_eq!(event.utc_offset.as_deref(), offset, "{description}");
        assert_eq!(event.location.as_deref(), location, "{description}");
        assert_eq!(event.status, status, "{description}");
    }
}

#[test]
fn without_a_matching_id_the_first_shipment_is_read() {
    let tracking = Dhl
        .parse_tracking(
            "00340434161094042557",
            &response(200, &[], MIXED.as_bytes()),
        )
        .unwrap();
    assert_eq!(tracking.events.len(), 1);
    assert_eq!(tracking.events[0].status, TrackingStatus::Delivered);
}

#[test]
fn each_error_answer_is_the_right_courier_error() {
    let unauthorized =
        br#"{"status": 401, "title": "Unauthorized", "detail": "Access to the resource is not allowed."}"#;
    let bad_request =
        br#"{"title": "Bad Request", "detail": "Invalid value for parameter service"}"#;
    let bad_timestamp = br#"{"shipments": [{"id": "7777777770", "events": [{"timestamp": "yesterday", "statusCode": "transit"}]}]}"#;
    let cases: Vec<(ProviderResponse, CourierError)> = vec![
        (
            response(
                404,
                &[("content-type", "application/problem+json")],
                NOT_FOUND,
            ),
            CourierError::NotFound("No shipment with given tracking number found.".to_owned()),
        ),
        (
            response(401, &[], unauthorized),
            CourierError::Unauthorized("Access to the resource is not allowed.".to_owned()),
        ),
        (
            response(403, &[], b""),
            CourierError::Unauthorized("DHL answered 403".to_owned()),
        ),
        (
            response(429, &[("retry-after", "17")], b""),
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
            response(400, &[], bad_request),
            CourierError::Refused {
                status: 400,
                code: "Bad Request".to_owned(),
                message: "Invalid value for parameter service".to_owned(),
            },
        ),
        (
            response(422, &[], b"<html>nope</html>"),
            CourierError::Refused {
                status: 422,
                code: "422".to_owned(),
                message: String::new(),
            },
        ),
        (
            response(503, &[], b""),
            CourierError::Unavailable("DHL answered 503".to_owned()),
        ),
        (
            response(200, &[], br#"{"shipments": []}"#),
            CourierError::NotFound(NUMBER.to_owned()),
        ),
    ];
    for (answer, want) in cases {
        assert_eq!(
            Dhl.parse_tracking(NUMBER, &answer),
            Err(want),
            "{}",
            answer.status
        );
    }
    for unreadable in [&b"not json"[..], &bad_timestamp[..]] {
        let got = Dhl.parse_tracking(NUMBER, &response(200, &[], unreadable));
        assert!(matches!(got, Err(CourierError::BadResponse(_))), "{got:?}");
    }
}

#[test]
fn every_row_of_the_status_table() {
    use TrackingStatus as S;
    let rows = [
        (
            "pre-transit",
            "",
            "The shipment data has been received",
            S::PreTransit,
        ),
        ("pre-transit", "DELIVERED", "", S::PreTransit),
        ("transit", "", "Out for delivery", S::OutForDelivery),
        ("transit", "WITH DELIVERY COURIER", "", S::OutForDelivery),
        (
            "transit",
            "",
            "Shipment is out with courier for delivery",
            S::OutForDelivery,
        ),
        (
            "transit",
            "",
            "The shipment has been loaded onto the delivery vehicle",
            S::OutForDelivery,
        ),
        (
            "transit",
            "PROCESSED AT HUB",
            "Arrived at Sort Facility",
            S::InTransit,
        ),
        ("TRANSIT", "", "", S::InTransit),
        (
            "delivered",
            "",
            "Delivered - Signed for by: DOE",
            S::Delivered,
        ),
        ("failure", "", "Delivery attempt failed", S::DeliveryFailed),
        (
            "failure",
            "",
            "Attempted delivery - recipient not home",
            S::DeliveryFailed,
        ),
        (
            "failure",
            "",
            "The shipment could not be delivered",
            S::DeliveryFailed,
        ),
        ("failure", "", "Clearance delay", S::Exception),
        ("failure", "OUT FOR DELIVERY", "", S::Exception),
        ("unknown", "", "", S::Unknown),
        ("unknown", "DELIVERED", "", S::Unknown),
        ("return-transit", "", "Returned to shipper", S::Unknown),
        ("", "", "", S::Unknown),
    ];
    for (code, status, description, want) in rows {
        assert_eq!(
            dhl::status_of(code, status, description),
            want,
            "{code} / {status} / {description}"
        );
    }
}

#[test]
fn the_published_quota_is_the_limit() {
    assert_eq!(Dhl.carrier(), Carrier::Dhl);
    assert_eq!(
        Dhl.rate_limit(),
        RateLimit {
            requests: 250,
            per: Duration::from_secs(86_400),
        }
    );
    let push = Dhl.parse_push(&Headers::new(), b"{}", &["k".to_owned()]);
    assert_eq!(push, Err(PushError::Unsupported));
}
