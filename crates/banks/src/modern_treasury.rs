//! The Modern Treasury adapter.
//!
//! [`ModernTreasuryAdapter`] is pure: it builds [`ProviderRequest`]s for Modern Treasury's REST
//! API (HTTP Basic auth `organization_id:api_key`, JSON bodies, an `Idempotency-Key` derived from
//! Bursar's attempt id) and reads its JSON answers and webhooks. [`ModernTreasury`] joins it to
//! the shared [`HttpExecutor`] behind [`BankRails`].
//!
//! Bursar's ids travel in Modern Treasury metadata (`bursar_attempt_id` on payment orders and
//! expected payments, `bursar_party_id` on counterparties), so every webhook names what it
//! concerns.

mod webhook;
mod wire;

use std::fmt;

use base64::Engine;
use bursar_payments::executor::{Method, ProviderRequest, ProviderResponse};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

pub use webhook::{
    parse_event, EVENT_ID_HEADER, LIVE_MODE_HEADER, TOPIC_HEADER, WEBHOOK_ID_HEADER,
};

use crate::event::BankEvent;
use crate::types::{
    AccountBalance, Counterparty, CounterpartyRequest, ExpectedPayment, ExpectedPaymentRequest,
    ExternalAccount, PaymentOrder, PaymentOrderRequest, ReceivingAccount, ReconciliationRule,
};
use crate::{signature, BankRails, Headers, HttpExecutor, ProviderError, WebhookError};

pub const DEFAULT_API_BASE: &str = "https://app.moderntreasury.com";

/// This bank's name in logs, metrics and [`BankRails::kind`].
pub const KIND: &str = "modern_treasury";

/// Metadata key naming Bursar's attempt on payment orders and expected payments.
pub const ATTEMPT_ID_KEY: &str = "bursar_attempt_id";

/// Metadata key naming the Bursar party on counterparties.
pub const PARTY_ID_KEY: &str = "bursar_party_id";

#[derive(Clone, PartialEq, Eq)]
pub struct ModernTreasuryConfig {
    pub organization_id: String,
    pub api_key: String,
    /// [`DEFAULT_API_BASE`] in production; tests point it at a local fake.
    pub api_base: String,
}

impl ModernTreasuryConfig {
    pub fn new(organization_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            organization_id: organization_id.into(),
            api_key: api_key.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
        }
    }
}

/// Never prints the key.
impl fmt::Debug for ModernTreasuryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModernTreasuryConfig")
            .field("organization_id", &self.organization_id)
            .field("api_key", &"<redacted>")
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Builds Modern Treasury requests and reads its responses and webhooks; no I/O.
#[derive(Debug, Clone)]
pub struct ModernTreasuryAdapter {
    config: ModernTreasuryConfig,
}

impl ModernTreasuryAdapter {
    pub fn new(config: ModernTreasuryConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &ModernTreasuryConfig {
        &self.config
    }

    fn request(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<String>,
    ) -> ProviderRequest {
        let credentials = format!("{}:{}", self.config.organization_id, self.config.api_key);
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        ProviderRequest {
            operation,
            method,
            url: format!("{}{path}", self.config.api_base.trim_end_matches('/')),
            headers: vec![
                ("Authorization".to_owned(), authorization),
                ("Accept".to_owned(), "application/json".to_owned()),
            ],
            form: None,
            json: body.map(|body| body.to_string()),
            idempotency_key,
        }
    }

    /// `POST /api/counterparties` with the party's accounts (routing and account numbers in
    /// the body, and nowhere else).
    pub fn counterparty_request(&self, request: &CounterpartyRequest) -> ProviderRequest {
        let mut metadata = request.metadata.clone();
        metadata.insert(PARTY_ID_KEY.into(), request.party_id.clone());
        let mut body = json!({
            "name": request.name,
            "accounts": request.accounts.iter().map(external_account).collect::<Vec<_>>(),
            "metadata": metadata,
        });
        if let Some(email) = &request.email {
            body["email"] = json!(email);
        }
        self.request(
            "counterparty.create",
            Method::POST,
            "/api/counterparties",
            Some(body),
            Some(format!("bursar-counterparty-{}", request.attempt_id)),
        )
    }

    pub fn parse_counterparty(
        &self,
        response: &ProviderResponse,
    ) -> Result<Counterparty, ProviderError> {
        wire::counterparty(&read_object(response, "counterparty")?)
            .map_err(|e| bad_response("counterparty", e))
    }

    /// `POST /api/payment_orders`. Bursar's metadata keys cannot be overridden by the request's.
    pub fn payment_order_request(&self, request: &PaymentOrderRequest) -> ProviderRequest {
        let mut metadata = request.metadata.clone();
        metadata.insert(ATTEMPT_ID_KEY.into(), request.attempt_id.clone());
        let mut body = Map::new();
        body.insert("type".into(), json!(request.rail.as_str()));
        body.insert("amount".into(), json!(request.amount));
        body.insert("direction".into(), json!(request.direction.as_str()));
        body.insert("currency".into(), json!(request.currency));
        body.insert(
            "originating_account_id".into(),
            json!(request.originating_account_id),
        );
        match &request.receiving_account {
            ReceivingAccount::Id(id) => body.insert("receiving_account_id".into(), json!(id)),
            ReceivingAccount::Inline(account) => {
                body.insert("receiving_account".into(), external_account(account))
            }
        };
        let optional = [
            ("counterparty_id", &request.counterparty_id),
            ("effective_date", &request.effective_date),
            ("remittance_information", &request.reference),
            ("description", &request.description),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                body.insert(key.into(), json!(value));
            }
        }
        body.insert("metadata".into(), json!(metadata));
        self.request(
            "payment_order.create",
            Method::POST,
            "/api/payment_orders",
            Some(Value::Object(body)),
            Some(format!("bursar-payment-order-{}", request.attempt_id)),
        )
    }

    /// Reads a payment order (the answer to a create or a fetch).
    pub fn parse_payment_order(
        &self,
        response: &ProviderResponse,
    ) -> Result<PaymentOrder, ProviderError> {
        wire::payment_order(&read_object(response, "payment_order")?)
            .map_err(|e| bad_response("payment_order", e))
    }

    /// `GET /api/payment_orders/{id}`.
    pub fn payment_order_fetch_request(&self, payment_order_id: &str) -> ProviderRequest {
        self.request(
            "payment_order.retrieve",
            Method::GET,
            &format!(
                "/api/payment_orders/{}",
                encode_path_segment(payment_order_id)
            ),
            None,
            None,
        )
    }

    /// `POST /api/expected_payments`: the rule both as the top-level fields and as the one
    /// `reconciliation_rule_variables` entry (which carries the custom identifiers).
    pub fn expected_payment_request(&self, request: &ExpectedPaymentRequest) -> ProviderRequest {
        let mut metadata = request.metadata.clone();
        metadata.insert(ATTEMPT_ID_KEY.into(), request.attempt_id.clone());
        let rule = rule_json(&request.rule);
        let mut body = rule.clone();
        body.remove("custom_identifiers");
        for (key, value) in [
            ("remittance_information", &request.reference),
            ("description", &request.description),
        ] {
            if let Some(value) = value {
                body.insert(key.into(), json!(value));
            }
        }
        body.insert(
            "reconciliation_rule_variables".into(),
            json!([Value::Object(rule)]),
        );
        body.insert("metadata".into(), json!(metadata));
        self.request(
            "expected_payment.create",
            Method::POST,
            "/api/expected_payments",
            Some(Value::Object(body)),
            Some(format!("bursar-expected-payment-{}", request.attempt_id)),
        )
    }

    pub fn parse_expected_payment(
        &self,
        response: &ProviderResponse,
    ) -> Result<ExpectedPayment, ProviderError> {
        wire::expected_payment(&read_object(response, "expected_payment")?)
            .map_err(|e| bad_response("expected_payment", e))
    }

    /// `GET /api/internal_accounts/{id}/balance_reports/latest`.
    pub fn balance_report_request(&self, internal_account_id: &str) -> ProviderRequest {
        self.request(
            "balance_report.retrieve",
            Method::GET,
            &format!(
                "/api/internal_accounts/{}/balance_reports/latest",
                encode_path_segment(internal_account_id)
            ),
            None,
            None,
        )
    }

    /// Reads a balance report: per currency, its `current_ledger` balance (else its
    /// `closing_ledger`).
    pub fn parse_balance_report(
        &self,
        response: &ProviderResponse,
    ) -> Result<Vec<AccountBalance>, ProviderError> {
        wire::balance_report(&read_object(response, "balance_report")?)
            .map_err(|e| bad_response("balance_report", e))
    }

    /// Verifies `X-Signature` against `secrets`, then reads the event. Nothing of an
    /// unverified body is read.
    pub fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
    ) -> Result<BankEvent, WebhookError> {
        signature::verify(
            headers.get(signature::HEADER).map(String::as_str),
            body,
            secrets,
        )?;
        parse_event(headers, body)
    }
}

fn external_account(account: &ExternalAccount) -> Value {
    let mut value = json!({
        "account_type": account.account_type.as_str(),
        "account_details": [{
            "account_number": account.account_number.expose(),
            "account_number_type": "other",
        }],
        "routing_details": [{
            "routing_number": account.routing_number.expose(),
            "routing_number_type": "aba",
        }],
    });
    if let Some(name) = &account.party_name {
        value["party_name"] = json!(name);
    }
    if let Some(party_type) = account.party_type {
        value["party_type"] = json!(party_type.as_str());
    }
    value
}

/// A reconciliation rule as Modern Treasury writes it (`reconciliation_rule_variables` entries).
pub(crate) fn rule_json(rule: &ReconciliationRule) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("amount_lower_bound".into(), json!(rule.amount_lower_bound));
    map.insert("amount_upper_bound".into(), json!(rule.amount_upper_bound));
    map.insert("direction".into(), json!(rule.direction.as_str()));
    map.insert(
        "internal_account_id".into(),
        json!(rule.internal_account_id),
    );
    let optional = [
        ("currency", rule.currency.clone()),
        ("type", rule.rail.as_ref().map(|r| r.as_str().to_owned())),
        ("date_lower_bound", rule.date_lower_bound.clone()),
        ("date_upper_bound", rule.date_upper_bound.clone()),
        ("counterparty_id", rule.counterparty_id.clone()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            map.insert(key.into(), json!(value));
        }
    }
    if !rule.custom_identifiers.is_empty() {
        map.insert("custom_identifiers".into(), json!(rule.custom_identifiers));
    }
    map
}

fn bad_response(object: &str, message: String) -> ProviderError {
    ProviderError::BadResponse(format!("{object}: {message}"))
}

/// The 2xx answer's JSON object, checked to be a `kind` when it names its `object`; a 4xx is
/// [`ProviderError::Refused`] with Modern Treasury's `errors.code` and message.
fn read_object(response: &ProviderResponse, kind: &str) -> Result<Value, ProviderError> {
    let value: Option<Value> = serde_json::from_slice(&response.body).ok();
    match response.status {
        200..=299 => {
            let value = value
                .filter(Value::is_object)
                .ok_or_else(|| bad_response(kind, "the answer is not a JSON object".into()))?;
            match value.get("object").and_then(Value::as_str) {
                Some(object) if object != kind => {
                    Err(bad_response(kind, format!("the answer is a '{object}'")))
                }
                _ => Ok(value),
            }
        }
        status @ 400..=499 => {
            let errors = value.as_ref().and_then(|v| v.get("errors"));
            let field = |key: &str| errors.and_then(|e| wire::opt_str(e, key));
            let message = field("message").unwrap_or_else(|| "no error message".into());
            Err(ProviderError::Refused {
                status,
                code: field("code").unwrap_or_else(|| format!("http_{status}")),
                message: match field("parameter") {
                    Some(parameter) => format!("{message} (parameter: {parameter})"),
                    None => message,
                },
            })
        }
        status @ 500.. => Err(ProviderError::Unavailable(format!("HTTP {status}"))),
        status => Err(ProviderError::BadResponse(format!(
            "unexpected HTTP {status}"
        ))),
    }
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

/// Modern Treasury behind [`BankRails`]: the adapter's requests, sent by the shared executor.
#[derive(Debug, Clone)]
pub struct ModernTreasury {
    adapter: ModernTreasuryAdapter,
    executor: HttpExecutor,
}

impl ModernTreasury {
    pub fn new(config: ModernTreasuryConfig, executor: HttpExecutor) -> Self {
        Self {
            adapter: ModernTreasuryAdapter::new(config),
            executor,
        }
    }

    pub fn adapter(&self) -> &ModernTreasuryAdapter {
        &self.adapter
    }
}

impl BankRails for ModernTreasury {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn create_counterparty<'a>(
        &'a self,
        request: &'a CounterpartyRequest,
    ) -> BoxFuture<'a, Result<Counterparty, ProviderError>> {
        async move {
            let call = self.adapter.counterparty_request(request);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_counterparty(&response)
        }
        .boxed()
    }

    fn create_payment_order<'a>(
        &'a self,
        request: &'a PaymentOrderRequest,
    ) -> BoxFuture<'a, Result<PaymentOrder, ProviderError>> {
        async move {
            let call = self.adapter.payment_order_request(request);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_payment_order(&response)
        }
        .boxed()
    }

    fn create_expected_payment<'a>(
        &'a self,
        request: &'a ExpectedPaymentRequest,
    ) -> BoxFuture<'a, Result<ExpectedPayment, ProviderError>> {
        async move {
            let call = self.adapter.expected_payment_request(request);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_expected_payment(&response)
        }
        .boxed()
    }

    fn payment_order<'a>(
        &'a self,
        payment_order_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentOrder, ProviderError>> {
        async move {
            let call = self.adapter.payment_order_fetch_request(payment_order_id);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_payment_order(&response)
        }
        .boxed()
    }

    fn balances<'a>(
        &'a self,
        internal_account_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<AccountBalance>, ProviderError>> {
        async move {
            let call = self.adapter.balance_report_request(internal_account_id);
            let response = self.executor.execute(KIND, &call).await?;
            self.adapter.parse_balance_report(&response)
        }
        .boxed()
    }

    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
    ) -> Result<BankEvent, WebhookError> {
        self.adapter.parse_webhook(headers, body, secrets)
    }
}
