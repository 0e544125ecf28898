//! What the routes callers use without an API key share: the client address and the cause
//! their events carry (their per-minute limits are in [`crate::limits`]).

use bursar_domain::event::Cause;

use crate::extract::Idempotency;
use crate::limits::client_ip;

pub(crate) fn public_cause(actor: &str, idempotency: &Idempotency) -> Cause {
    Cause {
        request_id: idempotency.request_id.clone(),
        actor: Some(actor.to_owned()),
    }
}

/// The client's address, from the connection (not from headers a client could forge).
pub struct ConnectInfoIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectInfoIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ConnectInfoIp(client_ip(&parts.extensions)))
    }
}
