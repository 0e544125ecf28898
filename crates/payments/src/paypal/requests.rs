//! Building PayPal's requests: the URL, headers and JSON body of each call, with the bearer token
//! the provider passes in. Nothing here sends anything ([`super::PayPalProvider`] does).

use serde_json::{json, Value};

use super::money::money;
use super::webhook::base64_encode;
use super::{PayPalAdapter, PREFER_REPRESENTATION, REQUEST_ID_HEADER};
use crate::executor::{Method, ProviderRequest};
use crate::{CheckoutRequest, OffSessionCharge, ProviderError, RefundRequest, SetupRequest};

/// PayPal caps `items[].name` at 127 characters.
const ITEM_NAME_MAX_CHARS: usize = 127;

impl PayPalAdapter {
    /// `path` under the configured API base.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    /// A JSON call with the bearer token, `Prefer: return=representation` and, when `key` is
    /// given, `PayPal-Request-Id: key` (also the executor's idempotency key).
    fn call(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<String>,
    ) -> ProviderRequest {
        let mut headers = vec![
            ("Authorization".to_owned(), format!("Bearer {token}")),
            ("Prefer".to_owned(), PREFER_REPRESENTATION.to_owned()),
        ];
        if let Some(key) = &key {
            headers.push((REQUEST_ID_HEADER.to_owned(), key.clone()));
        }
        ProviderRequest {
            operation,
            method,
            url: self.url(path),
            headers,
            form: None,
            json: body.map(|body| body.to_string()),
            idempotency_key: key,
        }
    }

    /// `POST /v1/oauth2/token`, client credentials in basic auth.
    pub fn token_request(&self) -> ProviderRequest {
        let credentials = format!("{}:{}", self.config.client_id, self.config.client_secret);
        ProviderRequest {
            operation: "oauth.token",
            method: Method::POST,
            url: self.url("/v1/oauth2/token"),
            headers: vec![(
                "Authorization".to_owned(),
                format!("Basic {}", base64_encode(credentials.as_bytes())),
            )],
            form: Some(vec![(
                "grant_type".to_owned(),
                "client_credentials".to_owned(),
            )]),
            json: None,
            idempotency_key: None,
        }
    }

    /// `POST /v2/checkout/orders`: intent `CAPTURE`, one purchase unit (the Bursar order as
    /// `reference_id` and `custom_id`, the attempt as `invoice_id`, the lines as items with their
    /// `item_total`), and the return and cancel URLs. Refused before any call when the total is
    /// not the sum of the lines (PayPal would refuse it) or an amount cannot be written in the
    /// currency. Bursar's extra metadata has no place at PayPal and is not sent.
    pub fn checkout_request(
        &self,
        request: &CheckoutRequest,
        token: &str,
    ) -> Result<ProviderRequest, ProviderError> {
        let currency_code = request.currency.to_ascii_uppercase();
        let mut items = Vec::with_capacity(request.lines.len());
        let mut item_total: i64 = 0;
        for line in &request.lines {
            if line.quantity <= 0 {
                return Err(ProviderError::Unsupported(
                    "a line without a positive quantity",
                ));
            }
            let line_total = line
                .unit_amount
                .checked_mul(line.quantity)
                .ok_or(ProviderError::Unsupported("a line total that overflows"))?;
            item_total = item_total
                .checked_add(line_total)
                .ok_or(ProviderError::Unsupported("a total that overflows"))?;
            items.push(json!({
                "name": line.name.chars().take(ITEM_NAME_MAX_CHARS).collect::<String>(),
                "quantity": line.quantity.to_string(),
                "unit_amount": money(line.unit_amount, &currency_code)?,
            }));
        }
        if item_total != request.amount {
            return Err(ProviderError::Unsupported(
                "a checkout total that is not the sum of its lines",
            ));
        }
        let mut amount = money(request.amount, &currency_code)?;
        amount["breakdown"] = json!({ "item_total": money(item_total, &currency_code)? });
        let mut paypal = json!({
            "experience_context": {
                "return_url": request.success_url,
                "cancel_url": request.cancel_url,
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
            }
        });
        if let Some(email) = &request.customer_email {
            paypal["email_address"] = json!(email);
        }
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": request.order_id,
                "custom_id": request.order_id,
                "invoice_id": request.attempt_id,
                "amount": amount,
                "items": items,
            }],
            "payment_source": { "paypal": paypal },
        });
        Ok(self.call(
            "checkout.create",
            Method::POST,
            "/v2/checkout/orders",
            token,
            Some(body),
            Some(format!("bursar-checkout-{}", request.attempt_id)),
        ))
    }

    /// `POST /v2/checkout/orders/{id}/capture`, keyed by the order: capturing it again replays
    /// the first capture.
    pub fn capture_request(&self, order_id: &str, token: &str) -> ProviderRequest {
        self.call(
            "checkout.capture",
            Method::POST,
            &format!("/v2/checkout/orders/{}/capture", path_segment(order_id)),
            token,
            Some(json!({})),
            Some(format!("bursar-capture-{order_id}")),
        )
    }

    /// `GET /v2/checkout/orders/{id}`.
    pub fn order_request(&self, order_id: &str, token: &str) -> ProviderRequest {
        self.call(
            "checkout.retrieve",
            Method::GET,
            &format!("/v2/checkout/orders/{}", path_segment(order_id)),
            token,
            None,
            None,
        )
    }

    /// `GET /v2/payments/captures/{id}`: Bursar's payment id is PayPal's capture id.
    pub fn payment_request(&self, capture_id: &str, token: &str) -> ProviderRequest {
        self.call(
            "payment.retrieve",
            Method::GET,
            &format!("/v2/payments/captures/{}", path_segment(capture_id)),
            token,
            None,
            None,
        )
    }

    /// `POST /v2/payments/captures/{id}/refund` for `amount`, with Bursar's refund id as the
    /// refund's `custom_id` (so the refund webhook names it) and as the request key. Bursar's
    /// reason is internal and is not shown to the payer.
    pub fn refund_request(
        &self,
        request: &RefundRequest,
        token: &str,
    ) -> Result<ProviderRequest, ProviderError> {
        let body = json!({
            "amount": money(request.amount, &request.currency.to_ascii_uppercase())?,
            "custom_id": request.refund_id,
        });
        Ok(self.call(
            "refund.create",
            Method::POST,
            &format!(
                "/v2/payments/captures/{}/refund",
                path_segment(&request.payment_id)
            ),
            token,
            Some(body),
            Some(format!("bursar-refund-{}", request.refund_id)),
        ))
    }

    /// `POST /v3/vault/setup-tokens` for a PayPal wallet the merchant charges later
    /// (`usage_type: MERCHANT`), with the return and cancel URLs, PayPal's customer when Bursar
    /// knows it, and the Bursar customer as `merchant_customer_id` (PayPal returns it on the
    /// payment token and its webhook).
    pub fn setup_request(&self, request: &SetupRequest, token: &str) -> ProviderRequest {
        let mut customer = json!({ "merchant_customer_id": request.customer_id });
        if let Some(id) = &request.provider_customer {
            customer["id"] = json!(id);
        }
        let body = json!({
            "payment_source": {
                "paypal": {
                    "usage_type": "MERCHANT",
                    "customer_type": "CONSUMER",
                    "permit_multiple_payment_tokens": false,
                    "experience_context": {
                        "return_url": request.success_url,
                        "cancel_url": request.cancel_url,
                        "shipping_preference": "NO_SHIPPING",
                    },
                },
            },
            "customer": customer,
        });
        self.call(
            "setup.create",
            Method::POST,
            "/v3/vault/setup-tokens",
            token,
            Some(body),
            Some(format!("bursar-setup-{}", request.attempt_id)),
        )
    }

    /// `POST /v3/vault/payment-tokens` from a setup token the payer approved: what turns the
    /// approval into a saved method (and sends `VAULT.PAYMENT-TOKEN.CREATED`).
    pub fn payment_token_request(&self, setup_token_id: &str, token: &str) -> ProviderRequest {
        let body = json!({
            "payment_source": { "token": { "id": setup_token_id, "type": "SETUP_TOKEN" } },
        });
        self.call(
            "setup.confirm",
            Method::POST,
            "/v3/vault/payment-tokens",
            token,
            Some(body),
            Some(format!("bursar-payment-token-{setup_token_id}")),
        )
    }

    /// `POST /v2/checkout/orders` paid with the saved wallet (`payment_source.paypal.vault_id`):
    /// PayPal captures at once and answers with the completed order and its capture.
    pub fn charge_request(
        &self,
        request: &OffSessionCharge,
        token: &str,
    ) -> Result<ProviderRequest, ProviderError> {
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": request.order_id,
                "custom_id": request.order_id,
                "invoice_id": request.attempt_id,
                "amount": money(request.amount, &request.currency.to_ascii_uppercase())?,
            }],
            "payment_source": { "paypal": { "vault_id": request.payment_method } },
        });
        Ok(self.call(
            "payment.charge",
            Method::POST,
            "/v2/checkout/orders",
            token,
            Some(body),
            Some(format!("bursar-charge-{}", request.attempt_id)),
        ))
    }
}

/// Keeps unreserved characters, percent-encodes the rest (`/`, `?`, `#` included), so an id
/// stays one path segment.
fn path_segment(segment: &str) -> String {
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
