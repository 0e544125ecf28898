//! Payment-provider connections (with sealed secrets), the provider events Bursar applied,
//! customers and methods known at a provider, and the embedded test provider's sessions.

use bursar_domain::id::WorkspaceId;

use crate::{params, StoreError, Tx, Value};

/// A workspace's connection to a payment provider, with its sealed secrets.
#[derive(Debug, Clone)]
pub struct ProviderRow {
    pub workspace_id: WorkspaceId,
    pub provider_id: String,
    pub kind: String,
    pub body: String,
    pub secret_key_sealed: Option<String>,
    pub webhook_secrets_sealed: String,
}

const PROVIDER_COLUMNS: &str =
    "workspace_id, object_id, kind, body, secret_key_sealed, webhook_secrets_sealed";

fn provider_from(row: &crate::Row) -> Result<ProviderRow, StoreError> {
    Ok(ProviderRow {
        workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
        provider_id: row.text("object_id")?,
        kind: row.text("kind")?,
        body: row.text("body")?,
        secret_key_sealed: row.opt_text("secret_key_sealed")?,
        webhook_secrets_sealed: row.text("webhook_secrets_sealed")?,
    })
}

pub async fn insert_provider(tx: &mut Tx, row: &ProviderRow) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "insert into payment_provider ({PROVIDER_COLUMNS}) values ($1, $2, $3, $4, $5, $6)"
        ),
        params![
            row.workspace_id.as_str(),
            row.provider_id.as_str(),
            row.kind.as_str(),
            row.body.as_str(),
            row.secret_key_sealed.clone(),
            row.webhook_secrets_sealed.as_str(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn update_provider(tx: &mut Tx, row: &ProviderRow) -> Result<(), StoreError> {
    tx.execute(
        "update payment_provider set body = $3, secret_key_sealed = $4, webhook_secrets_sealed = $5 \
         where workspace_id = $1 and object_id = $2",
        params![
            row.workspace_id.as_str(),
            row.provider_id.as_str(),
            row.body.as_str(),
            row.secret_key_sealed.clone(),
            row.webhook_secrets_sealed.as_str(),
        ],
    )
    .await?;
    Ok(())
}

/// A connection by id, whatever its workspace (inbound webhooks name the connection, not the
/// workspace).
pub async fn provider_by_id(tx: &mut Tx, id: &str) -> Result<Option<ProviderRow>, StoreError> {
    let sql = format!("select {PROVIDER_COLUMNS} from payment_provider where object_id = $1");
    tx.fetch_optional(&sql, params![id])
        .await?
        .as_ref()
        .map(provider_from)
        .transpose()
}

/// Up to `limit` connections of a kind, in any workspace, oldest first.
pub async fn providers_of_kind(
    tx: &mut Tx,
    kind: &str,
    workspace_id: Option<&WorkspaceId>,
    limit: i64,
) -> Result<Vec<ProviderRow>, StoreError> {
    let (sql, values): (String, Vec<Value>) = match workspace_id {
        Some(ws) => (
            format!(
                "select {PROVIDER_COLUMNS} from payment_provider where kind = $1 and workspace_id = $3 \
                 order by object_id limit $2"
            ),
            vec![kind.into(), limit.into(), ws.as_str().into()],
        ),
        None => (
            format!(
                "select {PROVIDER_COLUMNS} from payment_provider where kind = $1 order by object_id limit $2"
            ),
            vec![kind.into(), limit.into()],
        ),
    };
    tx.fetch_all(&sql, &values)
        .await?
        .iter()
        .map(provider_from)
        .collect()
}

/// Claims a provider event for processing: true the first time, false for every repeat. The
/// claim commits with the event's effects, so an event is applied exactly once.
pub async fn claim_provider_event(
    tx: &mut Tx,
    provider_id: &str,
    event_id: &str,
    workspace_id: &WorkspaceId,
    event_type: &str,
    payload: &str,
    received_at: i64,
) -> Result<bool, StoreError> {
    let inserted = tx
        .execute(
            "insert into provider_event (provider_id, event_id, workspace_id, event_type, outcome, \
             payload, received_at) values ($1, $2, $3, $4, 'received', $5, $6) \
             on conflict (provider_id, event_id) do nothing",
            params![provider_id, event_id, workspace_id.as_str(), event_type, payload, received_at],
        )
        .await?;
    Ok(inserted == 1)
}

pub async fn settle_provider_event(
    tx: &mut Tx,
    provider_id: &str,
    event_id: &str,
    order_id: Option<&str>,
    outcome: &str,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "update provider_event set order_id = $3, outcome = $4, detail = $5 \
         where provider_id = $1 and event_id = $2",
        params![provider_id, event_id, order_id, outcome, detail],
    )
    .await?;
    Ok(())
}

/// What Bursar did with one provider event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEventRow {
    pub provider_id: String,
    pub event_id: String,
    pub event_type: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub received_at: i64,
}

/// The provider events that concerned an order, in the order they were received.
pub async fn provider_events_of_order(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    order_id: &str,
) -> Result<Vec<ProviderEventRow>, StoreError> {
    tx.fetch_all(
        "select provider_id, event_id, event_type, outcome, detail, received_at from provider_event \
         where workspace_id = $1 and order_id = $2 order by received_at, event_id",
        params![workspace_id.as_str(), order_id],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(ProviderEventRow {
            provider_id: row.text("provider_id")?,
            event_id: row.text("event_id")?,
            event_type: row.text("event_type")?,
            outcome: row.text("outcome")?,
            detail: row.opt_text("detail")?,
            received_at: row.i64("received_at")?,
        })
    })
    .collect()
}

/// A checkout session of the embedded test provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSession {
    pub session_id: String,
    pub workspace_id: WorkspaceId,
    pub provider_id: String,
    pub order_id: String,
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub customer_email: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub status: String,
    pub expires_at: i64,
    pub created_at: i64,
}

const SESSION_COLUMNS: &str =
    "session_id, workspace_id, provider_id, order_id, payment_id, amount, \
     currency, customer_email, success_url, cancel_url, status, expires_at, created_at";

pub async fn insert_test_session(tx: &mut Tx, s: &TestSession) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "insert into test_checkout_session ({SESSION_COLUMNS}) values \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ),
        params![
            s.session_id.as_str(),
            s.workspace_id.as_str(),
            s.provider_id.as_str(),
            s.order_id.as_str(),
            s.payment_id.as_str(),
            s.amount,
            s.currency.as_str(),
            s.customer_email.clone(),
            s.success_url.as_str(),
            s.cancel_url.as_str(),
            s.status.as_str(),
            s.expires_at,
            s.created_at,
        ],
    )
    .await?;
    Ok(())
}

/// A test session by its id or its payment's id.
pub async fn test_session(
    tx: &mut Tx,
    column: &str,
    id: &str,
) -> Result<Option<TestSession>, StoreError> {
    let column = if column == "payment_id" {
        "payment_id"
    } else {
        "session_id"
    };
    let sql = format!("select {SESSION_COLUMNS} from test_checkout_session where {column} = $1");
    let Some(row) = tx.fetch_optional(&sql, params![id]).await? else {
        return Ok(None);
    };
    Ok(Some(TestSession {
        session_id: row.text("session_id")?,
        workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
        provider_id: row.text("provider_id")?,
        order_id: row.text("order_id")?,
        payment_id: row.text("payment_id")?,
        amount: row.i64("amount")?,
        currency: row.text("currency")?,
        customer_email: row.opt_text("customer_email")?,
        success_url: row.text("success_url")?,
        cancel_url: row.text("cancel_url")?,
        status: row.text("status")?,
        expires_at: row.i64("expires_at")?,
        created_at: row.i64("created_at")?,
    }))
}

/// Moves a test session from `from` to `to`; false when it was not in `from`.
pub async fn set_test_session_status(
    tx: &mut Tx,
    session_id: &str,
    from: &str,
    to: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .execute(
            "update test_checkout_session set status = $3 where session_id = $1 and status = $2",
            params![session_id, from, to],
        )
        .await?
        == 1)
}

/// The order a provider payment (`pi_…`) paid.
pub async fn order_id_by_payment(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    payment_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional(
            "select object_id from commerce_order where workspace_id = $1 and payment_id = $2",
            params![workspace_id.as_str(), payment_id],
        )
        .await?;
    row.map(|r| r.text("object_id")).transpose()
}

/// The customer's id at a provider, if Bursar created one.
pub async fn provider_customer(
    tx: &mut Tx,
    provider_id: &str,
    customer_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional(
            "select provider_customer_id from provider_customer where provider_id = $1 and customer_id = $2",
            params![provider_id, customer_id],
        )
        .await?;
    row.map(|r| r.text("provider_customer_id")).transpose()
}

pub async fn remember_provider_customer(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    provider_id: &str,
    customer_id: &str,
    provider_customer_id: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into provider_customer (provider_id, customer_id, workspace_id, provider_customer_id) \
         values ($1, $2, $3, $4) on conflict (provider_id, customer_id) do nothing",
        params![provider_id, customer_id, workspace_id.as_str(), provider_customer_id],
    )
    .await?;
    Ok(())
}

/// A saved method's id for a provider method, if it is saved already.
pub async fn payment_method_id(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    provider_id: &str,
    provider_method_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional(
            "select object_id from payment_method where workspace_id = $1 and provider_id = $2 \
             and provider_method_id = $3",
            params![workspace_id.as_str(), provider_id, provider_method_id],
        )
        .await?;
    row.map(|r| r.text("object_id")).transpose()
}

/// A setup session of the embedded test provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSetup {
    pub session_id: String,
    pub workspace_id: WorkspaceId,
    pub provider_id: String,
    pub customer_id: String,
    pub provider_customer_id: String,
    pub success_url: String,
    pub status: String,
    pub created_at: i64,
}

pub async fn insert_test_setup(tx: &mut Tx, s: &TestSetup) -> Result<(), StoreError> {
    tx.execute(
        "insert into test_setup_session (session_id, workspace_id, provider_id, customer_id, \
         provider_customer_id, success_url, status, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![
            s.session_id.as_str(),
            s.workspace_id.as_str(),
            s.provider_id.as_str(),
            s.customer_id.as_str(),
            s.provider_customer_id.as_str(),
            s.success_url.as_str(),
            s.status.as_str(),
            s.created_at,
        ],
    )
    .await?;
    Ok(())
}

pub async fn test_setup(tx: &mut Tx, session_id: &str) -> Result<Option<TestSetup>, StoreError> {
    let Some(row) = tx
        .fetch_optional(
            "select session_id, workspace_id, provider_id, customer_id, provider_customer_id, \
             success_url, status, created_at from test_setup_session where session_id = $1",
            params![session_id],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(TestSetup {
        session_id: row.text("session_id")?,
        workspace_id: WorkspaceId::from_trusted(row.text("workspace_id")?),
        provider_id: row.text("provider_id")?,
        customer_id: row.text("customer_id")?,
        provider_customer_id: row.text("provider_customer_id")?,
        success_url: row.text("success_url")?,
        status: row.text("status")?,
        created_at: row.i64("created_at")?,
    }))
}

pub async fn set_test_setup_status(
    tx: &mut Tx,
    session_id: &str,
    from: &str,
    to: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .execute(
            "update test_setup_session set status = $3 where session_id = $1 and status = $2",
            params![session_id, from, to],
        )
        .await?
        == 1)
}

/// Open test checkout sessions whose expiry (Unix seconds) has passed, oldest first.
pub async fn due_test_sessions(
    tx: &mut Tx,
    now_seconds: i64,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    tx.fetch_all(
        "select session_id from test_checkout_session where status = 'open' and expires_at <= $1 \
         order by expires_at limit $2",
        params![now_seconds, limit],
    )
    .await?
    .iter()
    .map(|row| row.text("session_id"))
    .collect()
}
