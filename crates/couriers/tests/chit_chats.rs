//! Chit Chats: the documented shipment and public tracking JSON of `shared/data/couriers/`
//! read field by field, the request, every error, and the status and title tables.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bursar_couriers::chit_chats::{self, ChitChats};
use bursar_couriers::{
    CarrierAdapter, CourierError, Credentials, Method, ProviderResponse, PushError, RateLimit,
    Timestamp, TrackingStatus,
};
use serde_json::json;

const SHIPMENT: &[u8] = include_bytes!("fixtures/chitchats-shipment.json");
const PUBLIC: &[u8] = include_bytes!("fixtures/chitchats-public-tracking.json");

const ID: &str = "8ERNJ8SCQ9";

fn response(status: u16, body: &[u8]) -> ProviderResponse {
    ProviderResponse {
        status,
        headers: BTreeMap::new(),
        body: body.to_vec(),
    }
}

#[test]
fn the_documented_shipment_is_read_field_by_field() {
    let tracking = ChitChats
        .parse_tracking(ID, &response(200, SHIPMENT))
        .unwrap();
    assert_eq!(tracking.tracking_number, ID);
    assert_eq!(tracking.estimated_delivery, None);

    use TrackingStatus::*;
    #[rustfmt::skip]
    let expected = [
        ("Received by Chit Chats", "Received by Chit Chats: Delivery Fee $1.00", "2017-11-15T17:53:32.991Z", InTransit),
        ("Postage purchased", "Postage purchased: USPS Priority Mail® $22.39", "2017-11-15T17:45:42.841Z", PreTransit),
        ("Shipment created", "Shipment created", "2017-11-14T19:04:32.177Z", PreTransit),
    ];
    assert_eq!(tracking.events.len(), expected.len());
    for (event, (code, description, utc, status)) in tracking.events.iter().zip(expected) {
        assert_eq!(event.code, code, "a null status: the title is the code");
        assert_eq!(event.description, description, "{code}");
        assert_eq!(event.occurred_at.to_rfc3339(), utc, "{code}");
        assert_eq!(event.utc_offset.as_deref(), Some("-08:00"), "{code}");
        assert_eq!(event.location, None, "{code}");
        assert_eq!(event.status, status, "{code}");
    }
}

#[test]
fn the_public_tracking_json_is_read_with_the_same_parser() {
    let tracking = chit_chats::parse_public_tracking(PUBLIC).unwrap();
    assert_eq!(tracking.tracking_number, "B5T85U7E1C");
    assert_eq!(
        tracking.estimated_delivery, None,
        "estimated_delivery_at is null"
    );
    assert_eq!(tracking.events.len(), 1);
    let event = &tracking.events[0];
    assert_eq!(event.code, "Shipment created, Chit Chats awaiting item");
    assert_eq!(
        event.description,
        "Shipment created, Chit Chats awaiting item"
    );
    assert_eq!(event.occurred_at.to_rfc3339(), "2019-01-27T01:28:59.797Z");
    assert_eq!(event.utc_offset.as_deref(), Some("-08:00"));
    assert_eq!(event.location, None);
    assert_eq!(event.status, TrackingStatus::PreTransit);

    // Through the adapter too: the body's id wins over the number asked.
    let through_adapter = ChitChats
        .parse_tracking("b5t85u7e1c", &response(200, PUBLIC))
        .unwrap();
    assert_eq!(through_adapter, tracking);
}

#[test]
fn carrier_events_with_a_status_use_it_as_their_code() {
    let body = json!({"shipment": {
        "id": "ABCDE12345",
        "status": "delivered",
        "estimated_delivery_at": "2026-03-04T17:00:00.000-05:00",
        "tracking_events": [
            {"title": "Delivered", "subtitle": "In/At Mailbox", "location_description": "DEL RIO, TX",
             "created_at": "2026-03-04T14:02:00-06:00", "status": "delivered"},
            {"title": "Something new", "subtitle": null, "location_description": " ",
             "created_at": "2026-03-03T09:00:00Z", "status": "teleported"},
            {"title": "A title no table knows", "subtitle": "Details",
             "location_description": null, "created_at": "2026-03-02T09:00:00+05:30", "status": null}
        ]
    }});
    let tracking = ChitChats
        .parse_tracking("ABCDE12345", &response(200, body.to_string().as_bytes()))
        .unwrap();
    assert_eq!(
        tracking.estimated_delivery,
        Timestamp::parse_rfc3339("2026-03-04T22:00:00Z")
    );
    #[rustfmt::skip]
    let expected = [
        ("delivered", "Delivered: In/At Mailbox", "2026-03-04T20:02:00Z", Some("-06:00"), Some("DEL RIO, TX"), TrackingStatus::Delivered),
        ("teleported", "Something new", "2026-03-03T09:00:00Z", Some("+00:00"), None, TrackingStatus::Unknown),
        ("A title no table knows", "A title no table knows: Details", "2026-03-02T03:30:00Z", Some("+05:30"), None, TrackingStatus::Unknown),
    ];
    assert_eq!(tracking.events.len(), expected.len());
    for (event, (code, description, utc, offset, location, status)) in
        tracking.events.iter().zip(expected)
    {
        assert_eq!(event.code, code);
        assert_eq!(event.description, description, "{code}");
        assert_eq!(event.occurred_at.to_rfc3339(), utc, "{code}");
        assert_eq!(event.utc_offset.as_deref(), offset, "{code}");
        assert_eq!(event.location.as_deref(), location, "{code}");
        assert_eq!(event.status, status, "{code}");
    }
}

#[test]
fn an_estimated_date_without_a_time_is_the_start_of_that_day() {
    let cases = [
        (json!("2026-03-04"), Some("2026-03-04T00:00:00Z")),
        (json!("soon"), None),
        (json!(null), None),
    ];
    for (estimate, expected) in cases {
        let body = json!({"shipment": {"id": "X1", "estimated_delivery_at": estimate,
                                       "tracking_events": []}});
        let tracking = ChitChats
            .parse_tracking("X1", &response(200, body.to_string().as_bytes()))
            .unwrap();
        assert_eq!(
            tracking
                .estimated_delivery
                .map(|t| t.to_rfc3339())
                .as_deref(),
            expected
        );
    }
}

#[test]
fn the_request_names_the_client_and_sends_the_bare_token() {
    let credentials = Credentials {
        api_base: "https://chitchats.com/".to_owned(),
        key: Some("tok_3e9a1b".to_owned()),
        secret: None,
        account: Some("999999".to_owned()),
    };
    let request = ChitChats.tracking_request(&credentials, None, ID);
    assert_eq!(request.operation, "tracking.get");
    assert_eq!(request.method, Method::GET);
    assert_eq!(
        request.url,
        "https://chitchats.com/api/v1/clients/999999/shipments/8ERNJ8SCQ9"
    );
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("Authorization", "tok_3e9a1b"),
            ("Accept", "application/json")
        ]
    );
    assert_eq!(request.form, None);
    assert_eq!(request.json, None);
    assert_eq!(request.idempotency_key, None);

    // Ids stay one path segment each, whatever they hold.
    let odd = Credentials {
        account: Some("99/1".to_owned()),
        ..credentials
    };
    let request = ChitChats.tracking_request(&odd, None, "a?b#c");
    assert_eq!(
        request.url,
        "https://chitchats.com/api/v1/clients/99%2F1/shipments/a%3Fb%23c"
    );
}

#[test]
fn the_published_limit_is_2000_requests_per_5_minutes() {
    assert_eq!(
        ChitChats.rate_limit(),
        RateLimit {
            requests: 2_000,
            per: Duration::from_secs(300)
        }
    );
}

#[test]
fn error_answers_become_courier_errors() {
    let cases: Vec<(&str, u16, &[u8], CourierError)> = vec![
        (
            "404",
            404,
            br#"{"message":"Not found"}"#,
            CourierError::NotFound(ID.to_owned()),
        ),
        (
            "401 with a message",
            401,
            br#"{"message":"Invalid access token"}"#,
            CourierError::Unauthorized("Invalid access token".to_owned()),
        ),
        (
            "403 without a body",
            403,
            b"",
            CourierError::Unauthorized("HTTP 403".to_owned()),
        ),
        (
            "422 with a JSON message",
            422,
            br#"{"error":{"message":"Shipment is not trackable"}}"#,
            CourierError::Refused {
                status: 422,
                code: "422".to_owned(),
                message: "Shipment is not trackable".to_owned(),
            },
        ),
        (
            "415 with a plain body",
            415,
            b"Unsupported Media Type",
            CourierError::Refused {
                status: 415,
                code: "415".to_owned(),
                message: "Unsupported Media Type".to_owned(),
            },
        ),
        (
            "429 without Retry-After",
            429,
            b"",
            CourierError::RateLimited {
                retry_after: Duration::from_secs(60),
            },
        ),
        (
            "503",
            503,
            b"",
            CourierError::Unavailable("HTTP 503: HTTP 503".to_owned()),
        ),
    ];
    for (case, status, body, expected) in cases {
        let got = ChitChats.parse_tracking(ID, &response(status, body));
        assert_eq!(got, Err(expected), "{case}");
    }
}

#[test]
fn a_429_waits_as_long_as_retry_after_says() {
    let mut throttled = response(429, b"Too Many Requests");
    throttled
        .headers
        .insert("retry-after".to_owned(), "17".to_owned());
    assert_eq!(
        ChitChats.parse_tracking(ID, &throttled),
        Err(CourierError::RateLimited {
            retry_after: Duration::from_secs(17)
        })
    );
}

#[test]
fn unreadable_answers_are_bad_responses() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"<html>".to_vec()),
        ("no envelope", br#"{"id":"X"}"#.to_vec()),
        (
            "no created_at",
            br#"{"shipment":{"id":"X","tracking_events":[{"title":"a"}]}}"#.to_vec(),
        ),
        (
            "a created_at that is not RFC 3339",
            br#"{"shipment":{"id":"X","tracking_events":[{"title":"a","created_at":"yesterday"}]}}"#
                .to_vec(),
        ),
    ];
    for (case, body) in cases {
        let got = ChitChats.parse_tracking(ID, &response(200, &body));
        assert!(
            matches!(got, Err(CourierError::BadResponse(_))),
            "{case}: {got:?}"
        );
    }
    assert!(matches!(
        chit_chats::parse_public_tracking(br#"{"shipment":{"tracking_events":[]}}"#),
        Err(CourierError::BadResponse(_))
    ));
}

/// Every status and title the tables know, with the status it must have.
const EXPECTED: &[(&str, TrackingStatus)] = {
    use TrackingStatus::*;
    &[
        ("pending", PreTransit),
        ("postage_requested", PreTransit),
        ("postage_purchase_failed", Exception),
        ("ready", PreTransit),
        ("in_transit", InTransit),
        ("received", InTransit),
        ("released", InTransit),
        ("inducted", InTransit),
        ("delivered", Delivered),
        ("exception", Exception),
        ("voided", Cancelled),
        ("canceled", Cancelled),
        ("Shipment created", PreTransit),
        ("Shipment created, Chit Chats awaiting item", PreTransit),
        ("Postage purchased", PreTransit),
        ("Received by Chit Chats", InTransit),
    ]
};

#[test]
fn every_code_maps_to_its_status_and_unknown_codes_to_unknown() {
    for (code, status) in EXPECTED {
        assert_eq!(chit_chats::status_of(code), *status, "{code}");
    }
    let listed: BTreeSet<&str> = EXPECTED.iter().map(|(code, _)| *code).collect();
    let tables: BTreeSet<&str> = chit_chats::STATUSES
        .iter()
        .chain(chit_chats::TITLES)
        .map(|(code, _)| *code)
        .collect();
    assert_eq!(listed, tables, "the test lists exactly the tables' codes");
    assert_eq!(listed.len(), EXPECTED.len(), "no code twice");

    for unknown in [
        "resolved",
        "returned",
        "Delivered",
        "DELIVERED",
        "",
        "teleported",
    ] {
        assert_eq!(
            chit_chats::status_of(unknown),
            TrackingStatus::Unknown,
            "{unknown}"
        );
    }
}

#[test]
fn chit_chats_pushes_nothing() {
    let refused = ChitChats.parse_push(&Default::default(), b"{}", &["s".to_owned()]);
    assert_eq!(refused, Err(PushError::Unsupported));
}
