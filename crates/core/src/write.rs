//! The one way use cases change state: a write [`Context`] inside one database transaction.
//!
//! [`App::write`] runs work in a write job; [`App::write_once`] does the same under an
//! idempotency key (claim, replay, or refuse a mismatch) and stores the reply with the effects,
//! so a change and its stored reply commit or roll back together. The work records its domain
//! events through [`Context::emit`], in the same transaction.

use bursar_domain::auth::WorkspaceMode;
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;
use bursar_store::idempotency::{self, Claim};
use bursar_store::{events, StoreError, Tx};
use futures::future::BoxFuture;
use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::App;

/// What a write sees: the transaction, the workspace, the instant it happens at (one `now` for
/// every row it writes) and who caused it.
pub struct Context<'c> {
    pub tx: &'c mut Tx,
    pub workspace_id: &'c WorkspaceId,
    pub now: Timestamp,
    /// The request and the actor behind the write, recorded with its events.
    pub cause: &'c Cause,
}

impl Context<'_> {
    /// Records a domain event of this write, in its transaction: the event commits with the
    /// change or not at all.
    pub async fn emit(&mut self, event: NewEvent) -> Result<(), Error> {
        events::record(self.tx, self.workspace_id, &event, self.cause, self.now).await?;
        Ok(())
    }

    /// Records `event_type` about one object, with the object as its payload.
    pub async fn emit_object<T: Serialize>(
        &mut self,
        event_type: &'static str,
        aggregate: &'static str,
        id: &str,
        object: &T,
    ) -> Result<(), Error> {
        self.emit(NewEvent::new(
            event_type,
            aggregate,
            id,
            serde_json::json!({ "object": object }),
        ))
        .await
    }
}

/// An idempotency key and the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

/// The stored answer of an idempotent write: the surface's status code (the API's HTTP
/// status), the serialized value, and whether it was replayed from an earlier use of the key.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
}

impl App {
    /// Runs `work` in one write transaction in `workspace_id`, its events caused by `cause`.
    pub async fn write<T, E, F>(
        &self,
        workspace_id: WorkspaceId,
        cause: Cause,
        work: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(Context<'c>) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let now = self.db.now();
        self.db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let context = Context {
                        tx: &mut *tx,
                        workspace_id: &workspace_id,
                        now,
                        cause: &cause,
                    };
                    work(context).await
                })
            })
            .await
    }

    /// As [`App::write`], under `idempotency`: a key used before replays its stored reply (or
    /// is refused if the request differs); otherwise `work` runs and its `(status, value)` is
    /// stored under the key in the same transaction.
    pub async fn write_once<T, E, F>(
        &self,
        workspace_id: WorkspaceId,
        cause: Cause,
        idempotency: Option<IdempotencyKey>,
        work: F,
    ) -> Result<Reply, E>
    where
        T: Serialize + Send + 'static,
        E: From<StoreError> + From<Error> + Send + 'static,
        F: for<'c> FnOnce(Context<'c>) -> BoxFuture<'c, Result<(u16, T), E>> + Send + 'static,
    {
        let now = self.db.now();
        // Every object of the reply says whether the workspace is live, replays included.
        let live = self.workspace_mode(&workspace_id).await? == WorkspaceMode::Live;
        let (reply, events) = self
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    if let Some(key) = &idempotency {
                        match idempotency::claim(tx, &workspace_id, &key.key, &key.fingerprint, now)
                            .await?
                        {
                            Claim::Execute => {}
                            Claim::Replay { status, body } => {
                                let reply = Reply {
                                    status,
                                    body,
                                    replayed: true,
                                };
                                return Ok((reply, 0));
                            }
                            Claim::Mismatch => return Err(E::from(key_reused(&key.key))),
                        }
                    }
                    let context = Context {
                        tx: &mut *tx,
                        workspace_id: &workspace_id,
                        now,
                        cause: &cause,
                    };
                    let (status, value) = work(context).await?;
                    // Read, not taken: `Db::write` takes the count to wake the relay.
                    let emitted = tx.events_recorded();
                    let body = bursar_domain::livemode::to_string(&value, live).map_err(|e| {
                        tracing::error!(error = %e, "BUG: a reply did not serialize");
                        E::from(Error::internal())
                    })?;
                    if let Some(key) = &idempotency {
                        idempotency::save(tx, &workspace_id, &key.key, status, &body).await?;
                    }
                    Ok((
                        Reply {
                            status,
                            body,
                            replayed: false,
                        },
                        emitted,
                    ))
                })
            })
            .await?;
        if events > 0 {
            metrics::counter!("bursar_events_recorded_total").increment(events as u64);
        }
        Ok(reply)
    }
}

fn key_reused(key: &str) -> Error {
    Error::new(
        ErrorKind::IdempotencyKeyReused,
        "idempotency_key_reused",
        format!(
            "Keys for idempotent requests can only be used with the same parameters they were \
             first used with. Try using a key other than '{key}' if you meant to execute a \
             different request."
        ),
    )
    .with_param("Idempotency-Key")
}
