//! The one way HTTP handlers change state: [`AppState::mutate`].
//!
//! It runs the handler's work as a database write job, honours the request's Idempotency-Key in
//! the same transaction (claim, replay, or refuse a mismatch) and saves the response with the
//! effects, so that a change and its stored response commit or roll back together. The work
//! records its domain events through [`Context::emit`], in the same transaction.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;
use bursar_store::events;
use bursar_store::idempotency::{self, Claim};
use bursar_store::Tx;
use futures::future::BoxFuture;
use serde::Serialize;

use crate::error::{ApiError, ErrorType};
use crate::extract::{Idempotency, Principal};
use crate::AppState;

/// What a mutation's work sees: the transaction, the caller, and the
/// instant the mutation happens at (one `now` for every row it writes).
pub struct Context<'c> {
    pub tx: &'c mut Tx,
    pub workspace_id: &'c WorkspaceId,
    pub now: Timestamp,
    /// The request and the API key behind the mutation, recorded with its events.
    pub cause: &'c Cause,
}

impl Context<'_> {
    /// Records a domain event of this mutation, in its transaction: the event commits with
    /// the change or not at all.
    pub async fn emit(&mut self, event: NewEvent) -> Result<(), ApiError> {
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
    ) -> Result<(), ApiError> {
        self.emit(NewEvent::new(
            event_type,
            aggregate,
            id,
            serde_json::json!({ "object": object }),
        ))
        .await
    }
}

/// A saved or fresh response: status and JSON body.
struct Stored {
    status: u16,
    body: String,
    replayed: bool,
    events: usize,
}

impl AppState {
    /// Runs `work` in a transaction with idempotency, returning its JSON response.
    pub async fn mutate<T, F>(
        &self,
        principal: &Principal,
        idempotency: Idempotency,
        work: F,
    ) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        F: for<'c> FnOnce(Context<'c>) -> BoxFuture<'c, Result<(StatusCode, T), ApiError>>
            + Send
            + 'static,
    {
        let cause = cause_of(principal, &idempotency);
        self.mutate_as(principal.workspace_id.clone(), cause, idempotency, work)
            .await
    }

    /// As [`AppState::mutate`], for a caller without an API key whose workspace is known
    /// otherwise (a license key, a customer's email): `cause` names who acted.
    pub async fn mutate_as<T, F>(
        &self,
        workspace_id: WorkspaceId,
        cause: Cause,
        idempotency: Idempotency,
        work: F,
    ) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        F: for<'c> FnOnce(Context<'c>) -> BoxFuture<'c, Result<(StatusCode, T), ApiError>>
            + Send
            + 'static,
    {
        let now = self.db.now();
        let stored = self
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    if let Some(key) = &idempotency.key {
                        let claim = idempotency::claim(
                            tx,
                            &workspace_id,
                            key,
                            &idempotency.fingerprint,
                            now,
                        )
                        .await?;
                        match claim {
                            Claim::Execute => {}
                            Claim::Replay { status, body } => {
                                return Ok(Stored {
                                    status,
                                    body,
                                    replayed: true,
                                    events: 0,
                                });
                            }
                            Claim::Mismatch => return Err(key_reused(key)),
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
                    let body = serde_json::to_string(&value).map_err(|e| {
                        tracing::error!(error = %e, "BUG: response did not serialize");
                        ApiError::internal()
                    })?;
                    if let Some(key) = &idempotency.key {
                        idempotency::save(tx, &workspace_id, key, status.as_u16(), &body).await?;
                    }
                    Ok(Stored {
                        status: status.as_u16(),
                        body,
                        replayed: false,
                        events: emitted,
                    })
                })
            })
            .await?;
        if stored.events > 0 {
            metrics::counter!("bursar_events_recorded_total").increment(stored.events as u64);
        }
        Ok(json_response(stored))
    }
}

/// The code of the marker error [`AppState::idempotent`] uses to learn that a key is new.
const NOT_A_REPLAY: &str = "not_a_replay";

impl AppState {
    /// The Idempotency-Key for requests whose work cannot run inside one transaction (it calls a
    /// provider, or delivers webhooks through their own transactions): a key used before
    /// replays its stored answer (or is refused if the request differs); otherwise `work` runs
    /// and its answer is stored under the key. Such work must itself be safe to repeat, because
    /// two concurrent first uses of a key may both run it.
    pub async fn idempotent<T, W>(
        &self,
        principal: &Principal,
        idempotency: Idempotency,
        work: W,
    ) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        W: std::future::Future<Output = Result<T, ApiError>>,
    {
        if idempotency.key.is_some() {
            let probe = self
                .mutate(principal, idempotency.clone(), |_cx| {
                    Box::pin(async {
                        Err::<(StatusCode, ()), _>(ApiError::new(
                            StatusCode::CONFLICT,
                            ErrorType::ApiError,
                            NOT_A_REPLAY,
                            "",
                        ))
                    })
                })
                .await;
            match probe {
                Ok(replayed) => return Ok(replayed),
                Err(error) if error.code == NOT_A_REPLAY => {}
                Err(error) => return Err(error),
            }
        }
        let value = work.await?;
        self.mutate(principal, idempotency, move |_cx| {
            Box::pin(async move { Ok((StatusCode::OK, value)) })
        })
        .await
    }
}

/// The cause a request's events carry: its request id and the API key that made it.
pub fn cause_of(principal: &Principal, idempotency: &Idempotency) -> Cause {
    Cause {
        request_id: idempotency.request_id.clone(),
        actor: Some(principal.key_id.to_string()),
    }
}

fn key_reused(key: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::IdempotencyError,
        "idempotency_key_reused",
        format!(
            "Keys for idempotent requests can only be used with the same parameters they were \
             first used with. Try using a key other than '{key}' if you meant to execute a \
             different request."
        ),
    )
    .with_param("Idempotency-Key")
}

fn json_response(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if status == StatusCode::NO_CONTENT {
        let mut response = status.into_response();
        if stored.replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        return response;
    }
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if stored.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
