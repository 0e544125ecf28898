//! Chit Chats, through its client API (JSON).
//!
//! `GET {api_base}/api/v1/clients/{client id}/shipments/{shipment id}` with the access token as
//! the whole `Authorization` header (no `Bearer` prefix: Chit Chats' API documentation and its
//! Ruby example send the bare token). The answer is `{"shipment": {…, "tracking_events": […]}}`;
//! the public tracking JSON (`https://chitchats.com/tracking/{id}.json`) has the same envelope
//! and event shape, so [`parse_public_tracking`] reads it with the same parser.
//!
//! Chit Chats pushes nothing: it is polled, so `parse_push` keeps the trait's default.
//!
//! # Statuses
//!
//! An event's `status` uses the shipment status vocabulary of Chit Chats' API documentation
//! (github.com/chitchats/chitchats-api-doc, `sections/shipments.md`, "status" filter and "Buy
//! shipment"; chitchats.com/docs/api/v1): [`STATUSES`]. Karrio has no Chit Chats tracking
//! mapping to follow (its only Chit Chats code is an unmerged example with an invented status
//! enum), so the table is ours, one documented value per line. The events Chit Chats writes
//! itself (created, postage bought, received) come with a `null` status: their code is then the
//! event's `title`, and a status is derived only from a title [`TITLES`] knows — anything else
//! is `unknown`, never guessed from the words.

use std::time::Duration;

use serde::Deserialize;

use crate::test_courier::offset_of;
use crate::*;

pub struct ChitChats;

/// The wait after a 429 without a readable `Retry-After`.
const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(60);

/// Chit Chats' shipment statuses (the values an event's `status` takes) and what they mean for
/// the parcel. `resolved` is left out on purpose: Chit Chats documents it as "delivered,
/// exception or voided", so it says nothing we could map.
pub const STATUSES: &[(&str, TrackingStatus)] = {
    use TrackingStatus::*;
    &[
        // "in the process of being created by the client"
        ("pending", PreTransit),
        // postage bought, the label being generated ("Buy shipment")
        ("postage_requested", PreTransit),
        // the label could not be bought: the merchant has to act
        ("postage_purchase_failed", Exception),
        // "ready to be received by Chit Chats": postage bought, not dropped off yet
        ("ready", PreTransit),
        // "in the process of being delivered" (received, released or inducted)
        ("in_transit", InTransit),
        // "received by Chit Chats": Chit Chats, the carrier here, has the parcel
        ("received", InTransit),
        // "Chit Chats has released the shipment to the carrier"
        ("released", InTransit),
        // "confirmed by tracking event to be in possession by the shipping carrier"
        ("inducted", InTransit),
        // "resolved as delivered"
        ("delivered", Delivered),
        // "resolved as exception … may have been a problem delivering the shipment"
        ("exception", Exception),
        // "resolved as voided because a postage refund was requested"
        ("voided", Cancelled),
        // "canceled to prevent delivery … held at a branch or returned to the client"
        ("canceled", Cancelled),
    ]
};

/// Titles of the events Chit Chats writes with a `null` status, as its documented examples show
/// them (shipment and public tracking examples).
pub const TITLES: &[(&str, TrackingStatus)] = {
    use TrackingStatus::*;
    &[
        ("Shipment created", PreTransit),
        ("Shipment created, Chit Chats awaiting item", PreTransit),
        ("Postage purchased", PreTransit),
        ("Received by Chit Chats", InTransit),
    ]
};

/// The status of an event's code: a status value, or the title of an event without one.
pub fn status_of(code: &str) -> TrackingStatus {
    let code = code.trim();
    STATUSES
        .iter()
        .chain(TITLES)
        .find(|(known, _)| *known == code)
        .map_or(TrackingStatus::Unknown, |(_, status)| *status)
}

#[derive(Debug, Deserialize)]
struct Envelope {
    shipment: WireShipment,
}

/// Both shapes: the client API has `id`, the public tracking JSON `shipment_id`.
#[derive(Debug, Deserialize)]
struct WireShipment {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    shipment_id: Option<String>,
    #[serde(default)]
    estimated_delivery_at: Option<String>,
    #[serde(default)]
    tracking_events: Option<Vec<WireEvent>>,
}

#[derive(Debug, Deserialize)]
struct WireEvent {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    subtitle: Option<String>,
    #[serde(default)]
    location_description: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// A string field's text, or `None` when absent, `null` or blank.
fn present(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Reads Chit Chats' public tracking JSON (`/tracking/{id}.json`).
pub fn parse_public_tracking(body: &[u8]) -> Result<Tracking, CourierError> {
    parse_shipment(body, None).map_err(CourierError::BadResponse)
}

/// Reads `{"shipment": …}`; `fallback` is the number asked about, for a body without an id.
fn parse_shipment(body: &[u8], fallback: Option<&str>) -> Result<Tracking, String> {
    let Envelope { shipment } = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let tracking_number = present(shipment.id.as_ref())
        .or(present(shipment.shipment_id.as_ref()))
        .or(fallback)
        .ok_or("the shipment has no id")?
        .to_owned();
    let events = shipment
        .tracking_events
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, event)| event_of(i, event))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tracking {
        tracking_number,
        events,
        estimated_delivery: estimated_delivery(shipment.estimated_delivery_at.as_ref()),
    })
}

/// `estimated_delivery_at` as an instant, or a date kept as the start of that day in UTC. An
/// estimate is a hint: one we cannot read is dropped rather than failing the whole answer.
fn estimated_delivery(value: Option<&String>) -> Option<Timestamp> {
    let value = present(value)?;
    Timestamp::parse_rfc3339(value).or_else(|| {
        let date: jiff::civil::Date = value.parse().ok()?;
        let at = jiff::tz::Offset::UTC.to_timestamp(date.into()).ok()?;
        Some(Timestamp::from_unix_micros(at.as_microsecond()))
    })
}

fn event_of(i: usize, event: &WireEvent) -> Result<CarrierEvent, String> {
    let created_at = present(event.created_at.as_ref())
        .ok_or_else(|| format!("tracking_events[{i}] has no created_at"))?;
    let occurred_at = Timestamp::parse_rfc3339(created_at)
        .ok_or_else(|| format!("tracking_events[{i}].created_at is not an RFC 3339 instant"))?;
    let title = present(event.title.as_ref()).unwrap_or_default();
    // Chit Chats' own events have no status: their title is the only code there is.
    let code = present(event.status.as_ref()).unwrap_or(title).to_owned();
    let description = match present(event.subtitle.as_ref()) {
        Some(subtitle) if !title.is_empty() => format!("{title}: {subtitle}"),
        Some(subtitle) => subtitle.to_owned(),
        None => title.to_owned(),
    };
    Ok(CarrierEvent {
        status: status_of(&code),
        code,
        description,
        occurred_at,
        utc_offset: offset_of(created_at),
        location: present(event.location_description.as_ref()).map(str::to_owned),
    })
}

/// The message of a JSON error body: `{"message": …}` (Chit Chats' own example reads this),
/// `{"error": "…"}`, `{"error": {"message": …}}` or `{"errors": [ "…" | {"message": …} ]}`.
fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| {
        v.as_str()
            .or_else(|| v.get("message").and_then(serde_json::Value::as_str))
            .map(str::to_owned)
    };
    text(&value)
        .or_else(|| value.get("error").and_then(text))
        .or_else(|| {
            let errors = value.get("errors")?.as_array()?;
            let all: Vec<String> = errors.iter().filter_map(text).collect();
            (!all.is_empty()).then(|| all.join("; "))
        })
}

/// The carrier's words for a failed answer: its JSON message, or the start of the body.
fn failure_text(response: &ProviderResponse) -> String {
    error_message(&response.body).unwrap_or_else(|| {
        let raw: String = String::from_utf8_lossy(&response.body)
            .chars()
            .take(200)
            .collect();
        if raw.trim().is_empty() {
            format!("HTTP {}", response.status)
        } else {
            raw
        }
    })
}

impl CarrierAdapter for ChitChats {
    fn carrier(&self) -> Carrier {
        Carrier::ChitChats
    }

    /// Chit Chats' API documentation, "Rate limiting": up to 2,000 requests per 5 minutes from
    /// one IP address for one account; beyond that a 429 with `Retry-After`.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            requests: 2_000,
            per: Duration::from_secs(300),
        }
    }

    fn tracking_request(
        &self,
        credentials: &Credentials,
        _token: Option<&str>,
        tracking_number: &str,
    ) -> ProviderRequest {
        // The request cannot fail here: missing credentials make Chit Chats answer 401/404,
        // which `parse_tracking` reports.
        let client_id = credentials.account.as_deref().unwrap_or_default();
        let token = credentials.key.as_deref().unwrap_or_default();
        ProviderRequest {
            operation: "tracking.get",
            method: Method::GET,
            url: format!(
                "{}/api/v1/clients/{}/shipments/{}",
                credentials.api_base.trim_end_matches('/'),
                percent_encode(client_id),
                percent_encode(tracking_number)
            ),
            headers: vec![
                ("Authorization".to_owned(), token.to_owned()),
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
        match response.status {
            200..=299 => parse_shipment(&response.body, Some(tracking_number))
                .map_err(CourierError::BadResponse),
            401 | 403 => Err(CourierError::Unauthorized(failure_text(response))),
            404 => Err(CourierError::NotFound(tracking_number.to_owned())),
            429 => Err(CourierError::RateLimited {
                retry_after: retry_after(response, RETRY_AFTER_DEFAULT),
            }),
            status @ 400..=499 => Err(CourierError::Refused {
                status,
                code: status.to_string(),
                message: failure_text(response),
            }),
            status @ 500..=599 => Err(CourierError::Unavailable(format!(
                "HTTP {status}: {}",
                failure_text(response)
            ))),
            status => Err(CourierError::BadResponse(format!(
                "unexpected HTTP {status}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_documented_shape_are_read() {
        let read = |body: &str| error_message(body.as_bytes());
        assert_eq!(
            read(r#"{"message":"Not allowed"}"#).as_deref(),
            Some("Not allowed")
        );
        assert_eq!(read(r#"{"error":"Bad size"}"#).as_deref(), Some("Bad size"));
        assert_eq!(
            read(r#"{"error":{"message":"Bad weight","code":7}}"#).as_deref(),
            Some("Bad weight")
        );
        assert_eq!(
            read(r#"{"errors":["a",{"message":"b"}]}"#).as_deref(),
            Some("a; b")
        );
        assert_eq!(read("<html>"), None);
    }

    #[test]
    fn every_code_is_listed_once() {
        let mut codes: Vec<&str> = STATUSES.iter().chain(TITLES).map(|(c, _)| *c).collect();
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(before, codes.len());
    }
}
