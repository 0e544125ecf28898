//! Reading PayPal's answers: each 2xx body into Bursar's neutral types, and every other answer
//! into the [`ProviderError`] it stands for. A decline (a 422 with PayPal's issue) is read as the
//! payment's state, not as an error.

use std::time::Duration;

use serde_json::Value;

use super::money::money_of;
use super::{AccessToken, Expected, PayPalAdapter};
use crate::executor::{mask_secrets, ProviderResponse};
use crate::{
    CheckoutRequest, CheckoutSession, DeclineClass, PaymentState, PaymentStatus, ProviderError,
    RefundRequest, RefundResult, RefundStatus, SavedMethod, SetupRequest, SetupSession,
};

impl PayPalAdapter {
    /// Reads the token answer: `access_token`, and `expires_in` seconds.
    pub fn parse_token(&self, response: &ProviderResponse) -> Result<AccessToken, ProviderError> {
        let body = read_json(response, "access token")?;
        let value = str_of(&body, "access_token")
            .filter(|token| !token.is_empty())
            .ok_or_else(|| bad("the token answer has no access_token"))?;
        let seconds = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("the token answer has no expires_in"))?;
        Ok(AccessToken {
            value: value.to_owned(),
            expires_in: Duration::from_secs(seconds),
        })
    }

    /// Reads the created order: its id is the session, its `payer-action` link (else its
    /// `approve` link) is where the customer goes. PayPal orders carry no expiry Bursar can set,
    /// so the session keeps the one Bursar asked for.
    pub fn parse_checkout(
        &self,
        response: &ProviderResponse,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, ProviderError> {
        let order = read_json(response, "order")?;
        let url = link(&order, "payer-action")
            .or_else(|| link(&order, "approve"))
            .ok_or_else(|| bad("the order has no payer-action or approve link"))?;
        Ok(CheckoutSession {
            id: required_str(&order, "id")?,
            url,
            payment_id: None,
            expires_at: request.expires_at,
        })
    }

    /// Reads an order (created, captured or retrieved) as the state of its payment: the first
    /// capture's when there is one (see [`Self::parse_payment`]), else the order's own
    /// (`PAYER_ACTION_REQUIRED`, `CREATED`, `APPROVED`: `Open`; `VOIDED`: `Canceled`).
    pub fn parse_order(&self, response: &ProviderResponse) -> Result<PaymentState, ProviderError> {
        order_state(&read_json(response, "order")?, None)
    }

    /// Reads a capture: `COMPLETED` (and `REFUNDED`, `PARTIALLY_REFUNDED`: the money was
    /// received; refunds are their own records) is `Succeeded`, `PENDING` `Processing`,
    /// `DECLINED` and `FAILED` `Failed`. The order is the capture's `custom_id`.
    pub fn parse_payment(
        &self,
        response: &ProviderResponse,
    ) -> Result<PaymentState, ProviderError> {
        capture_state(&read_json(response, "capture")?).map_err(bad)
    }

    /// Reads a refund. PayPal's minimal answer has no amount: the requested one is reported.
    pub fn parse_refund(
        &self,
        response: &ProviderResponse,
        request: &RefundRequest,
    ) -> Result<RefundResult, ProviderError> {
        let refund = read_json(response, "refund")?;
        let amount = match refund.get("amount") {
            Some(_) => money_of(&refund, "amount").map_err(bad)?.0,
            None => request.amount,
        };
        Ok(RefundResult {
            id: required_str(&refund, "id")?,
            status: refund_status(str_of(&refund, "status")),
            amount,
        })
    }

    /// Reads a setup token: its id, its `approve` link, and PayPal's customer (the answer's,
    /// else the one the request named).
    pub fn parse_setup(
        &self,
        response: &ProviderResponse,
        request: &SetupRequest,
    ) -> Result<SetupSession, ProviderError> {
        let setup = read_json(response, "setup token")?;
        let provider_customer = setup
            .pointer("/customer/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| request.provider_customer.clone())
            .ok_or_else(|| bad("the setup token names no customer"))?;
        Ok(SetupSession {
            id: required_str(&setup, "id")?,
            url: link(&setup, "approve")
                .ok_or_else(|| bad("the setup token has no approve link"))?,
            provider_customer,
        })
    }

    /// Reads a payment token: its (vault) id and customer.
    pub fn parse_payment_token(
        &self,
        response: &ProviderResponse,
    ) -> Result<SavedMethod, ProviderError> {
        let saved = read_json(response, "payment token")?;
        Ok(SavedMethod {
            payment_method: required_str(&saved, "id")?,
            provider_customer: saved
                .pointer("/customer/id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// Reads the answer to [`Self::charge_request`] or [`Self::capture_request`]: the order's
    /// payment state ([`Self::parse_order`]), or, for a 422 decline ([`decline_of`]), the decline
    /// as a state with `expected`'s id, amount, currency and order. An order still waiting on
    /// the payer is `Open` with `authentication_required`: the customer must come back.
    pub fn parse_charge(
        &self,
        response: &ProviderResponse,
        expected: &Expected,
    ) -> Result<PaymentState, ProviderError> {
        if let Some((issue, class)) = decline_of(response) {
            return Ok(declined(expected, &issue, class));
        }
        let mut state = order_state(&read_json(response, "order")?, Some(expected))?;
        if state.status == PaymentStatus::Open && state.last_error.is_none() {
            state.last_error = Some("authentication_required".to_owned());
            state.decline_class = Some(DeclineClass::AuthenticationRequired);
        }
        if state.order_id.is_none() {
            state.order_id.clone_from(&expected.order_id);
        }
        Ok(state)
    }
}

/// The payment state of an order: see [`PayPalAdapter::parse_order`]. An order without a
/// purchase unit (PayPal's minimal answer) takes its amount from `expected`, when given.
fn order_state(order: &Value, expected: Option<&Expected>) -> Result<PaymentState, ProviderError> {
    let unit = order.pointer("/purchase_units/0");
    if let Some(capture) = unit.and_then(|u| u.pointer("/payments/captures/0")) {
        let mut state = capture_state(capture).map_err(bad)?;
        if state.order_id.is_none() {
            state.order_id = unit.and_then(|u| str_of(u, "custom_id")).map(str::to_owned);
        }
        return Ok(state);
    }
    let status = required_str(order, "status")?;
    let status = match status.as_str() {
        "CREATED" | "SAVED" | "APPROVED" | "PAYER_ACTION_REQUIRED" => PaymentStatus::Open,
        "VOIDED" => PaymentStatus::Canceled,
        other => return Err(bad(format!("an order {other} without a capture"))),
    };
    let (amount, currency, order_id) = match (unit, expected) {
        (Some(unit), _) => {
            let (amount, currency) = money_of(unit, "amount").map_err(bad)?;
            (
                amount,
                currency,
                str_of(unit, "custom_id").map(str::to_owned),
            )
        }
        (None, Some(expected)) => (
            expected.amount,
            expected.currency.clone(),
            expected.order_id.clone(),
        ),
        (None, None) => return Err(bad("the order has no purchase unit")),
    };
    Ok(PaymentState {
        id: required_str(order, "id")?,
        status,
        amount,
        amount_received: 0,
        currency,
        order_id,
        last_error: None,
        decline_code: None,
        decline_class: None,
    })
}

/// The payment state of a capture: see [`PayPalAdapter::parse_payment`]. A failed capture is a
/// soft decline (PayPal gives no class), with the processor's response code when there is one.
fn capture_state(capture: &Value) -> Result<PaymentState, String> {
    let status = str_of(capture, "status").ok_or("'status' is missing")?;
    let status = match status {
        "COMPLETED" | "REFUNDED" | "PARTIALLY_REFUNDED" => PaymentStatus::Succeeded,
        "PENDING" => PaymentStatus::Processing,
        "DECLINED" | "FAILED" => PaymentStatus::Failed,
        other => return Err(format!("unknown capture status '{other}'")),
    };
    let (amount, currency) = money_of(capture, "amount")?;
    let failed = status == PaymentStatus::Failed;
    Ok(PaymentState {
        id: str_of(capture, "id").ok_or("'id' is missing")?.to_owned(),
        status,
        amount,
        amount_received: if status == PaymentStatus::Succeeded {
            amount
        } else {
            0
        },
        currency,
        order_id: str_of(capture, "custom_id").map(str::to_owned),
        last_error: failed.then(|| str_of(capture, "status").unwrap_or("DECLINED").to_owned()),
        decline_code: capture
            .pointer("/processor_response/response_code")
            .and_then(Value::as_str)
            .filter(|_| failed)
            .map(str::to_owned),
        decline_class: failed.then_some(DeclineClass::Soft),
    })
}

/// The issue and class of a 422 that is the payment's outcome rather than a bad request:
/// `INSTRUMENT_DECLINED` and `TRANSACTION_REFUSED` (soft: the payer may pay with another funding
/// source), `PAYER_ACTION_REQUIRED` (the payer must come back), and a saved wallet whose
/// agreement is gone (`AGREEMENT_ALREADY_CANCELLED`, `BILLING_AGREEMENT_NOT_FOUND`: hard).
pub fn decline_of(response: &ProviderResponse) -> Option<(String, DeclineClass)> {
    if response.status != 422 {
        return None;
    }
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    let issue = body.pointer("/details/0/issue")?.as_str()?;
    let class = match issue {
        "INSTRUMENT_DECLINED" | "TRANSACTION_REFUSED" => DeclineClass::Soft,
        "PAYER_ACTION_REQUIRED" => DeclineClass::AuthenticationRequired,
        "AGREEMENT_ALREADY_CANCELLED" | "BILLING_AGREEMENT_NOT_FOUND" => DeclineClass::Hard,
        _ => return None,
    };
    Some((issue.to_owned(), class))
}

/// A declined charge or capture as a state: `Open` with `authentication_required` when the
/// payer must act, else `Failed` with PayPal's issue.
pub(super) fn declined(expected: &Expected, issue: &str, class: DeclineClass) -> PaymentState {
    let (status, last_error) = match class {
        DeclineClass::AuthenticationRequired => (PaymentStatus::Open, "authentication_required"),
        _ => (PaymentStatus::Failed, issue),
    };
    PaymentState {
        id: expected.id.clone(),
        status,
        amount: expected.amount,
        amount_received: 0,
        currency: expected.currency.clone(),
        order_id: expected.order_id.clone(),
        last_error: Some(last_error.to_owned()),
        decline_code: Some(issue.to_owned()),
        decline_class: Some(class),
    }
}

/// A refund status, neutral. Unknown statuses are `Pending`: not final.
pub fn refund_status(status: Option<&str>) -> RefundStatus {
    match status {
        Some("COMPLETED") => RefundStatus::Succeeded,
        Some("FAILED") => RefundStatus::Failed,
        Some("CANCELLED") => RefundStatus::Canceled,
        _ => RefundStatus::Pending,
    }
}

/// The capture a refund belongs to: the last path segment of its `up` link.
pub(crate) fn capture_of_refund(refund: &Value) -> Option<String> {
    let href = link(refund, "up")?;
    let (_, id) = href.trim_end_matches('/').rsplit_once("/captures/")?;
    (!id.is_empty() && !id.contains('/')).then(|| id.to_owned())
}

/// The `href` of the HATEOAS link with relation `rel`.
fn link(resource: &Value, rel: &str) -> Option<String> {
    resource
        .get("links")?
        .as_array()?
        .iter()
        .find(|l| str_of(l, "rel") == Some(rel))
        .and_then(|l| str_of(l, "href"))
        .map(str::to_owned)
}

/// A [`ProviderError::BadResponse`].
fn bad(reason: impl Into<String>) -> ProviderError {
    ProviderError::BadResponse(reason.into())
}

/// The string at `key`, or a bad response naming it.
fn required_str(value: &Value, key: &str) -> Result<String, ProviderError> {
    str_of(value, key)
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("'{key}' is missing or not a string")))
}

/// Reads a 2xx answer as a JSON object; any other answer becomes the error it stands for:
/// 4xx is [`ProviderError::Refused`] ([`refused`]), a 5xx that reached the adapter (the executor
/// gave up or would not repeat it) is [`ProviderError::Unavailable`].
pub(super) fn read_json(response: &ProviderResponse, what: &str) -> Result<Value, ProviderError> {
    match response.status {
        200..=299 => {
            let value: Value = serde_json::from_slice(&response.body)
                .map_err(|e| bad(format!("{what}: body is not JSON: {e}")))?;
            if value.is_object() {
                Ok(value)
            } else {
                Err(bad(format!("{what}: body is not a JSON object")))
            }
        }
        400..=499 => Err(refused(response)),
        status @ 500.. => {
            let ProviderError::Refused { code, message, .. } = refused(response) else {
                return Err(bad(format!("unexpected HTTP {status}")));
            };
            Err(ProviderError::Unavailable(format!(
                "HTTP {status}: {code}: {message}"
            )))
        }
        status => Err(bad(format!("unexpected HTTP {status}"))),
    }
}

/// A PayPal error as [`ProviderError::Refused`]: `code` is the first `details[].issue` (the
/// specific reason, `INSTRUMENT_DECLINED`), else `name` (`UNPROCESSABLE_ENTITY`), else the OAuth
/// `error` (`invalid_client`), else `http_<status>`. The message joins `message`, the issue's
/// `description` and `debug_id` (PayPal support asks for it), masked like every logged text.
fn refused(response: &ProviderResponse) -> ProviderError {
    let status = response.status;
    let Some(body) = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .filter(Value::is_object)
    else {
        let text = String::from_utf8_lossy(&response.body);
        return ProviderError::Refused {
            status,
            code: format!("http_{status}"),
            message: mask_secrets(&text.chars().take(200).collect::<String>()),
        };
    };
    let detail = body.pointer("/details/0");
    let code = detail
        .and_then(|d| str_of(d, "issue"))
        .or_else(|| str_of(&body, "name"))
        .or_else(|| str_of(&body, "error"))
        .map_or_else(|| format!("http_{status}"), str::to_owned);
    let mut parts: Vec<&str> = [
        str_of(&body, "message").or_else(|| str_of(&body, "error_description")),
        detail.and_then(|d| str_of(d, "description")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        parts.push("no error message");
    }
    let mut message = parts.join(": ");
    if let Some(debug_id) = str_of(&body, "debug_id").or_else(|| response.header("paypal-debug-id"))
    {
        message.push_str(&format!(" (debug_id {debug_id})"));
    }
    ProviderError::Refused {
        status,
        code,
        message: mask_secrets(&message),
    }
}

/// The string at `key` of a JSON object.
pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str()
}
