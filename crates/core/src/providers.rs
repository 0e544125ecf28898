//! Connections to payment providers: each workspace's, with their sealed secrets, the provider
//! behind each (Stripe, or the embedded test provider), and what checkouts share (return URLs,
//! expiry, the answer to a provider event).

use std::collections::BTreeMap;
use std::sync::Arc;

use bursar_domain::id::{ProviderId, WorkspaceId};
use bursar_domain::payment_provider::*;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_payments::paypal::{self, PayPalConfig, PayPalProvider};
use bursar_payments::stripe::{self, StripeConfig, StripeProvider};
use bursar_payments::{
    signature, CheckoutRequest, CheckoutSession, DeclineClass, Headers, OffSessionCharge,
    PaymentProvider, PaymentState, PaymentStatus, ProviderError, RefundRequest, RefundResult,
    RefundStatus, SetupRequest, SetupSession, WebhookError,
};
use bursar_store::payment_providers::{ProviderRow, TestSession};
use bursar_store::{seal, Db, Tx};
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::error::{Error, ErrorKind};
use crate::App;

/// A usable connection: its row, the provider behind it, and its signing secrets.
pub struct Connection {
    pub row: ProviderRow,
    pub object: PaymentProviderObject,
    pub provider: Arc<dyn PaymentProvider>,
    pub secrets: Vec<String>,
}

pub fn decode_object(row: &ProviderRow) -> Result<PaymentProviderObject, Error> {
    serde_json::from_str(&row.body).map_err(|e| {
        tracing::error!(error = %e, "BUG: stored payment provider unreadable");
        Error::internal()
    })
}

pub fn random_token(bytes: usize) -> String {
    hex::encode(seal::random_bytes(bytes))
}

/// Builds the provider of a stored connection.
pub fn connect(state: &App, row: ProviderRow, base_url: &str) -> Result<Connection, Error> {
    let sealer = state.db.sealer()?;
    let secrets: Vec<String> = serde_json::from_str(&sealer.open(&row.webhook_secrets_sealed)?)
        .map_err(|_| Error::internal())?;
    let object = decode_object(&row)?;
    let provider: Arc<dyn PaymentProvider> = match row.kind.as_str() {
        "stripe" => {
            let secret_key = match &row.secret_key_sealed {
                Some(sealed) => sealer.open(sealed)?,
                None => String::new(),
            };
            let config = StripeConfig {
                secret_key,
                api_base: object
                    .api_base
                    .clone()
                    .unwrap_or_else(|| stripe::DEFAULT_API_BASE.to_owned()),
            };
            Arc::new(StripeProvider::new(config, state.payments.executor()?))
        }
        "paypal" => {
            let client_secret = match &row.secret_key_sealed {
                Some(sealed) => sealer.open(sealed)?,
                None => String::new(),
            };
            let config = PayPalConfig {
                client_id: object.client_id.clone().unwrap_or_default(),
                client_secret,
                webhook_id: object.webhook_id.clone().unwrap_or_default(),
                api_base: object
                    .api_base
                    .clone()
                    .unwrap_or_else(|| paypal::DEFAULT_API_BASE.to_owned()),
            };
            Arc::new(PayPalProvider::new(config, state.payments.executor()?))
        }
        _ => Arc::new(TestProvider {
            db: state.db.clone(),
            workspace_id: row.workspace_id.clone(),
            provider_id: row.provider_id.clone(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }),
    };
    Ok(Connection {
        row,
        object,
        provider,
        secrets,
    })
}

/// The workspace's test provider, created on first use with a fresh signing secret.
pub async fn ensure_test_provider(
    tx: &mut Tx,
    sealer: &seal::Sealer,
    workspace_id: &WorkspaceId,
    now: Timestamp,
) -> Result<ProviderRow, Error> {
    // Concurrent first checkouts must not each create one.
    bursar_store::workspaces::lock_workspace(tx, workspace_id).await?;
    if let Some(row) =
        bursar_store::payment_providers::providers_of_kind(tx, "test", Some(workspace_id), 1)
            .await?
            .pop()
    {
        return Ok(row);
    }
    let id = ProviderId::new();
    let secret = format!("whsec_{}", random_token(24));
    let object = PaymentProviderObject {
        id: id.clone(),
        object: "payment_provider".into(),
        kind: "test".into(),
        name: "Test provider".into(),
        api_base: None,
        client_id: None,
        webhook_id: None,
        webhook_path: format!("/v1/webhooks/{id}"),
        secret_key_last4: None,
        webhook_secrets: 1,
        created_at: now,
        updated_at: now,
    };
    let row = ProviderRow {
        workspace_id: workspace_id.clone(),
        provider_id: id.to_string(),
        kind: "test".into(),
        body: serde_json::to_string(&object).map_err(|_| Error::internal())?,
        secret_key_sealed: None,
        webhook_secrets_sealed: sealer
            .seal(&serde_json::to_string(&[secret]).map_err(|_| Error::internal())?)?,
    };
    bursar_store::payment_providers::insert_provider(tx, &row).await?;
    Ok(row)
}

/// The connection a checkout names: `stripe` (the workspace's only Stripe connection), a
/// connection id, or `test` — the default, in sandboxes only: a live workspace must name a real
/// connection.
pub async fn resolve(
    state: &App,
    workspace_id: &WorkspaceId,
    selector: Option<&str>,
    base_url: &str,
) -> Result<Connection, Error> {
    let selector = selector.unwrap_or("test");
    if selector == "test" {
        state
            .require_sandbox(workspace_id, "The test provider")
            .await?;
    }
    let row = match find_connection(state, selector, Some(workspace_id)).await {
        Ok(row) => row,
        // Every workspace has a test provider, created on its first use.
        Err(error) if selector == "test" && error.kind == ErrorKind::NotFound => {
            let (ws, sealer, now) = (
                workspace_id.clone(),
                state.db.sealer()?.clone(),
                state.db.now(),
            );
            state
                .db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move { ensure_test_provider(tx, &sealer, &ws, now).await })
                })
                .await?
        }
        Err(error) => return Err(error),
    };
    connect(state, row, base_url)
}

/// The one connection a selector names: a connection id (`pp_…`) or a kind (`stripe`,
/// `test`), within `workspace` when given (else server-wide, as inbound webhooks name no
/// workspace). Looked up through the connection cache; 404 when none, 400 when a kind is
/// ambiguous.
pub async fn find_connection(
    state: &App,
    selector: &str,
    workspace: Option<&WorkspaceId>,
) -> Result<ProviderRow, Error> {
    let cache_key = format!("{}|{selector}", workspace.map_or("*", WorkspaceId::as_str));
    if let Some(row) = state.payments.cached(&cache_key) {
        return Ok(row);
    }
    let lookup = selector.to_owned();
    let scope = workspace.cloned();
    let rows = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let rows = if lookup.starts_with("pp_") {
                    bursar_store::payment_providers::provider_by_id(tx, &lookup)
                        .await?
                        .into_iter()
                        .collect()
                } else {
                    bursar_store::payment_providers::providers_of_kind(
                        tx,
                        &lookup,
                        scope.as_ref(),
                        2,
                    )
                    .await?
                };
                Ok::<Vec<ProviderRow>, bursar_store::StoreError>(rows)
            })
        })
        .await?;
    let mut rows: Vec<ProviderRow> = rows
        .into_iter()
        .filter(|r| workspace.is_none_or(|ws| &r.workspace_id == ws))
        .collect();
    match rows.len() {
        1 => {
            let row = rows.remove(0);
            state.payments.remember(cache_key, &row);
            Ok(row)
        }
        0 => Err(Error::not_found("payment_provider", selector).with_param("provider")),
        _ => Err(Error::invalid(
            "provider_ambiguous",
            Some("provider".into()),
            format!("Several {selector} connections exist: name one by id (pp_…)."),
        )),
    }
}

pub fn check_secrets(secrets: &[String]) -> Result<(), ValidationError> {
    if secrets.is_empty() || secrets.len() > SIGNING_SECRETS_MAX {
        return Err(ValidationError::invalid(
            "webhook_secrets",
            "Give 1 to 5 signing secrets.",
        ));
    }
    for (i, s) in secrets.iter().enumerate() {
        if !SIGNING_SECRET_LENGTH.contains(&s.len()) {
            return Err(ValidationError::invalid(
                format!("webhook_secrets[{i}]"),
                "A signing secret has 16 to 4,096 characters.",
            ));
        }
    }
    Ok(())
}

/// Checks a connection's `api_base`: https, to an address outbound requests may reach (plain
/// http only where loopback is allowed, for a local fake of the provider).
pub async fn check_api_base(guard: &bursar_outbound::Guard, url: &str) -> Result<(), Error> {
    let invalid =
        |message: String| Error::invalid("parameter_invalid", Some("api_base".into()), message);
    let checked = guard
        .check(url)
        .await
        .map_err(|refusal| invalid(format!("api_base {refusal}.")))?;
    if checked.scheme() != "https" && !guard.policy().allow_loopback {
        return Err(invalid("api_base must be https.".into()));
    }
    Ok(())
}

pub fn last4(secret: &str) -> String {
    secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// The embedded test provider: checkout sessions kept in Bursar's database, outcomes chosen on
/// its checkout page or through the API, delivered as Stripe-format signed webhooks.
pub struct TestProvider {
    db: Db,
    workspace_id: WorkspaceId,
    provider_id: String,
    base_url: String,
}

impl PaymentProvider for TestProvider {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutSession, ProviderError>> {
        async move {
            let session = TestSession {
                session_id: format!("cs_test_{}", random_token(16)),
                workspace_id: self.workspace_id.clone(),
                provider_id: self.provider_id.clone(),
                order_id: request.order_id.clone(),
                payment_id: format!("pi_test_{}", random_token(12)),
                amount: request.amount,
                currency: request.currency.clone(),
                customer_email: request.customer_email.clone(),
                success_url: request.success_url.clone(),
                cancel_url: request.cancel_url.clone(),
                status: "open".into(),
                expires_at: request.expires_at,
                created_at: self.db.now().unix_micros(),
            };
            let stored = session.clone();
            self.db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move {
                        bursar_store::payment_providers::insert_test_session(tx, &stored).await
                    })
                })
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            Ok(CheckoutSession {
                url: format!(
                    "{}/test-provider/checkout/{}",
                    self.base_url, session.session_id
                ),
                id: session.session_id,
                payment_id: Some(session.payment_id),
                expires_at: session.expires_at,
            })
        }
        .boxed()
    }

    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundResult, ProviderError>> {
        async move {
            let payment = self.payment(&request.payment_id).await?;
            if payment.status != PaymentStatus::Succeeded {
                return Err(ProviderError::Refused {
                    status: 400,
                    code: "charge_not_refundable".into(),
                    message: format!("Payment {} has not succeeded.", request.payment_id),
                });
            }
            // Deterministic per Bursar refund: a retried refund is the same refund.
            let digest = bursar_store::sha256_hex(request.refund_id.as_bytes());
            Ok(RefundResult {
                id: format!("re_test_{}", &digest[..24]),
                status: RefundStatus::Succeeded,
                amount: request.amount,
            })
        }
        .boxed()
    }

    fn payment<'a>(
        &'a self,
        payment_id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let id = payment_id.to_owned();
            let session = self
                .db
                .read(move |tx: &mut Tx| {
                    Box::pin(async move {
                        bursar_store::payment_providers::test_session(tx, "payment_id", &id).await
                    })
                })
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?
                .ok_or_else(|| ProviderError::Refused {
                    status: 404,
                    code: "resource_missing".into(),
                    message: format!("No such payment: {payment_id}"),
                })?;
            let status = match session.status.as_str() {
                "complete" => PaymentStatus::Succeeded,
                "processing" => PaymentStatus::Processing,
                "expired" => PaymentStatus::Canceled,
                _ => PaymentStatus::Open,
            };
            let received = if status == PaymentStatus::Succeeded {
                session.amount
            } else {
                0
            };
            Ok(PaymentState {
                id: session.payment_id,
                status,
                amount: session.amount,
                amount_received: received,
                currency: session.currency,
                order_id: Some(session.order_id),
                last_error: None,
                decline_code: None,
                decline_class: None,
            })
        }
        .boxed()
    }

    fn create_setup<'a>(
        &'a self,
        request: &'a SetupRequest,
    ) -> BoxFuture<'a, Result<SetupSession, ProviderError>> {
        async move {
            let setup = bursar_store::payment_providers::TestSetup {
                session_id: format!("cs_test_setup_{}", random_token(16)),
                workspace_id: self.workspace_id.clone(),
                provider_id: self.provider_id.clone(),
                customer_id: request.customer_id.clone(),
                provider_customer_id: request
                    .provider_customer
                    .clone()
                    .unwrap_or_else(|| format!("cus_test_{}", random_token(8))),
                success_url: request.success_url.clone(),
                status: "open".into(),
                created_at: self.db.now().unix_micros(),
            };
            let stored = setup.clone();
            self.db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move {
                        bursar_store::payment_providers::insert_test_setup(tx, &stored).await
                    })
                })
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            Ok(SetupSession {
                url: format!("{}/test-provider/setup/{}", self.base_url, setup.session_id),
                id: setup.session_id,
                provider_customer: setup.provider_customer_id,
            })
        }
        .boxed()
    }

    /// The test provider's saved methods are Bursar's own records: nothing to detach there.
    fn detach_method<'a>(
        &'a self,
        provider_method_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = provider_method_id;
        Box::pin(async { Ok(()) })
    }

    fn charge_saved<'a>(
        &'a self,
        request: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        async move {
            let card = TestCard::of_method(&request.payment_method).ok_or_else(|| {
                ProviderError::Refused {
                    status: 400,
                    code: "resource_missing".into(),
                    message: format!("No such payment method: {}", request.payment_method),
                }
            })?;
            // Deterministic per attempt: a retried charge is the same payment.
            let digest = bursar_store::sha256_hex(request.attempt_id.as_bytes());
            let payment_id = format!("pi_test_{}", &digest[..24]);
            // Answered as Stripe answers: the error's code, and the issuer's decline code.
            let decline = card.decline();
            let class = decline.map(|d| bursar_payments::decline_class(d.decline_code));
            let status = match class {
                None => PaymentStatus::Succeeded,
                Some(DeclineClass::AuthenticationRequired) => PaymentStatus::Open,
                Some(_) => PaymentStatus::Failed,
            };
            if status == PaymentStatus::Succeeded {
                // The provider's record of the payment, so it can be refunded later.
                let session = TestSession {
                    session_id: format!("cs_test_offsession_{}", &digest[..24]),
                    workspace_id: self.workspace_id.clone(),
                    provider_id: self.provider_id.clone(),
                    order_id: request.order_id.clone(),
                    payment_id: payment_id.clone(),
                    amount: request.amount,
                    currency: request.currency.clone(),
                    customer_email: None,
                    success_url: String::new(),
                    cancel_url: String::new(),
                    status: "complete".into(),
                    expires_at: 0,
                    created_at: self.db.now().unix_micros(),
                };
                self.db
                    .write(move |tx: &mut Tx| {
                        Box::pin(async move {
                            if bursar_store::payment_providers::test_session(
                                tx,
                                "session_id",
                                &session.session_id,
                            )
                            .await?
                            .is_none()
                            {
                                bursar_store::payment_providers::insert_test_session(tx, &session)
                                    .await?;
                            }
                            Ok::<_, bursar_store::StoreError>(())
                        })
                    })
                    .await
                    .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            }
            Ok(PaymentState {
                id: payment_id,
                status,
                amount: request.amount,
                amount_received: if status == PaymentStatus::Succeeded {
                    request.amount
                } else {
                    0
                },
                currency: request.currency.clone(),
                order_id: Some(request.order_id.clone()),
                last_error: decline.map(|d| d.code.to_owned()),
                decline_code: decline.map(|d| d.decline_code.to_owned()),
                decline_class: class,
            })
        }
        .boxed()
    }

    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
        secrets: &[String],
        now: i64,
    ) -> Result<bursar_payments::PaymentEvent, WebhookError> {
        signature::verify(
            headers.get(signature::HEADER).map(String::as_str),
            body,
            secrets,
            now,
            signature::TOLERANCE_SECONDS,
        )?;
        stripe::parse_event(body)
    }
}

/// Metadata Bursar attaches to provider objects.
pub fn order_metadata(order_id: &str) -> BTreeMap<String, String> {
    [(stripe::ORDER_ID_KEY.to_owned(), order_id.to_owned())]
        .into_iter()
        .collect()
}

/// How long a hosted checkout stays open (Stripe's default).
pub const CHECKOUT_TTL_SECONDS: i64 = 24 * 3600;

/// Where the provider's hosted page sends the customer back: the URLs given (checked), else
/// this server's page saying so (`query` names what was paid: `order=…`, `invoice=…`).
pub fn return_urls(
    base: &str,
    query: &str,
    success_url: Option<String>,
    cancel_url: Option<String>,
) -> Result<(String, String), ValidationError> {
    let success_url = success_url.unwrap_or_else(|| format!("{base}/test-provider/done?{query}"));
    let cancel_url =
        cancel_url.unwrap_or_else(|| format!("{base}/test-provider/done?{query}&canceled=1"));
    check_url(&success_url, "success_url")?;
    check_url(&cancel_url, "cancel_url")?;
    Ok((success_url, cancel_url))
}

pub fn check_url(url: &str, param: &str) -> Result<(), ValidationError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(ValidationError::invalid(
            param,
            format!("{param} must be an http(s) URL."),
        ));
    }
    Ok(())
}

pub fn provider_error(error: ProviderError) -> Error {
    match error {
        ProviderError::Refused { code, message, .. } => Error::new(
            ErrorKind::ProviderFailed,
            "provider_refused",
            format!("The payment provider refused the request: {code}: {message}"),
        ),
        other => Error::new(
            ErrorKind::ProviderFailed,
            "provider_unavailable",
            format!("{other}. It is safe to retry with the same Idempotency-Key."),
        ),
    }
}

/// What one provider event did.
pub struct Applied {
    /// `applied`, `ignored` or `unmatched`.
    pub outcome: &'static str,
    pub detail: Option<String>,
    pub order_id: Option<String>,
}

impl Applied {
    /// An event that names nothing Bursar knows.
    pub fn unmatched(detail: &str) -> Applied {
        Applied {
            outcome: "unmatched",
            detail: Some(detail.to_owned()),
            order_id: None,
        }
    }
}
