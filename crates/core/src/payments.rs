//! Payment providers: a workspace's connections (`/v1/payment_providers`), inbound provider
//! webhooks (`POST /v1/webhooks/{provider}`), and the embedded `test` provider.
//!
//! Inbound webhooks are verified before anything is read, then claimed by `(connection, event
//! id)` in the same transaction that applies their effects: a provider event takes effect once,
//! however often and however concurrently it arrives. The `test` provider delivers its outcomes
//! through the same [`ingest`] function, signed the way Stripe signs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bursar_domain::event::Cause;
use bursar_domain::id::{ProviderId, WorkspaceId};
use bursar_domain::payment_provider::*;
use bursar_domain::time::Timestamp;
use bursar_domain::ValidationError;
use bursar_payments::executor::{ExecutorConfig, HttpExecutor};
use bursar_payments::stripe::{self, StripeConfig, StripeProvider};
use bursar_payments::{
    signature, CheckoutRequest, CheckoutSession, Headers, OffSessionCharge, PaymentProvider,
    PaymentState, PaymentStatus, ProviderError, RefundRequest, RefundResult, RefundStatus,
    SetupRequest, SetupSession, WebhookError,
};
use bursar_store::payment_providers::{ProviderRow, TestSession};
use bursar_store::{seal, Db, Tx};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::write::Context;
use crate::App;

/// What the payment layer shares across requests.
pub struct Payments {
    pub executor: HttpExecutor,
    /// Connections looked up recently, by selector: a checkout and a webhook need their
    /// connection on every request. Entries live [`CONNECTION_CACHE_TTL`]; this process drops
    /// them all when a connection changes, other processes see a change within the TTL.
    connections: std::sync::Mutex<HashMap<String, (std::time::Instant, ProviderRow)>>,
}

/// How long a looked-up connection is reused without reading it again.
pub const CONNECTION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Payments {
    pub fn new() -> Payments {
        let executor = HttpExecutor::new(ExecutorConfig::default()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "provider HTTP client failed to build; using defaults");
            HttpExecutor::with_client(reqwest::Client::new(), ExecutorConfig::default())
        });
        Payments {
            executor,
            connections: Default::default(),
        }
    }

    pub fn cached(&self, key: &str) -> Option<ProviderRow> {
        let map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < CONNECTION_CACHE_TTL)
            .map(|(_, row)| row.clone())
    }

    pub fn remember(&self, key: String, row: &ProviderRow) {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key, (std::time::Instant::now(), row.clone()));
    }

    pub fn forget_all(&self) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Default for Payments {
    fn default() -> Self {
        Self::new()
    }
}

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
            Arc::new(StripeProvider::new(config, state.payments.executor.clone()))
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

/// The connection a checkout names: `test` (the default), `stripe` (the workspace's only Stripe
/// connection) or a connection id.
pub async fn resolve(
    state: &App,
    workspace_id: &WorkspaceId,
    selector: Option<&str>,
    base_url: &str,
) -> Result<Connection, Error> {
    let selector = selector.unwrap_or("test");
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
    if secrets.is_empty() || secrets.len() > 5 {
        return Err(ValidationError::invalid(
            "webhook_secrets",
            "Give 1 to 5 signing secrets.",
        ));
    }
    for (i, s) in secrets.iter().enumerate() {
        if s.len() < 16 || s.len() > 200 {
            return Err(ValidationError::invalid(
                format!("webhook_secrets[{i}]"),
                "A signing secret has 16 to 200 characters.",
            ));
        }
    }
    Ok(())
}

pub fn check_api_base(url: &str) -> Result<(), ValidationError> {
    if !(url.starts_with("https://")
        || url.starts_with("http://127.0.0.1")
        || url.starts_with("http://localhost"))
    {
        return Err(ValidationError::invalid(
            "api_base",
            "api_base must be https (or http on loopback, for tests).",
        ));
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

pub fn webhook_error(error: WebhookError) -> Error {
    let code = match error {
        WebhookError::MissingSignature => "signature_missing",
        WebhookError::MalformedSignature(_) => "signature_malformed",
        WebhookError::BadSignature => "signature_invalid",
        WebhookError::Expired { .. } => "signature_expired",
        WebhookError::BadPayload(_) => "payload_invalid",
    };
    Error::new(ErrorKind::Invalid, code, error.to_string())
}

/// Verifies, claims and applies one inbound provider webhook. Nothing of an unverified body is
/// read or stored.
pub async fn ingest(
    state: &App,
    selector: &str,
    headers: &Headers,
    body: Bytes,
) -> Result<WebhookReceipt, Error> {
    let row = find_connection(state, selector, None).await?;
    let connection = connect(state, row, "")?;
    let now = state.db.now();
    let event = connection
        .provider
        .parse_webhook(
            headers,
            &body,
            &connection.secrets,
            now.unix_micros() / 1_000_000,
        )
        .map_err(webhook_error)?;
    let payload = String::from_utf8_lossy(&body).into_owned();
    let workspace_id = connection.row.workspace_id.clone();
    let provider_id = connection.row.provider_id.clone();
    let kind = connection.row.kind.clone();
    let cause = Cause {
        request_id: None,
        actor: Some(format!("provider:{provider_id}")),
    };
    let receipt = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let first = bursar_store::payment_providers::claim_provider_event(
                    tx,
                    &provider_id,
                    &event.provider_event_id,
                    &workspace_id,
                    &event.provider_event_type,
                    &payload,
                    now.unix_micros(),
                )
                .await?;
                if !first {
                    return Ok::<_, Error>(WebhookReceipt {
                        received: true,
                        event_id: event.provider_event_id,
                        first_delivery: false,
                        outcome: "duplicate".into(),
                        detail: None,
                        order_id: event.order_id,
                    });
                }
                let applied = {
                    let mut cx = Context {
                        tx: &mut *tx,
                        workspace_id: &workspace_id,
                        now,
                        cause: &cause,
                    };
                    crate::orders::apply_payment_event(&mut cx, &provider_id, &kind, &event).await?
                };
                bursar_store::payment_providers::settle_provider_event(
                    tx,
                    &provider_id,
                    &event.provider_event_id,
                    applied.order_id.as_deref(),
                    applied.outcome,
                    applied.detail.as_deref(),
                )
                .await?;
                Ok(WebhookReceipt {
                    received: true,
                    event_id: event.provider_event_id,
                    first_delivery: true,
                    outcome: applied.outcome.to_owned(),
                    detail: applied.detail,
                    order_id: applied.order_id,
                })
            })
        })
        .await?;
    Ok(receipt)
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
            let (status, last_error) = match card {
                TestCard::Visa => (PaymentStatus::Succeeded, None),
                TestCard::Declined => (PaymentStatus::Failed, Some("card_declined".to_owned())),
                TestCard::AuthenticationRequired => (
                    PaymentStatus::Open,
                    Some("authentication_required".to_owned()),
                ),
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
                last_error,
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

/// Saves a card on a test setup session, once, and returns (and by default delivers) the
/// signed `setup_intent.succeeded` event.
pub async fn complete_setup(
    state: &App,
    session_id: &str,
    card: TestCard,
    deliver: bool,
) -> Result<CompleteSessionResponse, Error> {
    let id = session_id.to_owned();
    let setup = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { bursar_store::payment_providers::test_setup(tx, &id).await })
        })
        .await?
        .ok_or_else(|| Error::not_found("setup_session", session_id))?;
    let sid = setup.session_id.clone();
    let moved = state
        .db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::set_test_setup_status(tx, &sid, "open", "complete")
                    .await
            })
        })
        .await?;
    if !moved {
        return Err(Error::state(
            "setup_session_state_invalid",
            "complete",
            "This setup session has already saved a card.",
        ));
    }
    let now = state.db.now().unix_micros() / 1_000_000;
    let method = format!("pm_test_{}_{}", card.slug(), random_token(8));
    let object = json!({
        "id": format!("seti_test_{}", random_token(12)), "object": "setup_intent", "status": "succeeded",
        "customer": setup.provider_customer_id, "payment_method": method, "usage": "off_session",
        "metadata": { "bursar_customer_id": setup.customer_id }, "livemode": false, "created": now,
    });
    let events = sign_events(
        state,
        &setup.provider_id,
        vec![("setup_intent.succeeded", object)],
        now,
    )
    .await?;
    let receipts = if deliver {
        deliver_events(state, &setup.provider_id, &events).await?
    } else {
        Vec::new()
    };
    Ok(CompleteSessionResponse {
        session_id: setup.session_id,
        status: "complete".into(),
        events,
        receipts,
    })
}

/// Signs events with the connection's first secret, as Stripe would send them.
pub async fn sign_events(
    state: &App,
    provider_id: &str,
    objects: Vec<(&'static str, serde_json::Value)>,
    now_seconds: i64,
) -> Result<Vec<SignedEvent>, Error> {
    let row = find_connection(state, provider_id, None).await?;
    let connection = connect(state, row, "")?;
    let secret = connection
        .secrets
        .first()
        .cloned()
        .ok_or_else(Error::internal)?;
    Ok(objects
        .into_iter()
        .map(|(event_type, object)| {
            let id = format!("evt_test_{}", random_token(12));
            let payload = stripe::event_json(&id, event_type, now_seconds, object).to_string();
            let signature = signature::header(&[secret.as_str()], now_seconds, payload.as_bytes());
            SignedEvent {
                id,
                event_type: event_type.to_owned(),
                payload,
                signature,
                webhook_path: format!("/v1/webhooks/{provider_id}"),
            }
        })
        .collect())
}

/// Delivers signed events through the webhook path, in order.
pub async fn deliver_events(
    state: &App,
    provider_id: &str,
    events: &[SignedEvent],
) -> Result<Vec<WebhookReceipt>, Error> {
    let mut receipts = Vec::new();
    for event in events {
        let headers: Headers = [(signature::HEADER.to_owned(), event.signature.clone())]
            .into_iter()
            .collect();
        receipts.push(
            ingest(
                state,
                provider_id,
                &headers,
                Bytes::from(event.payload.clone()),
            )
            .await?,
        );
    }
    Ok(receipts)
}

/// Expires the test provider's open checkout sessions whose time is up, as Stripe does after
/// 24 hours: each delivers `checkout.session.expired`. Returns how many expired.
pub async fn expire_due_sessions(state: &App) -> Result<usize, Error> {
    let now = state.db.now().unix_micros() / 1_000_000;
    let due = state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::due_test_sessions(tx, now, 100).await
            })
        })
        .await?;
    let mut expired = 0;
    for session in due {
        match complete_session(state, &session, TestOutcome::Expired, true).await {
            Ok(_) => expired += 1,
            // Paid or expired meanwhile: nothing to do.
            Err(error) if matches!(error.kind, ErrorKind::State | ErrorKind::Conflict) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(expired)
}

/// A test checkout session by id.
pub async fn load_test_session(state: &App, id: &str) -> Result<Option<TestSession>, Error> {
    let id = id.to_owned();
    Ok(state
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                bursar_store::payment_providers::test_session(tx, "session_id", &id).await
            })
        })
        .await?)
}

/// The fee the test provider charges, as a card processor would: 2.9% + 30 minor units,
/// rounded half up.
pub fn test_fee(amount: i64) -> i64 {
    (amount.saturating_mul(29) + 500) / 1000 + 30
}

/// What the test provider charges for a dispute, like Stripe's 15.00.
pub const TEST_DISPUTE_FEE: i64 = 1500;

pub fn stripe_objects(
    session: &TestSession,
    outcome: TestOutcome,
    now: i64,
) -> Vec<(&'static str, serde_json::Value)> {
    let currency = session.currency.to_ascii_lowercase();
    let metadata = json!({ stripe::ORDER_ID_KEY: session.order_id });
    let checkout = |payment_status: &str, status: &str| {
        json!({
            "id": session.session_id, "object": "checkout.session", "mode": "payment",
            "amount_total": session.amount, "amount_subtotal": session.amount, "currency": currency,
            "payment_status": payment_status, "status": status, "payment_intent": session.payment_id,
            "client_reference_id": session.order_id, "metadata": metadata, "customer": null,
            "customer_details": { "email": session.customer_email }, "expires_at": session.expires_at,
            "success_url": session.success_url, "cancel_url": session.cancel_url, "livemode": false, "created": now,
        })
    };
    let intent = |status: &str, received: i64, extra: serde_json::Value| {
        let mut object = json!({
            "id": session.payment_id, "object": "payment_intent", "amount": session.amount,
            "amount_received": received, "currency": currency, "status": status, "metadata": metadata,
            "payment_method": "pm_card_visa", "customer": null, "livemode": false, "created": now,
            "capture_method": "automatic", "last_payment_error": null, "latest_charge": null,
        });
        if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                object.insert(k.clone(), v.clone());
            }
        }
        object
    };
    match outcome {
        TestOutcome::Succeeded => {
            let fee = test_fee(session.amount);
            let charge = json!({
                "id": format!("ch_{}", &session.payment_id[3..]), "object": "charge", "amount": session.amount,
                "balance_transaction": { "id": format!("txn_{}", &session.payment_id[3..]), "object": "balance_transaction",
                    "amount": session.amount, "fee": fee, "net": session.amount - fee, "currency": currency },
            });
            let mut events = Vec::new();
            if session.status == "processing" {
                events.push((
                    "checkout.session.async_payment_succeeded",
                    checkout("paid", "complete"),
                ));
            } else {
                events.push(("checkout.session.completed", checkout("paid", "complete")));
            }
            events.push((
                "payment_intent.succeeded",
                intent(
                    "succeeded",
                    session.amount,
                    json!({ "latest_charge": charge }),
                ),
            ));
            events
        }
        TestOutcome::Declined => vec![(
            "payment_intent.payment_failed",
            intent(
                "requires_payment_method",
                0,
                json!({ "last_payment_error": { "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined." } }),
            ),
        )],
        TestOutcome::Processing => vec![
            ("checkout.session.completed", checkout("unpaid", "complete")),
            (
                "payment_intent.processing",
                intent("processing", 0, json!({})),
            ),
        ],
        TestOutcome::Expired => vec![("checkout.session.expired", checkout("unpaid", "expired"))],
        TestOutcome::Disputed | TestOutcome::DisputeWon | TestOutcome::DisputeLost => {
            let (event_type, status, balance) = match outcome {
                TestOutcome::Disputed => (
                    "charge.dispute.created",
                    "needs_response",
                    json!([{ "object": "balance_transaction", "amount": -session.amount, "fee": TEST_DISPUTE_FEE }]),
                ),
                TestOutcome::DisputeWon => ("charge.dispute.closed", "won", json!([])),
                _ => ("charge.dispute.closed", "lost", json!([])),
            };
            vec![(
                event_type,
                json!({
                    "id": format!("dp_{}", &session.payment_id[3..]), "object": "dispute", "amount": session.amount,
                    "currency": currency, "charge": format!("ch_{}", &session.payment_id[3..]), "payment_intent": session.payment_id,
                    "reason": "fraudulent", "status": status, "balance_transactions": balance, "metadata": {}, "livemode": false, "created": now,
                }),
            )]
        }
    }
}

/// Moves a test session to an outcome, once (concurrent "Pay" clicks produce one payment), and
/// returns the signed events; delivers them through [`ingest`] when asked.
pub async fn complete_session(
    state: &App,
    session_id: &str,
    outcome: TestOutcome,
    deliver: bool,
) -> Result<CompleteSessionResponse, Error> {
    let session = load_test_session(state, session_id)
        .await?
        .ok_or_else(|| Error::not_found("checkout_session", session_id))?;
    let (from, to): (&[&str], &str) = match outcome {
        TestOutcome::Succeeded => (&["open", "processing"], "complete"),
        TestOutcome::Declined => (&["open"], "open"),
        TestOutcome::Processing => (&["open"], "processing"),
        TestOutcome::Expired => (&["open"], "expired"),
        TestOutcome::Disputed => (&["complete"], "disputed"),
        TestOutcome::DisputeWon => (&["disputed"], "complete"),
        TestOutcome::DisputeLost => (&["disputed"], "dispute_lost"),
    };
    if !from.contains(&session.status.as_str()) {
        return Err(Error::state(
            "checkout_session_state_invalid",
            &session.status,
            format!(
                "A checkout session that is {} cannot be {}.",
                session.status, to
            ),
        ));
    }
    if to != session.status {
        let (sid, old, new) = (
            session.session_id.clone(),
            session.status.clone(),
            to.to_owned(),
        );
        let moved = state
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    bursar_store::payment_providers::set_test_session_status(tx, &sid, &old, &new)
                        .await
                })
            })
            .await?;
        if !moved {
            return Err(Error::state(
                "checkout_session_state_invalid",
                "changed",
                "The session changed concurrently; read it again.",
            ));
        }
    }
    let provider_id = session.provider_id.clone();
    let now_seconds = state.db.now().unix_micros() / 1_000_000;
    let objects = stripe_objects(&session, outcome, now_seconds);
    let events = sign_events(state, &provider_id, objects, now_seconds).await?;
    let receipts = if deliver {
        deliver_events(state, &provider_id, &events).await?
    } else {
        Vec::new()
    };
    Ok(CompleteSessionResponse {
        session_id: session.session_id,
        status: to.to_owned(),
        events,
        receipts,
    })
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Metadata Bursar attaches to provider objects.
pub fn order_metadata(order_id: &str) -> BTreeMap<String, String> {
    [(stripe::ORDER_ID_KEY.to_owned(), order_id.to_owned())]
        .into_iter()
        .collect()
}
