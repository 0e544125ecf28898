//! Modern Treasury-shaped webhook bodies (`{"event": …, "data": …}`), built from the test
//! bank's records with the fields of the public payloads.

use serde_json::{json, Map, Value};

use super::records::{ExpectedRecord, IncomingRecord, OrderRecord, ReturnRecord};
use crate::modern_treasury::rule_json;
use crate::types::FailureReason;

fn webhook(event: &str, data: Value) -> Value {
    json!({ "event": event, "data": data })
}

/// A payment order as Modern Treasury sends it in a webhook.
pub(super) fn payment_order(record: &OrderRecord) -> Value {
    let order = &record.order;
    json!({
        "id": order.id,
        "object": "payment_order",
        "type": order.rail.as_str(),
        "amount": order.amount,
        "direction": order.direction.as_str(),
        "currency": order.currency,
        "originating_account_id": order.originating_account_id,
        "counterparty_id": order.counterparty_id,
        "receiving_account_id": order.receiving_account_id,
        "receiving_account_type": "external_account",
        "effective_date": order.effective_date,
        "remittance_information": order.reference,
        "description": record.description,
        "metadata": order.metadata,
        "status": order.status.as_str(),
        "live_mode": false,
        "created_at": record.created_at.to_rfc3339(),
        "updated_at": record.updated_at.to_rfc3339(),
    })
}

/// `payment_order` `event`; a failure adds Modern Treasury's top-level `errors`.
pub(super) fn payment_order_webhook(record: &OrderRecord, event: &str) -> Value {
    let mut body = webhook(event, payment_order(record));
    if let (Some(failure), Value::Object(map)) = (&record.failure, &mut body) {
        map.insert("errors".into(), errors(failure));
    }
    body
}

fn errors(failure: &FailureReason) -> Value {
    let mut map = Map::new();
    for (key, value) in [
        ("code", &failure.code),
        ("message", &failure.message),
        ("parameter", &failure.parameter),
    ] {
        if let Some(value) = value {
            map.insert(key.into(), json!(value));
        }
    }
    Value::Object(map)
}

/// `return` `created` (status `pending`) or `completed`.
pub(super) fn return_webhook(record: &ReturnRecord, event: &str) -> Value {
    webhook(
        event,
        json!({
            "id": record.id,
            "object": "return",
            "status": record.status,
            "returnable_id": record.order_id,
            "returnable_type": "payment_order",
            "internal_account_id": record.internal_account_id,
            "transaction_id": null,
            "transaction_line_item_id": null,
            "type": "ach",
            "amount": record.amount,
            "currency": record.currency,
            "code": record.code.code,
            "reason": record.code.title,
            "role": "originating",
            "live_mode": false,
            "created_at": record.created_at.to_rfc3339(),
            "updated_at": record.updated_at.to_rfc3339(),
        }),
    )
}

/// `incoming_payment_detail` `created` (status `pending`) or `completed`. The payer's account
/// number travels only as its last four digits (`originating_account_number_safe`).
pub(super) fn incoming_webhook(record: &IncomingRecord, event: &str) -> Value {
    let request = &record.request;
    let safe = request.originator_account_number.as_ref().map(|number| {
        let digits: Vec<char> = number.expose().chars().collect();
        digits[digits.len().saturating_sub(4)..]
            .iter()
            .collect::<String>()
    });
    let routing = request
        .originator_routing_number
        .as_ref()
        .map(|n| n.expose().to_owned());
    webhook(
        event,
        json!({
            "id": record.id,
            "object": "incoming_payment_detail",
            "type": request.rail.as_str(),
            "amount": request.amount,
            "currency": request.currency,
            "direction": request.direction.as_str(),
            "status": record.status,
            "as_of_date": record.as_of_date.to_string(),
            "internal_account_id": request.internal_account_id,
            "virtual_account_id": request.virtual_account_id,
            "originating_party_name": request.originator_name,
            "remittance_information": request.reference,
            "originating_account_number_safe": safe,
            "originating_account_number_type": safe.as_ref().map(|_| "other"),
            "originating_routing_number": routing,
            "originating_routing_number_type": routing.as_ref().map(|_| "aba"),
            "transaction_id": record.transaction_id,
            "metadata": {},
            "live_mode": false,
            "created_at": record.created_at.to_rfc3339(),
            "updated_at": record.updated_at.to_rfc3339(),
        }),
    )
}

/// `expected_payment` `reconciled`.
pub(super) fn reconciled_webhook(record: &ExpectedRecord) -> Value {
    let expected = &record.expected;
    let rules: Vec<Value> = expected
        .rules
        .iter()
        .map(|rule| Value::Object(rule_json(rule)))
        .collect();
    webhook(
        "reconciled",
        json!({
            "id": expected.id,
            "object": "expected_payment",
            "status": "reconciled",
            "reconciliation_method": "automatic",
            "transaction_id": expected.transaction_id,
            "transaction_line_item_id": record.line_item_id,
            "amount_reconciled": expected.amount_reconciled,
            "amount_unreconciled": expected.amount_unreconciled,
            "reconciliation_rule_variables": rules,
            "remittance_information": expected.reference,
            "description": record.description,
            "metadata": expected.metadata,
            "live_mode": false,
            "created_at": record.created_at.to_rfc3339(),
            "updated_at": record.updated_at.to_rfc3339(),
        }),
    )
}
