//! Outbound webhooks, the subscriber that delivers events: it sends each event to the
//! workspace's endpoints that want it, signed per Standard Webhooks. (Inbound provider events
//! are `bursar_core::payment_events`.)
//!
//! An event's retry (by the relay, with backoff) goes only to the endpoints that have not had
//! it yet; every attempt is logged for the endpoint; an endpoint that keeps failing is
//! disabled, with an event saying so, until an admin enables it again. `webhook-id` is the
//! event id on every attempt, so receivers drop duplicates.

use bursar_domain::event_type;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bursar_domain::auth::WorkspaceMode;
use bursar_domain::event::{Cause, Event, NewEvent};
use bursar_domain::id::{WebhookAttemptId, WorkspaceId};
use bursar_domain::webhook::{
    signature_header, Attempt, EndpointStatus, WebhookEndpoint, WebhookSecret,
};
use bursar_outbound::{read_capped, Guard, Timeouts, Url, BODY_CAP};
use bursar_store::{events, webhooks, workspaces, Db, StoreError, Tx};
use futures::future::BoxFuture;
use serde_json::json;

use crate::subscriber::Subscriber;

/// The subscriber's name, under which its deliveries are kept.
pub const SUBSCRIBER: &str = "webhooks";
/// Bytes of an endpoint's response kept in the attempt log.
const RESPONSE_KEPT_BYTES: usize = 1024;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// How long an endpoint may take to answer.
    pub timeout: Duration,
    /// Failed attempts in a row after which an endpoint is disabled.
    pub disable_after_failures: i64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(10),
            disable_after_failures: 50,
        }
    }
}

/// A workspace's enabled endpoints with their sealed secrets.
type Endpoints = Arc<Vec<(WebhookEndpoint, Vec<String>)>>;

/// What deliveries in one workspace need: whether it is live, and its endpoints.
type Workspace = (bool, Endpoints);

pub struct WebhookSubscriber {
    db: Db,
    client: reqwest::Client,
    guard: Guard,
    config: WebhookConfig,
    /// Endpoints per workspace, read once per relay round (see `Subscriber::new_round`): a
    /// round's events all committed before it began, so endpoints read during the round
    /// include every endpoint registered before any of them.
    endpoints: std::sync::Mutex<std::collections::HashMap<WorkspaceId, Workspace>>,
}

impl WebhookSubscriber {
    /// Delivers to endpoints `guard` lets through. The client follows no redirect (one could
    /// send the signed body somewhere the endpoint's owner never chose).
    pub fn new(db: Db, guard: Guard, config: WebhookConfig) -> anyhow::Result<Arc<Self>> {
        let timeouts = Timeouts {
            connect: config.timeout,
            total: config.timeout,
        };
        let client = guard.client(
            timeouts,
            concat!("Bursar-Webhooks/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(Arc::new(WebhookSubscriber {
            db,
            client,
            guard,
            config,
            endpoints: std::sync::Mutex::default(),
        }))
    }

    async fn send_all(&self, workspace_id: &WorkspaceId, event: &Event) -> Result<(), String> {
        let (live, endpoints) = self.endpoints_of(workspace_id).await?;
        let wanted: Vec<_> = endpoints
            .iter()
            .filter(|(endpoint, _)| endpoint.filter.matches(&event.event_type))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut data = event.payload.clone();
        bursar_domain::livemode::mark_event_data(&mut data, live);
        let body = json!({
            "id": event.id.as_str(),
            "livemode": live,
            "type": event.event_type,
            "timestamp": event.occurred_at.to_rfc3339(),
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "sequence": event.sequence,
            "data": data,
        })
        .to_string();
        let sends = wanted
            .iter()
            .map(|(endpoint, sealed)| self.send_one(workspace_id, event, endpoint, sealed, &body));
        let failures: Vec<String> = futures::future::join_all(sends)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// Whether workspace `workspace_id` is live, and its endpoints (read once per round).
    async fn endpoints_of(&self, workspace_id: &WorkspaceId) -> Result<Workspace, String> {
        let cached = self
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(workspace_id)
            .cloned();
        if let Some(endpoints) = cached {
            return Ok(endpoints);
        }
        let now = self.db.now();
        let ws = workspace_id.clone();
        let (mode, endpoints) = self
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mode = workspaces::mode_of(tx, &ws).await?;
                    let endpoints = webhooks::enabled_with_secrets(tx, &ws, now).await?;
                    Ok::<_, StoreError>((mode, endpoints))
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        let loaded: Workspace = (mode == WorkspaceMode::Live, Arc::new(endpoints));
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(workspace_id.clone(), loaded.clone());
        Ok(loaded)
    }

    async fn send_one(
        &self,
        workspace_id: &WorkspaceId,
        event: &Event,
        endpoint: &WebhookEndpoint,
        sealed: &[String],
        body: &str,
    ) -> Result<(), String> {
        let (endpoint_id, event_id) = (endpoint.id.clone(), event.id.to_string());
        let done = self
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { webhooks::delivered(tx, &endpoint_id, &event_id).await })
            })
            .await
            .map_err(|e| e.to_string())?;
        if done {
            return Ok(());
        }
        let sealer = self.db.sealer().map_err(|e| e.to_string())?;
        let mut secrets = Vec::with_capacity(sealed.len());
        for s in sealed {
            let text = sealer.open(s).map_err(|e| e.to_string())?;
            secrets.push(WebhookSecret::parse(&text, "secret").map_err(|e| e.to_string())?);
        }
        let secret_refs: Vec<&WebhookSecret> = secrets.iter().collect();
        let attempted_at = self.db.now();
        let timestamp = attempted_at.unix_micros().div_euclid(1_000_000);
        let signature = signature_header(&secret_refs, event.id.as_str(), timestamp, body);
        let started = Instant::now();
        let outcome = self
            .post(&endpoint.url, event.id.as_str(), timestamp, signature, body)
            .await;
        let (succeeded, status_code, response, error) = outcome;
        let attempt = Attempt {
            id: WebhookAttemptId::new(),
            endpoint_id: endpoint.id.clone(),
            event_id: event.id.to_string(),
            event_type: event.event_type.clone(),
            attempted_at,
            succeeded,
            status_code,
            response,
            error: error.clone(),
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        let ws = workspace_id.clone();
        let limit = self.config.disable_after_failures;
        let disabled = self
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let failures = webhooks::record_attempt(tx, &ws, &attempt).await?;
                    if attempt.succeeded || failures < limit {
                        return Ok::<_, StoreError>(false);
                    }
                    disable(tx, &ws, &attempt, failures).await
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        if disabled {
            self.db.notify_events();
        }
        match error {
            None => Ok(()),
            Some(error) => Err(format!("{}: {error}", endpoint.id)),
        }
    }
}

/// Disables the endpoint after `failures` failed attempts in a row, with its event.
async fn disable(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    attempt: &Attempt,
    failures: i64,
) -> Result<bool, StoreError> {
    let Some(mut endpoint) = webhooks::get(tx, workspace_id, &attempt.endpoint_id, true).await?
    else {
        return Ok(false);
    };
    if endpoint.status == EndpointStatus::Disabled {
        return Ok(false);
    }
    endpoint.status = EndpointStatus::Disabled;
    endpoint.disabled_reason = Some(format!(
        "{failures} failed attempts in a row; the last: {}",
        attempt.error.as_deref().unwrap_or("unknown error")
    ));
    endpoint.updated_at = attempt.attempted_at;
    webhooks::update(tx, workspace_id, &endpoint).await?;
    tracing::warn!(endpoint = %endpoint.id, failures, "webhook endpoint disabled");
    events::record(
        tx,
        workspace_id,
        &NewEvent::new(
            event_type::WEBHOOK_ENDPOINT_DISABLED,
            "webhook_endpoint",
            endpoint.id.as_str(),
            json!({
                "object": {
                    "id": endpoint.id.as_str(),
                    "object": "webhook_endpoint",
                    "url": endpoint.url,
                    "status": "disabled",
                    "disabled_reason": endpoint.disabled_reason,
                }
            }),
        ),
        &Cause {
            request_id: None,
            actor: Some(format!("system:{SUBSCRIBER}")),
        },
        attempt.attempted_at,
    )
    .await?;
    Ok(true)
}

/// How a delivery ended: succeeded, the status, the start of the answer, the failure.
type Outcome = (bool, Option<i64>, Option<String>, Option<String>);

impl WebhookSubscriber {
    /// POSTs one signed delivery, if the endpoint's URL may be reached: its literal address
    /// is checked here and its name at connection time, and at most
    /// [`bursar_outbound::BODY_CAP`] bytes of the answer are read.
    async fn post(
        &self,
        url: &str,
        event_id: &str,
        timestamp: i64,
        signature: String,
        body: &str,
    ) -> Outcome {
        let target = Url::parse(url)
            .map_err(|e| e.to_string())
            .and_then(|url| self.guard.check_target(&url).map_err(|e| e.to_string()));
        if let Err(refusal) = target {
            return (
                false,
                None,
                None,
                Some(format!("refused: the URL {refusal}")),
            );
        }
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return (false, None, None, Some(describe(&error))),
        };
        let status = response.status();
        let text = match read_capped(response, BODY_CAP).await {
            Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => String::new(),
        };
        let kept: String = text.chars().take(RESPONSE_KEPT_BYTES).collect();
        let ok = status.is_success();
        let error = (!ok).then(|| format!("endpoint answered {}", status.as_u16()));
        (ok, Some(i64::from(status.as_u16())), Some(kept), error)
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    // A refusal by the guard's resolver is the source of a connect error: say it.
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<bursar_outbound::OutboundError>() {
            return format!("refused: the URL {refusal}");
        }
        source = cause.source();
    }
    if error.is_connect() {
        "could not connect".into()
    } else {
        format!("request failed: {error}")
    }
}

impl Subscriber for WebhookSubscriber {
    fn name(&self) -> &str {
        SUBSCRIBER
    }

    fn new_round(&self) {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn deliver<'a>(
        &'a self,
        workspace_id: &'a WorkspaceId,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.send_all(workspace_id, event))
    }
}
