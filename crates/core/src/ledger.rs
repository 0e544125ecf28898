//! The ledger's use cases: create accounts, apply transfers (one request's batch in its own
//! write, or in the batches concurrent requests share).

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::id::WorkspaceId;
use bursar_domain::ledger::objects::AccountObject;
use bursar_domain::ledger::{AccountResult, NewAccount, NewTransfer};
use bursar_store::ledger::{self, TransferOutcome};
use bursar_store::Backend;

use crate::error::{Error, ErrorKind};
use crate::write::Context;
use crate::App;

/// Creates an account; the same id with the same fields answers the existing account.
pub async fn create_account(
    cx: &mut Context<'_>,
    account: NewAccount,
) -> Result<AccountObject, Error> {
    let mut results = ledger::create_accounts(cx.tx, cx.workspace_id, &[account], cx.now).await?;
    match results.pop() {
        Some((AccountResult::Ok, Some(account))) => {
            let object = AccountObject::from(account);
            cx.emit(NewEvent::new(
                event_type::LEDGER_ACCOUNT_CREATED,
                "ledger_account",
                object.id.as_str(),
                serde_json::json!({ "object": object }),
            ))
            .await?;
            Ok(object)
        }
        Some((AccountResult::Exists, Some(account))) => Ok(AccountObject::from(account)),
        Some((AccountResult::ExistsWithDifferentFields, _)) => Err(Error::new(
            ErrorKind::State,
            "exists_with_different_fields",
            "An account with this id exists with other fields.",
        )
        .with_param("id")),
        _ => Err(Error::invalid(
            "flags_are_mutually_exclusive",
            Some("flags".into()),
            "An account cannot limit both debits and credits.",
        )),
    }
}

/// Applies one request's transfers in this write, recording the request's ledger event.
pub async fn create_transfers(
    cx: &mut Context<'_>,
    batch: &[NewTransfer],
) -> Result<Vec<TransferOutcome>, Error> {
    let results = ledger::create_transfers(cx.tx, cx.workspace_id, batch, cx.now).await?;
    ledger::record_request_event(cx.tx, cx.workspace_id, batch, &results, cx.cause, cx.now).await?;
    Ok(results)
}

/// Whether a transfer request joins the ledger's shared batches ([`submit_transfers`]) rather
/// than writing on its own: on PostgreSQL, when no idempotency key asks for a stored reply.
///
/// Transfer ids make every transfer idempotent, so a request without an Idempotency-Key can
/// share batches: on PostgreSQL every batch holds the workspace's ledger lock for a handful of
/// round trips, and sharing batches is what lets concurrent requests through. SQLite's writer
/// already runs concurrent requests in one commit with no round trips (and records their
/// events once per group), and measures faster without the extra hop.
pub fn joins_shared_batches(app: &App, has_idempotency_key: bool) -> bool {
    !has_idempotency_key && app.db.backend() == Backend::Postgres
}

/// Applies `batch` in the next shared ledger batch; its results once durable.
pub async fn submit_transfers(
    app: &App,
    workspace_id: &WorkspaceId,
    batch: Vec<NewTransfer>,
    cause: Cause,
) -> Result<Vec<TransferOutcome>, Error> {
    Ok(app.ledger.submit(workspace_id, batch, cause).await?)
}
