//! [`PayPalProvider`]: the adapter's requests sent through the shared executor behind
//! [`PaymentProvider`], with PayPal's OAuth2 access token cached between calls.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::responses::{decline_of, declined, read_json};
use super::webhook::{parse_event, verify};
use super::{Expected, PayPalAdapter, PayPalConfig, KIND, TOKEN_REFRESH_MARGIN};
use crate::executor::{HttpExecutor, ProviderRequest, ProviderResponse};
use crate::{
    CheckoutRequest, CheckoutSession, Headers, OffSessionCharge, PaymentEvent, PaymentProvider,
    PaymentState, ProviderError, RefundRequest, RefundResult, SavedMethod, SetupRequest,
    SetupSession, WebhookError,
};

/// An access token and when to stop using it.
struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// Never prints the token.
impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

/// PayPal behind [`PaymentProvider`]: the adapter's requests, sent by the shared executor with
/// a cached access token.
#[derive(Debug, Clone)]
pub struct PayPalProvider {
    adapter: PayPalAdapter,
    executor: HttpExecutor,
    /// Held while a token is fetched, so concurrent calls wait for one fetch.
    token: Arc<tokio::sync::Mutex<Option<CachedToken>>>,
}

impl PayPalProvider {
    /// A provider for one PayPal app, sending through `executor`; no token is fetched until the
    /// first call.
    pub fn new(config: PayPalConfig, executor: HttpExecutor) -> Self {
        Self {
            adapter: PayPalAdapter::new(config),
            executor,
            token: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The request builder it sends with.
    pub fn adapter(&self) -> &PayPalAdapter {
        &self.adapter
    }

    /// The cached token, or a fresh one when there is none, it is due for refresh, or `stale`
    /// (PayPal just refused it).
    async fn access_token(&self, stale: Option<&str>) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            let refused = stale == Some(token.value.as_str());
            if !refused && Instant::now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        let call = self.adapter.token_request();
        let response = self.executor.execute(KIND, &call).await?;
        let token = self.adapter.parse_token(&response)?;
        let margin = TOKEN_REFRESH_MARGIN.min(token.expires_in / 2);
        *cached = Some(CachedToken {
            value: token.value.clone(),
            refresh_at: Instant::now() + token.expires_in.saturating_sub(margin),
        });
        Ok(token.value)
    }

    /// Sends the request `build` makes with the current token; if PayPal answers 401 (a token
    /// revoked or expired early), once more with a new token. A request that cannot be built
    /// (an amount PayPal cannot take) fails before any call, the token's included.
    async fn send(
        &self,
        build: impl Fn(&str) -> Result<ProviderRequest, ProviderError>,
    ) -> Result<ProviderResponse, ProviderError> {
        build("")?;
        let token = self.access_token(None).await?;
        let response = self.executor.execute(KIND, &build(&token)?).await?;
        if response.status != 401 {
            return Ok(response);
        }
        let token = self.access_token(Some(&token)).await?;
        self.executor.execute(KIND, &build(&token)?).await
    }

    /// Confirms a setup token the payer approved (`approval_token_id` on the return URL):
    /// creates the payment token that later charges use (`POST /v3/vault/payment-tokens`, keyed
    /// by the setup token, so confirming twice replays the first answer). Core reaches it as
    /// [`PaymentProvider::complete_setup`].
    pub async fn confirm_setup(&self, setup_token_id: &str) -> Result<SavedMethod, ProviderError> {
        let response = self
            .send(|token| Ok(self.adapter.payment_token_request(setup_token_id, token)))
            .await?;
        self.adapter.parse_payment_token(&response)
    }

    /// Captures an approved order. A decline at capture (a 422 such as `INSTRUMENT_DECLINED`)
    /// and an order already captured (`ORDER_ALREADY_CAPTURED`: an earlier call went through)
    /// are read from the order itself, fetched again.
    async fn capture(&self, order_id: &str) -> Result<PaymentState, ProviderError> {
        let response = self
            .send(|token| Ok(self.adapter.capture_request(order_id, token)))
            .await?;
        let decline = decline_of(&response);
        let already = matches!(
            read_json(&response, "order"),
            Err(ProviderError::Refused { ref code, .. }) if code == "ORDER_ALREADY_CAPTURED"
        );
        if decline.is_none() && !already {
            return self.adapter.parse_order(&response);
        }
        let fetched = self
            .send(|token| Ok(self.adapter.order_request(order_id, token)))
            .await?;
        let state = self.adapter.parse_order(&fetched)?;
        Ok(match decline {
            Some((issue, class)) => declined(
                &Expected {
                    id: state.id.clone(),
                    amount: state.amount,
                    currency: state.currency.clone(),
                    order_id: state.order_id.clone(),
                },
                &issue,
                class,
            ),
            None => state,
        })
    }
}

impl PaymentProvider for PayPalProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutSession, ProviderError>> {
        async move {
            let response = self
                .send(|token| self.adapter.checkout_request(request, token))
                .await?;
            self.adapter.parse_checkout(&response, request)
        }
        .boxed()
    }

    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundResult, ProviderError>> {
        async move {
            let response = self
                .send(|token| self.adapter.refund_request(request, token))
                .await?;
            self.adapter.parse_refund(&response, request)
        }
        .boxed()
    }

    fn payment<'a>(
        &'a self,
        payment_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let response = self
                .send(|token| Ok(self.adapter.payment_request(payment_id, token)))
                .await?;
            self.adapter.parse_payment(&response)
        }
        .boxed()
    }

    /// Opens a setup token; the payer approves it at its `approve` link. Turning the approval
    /// into a payment token is [`PaymentProvider::complete_setup`].
    fn create_setup<'a>(
        &'a self,
        request: &'a SetupRequest,
    ) -> BoxFuture<'a, Result<SetupSession, ProviderError>> {
        async move {
            let response = self
                .send(|token| Ok(self.adapter.setup_request(request, token)))
                .await?;
            self.adapter.parse_setup(&response, request)
        }
        .boxed()
    }

    /// Confirms the setup token the payer approved ([`PayPalProvider::confirm_setup`]).
    fn complete_setup<'a>(
        &'a self,
        setup_id: &'a str,
    ) -> BoxFuture<'a, Result<SavedMethod, ProviderError>> {
        self.confirm_setup(setup_id).boxed()
    }

    fn charge_saved<'a>(
        &'a self,
        request: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let response = self
                .send(|token| self.adapter.charge_request(request, token))
                .await?;
            let expected = Expected {
                id: String::new(),
                amount: request.amount,
                currency: request.currency.to_ascii_uppercase(),
                order_id: Some(request.order_id.clone()),
            };
            self.adapter.parse_charge(&response, &expected)
        }
        .boxed()
    }

    fn capture_checkout<'a>(
        &'a self,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        self.capture(session_id).boxed()
    }

    /// Verifies the transmission ([`verify`], against the configured webhook id and the trusted
    /// certificates in `secrets`) before reading a byte of the body as JSON.
    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
        now: i64,
    ) -> Result<PaymentEvent, WebhookError> {
        verify(headers, body, &self.adapter.config.webhook_id, secrets, now)?;
        parse_event(body)
    }
}
