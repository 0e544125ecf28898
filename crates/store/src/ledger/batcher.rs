//! The ledger batcher: concurrent transfer requests share one durable batch, and their events are recorded with it.

use super::*;
use crate::deferred::{DeferredRequest, TransferOutcome};
use bursar_domain::event_type;

/// Transfers of one request and where to send their results.
pub(crate) struct Submission {
    workspace_id: WorkspaceId,
    batch: Vec<NewTransfer>,
    cause: Cause,
    reply: tokio::sync::oneshot::Sender<Result<Vec<TransferOutcome>, String>>,
}

/// The event of one client request's transfers (`ledger.transfers_applied`): the transfers it
/// created and the ids that failed (a failure is recorded too: the id keeps failing). None
/// when every transfer already existed. The event's aggregate is the request's first new
/// transfer id, which no other request can create or fail: it is always that aggregate's
/// first event.
pub fn request_event(batch: &[NewTransfer], results: &[TransferOutcome]) -> Option<NewEvent> {
    transfers_event(batch.iter().zip(results), None)
}

/// The event of several requests' transfers (see [`request_event`]), with the requests' ids
/// listed in the payload (`request_ids`).
pub(crate) fn transfers_event<'a>(
    items: impl Iterator<Item = (&'a NewTransfer, &'a TransferOutcome)>,
    request_ids: Option<Vec<String>>,
) -> Option<NewEvent> {
    let mut created = Vec::new();
    let mut failed = Vec::new();
    let mut first: Option<&str> = None;
    for (request, (result, transfer)) in items {
        match (result, transfer) {
            (TransferResult::Ok, Some(t)) => {
                first.get_or_insert(t.id.as_str());
                created.push(serde_json::json!({
                    "id": t.id.as_str(),
                    "debit_account_id": t.debit_account_id.as_str(),
                    "credit_account_id": t.credit_account_id.as_str(),
                    "amount": t.amount,
                    "currency": t.currency.code(),
                    "code": t.code,
                    "kind": t.kind.as_str(),
                    "pending_id": t.kind.pending_id().map(TransferId::as_str),
                    "timestamp": t.timestamp.to_rfc3339(),
                }));
            }
            // Failures the ledger records (the id keeps failing); the others changed nothing.
            (result, _) if result.is_transient() => {
                first.get_or_insert(request.id.as_str());
                failed.push(serde_json::json!({
                    "id": request.id.as_str(),
                    "result": result.as_str(),
                }));
            }
            _ => {}
        }
    }
    let mut payload = serde_json::json!({ "created": created, "failed": failed });
    if let Some(request_ids) = request_ids {
        payload["request_ids"] = serde_json::json!(request_ids);
    }
    Some(NewEvent::new(
        event_type::LEDGER_TRANSFERS_APPLIED,
        "ledger_transfer",
        first?,
        payload,
    ))
}

/// Records the ledger event of one request's transfers. On the SQLite writer the request's
/// transfers join the group commit's events instead: each group records one event per
/// workspace and API key at its end ([`record_deferred`]), in the same transaction; relaying
/// one event per single-transfer request cost a third of the throughput. Elsewhere the
/// request gets its own event ([`request_event`]).
pub async fn record_request_event(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    batch: &[NewTransfer],
    results: &[TransferOutcome],
    cause: &Cause,
    now: Timestamp,
) -> Result<(), StoreError> {
    if let Some(deferred) = tx.deferred.as_mut() {
        // Only what the ledger created or recorded as failed makes an event.
        let eventful = results.iter().any(|(result, transfer)| {
            matches!((result, transfer), (TransferResult::Ok, Some(_))) || result.is_transient()
        });
        if eventful {
            deferred.job.push(DeferredRequest {
                workspace_id: workspace_id.clone(),
                transfers: batch.iter().cloned().zip(results.iter().cloned()).collect(),
                cause: cause.clone(),
                now,
            });
            // Counted now: the job's commit is the one that records it.
            tx.events_recorded += 1;
        }
        return Ok(());
    }
    let Some(event) = request_event(batch, results) else {
        return Ok(());
    };
    crate::events::record_firsts(tx, workspace_id, &[(event, cause.clone())], now).await
}

/// Records the group's deferred requests: one `ledger.transfers_applied` per workspace and API
/// key, listing their transfers and request ids.
pub(crate) async fn record_deferred(tx: &mut Tx) -> Result<(), StoreError> {
    let Some(deferred) = tx.deferred.as_mut() else {
        return Ok(());
    };
    let requests = std::mem::take(&mut deferred.group);
    if requests.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<(WorkspaceId, Option<String>)> = Vec::new();
    for request in &requests {
        let key = (request.workspace_id.clone(), request.cause.actor.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (workspace_id, actor) in keys {
        let members: Vec<&DeferredRequest> = requests
            .iter()
            .filter(|r| r.workspace_id == workspace_id && r.cause.actor == actor)
            .collect();
        let request_ids: Vec<String> = members
            .iter()
            .filter_map(|r| r.cause.request_id.clone())
            .collect();
        let request_id = match members.as_slice() {
            [only] => only.cause.request_id.clone(),
            _ => None,
        };
        let now = members.iter().map(|r| r.now).max().unwrap_or_default();
        let items = members
            .iter()
            .flat_map(|r| r.transfers.iter().map(|(t, o)| (t, o)));
        if let Some(event) = transfers_event(items, Some(request_ids)) {
            let cause = Cause { request_id, actor };
            crate::events::record_firsts(tx, &workspace_id, &[(event, cause)], now).await?;
        }
    }
    Ok(())
}

/// Requests queued for the batcher before submitters wait.
pub(crate) const BATCHER_QUEUE_MAX: usize = 16_384;

/// Coalesces concurrent requests into ledger batches: the requests that wait while a batch is
/// being committed go into the next one, in arrival order, up to the batch limit. Each
/// request's transfers stay together and in order, and a request whose last transfer is linked
/// (an open chain) is applied alone, so chains never span requests. This is group commit at the
/// level of the ledger: one load, one engine run and one commit serve many requests, which is
/// what lets single-transfer requests reach batch throughput.
#[derive(Clone)]
pub struct Batcher {
    sender: tokio::sync::mpsc::Sender<Submission>,
}

impl Batcher {
    pub fn start(db: crate::Db) -> Batcher {
        let (sender, receiver) = tokio::sync::mpsc::channel(BATCHER_QUEUE_MAX);
        tokio::spawn(run_batcher(db, receiver));
        Batcher { sender }
    }

    /// Applies `batch` in the next ledger batch and returns its results once durable.
    pub async fn submit(
        &self,
        workspace_id: &WorkspaceId,
        batch: Vec<NewTransfer>,
        cause: Cause,
    ) -> Result<Vec<TransferOutcome>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let submission = Submission {
            workspace_id: workspace_id.clone(),
            batch,
            cause,
            reply,
        };
        self.sender
            .send(submission)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer
            .await
            .map_err(|_| StoreError::WriterStopped)?
            .map_err(StoreError::CommitFailed)
    }
}

/// Batches committing at once.
pub(crate) const BATCHES_IN_FLIGHT_MAX: usize = 2;

pub(crate) async fn run_batcher(
    db: crate::Db,
    mut receiver: tokio::sync::mpsc::Receiver<Submission>,
) {
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT_MAX));
    let mut waiting: Vec<Submission> = Vec::new();
    loop {
        if waiting.is_empty() && receiver.recv_many(&mut waiting, BATCHER_QUEUE_MAX).await == 0 {
            return;
        }
        while let Ok(more) = receiver.try_recv() {
            waiting.push(more);
        }
        // Take the first request's workspace, and every later request of that workspace that
        // fits, keeping arrival order.
        let workspace_id = waiting[0].workspace_id.clone();
        let mut group = Vec::new();
        let mut rest = Vec::new();
        let mut transfers = 0;
        for submission in waiting.drain(..) {
            let fits = transfers + submission.batch.len() <= TRANSFERS_PER_BATCH_MAX;
            let open_chain = submission.batch.last().is_some_and(|t| t.linked);
            let alone_needed = open_chain && !group.is_empty();
            let group_closed = group
                .last()
                .is_some_and(|s: &Submission| s.batch.last().is_some_and(|t| t.linked));
            if submission.workspace_id == workspace_id && fits && !alone_needed && !group_closed {
                transfers += submission.batch.len();
                group.push(submission);
            } else {
                rest.push(submission);
            }
        }
        waiting = rest;
        let combined: Vec<NewTransfer> =
            group.iter().flat_map(|s| s.batch.iter().cloned()).collect();
        let parts: Vec<(usize, Cause)> = group
            .iter()
            .map(|s| (s.batch.len(), s.cause.clone()))
            .collect();
        // Two batches in flight: one commits while the next forms and loads.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let db = db.clone();
        tokio::spawn(async move {
            let ws = workspace_id.clone();
            let clock = db.clock();
            let results = db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move {
                        // The instant the batch is applied at: when the job runs, not when queued.
                        let now = clock.now();
                        let results = create_transfers(tx, &ws, &combined, now).await?;
                        // One event per actor (API key) of the batch, like the batch itself
                        // the unit of work: it lists every transfer the actor's requests created
                        // or failed, and their request ids. Relaying one event per request
                        // cost a third of single-transfer throughput.
                        let mut by_actor: Vec<(Option<String>, Vec<usize>)> = Vec::new();
                        let mut starts = Vec::with_capacity(parts.len());
                        let mut start = 0;
                        for (index, (len, cause)) in parts.iter().enumerate() {
                            starts.push(start);
                            start += len;
                            match by_actor.iter_mut().find(|(actor, _)| *actor == cause.actor) {
                                Some((_, indexes)) => indexes.push(index),
                                None => by_actor.push((cause.actor.clone(), vec![index])),
                            }
                        }
                        let mut events = Vec::with_capacity(by_actor.len());
                        for (actor, indexes) in by_actor {
                            let items = indexes.iter().flat_map(|&i| {
                                let range = starts[i]..starts[i] + parts[i].0;
                                combined[range.clone()].iter().zip(&results[range])
                            });
                            let request_ids: Vec<String> = indexes
                                .iter()
                                .filter_map(|&i| parts[i].1.request_id.clone())
                                .collect();
                            let request_id = match indexes.as_slice() {
                                [only] => parts[*only].1.request_id.clone(),
                                _ => None,
                            };
                            if let Some(event) = transfers_event(items, Some(request_ids)) {
                                events.push((event, Cause { request_id, actor }));
                            }
                        }
                        crate::events::record_firsts(tx, &ws, &events, now).await?;
                        Ok::<_, StoreError>(results)
                    })
                })
                .await;
            drop(permit);
            match results {
                Ok(results) => {
                    let mut results = results.into_iter();
                    for submission in group {
                        let part: Vec<TransferOutcome> =
                            results.by_ref().take(submission.batch.len()).collect();
                        let _ = submission.reply.send(Ok(part));
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error, "ledger batch failed");
                    for submission in group {
                        let _ = submission.reply.send(Err(error.to_string()));
                    }
                }
            }
        });
    }
}
