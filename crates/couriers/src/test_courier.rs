//! The sandbox test courier: a carrier that exists only in sandbox workspaces, driven by the
//! API (`POST /v1/shipments/{id}/test_events`) or `bursar couriers simulate` through any
//! sequence of events. It speaks a small JSON format of its own, signed like a real carrier's
//! push (hex HMAC-SHA256 of the body in `Test-Courier-Signature`), so its events take the same
//! ingestion path as DHL's or USPS's.
//!
//! ```json
//! {"tracking_number": "TC0001", "events": [{"code": "in_transit", "description": "Departed hub",
//!   "occurred_at": "2026-12-01T09:30:00-05:00", "location": "Toronto, ON, CA"}]}
//! ```
//!
//! A code is one of the ten status names; anything else is `unknown`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::*;

pub struct TestCourier;

/// The header that carries a pushed body's signature.
pub const SIGNATURE_HEADER: &str = "test-courier-signature";

/// One event, as the test courier writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEvent {
    pub code: String,
    #[serde(default)]
    pub description: String,
    /// RFC 3339 with the local offset (`2026-12-01T09:30:00-05:00`).
    pub occurred_at: String,
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireTracking {
    pub tracking_number: String,
    pub events: Vec<WireEvent>,
}

/// The signature of `body` under `secret`, as the header carries it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_hmac());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// HMAC takes keys of any length.
fn unreachable_hmac() -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    Hmac::<Sha256>::new_from_slice(b"").expect("BUG: HMAC-SHA256 takes any key length")
}

fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(given) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_hmac());
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The offset part of an RFC 3339 instant (`-05:00`), `+00:00` for `Z`.
pub fn offset_of(rfc3339: &str) -> Option<String> {
    if rfc3339.ends_with('Z') || rfc3339.ends_with('z') {
        return Some("+00:00".to_owned());
    }
    let tail = rfc3339.get(rfc3339.len().checked_sub(6)?..)?;
    let bytes = tail.as_bytes();
    let shaped = matches!(bytes[0], b'+' | b'-') && bytes[3] == b':';
    shaped.then(|| tail.to_owned())
}

/// Reads the test courier's JSON.
pub fn parse_wire(body: &[u8]) -> Result<Tracking, String> {
    let wire: WireTracking = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut events = Vec::with_capacity(wire.events.len());
    for (i, event) in wire.events.into_iter().enumerate() {
        let occurred_at = Timestamp::parse_rfc3339(&event.occurred_at)
            .ok_or_else(|| format!("events[{i}].occurred_at is not an RFC 3339 instant"))?;
        events.push(CarrierEvent {
            status: TrackingStatus::parse(&event.code).unwrap_or(TrackingStatus::Unknown),
            utc_offset: offset_of(&event.occurred_at),
            code: event.code,
            description: event.description,
            occurred_at,
            location: event.location,
        });
    }
    Ok(Tracking {
        tracking_number: wire.tracking_number,
        events,
        estimated_delivery: None,
    })
}

impl CarrierAdapter for TestCourier {
    fn carrier(&self) -> Carrier {
        Carrier::TestCourier
    }

    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            requests: 100,
            per: Duration::from_secs(1),
        }
    }

    fn tracking_request(
        &self,
        credentials: &Credentials,
        _token: Option<&str>,
        tracking_number: &str,
    ) -> ProviderRequest {
        ProviderRequest {
            operation: "tracking.get",
            method: Method::GET,
            url: format!(
                "{}/tracking/{tracking_number}",
                credentials.api_base.trim_end_matches('/')
            ),
            headers: Vec::new(),
            form: None,
            json: None,
            idempotency_key: None,
        }
    }

    fn parse_tracking(
        &self,
        tracking_number: &str,
        response: &ProviderResponse,
    ) -> Result<Tracking, CourierError> {
        match response.status {
            200..=299 => parse_wire(&response.body).map_err(CourierError::BadResponse),
            404 => Err(CourierError::NotFound(tracking_number.to_owned())),
            429 => Err(CourierError::RateLimited {
                retry_after: retry_after(response, Duration::from_secs(1)),
            }),
            status => Err(CourierError::Refused {
                status,
                code: status.to_string(),
                message: String::from_utf8_lossy(&response.body).into_owned(),
            }),
        }
    }

    fn parse_push(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
    ) -> Result<Vec<Tracking>, PushError> {
        let signature = headers
            .get(SIGNATURE_HEADER)
            .ok_or(PushError::MissingSignature)?;
        if !secrets.iter().any(|s| verify(s, body, signature)) {
            return Err(PushError::BadSignature);
        }
        parse_wire(body)
            .map(|tracking| vec![tracking])
            .map_err(PushError::BadPayload)
    }
}

/// A realistic run of events the simulator replays (`bursar couriers simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Picked up, across two hubs, out for delivery, delivered.
    Delivered,
    /// Held in customs.
    Exception,
    /// Scanned in transit, then nothing for days, then declared lost.
    Lost,
    /// Two failed attempts, then back to the sender.
    Return,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Delivered,
        Scenario::Exception,
        Scenario::Lost,
        Scenario::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Delivered => "delivered",
            Scenario::Exception => "exception",
            Scenario::Lost => "lost",
            Scenario::Return => "return",
        }
    }

    pub fn parse(value: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The steps: hours after the label, status, words, place.
    fn steps(self) -> &'static [(i64, TrackingStatus, &'static str, &'static str)] {
        use TrackingStatus::*;
        const PICKUP: [(i64, TrackingStatus, &str, &str); 3] = [
            (0, PreTransit, "Shipping label created", "Toronto, ON, CA"),
            (3, InTransit, "Picked up by the courier", "Toronto, ON, CA"),
            (9, InTransit, "Departed sorting hub", "Mississauga, ON, CA"),
        ];
        match self {
            Scenario::Delivered => &[
                PICKUP[0],
                PICKUP[1],
                PICKUP[2],
                (20, InTransit, "Arrived at delivery hub", "Ottawa, ON, CA"),
                (26, OutForDelivery, "Out for delivery", "Ottawa, ON, CA"),
                (
                    30,
                    Delivered,
                    "Delivered, left at front door",
                    "Ottawa, ON, CA",
                ),
            ],
            Scenario::Exception => &[
                PICKUP[0],
                PICKUP[1],
                PICKUP[2],
                (
                    22,
                    Exception,
                    "Held by customs: documents required",
                    "Buffalo, NY, US",
                ),
            ],
            Scenario::Lost => &[
                PICKUP[0],
                PICKUP[1],
                PICKUP[2],
                (
                    120,
                    Exception,
                    "Parcel lost in transit; a claim can be filed",
                    "Mississauga, ON, CA",
                ),
            ],
            Scenario::Return => &[
                PICKUP[0],
                PICKUP[1],
                PICKUP[2],
                (26, OutForDelivery, "Out for delivery", "Ottawa, ON, CA"),
                (
                    30,
                    DeliveryFailed,
                    "Delivery attempted: nobody home",
                    "Ottawa, ON, CA",
                ),
                (50, OutForDelivery, "Out for delivery", "Ottawa, ON, CA"),
                (
                    54,
                    DeliveryFailed,
                    "Second attempt failed: address not found",
                    "Ottawa, ON, CA",
                ),
                (
                    80,
                    ReturnedToSender,
                    "Returned to sender",
                    "Toronto, ON, CA",
                ),
            ],
        }
    }

    /// The scenario's events as the test courier writes them, ending at `end` (so a replay
    /// now is a shipment that has just arrived where the scenario ends). Local instants carry
    /// the Eastern offset.
    pub fn events(self, end: Timestamp) -> Vec<WireEvent> {
        let steps = self.steps();
        let last = steps.last().map_or(0, |step| step.0);
        steps
            .iter()
            .map(|(hours, status, words, place)| {
                let at = end.plus_seconds((hours - last) * 3_600);
                WireEvent {
                    code: status.as_str().to_owned(),
                    description: (*words).to_owned(),
                    occurred_at: eastern(at),
                    location: Some((*place).to_owned()),
                }
            })
            .collect()
    }
}

/// `at` written in Eastern Standard Time (`-05:00`).
fn eastern(at: Timestamp) -> String {
    let local = at.plus_seconds(-5 * 3_600).to_rfc3339();
    format!("{}-05:00", local.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_push_is_read_and_a_forged_one_refused() {
        let body = br#"{"tracking_number":"TC1","events":[
            {"code":"in_transit","description":"Departed","occurred_at":"2026-12-01T09:30:00-05:00"},
            {"code":"teleported","occurred_at":"2026-12-01T10:00:00Z","location":"Mars"}]}"#;
        let headers = Headers::from([(SIGNATURE_HEADER.to_owned(), sign("whsec", body))]);
        let secrets = vec!["old".to_owned(), "whsec".to_owned()];
        let tracking = TestCourier.parse_push(&headers, body, &secrets).unwrap();
        let events = &tracking[0].events;
        assert_eq!(events[0].status, TrackingStatus::InTransit);
        assert_eq!(events[0].utc_offset.as_deref(), Some("-05:00"));
        assert_eq!(events[0].occurred_at.to_rfc3339(), "2026-12-01T14:30:00Z");
        assert_eq!(events[1].status, TrackingStatus::Unknown);
        assert_eq!(events[1].code, "teleported");
        assert_eq!(events[1].utc_offset.as_deref(), Some("+00:00"));

        let forged = Headers::from([(SIGNATURE_HEADER.to_owned(), sign("guess", body))]);
        let refused = TestCourier.parse_push(&forged, body, &secrets);
        assert_eq!(refused, Err(PushError::BadSignature));
        let unsigned = TestCourier.parse_push(&Headers::new(), body, &secrets);
        assert_eq!(unsigned, Err(PushError::MissingSignature));
    }

    #[test]
    fn scenarios_end_where_they_say_and_read_back() {
        let end = Timestamp::parse_rfc3339("2026-12-01T17:00:00Z").unwrap();
        for scenario in Scenario::ALL {
            let events = scenario.events(end);
            let body = serde_json::to_vec(&WireTracking {
                tracking_number: "TC1".into(),
                events,
            })
            .unwrap();
            let tracking = parse_wire(&body).unwrap();
            let last = tracking.events.last().unwrap();
            assert_eq!(last.occurred_at, end);
            assert_eq!(last.utc_offset.as_deref(), Some("-05:00"));
            let expected = match scenario {
                Scenario::Delivered => TrackingStatus::Delivered,
                Scenario::Exception | Scenario::Lost => TrackingStatus::Exception,
                Scenario::Return => TrackingStatus::ReturnedToSender,
            };
            let folded: Vec<_> = tracking
                .events
                .iter()
                .map(|e| (e.status, e.occurred_at))
                .collect();
            assert_eq!(
                bursar_domain::shipping::fold(&folded),
                expected,
                "{scenario:?}"
            );
            assert_eq!(Scenario::parse(scenario.as_str()), Some(scenario));
        }
    }
}
