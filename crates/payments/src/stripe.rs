//! The Stripe adapter.
//!
//! [`StripeAdapter`] is pure: it builds [`ProviderRequest`]s in Stripe's form encoding and reads
//! Stripe's JSON answers; [`parse_event`] reads a webhook event. [`StripeProvider`] joins it to the
//! shared [`HttpExecutor`] behind [`PaymentProvider`]. Requests pin [`API_VERSION`], so response
//! shapes do not change under us when the account's default version moves.
//!
//! Bursar's ids travel in Stripe metadata (`bursar_order_id` on the session *and* on its payment
//! intent, `bursar_refund_id` on refunds, `bursar_customer_id` on customers, setup sessions and
//! their setup intents), so every webhook names what it concerns without a lookup.
//!
//! Saved payment methods: [`StripeAdapter::customer_request`] creates the Stripe customer when
//! Bursar has none yet, [`StripeAdapter::setup_request`] opens a Checkout Session in `setup` mode,
//! and [`StripeAdapter::charge_request`] charges the saved method off-session. A declined or
//! authentication-requiring charge is a [`PaymentState`], not an error
//! ([`StripeAdapter::parse_charge`]).

use std::fmt;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

use crate::executor::{mask_secrets, HttpExecutor, Method, ProviderRequest, ProviderResponse};
use crate::{
    failure_class, signature, CheckoutRequest, CheckoutSession, DeclineClass, DeclinedCard,
    Headers, OffSessionCharge, PaymentEvent, PaymentEventKind, PaymentProvider, PaymentState,
    PaymentStatus, ProviderError, RefundRequest, RefundResult, RefundStatus, SetupRequest,
    SetupSession, WebhookError,
};

/// The API version every request pins (`Stripe-Version`), and the one [`event_json`] stamps.
pub const API_VERSION: &str = "2024-06-20";

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// This provider's name in logs, metrics and [`PaymentProvider::kind`].
pub const KIND: &str = "stripe";

/// Metadata key naming the Bursar order on sessions and payment intents.
pub const ORDER_ID_KEY: &str = "bursar_order_id";

/// Metadata key naming the Bursar refund on refunds.
pub const REFUND_ID_KEY: &str = "bursar_refund_id";

/// Metadata key naming the Bursar customer on customers, setup sessions and setup intents.
pub const CUSTOMER_ID_KEY: &str = "bursar_customer_id";

/// The code a charge that needs the customer present (3-D Secure) reports, and the
/// [`PaymentState::last_error`] Bursar gives it.
pub const AUTHENTICATION_REQUIRED: &str = "authentication_required";

/// The refund reasons Stripe accepts; any other reason is Bursar's own and is not sent.
pub const REFUND_REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// `sk_…` or `rk_…`.
    pub secret_key: String,
    /// [`DEFAULT_API_BASE`] in production; tests point it at a local fake.
    pub api_base: String,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<String>) -> Self {
        Self {
            secret_key: secret_key.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
        }
    }
}

/// Never prints the key.
impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &mask_secrets(&self.secret_key))
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Builds Stripe requests and reads Stripe responses; no I/O.
#[derive(Debug, Clone)]
pub struct StripeAdapter {
    config: StripeConfig,
}

impl StripeAdapter {
    pub fn new(config: StripeConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![
            (
                "Authorization".to_owned(),
                format!("Bearer {}", self.config.secret_key),
            ),
            ("Stripe-Version".to_owned(), API_VERSION.to_owned()),
        ]
    }

    /// `POST /v1/checkout/sessions`, one `price_data` line item per Bursar line.
    ///
    /// `customer` wins over `customer_email` when both are known: Stripe refuses the pair. Extra
    /// metadata goes on the session and on its payment intent, after `bursar_order_id`, which an
    /// extra key of the same name cannot override.
    pub fn checkout_request(&self, request: &CheckoutRequest) -> ProviderRequest {
        let currency = request.currency.to_ascii_lowercase();
        let mut form: Vec<(String, String)> = vec![("mode".into(), "payment".into())];
        for (i, line) in request.lines.iter().enumerate() {
            let item = format!("line_items[{i}]");
            form.push((format!("{item}[price_data][currency]"), currency.clone()));
            form.push((
                format!("{item}[price_data][product_data][name]"),
                line.name.clone(),
            ));
            form.push((
                format!("{item}[price_data][unit_amount]"),
                line.unit_amount.to_string(),
            ));
            form.push((format!("{item}[quantity]"), line.quantity.to_string()));
        }
        form.push(("success_url".into(), request.success_url.clone()));
        form.push(("cancel_url".into(), request.cancel_url.clone()));
        form.push(("expires_at".into(), request.expires_at.to_string()));
        form.push(("client_reference_id".into(), request.order_id.clone()));
        if let Some(customer) = &request.provider_customer {
            form.push(("customer".into(), customer.clone()));
        } else if let Some(email) = &request.customer_email {
            form.push(("customer_email".into(), email.clone()));
        }
        for prefix in ["metadata", "payment_intent_data[metadata]"] {
            form.push((
                format!("{prefix}[{ORDER_ID_KEY}]"),
                request.order_id.clone(),
            ));
            for (key, value) in &request.metadata {
                if key != ORDER_ID_KEY {
                    form.push((format!("{prefix}[{key}]"), value.clone()));
                }
            }
        }
        ProviderRequest {
            operation: "checkout.create",
            method: Method::POST,
            url: self.url("/v1/checkout/sessions"),
            headers: self.headers(),
            form: Some(form),
            json: None,
            idempotency_key: Some(format!("bursar-checkout-{}", request.attempt_id)),
        }
    }

    /// Reads a `checkout.session`. A session without a `url` (an embedded-mode session) is a bad
    /// response: Bursar only redirects to hosted pages.
    pub fn parse_checkout(
        &self,
        response: &ProviderResponse,
    ) -> Result<CheckoutSession, ProviderError> {
        let object = read_object(response, "checkout.session")?;
        Ok(CheckoutSession {
            id: required_str(&object, "id").map_err(ProviderError::BadResponse)?,
            url: required_str(&object, "url").map_err(ProviderError::BadResponse)?,
            payment_id: id_of(&object, "payment_intent"),
            expires_at: required_i64(&object, "expires_at").map_err(ProviderError::BadResponse)?,
        })
    }

    /// `POST /v1/refunds` against the payment intent. Bursar's own reasons are not among Stripe's
    /// three and are left out (Stripe would refuse the call).
    pub fn refund_request(&self, request: &RefundRequest) -> ProviderRequest {
        let mut form: Vec<(String, String)> = vec![
            ("payment_intent".into(), request.payment_id.clone()),
            ("amount".into(), request.amount.to_string()),
        ];
        if let Some(reason) = request
            .reason
            .as_deref()
            .filter(|r| REFUND_REASONS.contains(r))
        {
            form.push(("reason".into(), reason.to_owned()));
        }
        form.push((
            format!("metadata[{REFUND_ID_KEY}]"),
            request.refund_id.clone(),
        ));
        for (key, value) in &request.metadata {
            if key != REFUND_ID_KEY {
                form.push((format!("metadata[{key}]"), value.clone()));
            }
        }
        ProviderRequest {
            operation: "refund.create",
            method: Method::POST,
            url: self.url("/v1/refunds"),
            headers: self.headers(),
            form: Some(form),
            json: None,
            idempotency_key: Some(format!("bursar-refund-{}", request.refund_id)),
        }
    }

    /// Reads a `refund`.
    pub fn parse_refund(&self, response: &ProviderResponse) -> Result<RefundResult, ProviderError> {
        let object = read_object(response, "refund")?;
        Ok(RefundResult {
            id: required_str(&object, "id").map_err(ProviderError::BadResponse)?,
            status: refund_status(str_of(&object, "status")),
            amount: required_i64(&object, "amount").map_err(ProviderError::BadResponse)?,
        })
    }

    /// `GET /v1/payment_intents/{id}`; the id is percent-encoded so it stays one path segment.
    pub fn payment_request(&self, payment_id: &str) -> ProviderRequest {
        ProviderRequest {
            operation: "payment.retrieve",
            method: Method::GET,
            url: self.url(&format!(
                "/v1/payment_intents/{}",
                encode_path_segment(payment_id)
            )),
            headers: self.headers(),
            form: None,
            json: None,
            idempotency_key: None,
        }
    }

    /// Reads a `payment_intent`. See [`payment_status`] for the status mapping; `last_error` is
    /// `last_payment_error.code`, when there is one; `decline_code` and `decline_class` come
    /// from that error too, unless the payment is processing or succeeded.
    pub fn parse_payment(
        &self,
        response: &ProviderResponse,
    ) -> Result<PaymentState, ProviderError> {
        payment_state(&read_object(response, "payment_intent")?)
    }

    /// `POST /v1/customers`: `email` and `name` when known, and `bursar_customer_id` metadata.
    /// The idempotency key comes from the setup attempt, so a repeated setup finds the customer
    /// the first attempt created instead of creating a second one.
    pub fn customer_request(&self, request: &SetupRequest) -> ProviderRequest {
        let mut form: Vec<(String, String)> = Vec::new();
        if let Some(email) = &request.email {
            form.push(("email".into(), email.clone()));
        }
        if let Some(name) = &request.name {
            form.push(("name".into(), name.clone()));
        }
        form.push((
            format!("metadata[{CUSTOMER_ID_KEY}]"),
            request.customer_id.clone(),
        ));
        ProviderRequest {
            operation: "customer.create",
            method: Method::POST,
            url: self.url("/v1/customers"),
            headers: self.headers(),
            form: Some(form),
            json: None,
            idempotency_key: Some(format!("bursar-customer-{}", request.attempt_id)),
        }
    }

    /// Reads a `customer`: its id (`cus_…`).
    pub fn parse_customer(&self, response: &ProviderResponse) -> Result<String, ProviderError> {
        let object = read_object(response, "customer")?;
        required_str(&object, "id").map_err(ProviderError::BadResponse)
    }

    /// `POST /v1/checkout/sessions` in `setup` mode for `provider_customer`.
    ///
    /// `currency` is required by Stripe for setup sessions with dynamic payment methods (it picks
    /// the methods offered). `bursar_customer_id` goes on the session and, through
    /// `setup_intent_data`, on its setup intent, so `setup_intent.succeeded` names the customer.
    pub fn setup_request(
        &self,
        request: &SetupRequest,
        provider_customer: &str,
    ) -> ProviderRequest {
        let form: Vec<(String, String)> = vec![
            ("mode".into(), "setup".into()),
            ("customer".into(), provider_customer.to_owned()),
            ("currency".into(), request.currency.to_ascii_lowercase()),
            ("success_url".into(), request.success_url.clone()),
            ("cancel_url".into(), request.cancel_url.clone()),
            ("client_reference_id".into(), request.customer_id.clone()),
            (
                format!("metadata[{CUSTOMER_ID_KEY}]"),
                request.customer_id.clone(),
            ),
            (
                format!("setup_intent_data[metadata][{CUSTOMER_ID_KEY}]"),
                request.customer_id.clone(),
            ),
        ];
        ProviderRequest {
            operation: "setup.create",
            method: Method::POST,
            url: self.url("/v1/checkout/sessions"),
            headers: self.headers(),
            form: Some(form),
            json: None,
            idempotency_key: Some(format!("bursar-setup-{}", request.attempt_id)),
        }
    }

    /// Reads a setup-mode `checkout.session`. The customer is the session's, else the one the
    /// session was created for.
    pub fn parse_setup(
        &self,
        response: &ProviderResponse,
        provider_customer: &str,
    ) -> Result<SetupSession, ProviderError> {
        let object = read_object(response, "checkout.session")?;
        Ok(SetupSession {
            id: required_str(&object, "id").map_err(ProviderError::BadResponse)?,
            url: required_str(&object, "url").map_err(ProviderError::BadResponse)?,
            provider_customer: id_of(&object, "customer")
                .unwrap_or_else(|| provider_customer.to_owned()),
        })
    }

    /// `POST /v1/payment_intents`, confirmed at once and off-session: Stripe charges the saved
    /// method now or says why it cannot. Extra metadata follows `bursar_order_id`, which it
    /// cannot override.
    pub fn charge_request(&self, request: &OffSessionCharge) -> ProviderRequest {
        let mut form: Vec<(String, String)> = vec![
            ("amount".into(), request.amount.to_string()),
            ("currency".into(), request.currency.to_ascii_lowercase()),
            ("customer".into(), request.provider_customer.clone()),
            ("payment_method".into(), request.payment_method.clone()),
            ("off_session".into(), "true".into()),
            ("confirm".into(), "true".into()),
            (
                format!("metadata[{ORDER_ID_KEY}]"),
                request.order_id.clone(),
            ),
        ];
        for (key, value) in &request.metadata {
            if key != ORDER_ID_KEY {
                form.push((format!("metadata[{key}]"), value.clone()));
            }
        }
        ProviderRequest {
            operation: "payment.charge",
            method: Method::POST,
            url: self.url("/v1/payment_intents"),
            headers: self.headers(),
            form: Some(form),
            json: None,
            idempotency_key: Some(format!("bursar-charge-{}", request.attempt_id)),
        }
    }

    /// Reads the answer to [`Self::charge_request`].
    ///
    /// * A `payment_intent` (2xx) is read as by [`Self::parse_payment`]; a `requires_action`
    ///   intent without an error code gets `last_error: authentication_required` and that class.
    /// * A 402 `card_error` is the charge's outcome, not a failed call: `Failed` with the error's
    ///   `code` (else its `decline_code`) as `last_error`, its `decline_code`, and the class of
    ///   the decline code (else the code; see [`error_class`]); or `Open` with
    ///   `authentication_required` when that is the class (the customer must come back and
    ///   authenticate). Id, amounts, currency and order come from the `payment_intent` Stripe
    ///   embeds in the error; without one, from `request`, with an empty id.
    /// * Any other 4xx is [`ProviderError::Refused`], as everywhere.
    pub fn parse_charge(
        &self,
        request: &OffSessionCharge,
        response: &ProviderResponse,
    ) -> Result<PaymentState, ProviderError> {
        if let Some(error) = card_error(response) {
            return Ok(declined_charge(request, &error));
        }
        let intent = read_object(response, "payment_intent")?;
        let mut state = payment_state(&intent)?;
        if state.last_error.is_none() && str_of(&intent, "status") == Some("requires_action") {
            state.last_error = Some(AUTHENTICATION_REQUIRED.to_owned());
            state.decline_class = Some(DeclineClass::AuthenticationRequired);
        }
        Ok(state)
    }
}

/// A `payment_intent` object, neutral; `last_error` is `last_payment_error.code`, and the
/// decline is read from that error while the payment is not processing or succeeded.
fn payment_state(intent: &Value) -> Result<PaymentState, ProviderError> {
    let status = required_str(intent, "status").map_err(ProviderError::BadResponse)?;
    let status = payment_status(&status).ok_or_else(|| {
        ProviderError::BadResponse(format!("unknown payment_intent status '{status}'"))
    })?;
    let failure = intent
        .get("last_payment_error")
        .filter(|error| error.is_object())
        .filter(|_| !matches!(status, PaymentStatus::Processing | PaymentStatus::Succeeded));
    Ok(PaymentState {
        id: required_str(intent, "id").map_err(ProviderError::BadResponse)?,
        status,
        amount: required_i64(intent, "amount").map_err(ProviderError::BadResponse)?,
        amount_received: i64_of(intent, "amount_received").unwrap_or(0),
        currency: currency_of(intent).map_err(ProviderError::BadResponse)?,
        order_id: metadata_of(intent, ORDER_ID_KEY),
        last_error: last_payment_error_code(intent),
        decline_code: failure
            .and_then(|error| str_of(error, "decline_code"))
            .map(str::to_owned),
        decline_class: failure.and_then(error_class),
    })
}

/// The class of a Stripe error object: its `decline_code`, else its `code` ([`failure_class`]);
/// `None` with neither. An `advice_code` of `do_not_try_again` or `confirm_card_data` (the
/// issuer's own advice) makes a soft class hard; it never softens one.
fn error_class(error: &Value) -> Option<DeclineClass> {
    let class = failure_class(str_of(error, "code"), str_of(error, "decline_code"))?;
    let never_retry = matches!(
        str_of(error, "advice_code"),
        Some("do_not_try_again" | "confirm_card_data")
    );
    Some(match class {
        DeclineClass::Soft if never_retry => DeclineClass::Hard,
        class => class,
    })
}

/// `last_payment_error.code` of a payment intent, when it has one.
fn last_payment_error_code(intent: &Value) -> Option<String> {
    intent
        .get("last_payment_error")
        .and_then(|error| str_of(error, "code"))
        .map(str::to_owned)
}

/// The `error` object of a 402 `card_error` answer, if `response` is one.
fn card_error(response: &ProviderResponse) -> Option<Value> {
    if response.status != 402 {
        return None;
    }
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    let error = body.get("error")?;
    (str_of(error, "type") == Some("card_error")).then(|| error.clone())
}

/// A charge Stripe refused as a card error: see [`StripeAdapter::parse_charge`].
fn declined_charge(request: &OffSessionCharge, error: &Value) -> PaymentState {
    let code = str_of(error, "code");
    let decline_code = str_of(error, "decline_code");
    // A card error without a code is a decline all the same, of no known kind.
    let class = error_class(error).unwrap_or(DeclineClass::Soft);
    let (status, last_error) = if class == DeclineClass::AuthenticationRequired {
        (PaymentStatus::Open, AUTHENTICATION_REQUIRED)
    } else {
        (
            PaymentStatus::Failed,
            code.or(decline_code).unwrap_or("card_error"),
        )
    };
    let intent = error.get("payment_intent").filter(|i| i.is_object());
    PaymentState {
        id: intent
            .and_then(|i| str_of(i, "id"))
            .unwrap_or_default()
            .to_owned(),
        status,
        amount: intent
            .and_then(|i| i64_of(i, "amount"))
            .unwrap_or(request.amount),
        amount_received: intent
            .and_then(|i| i64_of(i, "amount_received"))
            .unwrap_or(0),
        currency: intent
            .and_then(|i| currency_of(i).ok())
            .unwrap_or_else(|| request.currency.to_ascii_uppercase()),
        order_id: match intent {
            Some(intent) => metadata_of(intent, ORDER_ID_KEY),
            None => Some(request.order_id.clone()),
        },
        last_error: Some(last_error.to_owned()),
        decline_code: decline_code.map(str::to_owned),
        decline_class: Some(class),
    }
}

/// A PaymentIntent status, neutral.
///
/// `requires_capture` maps to [`PaymentStatus::Processing`]: the customer is done and the funds
/// are authorised, but the money is not captured yet, so it is neither waiting on the customer
/// (`Open`) nor confirmed (`Succeeded`).
pub fn payment_status(status: &str) -> Option<PaymentStatus> {
    Some(match status {
        "requires_payment_method" | "requires_confirmation" | "requires_action" => {
            PaymentStatus::Open
        }
        "requires_capture" | "processing" => PaymentStatus::Processing,
        "succeeded" => PaymentStatus::Succeeded,
        "canceled" => PaymentStatus::Canceled,
        _ => return None,
    })
}

/// A Refund status, neutral. `requires_action` and any status this version does not know are
/// `Pending`: not final, so Bursar waits for the next event instead of guessing an outcome.
pub fn refund_status(status: Option<&str>) -> RefundStatus {
    match status {
        Some("succeeded") => RefundStatus::Succeeded,
        Some("failed") => RefundStatus::Failed,
        Some("canceled") => RefundStatus::Canceled,
        _ => RefundStatus::Pending,
    }
}

/// Reads a 2xx answer as the Stripe object `expected`; any other answer becomes the error it
/// stands for.
///
/// Every 4xx is [`ProviderError::Refused`] (the status alone says a repeat will not help), with
/// `code` from Stripe's error body (`code`, else `type`, else `http_<status>` if the body is
/// unreadable). A 5xx reaches here only when Stripe said not to retry it: `Unavailable`.
fn read_object(response: &ProviderResponse, expected: &str) -> Result<Value, ProviderError> {
    match response.status {
        200..=299 => {
            let value: Value = serde_json::from_slice(&response.body).map_err(|e| {
                ProviderError::BadResponse(format!("{expected}: body is not JSON: {e}"))
            })?;
            match value.get("object").and_then(Value::as_str) {
                Some(object) if object == expected => Ok(value),
                other => Err(ProviderError::BadResponse(format!(
                    "expected a {expected} object, got {}",
                    other.unwrap_or("no object type")
                ))),
            }
        }
        400..=499 => Err(refused(response)),
        status @ 500.. => Err(ProviderError::Unavailable(format!(
            "HTTP {status}: {}",
            error_message(response).unwrap_or_else(|| "no error message".into())
        ))),
        status => Err(ProviderError::BadResponse(format!(
            "unexpected HTTP {status}"
        ))),
    }
}

fn refused(response: &ProviderResponse) -> ProviderError {
    let status = response.status;
    let error = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let Some(error) = error else {
        let body = String::from_utf8_lossy(&response.body);
        let snippet: String = body.chars().take(200).collect();
        return ProviderError::Refused {
            status,
            code: format!("http_{status}"),
            message: mask_secrets(&snippet),
        };
    };
    let code = str_of(&error, "code")
        .or_else(|| str_of(&error, "type"))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("http_{status}"));
    ProviderError::Refused {
        status,
        code,
        message: error_message(response).unwrap_or_else(|| "no error message".into()),
    }
}

/// Stripe's `error.message`, with `(param: …)` when it names one; masked, since Stripe quotes
/// the (already partly hidden) key back on authentication errors.
fn error_message(response: &ProviderResponse) -> Option<String> {
    let value: Value = serde_json::from_slice(&response.body).ok()?;
    let error = value.get("error")?;
    let message = str_of(error, "message")?;
    let message = match str_of(error, "param") {
        Some(param) if !message.contains(param) => format!("{message} (param: {param})"),
        _ => message.to_owned(),
    };
    Some(mask_secrets(&message))
}

/// Keeps unreserved characters, percent-encodes the rest (`/`, `?`, `#` included).
fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str()
}

fn i64_of(value: &Value, key: &str) -> Option<i64> {
    value.get(key)?.as_i64()
}

/// A reference Stripe may send as an id string or, when expanded, as an object with an `id`.
fn id_of(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(id) => Some(id.clone()),
        Value::Object(object) => object.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn metadata_of(value: &Value, key: &str) -> Option<String> {
    str_of(value.get("metadata")?, key).map(str::to_owned)
}

fn required_str(value: &Value, key: &str) -> Result<String, String> {
    str_of(value, key)
        .map(str::to_owned)
        .ok_or_else(|| format!("'{key}' is missing or not a string"))
}

fn required_i64(value: &Value, key: &str) -> Result<i64, String> {
    i64_of(value, key).ok_or_else(|| format!("'{key}' is missing or not an integer"))
}

/// ISO 4217 upper case, as Bursar stores it (Stripe sends lower case).
fn currency_of(value: &Value) -> Result<String, String> {
    required_str(value, "currency").map(|c| c.to_ascii_uppercase())
}

/// Wraps `object` in Stripe's event envelope, field for field, so a test provider can emit events
/// Stripe's way and the same [`parse_event`] reads both.
pub fn event_json(id: &str, event_type: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
    })
}

/// Reads a Stripe `event` (already verified: see [`StripeProvider`]) into a [`PaymentEvent`].
///
/// The envelope needs `id`, `type`, `created` and `data.object`; an event type Bursar acts on
/// also needs the fields it uses, with the object type it implies. Anything missing is
/// [`WebhookError::BadPayload`]. Unknown types are [`PaymentEventKind::Other`]. The order is
/// `metadata.bursar_order_id`, else a checkout session's `client_reference_id`.
pub fn parse_event(body: &[u8]) -> Result<PaymentEvent, WebhookError> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::BadPayload(format!("not JSON: {e}")))?;
    let bad = WebhookError::BadPayload;
    let id = required_str(&event, "id").map_err(bad)?;
    let event_type = required_str(&event, "type").map_err(bad)?;
    let created = required_i64(&event, "created").map_err(bad)?;
    let object = event
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or_else(|| WebhookError::BadPayload("'data.object' is missing".into()))?;
    let kind = event_kind(&event_type, object)
        .map_err(|e| WebhookError::BadPayload(format!("{event_type} {id}: {e}")))?;
    let order_id = metadata_of(object, ORDER_ID_KEY).or_else(|| {
        (str_of(object, "object") == Some("checkout.session"))
            .then(|| str_of(object, "client_reference_id").map(str::to_owned))
            .flatten()
    });
    Ok(PaymentEvent {
        provider_event_id: id,
        provider_event_type: event_type,
        created,
        order_id,
        kind,
    })
}

fn expect_object(object: &Value, expected: &str) -> Result<(), String> {
    match str_of(object, "object") {
        Some(found) if found == expected => Ok(()),
        found => Err(format!(
            "data.object is a {}, expected a {expected}",
            found.unwrap_or("object without a type")
        )),
    }
}

fn event_kind(event_type: &str, object: &Value) -> Result<PaymentEventKind, String> {
    Ok(match event_type {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            expect_object(object, "checkout.session")?;
            let paid = event_type == "checkout.session.async_payment_succeeded"
                || matches!(
                    str_of(object, "payment_status"),
                    Some("paid" | "no_payment_required")
                );
            PaymentEventKind::CheckoutCompleted {
                session_id: required_str(object, "id")?,
                payment_id: id_of(object, "payment_intent"),
                paid,
                amount: required_i64(object, "amount_total")?,
                currency: currency_of(object)?,
                provider_customer: id_of(object, "customer"),
            }
        }
        "checkout.session.async_payment_failed" => {
            expect_object(object, "checkout.session")?;
            let session_id = required_str(object, "id")?;
            // A session in payment mode has its intent by now; the session id is the fallback
            // so the failure is still recorded (the order comes from metadata either way).
            PaymentEventKind::PaymentFailed {
                payment_id: id_of(object, "payment_intent").unwrap_or(session_id),
                code: Some("async_payment_failed".into()),
                message: None,
                decline_code: None,
                decline_class: None,
                card: None,
            }
        }
        "checkout.session.expired" => {
            expect_object(object, "checkout.session")?;
            PaymentEventKind::CheckoutExpired {
                session_id: required_str(object, "id")?,
            }
        }
        "payment_intent.processing" => {
            expect_object(object, "payment_intent")?;
            PaymentEventKind::PaymentProcessing {
                payment_id: required_str(object, "id")?,
            }
        }
        "payment_intent.succeeded" => {
            expect_object(object, "payment_intent")?;
            // Only present when the event was fetched with
            // `expand[]=latest_charge.balance_transaction`; webhooks normally lack it.
            let fee = object
                .get("latest_charge")
                .and_then(|charge| charge.get("balance_transaction"))
                .and_then(|txn| txn.get("fee"))
                .and_then(Value::as_i64);
            PaymentEventKind::PaymentSucceeded {
                payment_id: required_str(object, "id")?,
                amount: required_i64(object, "amount_received")?,
                currency: currency_of(object)?,
                fee,
                payment_method: id_of(object, "payment_method"),
                provider_customer: id_of(object, "customer"),
            }
        }
        "payment_intent.payment_failed" | "payment_intent.canceled" => {
            expect_object(object, "payment_intent")?;
            let error = object.get("last_payment_error").filter(|e| e.is_object());
            let error_code = error.and_then(|e| str_of(e, "code").or_else(|| str_of(e, "type")));
            let cancellation = str_of(object, "cancellation_reason");
            // The reason that ended this intent first: a cancellation names itself, a failure
            // its error.
            let canceled = event_type == "payment_intent.canceled";
            let code = if canceled {
                cancellation.or(error_code)
            } else {
                error_code.or(cancellation)
            };
            // A cancellation is not a decline: only a failure carries the error's class.
            let decline = error.filter(|_| !canceled);
            PaymentEventKind::PaymentFailed {
                payment_id: required_str(object, "id")?,
                code: code.map(str::to_owned),
                message: error.and_then(|e| str_of(e, "message")).map(str::to_owned),
                decline_code: decline
                    .and_then(|e| str_of(e, "decline_code"))
                    .map(str::to_owned),
                decline_class: decline.and_then(error_class),
                card: decline.and_then(declined_card),
            }
        }
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            expect_object(object, "refund")?;
            PaymentEventKind::Refund {
                refund_id: required_str(object, "id")?,
                payment_id: id_of(object, "payment_intent"),
                amount: required_i64(object, "amount")?,
                currency: currency_of(object)?,
                status: refund_status(str_of(object, "status")),
                bursar_refund_id: metadata_of(object, REFUND_ID_KEY),
            }
        }
        "charge.dispute.created" => {
            expect_object(object, "dispute")?;
            PaymentEventKind::DisputeOpened {
                dispute_id: required_str(object, "id")?,
                payment_id: id_of(object, "payment_intent"),
                amount: required_i64(object, "amount")?,
                currency: currency_of(object)?,
                reason: str_of(object, "reason").map(str::to_owned),
                // Stripe withdraws the amount and its dispute fee in balance transactions on
                // the dispute.
                fee: object
                    .get("balance_transactions")
                    .and_then(Value::as_array)
                    .map(|txns| {
                        txns.iter()
                            .filter_map(|t| t.get("fee").and_then(Value::as_i64))
                            .sum::<i64>()
                    })
                    .filter(|fee| *fee > 0),
            }
        }
        "charge.dispute.closed" => {
            expect_object(object, "dispute")?;
            PaymentEventKind::DisputeClosed {
                dispute_id: required_str(object, "id")?,
                payment_id: id_of(object, "payment_intent"),
                amount: required_i64(object, "amount")?,
                currency: currency_of(object)?,
                won: str_of(object, "status") == Some("won"),
            }
        }
        "setup_intent.succeeded" => {
            expect_object(object, "setup_intent")?;
            PaymentEventKind::PaymentMethodSaved {
                setup_id: required_str(object, "id")?,
                payment_method: id_of(object, "payment_method")
                    .ok_or_else(|| "'payment_method' is missing".to_owned())?,
                provider_customer: id_of(object, "customer"),
                customer_id: metadata_of(object, CUSTOMER_ID_KEY),
            }
        }
        _ => PaymentEventKind::Other,
    })
}

/// The card a `last_payment_error` names (its `payment_method` object), if it names one.
fn declined_card(error: &Value) -> Option<DeclinedCard> {
    let method = error.get("payment_method").filter(|m| m.is_object())?;
    let card = DeclinedCard {
        fingerprint: method
            .pointer("/card/fingerprint")
            .and_then(Value::as_str)
            .map(str::to_owned),
        payment_method: str_of(method, "id").map(str::to_owned),
    };
    (card.fingerprint.is_some() || card.payment_method.is_some()).then_some(card)
}

/// Stripe behind [`PaymentProvider`]: the adapter's requests, sent by the shared executor.
#[derive(Debug, Clone)]
pub struct StripeProvider {
    adapter: StripeAdapter,
    executor: HttpExecutor,
}

impl StripeProvider {
    pub fn new(config: StripeConfig, executor: HttpExecutor) -> Self {
        Self {
            adapter: StripeAdapter::new(config),
            executor,
        }
    }

    pub fn adapter(&self) -> &StripeAdapter {
        &self.adapter
    }
}

impl PaymentProvider for StripeProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutSession, ProviderError>> {
        async move {
            let call = self.adapter.checkout_request(request);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_checkout(&response)
        }
        .boxed()
    }

    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundResult, ProviderError>> {
        async move {
            let call = self.adapter.refund_request(request);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_refund(&response)
        }
        .boxed()
    }

    fn payment<'a>(
        &'a self,
        payment_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let call = self.adapter.payment_request(payment_id);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_payment(&response)
        }
        .boxed()
    }

    /// Creates the Stripe customer first when the request names none, then the setup session.
    fn create_setup<'a>(
        &'a self,
        request: &'a SetupRequest,
    ) -> BoxFuture<'a, Result<SetupSession, ProviderError>> {
        async move {
            let customer = match &request.provider_customer {
                Some(customer) => customer.clone(),
                None => {
                    let call = self.adapter.customer_request(request);
                    let response = self.executor.execute(KIND, &call).await?;
                    self.adapter.parse_customer(&response)?
                }
            };
            let call = self.adapter.setup_request(request, &customer);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_setup(&response, &customer)
        }
        .boxed()
    }

    fn charge_saved<'a>(
        &'a self,
        request: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let call = self.adapter.charge_request(request);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_charge(request, &response)
        }
        .boxed()
    }

    fn detach_method<'a>(
        &'a self,
        provider_method_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        async move {
            let call = self.adapter.detach_request(provider_method_id);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_detach(&response)
        }
        .boxed()
    }

    /// Verifies the signature before reading a byte of the body as JSON.
    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
        now: i64,
    ) -> Result<PaymentEvent, WebhookError> {
        signature::verify(
            headers.get(signature::HEADER).map(String::as_str),
            body,
            secrets,
            now,
            signature::TOLERANCE_SECONDS,
        )?;
        parse_event(body)
    }
}

mod methods;

#[cfg(test)]
mod tests;
