//! USPS, through USPS APIs v3 (`apis.usps.com`).
//!
//! * OAuth2 client credentials: `POST {api_base}/oauth2/v3/token` with the form
//!   `grant_type=client_credentials&client_id=…&client_secret=…`, answered with
//!   `{"access_token", "expires_in", …}` or an RFC 6749 error (`{"error": "invalid_client",
//!   "error_description": …}`).
//! * Tracking: `GET {api_base}/tracking/v3/tracking/{trackingNumber}?expand=DETAIL` with
//!   `Authorization: Bearer …`, answered with `trackingEvents[]` (newest first) or USPS's error
//!   shape `{"apiVersion", "error": {"code", "message", "errors": [{"status", "code", "title",
//!   "detail"}]}}`.
//! * Push: the "Subscriptions - Tracking" API posts notifications to a listener URL, signed
//!   with the subscription's secret (see [`Usps::parse_push`] for the scheme and its basis).
//!
//! Each event's instant is its `GMTTimestamp` (UTC) and its offset is `GMTOffset`, so both are
//! exact; `eventTimestamp` (local wall time) is only a fallback when the GMT field is missing.
//!
//! # Event codes
//!
//! The status comes from `eventCode` alone, through the table in [`status_of`]. USPS's
//! `statusCategory` ("Delivered", "In Transit", "Alert"…) describes the piece, not the event,
//! and is not read. The table's sources: USPS Publication 199 Appendix G-4 ("USPS Domestic
//! Tracking Scan Events", which the v3 OpenAPI names as the lookup table for `eventCode`), as
//! tabulated in the `USPS::WebTools::Tracking::Codes` Perl module (return-to-sender 09, 21–29,
//! 31; notice left 02, 52–56; the other numeric and letter codes), and the code/description
//! pairs of real v3 answers (USPS's sample in `usps-tracking-v3-detail.json`: GX, 03, SF, TL,
//! 07, OF, 01; Karrio's and AfterShip's USPS fixtures: OA, TM, 10, U1, T1, L1, NT). A code
//! whose meaning is known but whose status would be a guess (DX "Delivery Status Not Updated",
//! 44 "Customer Recall", which may redirect as well as return) is left out, so it reads as
//! `unknown`.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::*;

pub struct Usps;

/// The header that carries a pushed notification's signature (lower case, as `Headers` are).
pub const SIGNATURE_HEADER: &str = "x-hmac";

/// The same header's older, deprecated name, still accepted.
pub const LEGACY_SIGNATURE_HEADER: &str = "hmac-header";

/// When a token answer gives no usable `expires_in`. USPS tokens live 8 hours; assuming less
/// only costs an early refresh, assuming more would send an expired token.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// When a 429 carries no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

const ONE_HOUR: Duration = Duration::from_secs(60 * 60);

/// The normalised status of a USPS `eventCode` (see the module docs for the table's sources).
pub fn status_of(event_code: &str) -> TrackingStatus {
    use TrackingStatus as S;
    match event_code.trim().to_ascii_uppercase().as_str() {
        // Label printed and data sent; USPS does not have the piece yet.
        "MA" // Manifest acknowledgement ("Pre-Shipment Info Sent to USPS")
        | "GX" // "Shipping Label Created, USPS Awaiting Item"
        => S::PreTransit,
        // Accepted: USPS has the piece.
        "03" // Accept or pickup ("USPS in possession of item")
        | "OA" // "Accepted at USPS Origin Facility"
        | "TM" // Truck manifest ("Shipment Received, Package Acceptance Pending")
        | "PA" // Passive acceptance ("Shipment Acceptance")
        // Moving through the network.
        | "06" // Forwarded to a new address
        | "07" // Arrival at unit ("Arrived at Post Office")
        | "08" // Missent (rerouted)
        | "10" // Processed ("Arrived at / Departed USPS Regional … Facility")
        | "15" // Mis-shipped (rerouted)
        | "19" // DC eVS arrive
        | "41" // Received at opening unit
        | "42" // USPS handoff to shipping partner
        | "71" // Rescheduled to next delivery day (no attempt was made)
        | "80" // Picked up by shipping partner
        | "81" // Arrived at shipping partner facility
        | "82" // Departed shipping partner facility
        | "EF" // "Departed Sort Facility"
        | "L1" // "Departed USPS Regional Facility"
        | "NT" // "In Transit to Next Facility"
        | "PC" // "Sorting / Processing Complete"
        | "SF" // "Departed Post Office"
        | "T1" // "Departed USPS Regional Facility"
        | "TL" // "In Transit to Next Facility"
        | "U1" // "Arrived at USPS Regional Facility"
        => S::InTransit,
        "OF" => S::OutForDelivery,
        "14" // Arrival at pickup point
        | "16" // Available for pickup
        => S::AvailableForPickup,
        "01" // Delivered
        | "17" // Picked up by agent
        | "43" // Picked up (by the addressee, at the Post Office)
        => S::Delivered,
        // Attempted: a notice was left, the piece waits for redelivery or pickup.
        "02" // Notice left
        | "30" // Delivery attempted, no access to delivery location
        | "51" // Business closed
        | "52" // Notice left
        | "53" // Receptacle blocked
        | "54" // Receptacle full / item oversized
        | "55" // No secure location available
        | "56" // No authorized recipient available
        => S::DeliveryFailed,
        "05" // Undeliverable as addressed (an address problem; USPS decides what follows)
        | "11" // Dead letter (undeliverable and unreturnable: Mail Recovery Center)
        => S::Exception,
        "04" // Refused by the addressee (refused mail goes back to the sender)
        | "09" // Return to sender
        | "21" // Return to sender: no such number
        | "22" // … insufficient address
        | "23" // … moved, left no address
        | "24" // … forward expired
        | "25" // … addressee unknown
        | "26" // … vacant
        | "27" // … unclaimed
        | "28" // … deceased
        | "29" // … other
        | "31" // … not picked up
        => S::ReturnedToSender,
        _ => S::Unknown,
    }
}

// ---- the wire -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct WireToken {
    #[serde(default)]
    access_token: Option<String>,
    /// Seconds, as a number (USPS) or a numeric string (some OAuth servers).
    #[serde(default)]
    expires_in: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTracking {
    #[serde(default)]
    tracking_events: Option<Vec<WireEvent>>,
    #[serde(default)]
    expected_delivery_time_stamp: Option<String>,
}

/// One scan, as the tracking API and the push notifications give it.
#[derive(Debug, Default, Deserialize)]
struct WireEvent {
    #[serde(default, rename = "eventCode")]
    event_code: Option<String>,
    #[serde(default, rename = "eventType")]
    event_type: Option<String>,
    #[serde(default, rename = "eventTimestamp")]
    event_timestamp: Option<String>,
    #[serde(default, rename = "GMTTimestamp")]
    gmt_timestamp: Option<String>,
    #[serde(default, rename = "GMTOffset")]
    gmt_offset: Option<String>,
    #[serde(default, rename = "eventCity")]
    city: Option<String>,
    #[serde(default, rename = "eventState")]
    state: Option<String>,
    #[serde(default, rename = "eventZIP")]
    zip: Option<String>,
    #[serde(default, rename = "eventCountry")]
    country: Option<String>,
}

/// A pushed notification's envelope. Only the two signed fields are read before the signature
/// is checked.
#[derive(Debug, Deserialize)]
struct Envelope {
    timestamp: String,
    /// Stringified JSON, signed exactly as it stands.
    payload: String,
}

/// What a pushed `payload` holds: a tracking summary (`trackingEvents`) or, for the scan
/// extract subscriptions, one scan whose fields sit beside the tracking number.
#[derive(Debug, Deserialize)]
struct WirePushed {
    #[serde(default, rename = "trackingNumber")]
    tracking_number: Option<String>,
    #[serde(default, rename = "trackingEvents")]
    tracking_events: Option<Vec<WireEvent>>,
    #[serde(flatten)]
    scan: WireEvent,
}

// ---- events ---------------------------------------------------------------------------------

fn text(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `-05:00`, `-5:00`, `-0500`, `+5:30` → `±HH:MM`; anything else is no offset.
pub fn normalise_offset(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (sign, rest) = match raw.as_bytes().first()? {
        b'+' => ('+', raw.get(1..)?),
        b'-' => ('-', raw.get(1..)?),
        b'0'..=b'9' => ('+', raw),
        _ => return None,
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some(parts) => parts,
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "00"),
    };
    let digits = |part: &str, max_len: usize| {
        (!part.is_empty() && part.len() <= max_len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u8>().ok())
            .flatten()
    };
    let (hours, minutes) = (digits(hours, 2)?, digits(minutes, 2)?);
    (hours <= 14 && minutes < 60).then(|| format!("{sign}{hours:02}:{minutes:02}"))
}

/// The event's instant: `GMTTimestamp` (UTC, a `Z` added when USPS leaves it off), else the
/// local `eventTimestamp` at its `GMTOffset`.
fn occurred_at(event: &WireEvent) -> Option<Timestamp> {
    if let Some(gmt) = text(event.gmt_timestamp.as_deref()) {
        return Timestamp::parse_rfc3339(gmt)
            .or_else(|| Timestamp::parse_rfc3339(&format!("{gmt}Z")));
    }
    let local = text(event.event_timestamp.as_deref())?;
    let offset = normalise_offset(event.gmt_offset.as_deref()?)?;
    Timestamp::parse_rfc3339(&format!("{local}{offset}"))
}

/// "CITY, ST 12345, COUNTRY", as far as USPS says.
fn location_of(event: &WireEvent) -> Option<String> {
    let region: Vec<&str> = [event.state.as_deref(), event.zip.as_deref()]
        .into_iter()
        .filter_map(text)
        .collect();
    let region = region.join(" ");
    let parts: Vec<&str> = [
        text(event.city.as_deref()),
        text(Some(region.as_str())),
        text(event.country.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn event_of(index: usize, event: WireEvent) -> Result<CarrierEvent, String> {
    let occurred_at = occurred_at(&event)
        .ok_or_else(|| format!("trackingEvents[{index}] has no readable GMTTimestamp"))?;
    let description = event.event_type.clone().unwrap_or_default();
    let (code, status) = match text(event.event_code.as_deref()) {
        Some(code) => (code.to_owned(), status_of(code)),
        // Without a code, the event's words stand in for it and no table knows them.
        None => (description.clone(), TrackingStatus::Unknown),
    };
    Ok(CarrierEvent {
        code,
        description,
        occurred_at,
        utc_offset: event.gmt_offset.as_deref().and_then(normalise_offset),
        location: location_of(&event),
        status,
    })
}

fn events_of(events: Vec<WireEvent>) -> Result<Vec<CarrierEvent>, String> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| event_of(i, event))
        .collect()
}

// ---- errors ---------------------------------------------------------------------------------

/// `(code, message)` of USPS's error shape, the first detailed error standing in for a missing
/// top-level field.
fn api_error(body: &Value) -> (String, String) {
    let error = body.get("error").filter(|e| e.is_object());
    let first = error
        .and_then(|e| e.get("errors"))
        .and_then(|errors| errors.get(0));
    let field = |value: Option<&Value>, key: &str| {
        text(value.and_then(|v| v.get(key)).and_then(Value::as_str)).map(str::to_owned)
    };
    let code = field(error, "code").or_else(|| field(first, "code"));
    let message = field(error, "message")
        .or_else(|| field(first, "detail"))
        .or_else(|| field(first, "title"));
    (code.unwrap_or_default(), message.unwrap_or_default())
}

/// A USPS error answer; `not_found` is what a 404 means for the request that got it.
fn error_of(
    response: &ProviderResponse,
    body: &Value,
    not_found: impl FnOnce(String) -> CourierError,
) -> CourierError {
    let (code, message) = api_error(body);
    let status = response.status;
    let said = |fallback: String| {
        if message.is_empty() {
            fallback
        } else {
            message.clone()
        }
    };
    match status {
        401 | 403 => CourierError::Unauthorized(said(format!("USPS answered {status}"))),
        404 => not_found(message.clone()),
        429 => CourierError::RateLimited {
            retry_after: retry_after(response, DEFAULT_RETRY_AFTER),
        },
        400..=499 => CourierError::Refused {
            status,
            code: if code.is_empty() {
                status.to_string()
            } else {
                code
            },
            message,
        },
        500.. => CourierError::Unavailable(said(format!("USPS answered {status}"))),
        _ => CourierError::BadResponse(format!("USPS answered {status}")),
    }
}

/// An OAuth2 error (RFC 6749 §5.2), which the token endpoint answers instead of USPS's shape.
fn oauth_error(response: &ProviderResponse, body: &Value) -> Option<CourierError> {
    let code = body.get("error").and_then(Value::as_str)?;
    let message = text(body.get("error_description").and_then(Value::as_str))
        .unwrap_or(code)
        .to_owned();
    Some(match (code, response.status) {
        // The client itself was refused, whatever the status says.
        ("invalid_client" | "unauthorized_client" | "invalid_grant", _) | (_, 401 | 403) => {
            CourierError::Unauthorized(message)
        }
        (_, 429) => CourierError::RateLimited {
            retry_after: retry_after(response, DEFAULT_RETRY_AFTER),
        },
        (_, 500..) => CourierError::Unavailable(message),
        (_, status) => CourierError::Refused {
            status,
            code: code.to_owned(),
            message,
        },
    })
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

// ---- tracking -------------------------------------------------------------------------------

fn parse_details(tracking_number: &str, body: &Value) -> Result<Tracking, CourierError> {
    let bad = |e: String| CourierError::BadResponse(format!("USPS tracking: {e}"));
    let details = WireTracking::deserialize(body).map_err(|e| bad(e.to_string()))?;
    let events = events_of(details.tracking_events.unwrap_or_default()).map_err(bad)?;
    Ok(Tracking {
        tracking_number: tracking_number.to_owned(),
        events,
        // USPS documents a date-time; one without a zone is local to a place it does not
        // name, so only an RFC 3339 instant is taken.
        estimated_delivery: text(details.expected_delivery_time_stamp.as_deref())
            .and_then(Timestamp::parse_rfc3339),
    })
}

// ---- push -----------------------------------------------------------------------------------

/// Whether `signature` (Base64) is HMAC-SHA256 of `timestamp` then `payload` under `secret`.
fn verify(secret: &str, timestamp: &str, payload: &str, signature: &str) -> bool {
    // An empty key is one anybody can sign with.
    if secret.is_empty() {
        return false;
    }
    let Ok(given) = BASE64.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(payload.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// One pushed tracking object as a `Tracking`.
fn pushed_tracking(value: Value) -> Result<Tracking, String> {
    let pushed = WirePushed::deserialize(value).map_err(|e| e.to_string())?;
    let tracking_number = text(pushed.tracking_number.as_deref())
        .ok_or("the payload names no trackingNumber")?
        .to_owned();
    let events = match pushed.tracking_events {
        Some(events) => events,
        None if pushed.scan.event_code.is_some() || pushed.scan.event_type.is_some() => {
            vec![pushed.scan]
        }
        None => return Err("the payload holds no tracking event".to_owned()),
    };
    Ok(Tracking {
        tracking_number,
        events: events_of(events)?,
        estimated_delivery: None,
    })
}

fn parse_payload(payload: &str) -> Result<Vec<Tracking>, String> {
    match serde_json::from_str::<Value>(payload).map_err(|e| e.to_string())? {
        Value::Array(items) => items.into_iter().map(pushed_tracking).collect(),
        item => pushed_tracking(item).map(|tracking| vec![tracking]),
    }
}

impl CarrierAdapter for Usps {
    fn carrier(&self) -> Carrier {
        Carrier::Usps
    }

    /// 60 requests an hour, every v3 API and token request together. USPS publishes no figure
    /// on its portal: its FAQ says only that the quota counts "API calls per hour" and that a
    /// 429 "Exceeded quota limit" is lifted through a service request (quoted in
    /// USPS/api-examples issue #107). The default for a new application is reported there and
    /// by integrators as 60 requests per hour (revaddress.com, "USPS API Rate Limits: How to
    /// Handle 60 req/hr"); a workspace with a raised quota gets no benefit until this changes.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            requests: 60,
            per: ONE_HOUR,
        }
    }

    /// USPS takes the client credentials as a form, as RFC 6749 §4.4 describes (its token
    /// endpoint also accepts JSON; the form is the standard one).
    fn token_request(&self, credentials: &Credentials) -> Option<ProviderRequest> {
        let field = |value: &Option<String>| value.clone().unwrap_or_default();
        Some(ProviderRequest {
            operation: "oauth.token",
            method: Method::POST,
            url: format!(
                "{}/oauth2/v3/token",
                credentials.api_base.trim_end_matches('/')
            ),
            headers: vec![("Accept".to_owned(), "application/json".to_owned())],
            form: Some(vec![
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("client_id".to_owned(), field(&credentials.key)),
                ("client_secret".to_owned(), field(&credentials.secret)),
            ]),
            json: None,
            idempotency_key: None,
        })
    }

    fn parse_token(&self, response: &ProviderResponse) -> Result<AccessToken, CourierError> {
        let body = json_of(&response.body);
        if !response.is_success() {
            return Err(oauth_error(response, &body).unwrap_or_else(|| {
                error_of(response, &body, |message| CourierError::Refused {
                    status: 404,
                    code: "404".to_owned(),
                    message,
                })
            }));
        }
        let token = WireToken::deserialize(&body)
            .map_err(|e| CourierError::BadResponse(format!("USPS token: {e}")))?;
        let access = text(token.access_token.as_deref())
            .ok_or_else(|| CourierError::BadResponse("USPS token: no access_token".to_owned()))?;
        let seconds = match token.expires_in {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        Ok(AccessToken {
            token: access.to_owned(),
            expires_in: seconds
                .filter(|s| *s > 0)
                .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs),
        })
    }

    fn tracking_request(
        &self,
        credentials: &Credentials,
        token: Option<&str>,
        tracking_number: &str,
    ) -> ProviderRequest {
        ProviderRequest {
            operation: "tracking.get",
            method: Method::GET,
            url: format!(
                "{}/tracking/v3/tracking/{}?expand=DETAIL",
                credentials.api_base.trim_end_matches('/'),
                percent_encode(tracking_number)
            ),
            headers: vec![
                (
                    "Authorization".to_owned(),
                    format!("Bearer {}", token.unwrap_or_default()),
                ),
                ("Accept".to_owned(), "application/json".to_owned()),
            ],
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
        let body = json_of(&response.body);
        let not_found = |message: String| {
            CourierError::NotFound(if message.is_empty() {
                tracking_number.to_owned()
            } else {
                message
            })
        };
        if !response.is_success() {
            return Err(error_of(response, &body, not_found));
        }
        if body.is_null() {
            return Err(CourierError::BadResponse(
                "USPS tracking: the answer is not JSON".to_owned(),
            ));
        }
        // An error inside a 2xx would otherwise read as a piece with no events.
        if body.get("error").is_some_and(Value::is_object) {
            let (code, message) = api_error(&body);
            return Err(CourierError::BadResponse(format!(
                "USPS tracking: an error in a {} answer: {code}: {message}",
                response.status
            )));
        }
        parse_details(tracking_number, &body)
    }

    /// Verifies and reads a "Subscriptions - Tracking" notification.
    ///
    /// The scheme is the one documented for USPS's Subscriptions - Tracking API v3.2 by
    /// hookdeck's `usps-webhooks` reference (written from USPS's developer portal, which is a
    /// script-rendered page with no public text copy) and described the same way by the
    /// integrations that cite USPS: the body is an envelope `{"subscriptionId",
    /// "subscriptionType", "timestamp", "payload", "links"}` whose `payload` is stringified
    /// JSON; the `X-HMAC` header (older, deprecated name `hmac-header`) carries
    /// `Base64(HMAC-SHA256(secret, timestamp + payload))`, the two envelope fields concatenated
    /// with no separator and `payload` exactly as sent (the signature is not over the raw
    /// body). Other code found uses an `X-USPS-Signature` over the raw body but cites nothing.
    /// A subscription created without a secret sends no header; such a notification is
    /// refused (`MissingSignature`).
    ///
    /// Assumed, because no public source shows a real notification: that the `TRACKING`
    /// payload carries `trackingNumber` and `trackingEvents[]` with the tracking API's event
    /// fields, and that a scan-extract payload carries one scan's fields beside
    /// `trackingNumber` (both are read; an array of either is read too). Only the envelope's two
    /// signed strings are read before the signature is checked; an envelope without them
    /// cannot be verified and is refused as `BadSignature`. Replay is not checked: the adapter
    /// has no clock, and a replayed genuine notification only repeats events already seen.
    fn parse_push(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
    ) -> Result<Vec<Tracking>, PushError> {
        let signature = [SIGNATURE_HEADER, LEGACY_SIGNATURE_HEADER]
            .into_iter()
            .find_map(|name| text(headers.get(name).map(String::as_str)))
            .ok_or(PushError::MissingSignature)?;
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|_| PushError::BadSignature)?;
        let signed =
            |secret: &String| verify(secret, &envelope.timestamp, &envelope.payload, signature);
        if !secrets.iter().any(signed) {
            return Err(PushError::BadSignature);
        }
        parse_payload(&envelope.payload).map_err(PushError::BadPayload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalised() {
        for (raw, want) in [
            ("-05:00", Some("-05:00")),
            ("-7:00", Some("-07:00")),
            ("+5:30", Some("+05:30")),
            ("-0500", Some("-05:00")),
            ("0:00", Some("+00:00")),
            ("-5", Some("-05:00")),
            ("EST", None),
            ("", None),
            ("+25:00", None),
            ("-05:0x", None),
        ] {
            assert_eq!(normalise_offset(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn a_local_time_at_its_offset_stands_in_for_a_missing_gmt() {
        let event = WireEvent {
            event_timestamp: Some("2024-11-22T13:58:00".to_owned()),
            gmt_offset: Some("-5:00".to_owned()),
            ..WireEvent::default()
        };
        let at = occurred_at(&event).unwrap();
        assert_eq!(at.to_rfc3339(), "2024-11-22T18:58:00Z");
    }

    #[test]
    fn a_tracking_number_stays_one_path_segment() {
        assert_eq!(percent_encode("94001/../x?y"), "94001%2F..%2Fx%3Fy");
    }
}
