//! Outbound webhook endpoints, which events each has had, and the log of attempts.

use bursar_domain::id::{WebhookAttemptId, WebhookEndpointId, WorkspaceId};
use bursar_domain::time::Timestamp;
use bursar_domain::webhook::{Attempt, EndpointStatus, EventFilter, WebhookEndpoint};

use crate::{params, Row, StoreError, Tx};

const ENDPOINT_COLUMNS: &str = "endpoint_id, url, description, event_types, status, \
     disabled_reason, consecutive_failures, created_at, updated_at";

fn endpoint_from(row: &Row) -> Result<WebhookEndpoint, StoreError> {
    let types: Vec<String> = serde_json::from_str(row.str("event_types")?)
        .map_err(|e| StoreError::Corrupt(format!("webhook_endpoint.event_types: {e}")))?;
    let status = row.str("status")?;
    Ok(WebhookEndpoint {
        id: WebhookEndpointId::from_trusted(row.text("endpoint_id")?),
        url: row.text("url")?,
        description: row.text("description")?,
        filter: EventFilter::parse(types, "event_types")
            .map_err(|e| StoreError::Corrupt(format!("webhook_endpoint.event_types: {e}")))?,
        status: EndpointStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("webhook_endpoint.status {status}")))?,
        disabled_reason: row.opt_text("disabled_reason")?,
        consecutive_failures: row.i64("consecutive_failures")?,
        created_at: Timestamp::from_unix_micros(row.i64("created_at")?),
        updated_at: Timestamp::from_unix_micros(row.i64("updated_at")?),
    })
}

fn types_json(filter: &EventFilter) -> String {
    serde_json::to_string(filter.types()).unwrap_or_else(|_| "[]".into())
}

pub async fn insert(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    endpoint: &WebhookEndpoint,
    secret_sealed: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into webhook_endpoint (workspace_id, endpoint_id, url, description, event_types, \
         status, disabled_reason, secret_sealed, consecutive_failures, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        params![
            workspace_id.as_str(),
            endpoint.id.as_str(),
            endpoint.url.as_str(),
            endpoint.description.as_str(),
            types_json(&endpoint.filter),
            endpoint.status.as_str(),
            endpoint.disabled_reason.clone(),
            secret_sealed,
            endpoint.consecutive_failures,
            endpoint.created_at.unix_micros(),
            endpoint.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

/// Writes an endpoint's settings and state (not its secret).
pub async fn update(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    endpoint: &WebhookEndpoint,
) -> Result<(), StoreError> {
    tx.execute(
        "update webhook_endpoint set url = $3, description = $4, event_types = $5, status = $6, \
         disabled_reason = $7, consecutive_failures = $8, updated_at = $9 \
         where workspace_id = $1 and endpoint_id = $2",
        params![
            workspace_id.as_str(),
            endpoint.id.as_str(),
            endpoint.url.as_str(),
            endpoint.description.as_str(),
            types_json(&endpoint.filter),
            endpoint.status.as_str(),
            endpoint.disabled_reason.clone(),
            endpoint.consecutive_failures,
            endpoint.updated_at.unix_micros(),
        ],
    )
    .await?;
    Ok(())
}

/// One endpoint; `for_update` locks its row on PostgreSQL.
pub async fn get(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &WebhookEndpointId,
    for_update: bool,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    let lock = if for_update && tx.backend() == crate::Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let row = tx
        .fetch_optional(
            &format!(
                "select {ENDPOINT_COLUMNS} from webhook_endpoint \
                 where workspace_id = $1 and endpoint_id = $2{lock}"
            ),
            params![workspace_id.as_str(), id.as_str()],
        )
        .await?;
    row.as_ref().map(endpoint_from).transpose()
}

/// A workspace's endpoints, newest first, at most `limit`.
pub async fn list(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    limit: i64,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let rows = tx
        .fetch_all(
            &format!(
                "select {ENDPOINT_COLUMNS} from webhook_endpoint where workspace_id = $1 \
                 order by endpoint_id desc limit $2"
            ),
            params![workspace_id.as_str(), limit],
        )
        .await?;
    rows.iter().map(endpoint_from).collect()
}

/// The enabled endpoints of a workspace with the secrets that sign for them now (sealed):
/// the current one, and the previous one while its rotation grace lasts.
pub async fn enabled_with_secrets(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    now: Timestamp,
) -> Result<Vec<(WebhookEndpoint, Vec<String>)>, StoreError> {
    let rows = tx
        .fetch_all(
            &format!(
                "select {ENDPOINT_COLUMNS}, secret_sealed, previous_secret_sealed, \
                 previous_secret_expires_at from webhook_endpoint \
                 where workspace_id = $1 and status = 'enabled' order by endpoint_id"
            ),
            params![workspace_id.as_str()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let mut secrets = vec![row.text("secret_sealed")?];
            if let (Some(previous), Some(until)) = (
                row.opt_text("previous_secret_sealed")?,
                row.opt_i64("previous_secret_expires_at")?,
            ) {
                if until > now.unix_micros() {
                    secrets.push(previous);
                }
            }
            Ok((endpoint_from(row)?, secrets))
        })
        .collect()
}

/// Replaces the secret; the old one keeps signing until `previous_until`.
pub async fn rotate_secret(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    id: &WebhookEndpointId,
    secret_sealed: &str,
    previous_until: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(
        "update webhook_endpoint set previous_secret_sealed = secret_sealed, \
         previous_secret_expires_at = $3, secret_sealed = $4, updated_at = $5 \
         where workspace_id = $1 and endpoint_id = $2",
        params![
            workspace_id.as_str(),
            id.as_str(),
            previous_until.unix_micros(),
            secret_sealed,
            now.unix_micros()
        ],
    )
    .await?;
    Ok(())
}

/// Whether `endpoint` already had `event` delivered.
pub async fn delivered(
    tx: &mut Tx,
    endpoint_id: &WebhookEndpointId,
    event_id: &str,
) -> Result<bool, StoreError> {
    let row = tx
        .fetch_optional(
            "select status from webhook_message where endpoint_id = $1 and event_id = $2",
            params![endpoint_id.as_str(), event_id],
        )
        .await?;
    Ok(row
        .map(|r| r.str("status").map(|s| s == "delivered"))
        .transpose()?
        .unwrap_or(false))
}

/// Records an attempt, the message's state, and the endpoint's failure count; returns the
/// endpoint's consecutive failures after it.
pub async fn record_attempt(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    attempt: &Attempt,
) -> Result<i64, StoreError> {
    tx.execute(
        "insert into webhook_attempt (workspace_id, endpoint_id, attempt_id, event_id, event_type, \
         attempted_at, succeeded, status_code, response, error, duration_ms) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        params![
            workspace_id.as_str(),
            attempt.endpoint_id.as_str(),
            attempt.id.as_str(),
            attempt.event_id.as_str(),
            attempt.event_type.as_str(),
            attempt.attempted_at.unix_micros(),
            i64::from(attempt.succeeded),
            attempt.status_code,
            attempt.response.clone(),
            attempt.error.clone(),
            attempt.duration_ms,
        ],
    )
    .await?;
    let status = if attempt.succeeded {
        "delivered"
    } else {
        "failing"
    };
    tx.execute(
        "insert into webhook_message (endpoint_id, event_id, workspace_id, status, attempts, \
         updated_at) values ($1, $2, $3, $4, 1, $5) \
         on conflict (endpoint_id, event_id) do update set status = excluded.status, \
         attempts = webhook_message.attempts + 1, updated_at = excluded.updated_at",
        params![
            attempt.endpoint_id.as_str(),
            attempt.event_id.as_str(),
            workspace_id.as_str(),
            status,
            attempt.attempted_at.unix_micros()
        ],
    )
    .await?;
    let failures = if attempt.succeeded {
        "0"
    } else {
        "consecutive_failures + 1"
    };
    tx.execute(
        &format!(
            "update webhook_endpoint set consecutive_failures = {failures} \
             where workspace_id = $1 and endpoint_id = $2"
        ),
        params![workspace_id.as_str(), attempt.endpoint_id.as_str()],
    )
    .await?;
    let row = tx
        .fetch_one(
            "select consecutive_failures from webhook_endpoint \
             where workspace_id = $1 and endpoint_id = $2",
            params![workspace_id.as_str(), attempt.endpoint_id.as_str()],
        )
        .await?;
    row.i64("consecutive_failures")
}

/// An endpoint's attempts, newest first.
pub async fn attempts(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    endpoint_id: &WebhookEndpointId,
    limit: i64,
) -> Result<Vec<Attempt>, StoreError> {
    let rows = tx
        .fetch_all(
            "select attempt_id, event_id, event_type, attempted_at, succeeded, status_code, \
             response, error, duration_ms from webhook_attempt \
             where workspace_id = $1 and endpoint_id = $2 order by attempt_id desc limit $3",
            params![workspace_id.as_str(), endpoint_id.as_str(), limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Attempt {
                id: WebhookAttemptId::from_trusted(row.text("attempt_id")?),
                endpoint_id: endpoint_id.clone(),
                event_id: row.text("event_id")?,
                event_type: row.text("event_type")?,
                attempted_at: Timestamp::from_unix_micros(row.i64("attempted_at")?),
                succeeded: row.i64("succeeded")? != 0,
                status_code: row.opt_i64("status_code")?,
                response: row.opt_text("response")?,
                error: row.opt_text("error")?,
                duration_ms: row.i64("duration_ms")?,
            })
        })
        .collect()
}
