//! Modern Treasury's webhooks read into [`BankEvent`]s. The body is `{"event": …, "data": …}`
//! (a failed payment order adds `errors`); the topic comes from `X-Topic` or, without it,
//! `data.object`.

use serde_json::Value;

use super::wire;
use crate::event::{BankEvent, BankEventKind};
use crate::types::{FailureReason, PaymentOrderStatus};
use crate::{Headers, WebhookError};

/// `X-Webhook-ID`: the same on every redelivery of one webhook.
pub const WEBHOOK_ID_HEADER: &str = "x-webhook-id";
pub const EVENT_ID_HEADER: &str = "x-event-id";
pub const TOPIC_HEADER: &str = "x-topic";
pub const LIVE_MODE_HEADER: &str = "x-live-mode";

/// Reads an already verified webhook (see [`super::ModernTreasuryAdapter::parse_webhook`]).
pub fn parse_event(headers: &Headers, body: &[u8]) -> Result<BankEvent, WebhookError> {
    let header = |name: &str| headers.get(name).map(|v| v.trim().to_owned());
    let webhook_id = header(WEBHOOK_ID_HEADER)
        .filter(|id| !id.is_empty())
        .ok_or(WebhookError::MissingWebhookId)?;
    let bad = WebhookError::BadPayload;
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let event = wire::req_str(&value, "event").map_err(bad)?;
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| bad("'data' is missing or not an object".into()))?;
    let object = wire::opt_str(data, "object");
    let topic = match (header(TOPIC_HEADER), object) {
        (Some(topic), Some(object)) if topic != object => {
            return Err(bad(format!(
                "X-Topic is '{topic}' but the data is a '{object}'"
            )))
        }
        (Some(topic), _) | (None, Some(topic)) => topic,
        (None, None) => return Err(bad("no X-Topic and no data.object".into())),
    };
    let kind = kind(&topic, &event, &value, data).map_err(|e| bad(format!("{topic}: {e}")))?;
    Ok(BankEvent {
        webhook_id,
        event_id: header(EVENT_ID_HEADER),
        live_mode: header(LIVE_MODE_HEADER)
            .and_then(|v| v.parse().ok())
            .or_else(|| data.get("live_mode").and_then(Value::as_bool)),
        topic,
        event,
        kind,
    })
}

fn kind(topic: &str, event: &str, body: &Value, data: &Value) -> Result<BankEventKind, String> {
    Ok(match topic {
        "payment_order" => match event_status(event) {
            Some(status) => payment_order_changed(status, body, data)?,
            None => BankEventKind::Other,
        },
        "return" if wire::is_notification_of_change(data) => {
            BankEventKind::NotificationOfChange(wire::notification_of_change(data)?)
        }
        "return" => BankEventKind::Return(wire::bank_return(data)?),
        "expected_payment" if event == "reconciled" => BankEventKind::ExpectedPaymentReconciled {
            expected_payment_id: wire::req_str(data, "id")?,
            transaction_id: wire::opt_str(data, "transaction_id"),
            transaction_line_item_id: wire::opt_str(data, "transaction_line_item_id"),
            method: wire::opt_str(data, "reconciliation_method"),
            rules: wire::rules(data)?,
            metadata: wire::string_map(data, "metadata"),
        },
        "incoming_payment_detail" => BankEventKind::IncomingPayment(wire::incoming_payment(data)?),
        _ => BankEventKind::Other,
    })
}

/// The status a payment order event announces; `None` for events that are not a change of
/// status (`reconciled`, `updated`…).
fn event_status(event: &str) -> Option<PaymentOrderStatus> {
    match event {
        "created" => Some(PaymentOrderStatus::Pending),
        "begin_processing" => Some(PaymentOrderStatus::Processing),
        "finished_processing" | "acknowledged" => Some(PaymentOrderStatus::Sent),
        other => wire::payment_order_status(other),
    }
}

fn payment_order_changed(
    status: PaymentOrderStatus,
    body: &Value,
    data: &Value,
) -> Result<BankEventKind, String> {
    // The whole order when the webhook carries it; a failure may carry only its id.
    let order = match data.get("status") {
        Some(_) => Some(wire::payment_order(data)?),
        None => None,
    };
    let failure = body
        .get("errors")
        .filter(|e| e.is_object())
        .map(|errors| FailureReason {
            code: wire::opt_str(errors, "code"),
            message: wire::opt_str(errors, "message"),
            parameter: wire::opt_str(errors, "parameter"),
        });
    Ok(BankEventKind::PaymentOrderStatusChanged {
        payment_order_id: wire::req_str(data, "id")?,
        status,
        failure,
        order,
    })
}
