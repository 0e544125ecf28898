//! Canada Post: the public `tracking-detail` and `messages` samples of `shared/data/couriers/`
//! read field by field, the request, every error, the time zones, and the code table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bursar_couriers::canada_post::{self, CanadaPost};
use bursar_couriers::{
    CarrierAdapter, CourierError, Credentials, Method, ProviderResponse, RateLimit, Timestamp,
    TrackingStatus,
};

const DETAIL: &[u8] = include_bytes!("fixtures/canadapost-tracking-detail.xml");
const NO_PIN_HISTORY: &[u8] = include_bytes!("fixtures/canadapost-tracking-error-004.xml");

const PIN: &str = "7023210039414604";

fn response(status: u16, body: &[u8]) -> ProviderResponse {
    ProviderResponse {
        status,
        headers: BTreeMap::new(),
        body: body.to_vec(),
    }
}

fn messages(code: &str, description: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<messages xmlns="http://www.canadapost.ca/ws/messages">
  <message><code>{code}</code><description>{description}</description></message>
</messages>"#
    )
    .into_bytes()
}

/// A `tracking-detail` with one occurrence per `(code, date, time, zone)`.
fn detail_with(occurrences: &[(&str, &str, &str, &str)], expected: &str, changed: &str) -> Vec<u8> {
    let events: String = occurrences
        .iter()
        .map(|(code, date, time, zone)| {
            format!(
                "<occurrence><event-identifier>{code}</event-identifier>\
                 <event-date>{date}</event-date><event-time>{time}</event-time>\
                 <event-time-zone>{zone}</event-time-zone>\
                 <event-description>Scan {code}</event-description>\
                 <event-site></event-site><event-province>ON</event-province></occurrence>"
            )
        })
        .collect();
    format!(
        r#"<tracking-detail xmlns="http://www.canadapost.ca/ws/track-v2"><pin>123456789012</pin>
<changed-expected-date>{changed}</changed-expected-date>
<expected-delivery-date>{expected}</expected-delivery-date>
<significant-events>{events}</significant-events></tracking-detail>"#
    )
    .into_bytes()
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).unwrap()
}

#[test]
fn the_public_sample_is_read_field_by_field() {
    let tracking = CanadaPost
        .parse_tracking(PIN, &response(200, DETAIL))
        .unwrap();
    assert_eq!(tracking.tracking_number, PIN);
    assert_eq!(
        tracking.estimated_delivery,
        Some(at("2011-04-05T00:00:00Z"))
    );

    use TrackingStatus::*;
    #[rustfmt::skip]
    let expected = [
        ("20", "Signature image recorded for Online viewing", "2011-02-03T16:59:59Z", "SAINTE-FOY, QC", Delivered),
        ("0174", "Item out for delivery", "2011-02-03T13:27:43Z", "SAINTE-FOY, QC", OutForDelivery),
        ("0100", "Item processed at postal facility", "2011-02-02T19:45:48Z", "QUEBEC, QC", InTransit),
        ("0173", "Customer addressing error found; attempting to correct. Possible delay", "2011-02-02T11:19:57Z", "QUEBEC, QC", Exception),
        ("1496", "Item successfully delivered", "2011-02-01T12:59:52Z", "QUEBEC, QC", Delivered),
    ];
    assert_eq!(tracking.events.len(), expected.len());
    for (event, (code, description, utc, location, status)) in tracking.events.iter().zip(expected)
    {
        assert_eq!(event.code, code);
        assert_eq!(event.description, description, "{code}");
        assert_eq!(event.occurred_at.to_rfc3339(), utc, "{code}");
        assert_eq!(event.utc_offset.as_deref(), Some("-05:00"), "{code}: EST");
        assert_eq!(event.location.as_deref(), Some(location), "{code}");
        assert_eq!(event.status, status, "{code}");
    }
}

#[test]
fn the_request_is_a_basic_authenticated_get_of_track_v2() {
    let credentials = Credentials {
        api_base: "https://soa-gw.canadapost.ca/".to_owned(),
        key: Some("6e93d53968881714".to_owned()),
        secret: Some("0bfa9fcb9853d1f51ee57a".to_owned()),
        account: None,
    };
    let request = CanadaPost.tracking_request(&credentials, None, PIN);
    assert_eq!(request.operation, "tracking.get");
    assert_eq!(request.method, Method::GET);
    assert_eq!(
        request.url,
        "https://soa-gw.canadapost.ca/vis/track/pin/7023210039414604/detail"
    );
    // base64("6e93d53968881714:0bfa9fcb9853d1f51ee57a")
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            (
                "Authorization",
                "Basic NmU5M2Q1Mzk2ODg4MTcxNDowYmZhOWZjYjk4NTNkMWY1MWVlNTdh"
            ),
            ("Accept", "application/vnd.cpc.track-v2+xml"),
            ("Accept-language", "en-CA"),
        ]
    );
    assert_eq!(request.form, None);
    assert_eq!(request.json, None);
    assert_eq!(request.idempotency_key, None);

    // A tracking number stays one path segment, whatever it holds.
    let request = CanadaPost.tracking_request(&credentials, None, "12/../x?y");
    assert_eq!(
        request.url,
        "https://soa-gw.canadapost.ca/vis/track/pin/12%2F..%2Fx%3Fy/detail"
    );
}

#[test]
fn the_published_throttle_is_20_calls_a_minute() {
    assert_eq!(
        CanadaPost.rate_limit(),
        RateLimit {
            requests: 20,
            per: Duration::from_secs(60)
        }
    );
}

#[test]
fn error_bodies_and_statuses_become_courier_errors() {
    let refused_9999 = messages("9999", "Something else");
    let throttled = messages("Server", "Rejected by SLM Monitor");
    let auth = messages("E002", "AAA Authentication Failure");
    let wrong_env = messages(
        "AA002",
        "The username and password do not match the endpoint",
    );
    let no_history_as_401 = messages("004", "No Pin History");
    let cases: Vec<(&str, u16, Vec<u8>, CourierError)> = vec![
        (
            "004 No Pin History",
            404,
            NO_PIN_HISTORY.to_vec(),
            CourierError::NotFound(PIN.to_owned()),
        ),
        (
            "004 with a 200",
            200,
            NO_PIN_HISTORY.to_vec(),
            CourierError::NotFound(PIN.to_owned()),
        ),
        (
            "another code",
            400,
            refused_9999,
            CourierError::Refused {
                status: 400,
                code: "9999".to_owned(),
                message: "Something else".to_owned(),
            },
        ),
        (
            "the throttle message",
            503,
            throttled,
            CourierError::RateLimited {
                retry_after: Duration::from_secs(60),
            },
        ),
        (
            "E002",
            200,
            auth,
            CourierError::Unauthorized("E002: AAA Authentication Failure".to_owned()),
        ),
        (
            "AA002",
            400,
            wrong_env,
            CourierError::Unauthorized(
                "AA002: The username and password do not match the endpoint".to_owned(),
            ),
        ),
        (
            "a 401 wins over the code",
            401,
            no_history_as_401,
            CourierError::Unauthorized("004: No Pin History".to_owned()),
        ),
        (
            "401 without a body",
            401,
            Vec::new(),
            CourierError::Unauthorized("HTTP 401".to_owned()),
        ),
        (
            "403 without a body",
            403,
            b"Forbidden".to_vec(),
            CourierError::Unauthorized("HTTP 403".to_owned()),
        ),
        (
            "429 without Retry-After",
            429,
            Vec::new(),
            CourierError::RateLimited {
                retry_after: Duration::from_secs(60),
            },
        ),
        (
            "a bare 404",
            404,
            b"Not Found".to_vec(),
            CourierError::Refused {
                status: 404,
                code: "404".to_owned(),
                message: "Not Found".to_owned(),
            },
        ),
        (
            "a 502",
            502,
            b"<html>Bad Gateway</html>".to_vec(),
            CourierError::Unavailable("HTTP 502".to_owned()),
        ),
    ];
    for (case, status, body, expected) in cases {
        let got = CanadaPost.parse_tracking(PIN, &response(status, &body));
        assert_eq!(got, Err(expected), "{case}");
    }
}

#[test]
fn a_429_waits_as_long_as_retry_after_says() {
    let mut throttled = response(429, b"");
    throttled
        .headers
        .insert("retry-after".to_owned(), "17".to_owned());
    assert_eq!(
        CanadaPost.parse_tracking(PIN, &throttled),
        Err(CourierError::RateLimited {
            retry_after: Duration::from_secs(17)
        })
    );
}

#[test]
fn unreadable_answers_are_bad_responses() {
    let bad_date = detail_with(&[("0174", "2011-02-31", "08:27:43", "EST")], "", "");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not XML", b"{\"pin\": 1}".to_vec()),
        ("empty", Vec::new()),
        ("another document", b"<html><body>hi</body></html>".to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, 0x3c]),
        ("an impossible date", bad_date),
        ("an empty messages document", b"<messages/>".to_vec()),
    ];
    for (case, body) in cases {
        let got = CanadaPost.parse_tracking(PIN, &response(200, &body));
        assert!(
            matches!(got, Err(CourierError::BadResponse(_))),
            "{case}: {got:?}"
        );
    }
}

#[test]
fn local_times_become_utc_with_the_zone_offset_kept() {
    #[rustfmt::skip]
    let cases = [
        ("EST", "2026-01-15", "09:30:00", "2026-01-15T14:30:00Z", Some("-05:00")),
        ("EDT", "2026-07-15", "09:30:00", "2026-07-15T13:30:00Z", Some("-04:00")),
        ("NST", "2026-01-15", "09:30:00", "2026-01-15T13:00:00Z", Some("-03:30")),
        ("NDT", "2026-07-15", "23:45:10", "2026-07-16T02:15:10Z", Some("-02:30")),
        ("AST", "2026-01-15", "09:30:00", "2026-01-15T13:30:00Z", Some("-04:00")),
        ("ADT", "2026-07-15", "09:30:00", "2026-07-15T12:30:00Z", Some("-03:00")),
        ("CST", "2026-01-15", "09:30:00", "2026-01-15T15:30:00Z", Some("-06:00")),
        ("CDT", "2026-07-15", "09:30:00", "2026-07-15T14:30:00Z", Some("-05:00")),
        ("MST", "2026-01-15", "09:30:00", "2026-01-15T16:30:00Z", Some("-07:00")),
        ("MDT", "2026-07-15", "09:30:00", "2026-07-15T15:30:00Z", Some("-06:00")),
        ("PST", "2026-12-31", "20:00:00", "2027-01-01T04:00:00Z", Some("-08:00")),
        ("PDT", "2026-07-15", "09:30:00", "2026-07-15T16:30:00Z", Some("-07:00")),
        ("HAE", "2026-07-15", "09:30:00", "2026-07-15T13:30:00Z", Some("-04:00")),
        ("HNT", "2026-01-15", "09:30:00", "2026-01-15T13:00:00Z", Some("-03:30")),
        ("pst", "2026-01-15", "09:30:00", "2026-01-15T17:30:00Z", Some("-08:00")),
        ("UTC", "2026-01-15", "09:30:00", "2026-01-15T09:30:00Z", Some("+00:00")),
        // Unknown or missing zones: the local time read as UTC, the offset unknown.
        ("ISRAEL", "2021-05-02", "15:49:00", "2021-05-02T15:49:00Z", None),
        ("", "2021-05-02", "11:53:00", "2021-05-02T11:53:00Z", None),
    ];
    for (zone, date, time, utc, offset) in cases {
        let body = detail_with(&[("0100", date, time, zone)], "", "");
        let tracking = CanadaPost
            .parse_tracking(PIN, &response(200, &body))
            .unwrap();
        let event = &tracking.events[0];
        assert_eq!(event.occurred_at.to_rfc3339(), utc, "{zone}");
        assert_eq!(event.utc_offset.as_deref(), offset, "{zone}");
        assert_eq!(event.location.as_deref(), Some("ON"), "{zone}: site empty");
        assert_eq!(event.description, "Scan 0100");
    }
}

#[test]
fn a_changed_expected_date_replaces_the_original_and_none_is_none() {
    let cases = [
        ("2026-03-02", "2026-03-04", Some("2026-03-04T00:00:00Z")),
        ("2026-03-02", "", Some("2026-03-02T00:00:00Z")),
        ("", "", None),
    ];
    for (expected, changed, estimate) in cases {
        let body = detail_with(&[], expected, changed);
        let tracking = CanadaPost
            .parse_tracking(PIN, &response(200, &body))
            .unwrap();
        assert!(tracking.events.is_empty());
        assert_eq!(tracking.tracking_number, "123456789012", "the body's pin");
        assert_eq!(
            tracking
                .estimated_delivery
                .map(|t| t.to_rfc3339())
                .as_deref(),
            estimate,
            "{expected}/{changed}"
        );
    }
}

/// Every code of the table, with the status it must have: a change to the table must change
/// this list, so a mapping never moves silently.
#[rustfmt::skip]
const EXPECTED: &[(&str, TrackingStatus)] = {
    use TrackingStatus::*;
    &[
        ("3000", PreTransit), ("3002", PreTransit),
        ("100", InTransit), ("101", InTransit), ("102", InTransit), ("103", InTransit),
        ("104", InTransit), ("105", InTransit), ("106", InTransit), ("107", InTransit),
        ("113", InTransit), ("114", InTransit), ("115", InTransit), ("116", InTransit),
        ("130", InTransit), ("152", InTransit), ("159", InTransit), ("160", InTransit),
        ("161", InTransit), ("162", InTransit), ("163", InTransit), ("170", InTransit),
        ("172", InTransit), ("175", InTransit), ("198", InTransit), ("400", InTransit),
        ("405", InTransit), ("410", InTransit), ("629", InTransit), ("700", InTransit),
        ("701", InTransit), ("800", InTransit), ("804", InTransit), ("815", InTransit),
        ("900", InTransit), ("910", InTransit), ("1200", InTransit), ("1203", InTransit),
        ("1210", InTransit), ("1214", InTransit), ("1215", InTransit), ("1216", InTransit),
        ("1220", InTransit), ("1221", InTransit), ("1223", InTransit), ("1224", InTransit),
        ("1225", InTransit), ("1230", InTransit), ("1232", InTransit), ("1234", InTransit),
        ("1240", InTransit), ("1241", InTransit), ("1244", InTransit), ("1300", InTransit),
        ("1301", InTransit), ("1302", InTransit), ("1303", InTransit), ("1400", InTransit),
        ("1401", InTransit), ("1402", InTransit), ("1403", InTransit), ("1404", InTransit),
        ("1444", InTransit), ("1480", InTransit), ("1490", InTransit), ("1703", InTransit),
        ("1705", InTransit), ("2101", InTransit), ("2300", InTransit), ("2500", InTransit),
        ("2501", InTransit), ("2601", InTransit), ("4000", InTransit), ("4100", InTransit),
        ("4202", InTransit), ("4310", InTransit), ("4311", InTransit), ("4330", InTransit),
        ("4400", InTransit), ("4450", InTransit), ("4500", InTransit), ("4550", InTransit),
        ("4600", InTransit), ("4900", InTransit), ("4950", InTransit), ("5201", InTransit),
        ("8901", InTransit),
        ("174", OutForDelivery), ("500", OutForDelivery),
        ("156", AvailableForPickup), ("1405", AvailableForPickup), ("1407", AvailableForPickup),
        ("1410", AvailableForPickup), ("1435", AvailableForPickup), ("1436", AvailableForPickup),
        ("1437", AvailableForPickup), ("1438", AvailableForPickup), ("1479", AvailableForPickup),
        ("1488", AvailableForPickup), ("1701", AvailableForPickup), ("2407", AvailableForPickup),
        ("2410", AvailableForPickup),
        ("20", Delivered), ("21", Delivered), ("610", Delivered), ("611", Delivered),
        ("612", Delivered), ("613", Delivered), ("614", Delivered), ("615", Delivered),
        ("616", Delivered), ("617", Delivered), ("618", Delivered), ("619", Delivered),
        ("620", Delivered), ("1406", Delivered), ("1408", Delivered), ("1409", Delivered),
        ("1421", Delivered), ("1422", Delivered), ("1423", Delivered), ("1424", Delivered),
        ("1425", Delivered), ("1426", Delivered), ("1427", Delivered), ("1428", Delivered),
        ("1429", Delivered), ("1430", Delivered), ("1431", Delivered), ("1432", Delivered),
        ("1433", Delivered), ("1434", Delivered), ("1441", Delivered), ("1442", Delivered),
        ("1461", Delivered), ("1462", Delivered), ("1463", Delivered), ("1465", Delivered),
        ("1466", Delivered), ("1467", Delivered), ("1468", Delivered), ("1469", Delivered),
        ("1471", Delivered), ("1472", Delivered), ("1473", Delivered), ("1475", Delivered),
        ("1476", Delivered), ("1496", Delivered), ("1497", Delivered), ("1498", Delivered),
        ("1499", Delivered), ("2001", Delivered),
        ("154", DeliveryFailed), ("621", DeliveryFailed), ("622", DeliveryFailed),
        ("623", DeliveryFailed), ("624", DeliveryFailed), ("625", DeliveryFailed),
        ("626", DeliveryFailed), ("627", DeliveryFailed), ("628", DeliveryFailed),
        ("630", DeliveryFailed), ("1411", DeliveryFailed), ("1414", DeliveryFailed),
        ("1443", DeliveryFailed), ("2411", DeliveryFailed), ("2414", DeliveryFailed),
        ("117", Exception), ("118", Exception), ("120", Exception), ("121", Exception),
        ("125", Exception), ("127", Exception), ("150", Exception), ("171", Exception),
        ("173", Exception), ("179", Exception), ("190", Exception), ("710", Exception),
        ("810", Exception), ("1245", Exception), ("1412", Exception), ("1450", Exception),
        ("1483", Exception), ("1484", Exception), ("1487", Exception), ("1493", Exception),
        ("1494", Exception), ("1495", Exception), ("2412", Exception), ("4650", Exception),
        ("4700", Exception),
        ("167", ReturnedToSender), ("168", ReturnedToSender), ("169", ReturnedToSender),
        ("181", ReturnedToSender), ("182", ReturnedToSender), ("183", ReturnedToSender),
        ("184", ReturnedToSender), ("1100", ReturnedToSender), ("1415", ReturnedToSender),
        ("1416", ReturnedToSender), ("1417", ReturnedToSender), ("1418", ReturnedToSender),
        ("1419", ReturnedToSender), ("1420", ReturnedToSender), ("1481", ReturnedToSender),
        ("1482", ReturnedToSender), ("1491", ReturnedToSender), ("1492", ReturnedToSender),
        ("2600", ReturnedToSender), ("2802", ReturnedToSender), ("3001", ReturnedToSender),
    ]
};

#[test]
fn every_code_maps_to_its_status_and_unknown_codes_to_unknown() {
    for (code, status) in EXPECTED {
        assert_eq!(canada_post::status_of(code), *status, "{code}");
        // Canada Post pads codes to four digits.
        let padded = format!("{code:0>4}");
        assert_eq!(canada_post::status_of(&padded), *status, "{padded}");
    }
    let listed: BTreeSet<&str> = EXPECTED.iter().map(|(code, _)| *code).collect();
    let table: BTreeSet<&str> = canada_post::EVENT_CODES.iter().map(|(c, _)| *c).collect();
    assert_eq!(listed, table, "the test lists exactly the table's codes");
    assert_eq!(listed.len(), EXPECTED.len(), "no code twice");

    for unknown in ["9999", "0", "1413", "", "ABC", "01 74"] {
        assert_eq!(
            canada_post::status_of(unknown),
            TrackingStatus::Unknown,
            "{unknown}"
        );
    }
}

#[test]
fn an_unknown_code_is_kept_as_given_and_unknown() {
    let body = detail_with(&[("0999", "2026-01-15", "09:30:00", "EST")], "", "");
    let tracking = CanadaPost
        .parse_tracking(PIN, &response(200, &body))
        .unwrap();
    assert_eq!(tracking.events[0].code, "0999");
    assert_eq!(tracking.events[0].status, TrackingStatus::Unknown);
}

#[test]
fn canada_post_pushes_nothing() {
    let refused = CanadaPost.parse_push(&Default::default(), b"{}", &["s".to_owned()]);
    assert_eq!(refused, Err(bursar_couriers::PushError::Unsupported));
}
