//! How a change of a customer's invoices, payments or credits reaches the collections engine
//! without the invoicing modules depending on it (the engine uses them to run its steps): the
//! engine installs its evaluation here when the application is built ([`crate::App::new`]).

use std::sync::OnceLock;

use bursar_domain::id::CustomerId;
use futures::future::BoxFuture;

use crate::error::Error;
use crate::write::Context;

/// Evaluates one account in the caller's transaction.
pub type Evaluate =
    for<'a, 'c> fn(&'a mut Context<'c>, &'a CustomerId) -> BoxFuture<'a, Result<(), Error>>;

static EVALUATE: OnceLock<Evaluate> = OnceLock::new();

/// Installs the engine's evaluation (once per process; later calls change nothing).
pub fn install(evaluate: Evaluate) {
    let _ = EVALUATE.set(evaluate);
}

/// Re-evaluates `customer`'s account after a change, in the caller's transaction. Refused (an
/// internal error, the transaction rolls back) if no engine was installed: never skipped.
pub async fn account_changed(cx: &mut Context<'_>, customer: &CustomerId) -> Result<(), Error> {
    match EVALUATE.get() {
        Some(evaluate) => evaluate(cx, customer).await,
        None => {
            tracing::error!("BUG: no collections engine installed");
            Err(Error::internal())
        }
    }
}
