//! The one way HTTP handlers change state: [`AppState::mutate`], over the core's
//! [`bursar_core::App::write_once`].
//!
//! It runs the handler's work in one write transaction under the request's Idempotency-Key
//! (claim, replay, or refuse a mismatch) and saves the response with the effects, so that a
//! change and its stored response commit or roll back together. The work records its domain
//! events through [`Context::emit`], in the same transaction.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bursar_core::write::{IdempotencyKey, Reply};
use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use futures::future::BoxFuture;
use serde::Serialize;

use crate::error::{ApiError, ErrorType};
use crate::extract::{Idempotency, Principal};
use crate::AppState;

pub use bursar_core::write::Context;

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
        let key = idempotency.key.map(|key| IdempotencyKey {
            key,
            fingerprint: idempotency.fingerprint,
        });
        let reply = self
            .app
            .write_once(workspace_id, cause, key, move |cx| {
                let work = work(cx);
                Box::pin(async move {
                    let (status, value) = work.await?;
                    Ok::<_, ApiError>((status.as_u16(), value))
                })
            })
            .await?;
        Ok(json_response(reply))
    }
}

impl AppState {
    /// As [`AppState::mutate`], for an answer that shows a secret once: `work` returns the
    /// status, the value stored under the Idempotency-Key (which replays show: without the
    /// secret) and the value the first answer shows (with it).
    pub async fn mutate_showing_once<T, F>(
        &self,
        principal: &Principal,
        idempotency: Idempotency,
        work: F,
    ) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        F: for<'c> FnOnce(Context<'c>) -> BoxFuture<'c, Result<(StatusCode, T, T), ApiError>>
            + Send
            + 'static,
    {
        let first = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = first.clone();
        let stored = self
            .mutate(principal, idempotency, move |cx| {
                let work = work(cx);
                Box::pin(async move {
                    let (status, stored, shown) = work.await?;
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((status, shown));
                    Ok((status, stored))
                })
            })
            .await?;
        let shown = first.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(match shown {
            Some((status, value)) => (status, principal.json(value)).into_response(),
            // A replay: the work did not run.
            None => stored,
        })
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
    pub async fn idempotent<T, E, W>(
        &self,
        principal: &Principal,
        idempotency: Idempotency,
        work: W,
    ) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        W: std::future::Future<Output = Result<T, E>>,
        ApiError: From<E>,
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

fn json_response(stored: Reply) -> Response {
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
