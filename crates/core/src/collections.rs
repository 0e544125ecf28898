//! The collections engine: the one code path that writes billing status.
//!
//! [`evaluate`] loads everything about a customer, asks the pure
//! [`bursar_domain::collections::assess`] for its health, runs the dunning steps that are due
//! (in order, each once per anchor invoice), stores the answer with the instant of its next
//! check, and records each transition as an event — in the caller's transaction, so a payment
//! that settles the balance restores the account in the same commit. Every change of an
//! invoice, a payment or a credit calls it; the [`sweep`] calls it when time alone changes the
//! answer; off-session retries are charged by the sweep before it (pay before commit).

mod bulk;
mod check;
mod retries;
mod steps;
mod summary;

pub use bulk::*;
pub use check::*;
pub use retries::*;
pub use summary::*;

use bursar_domain::billing_status::{self as billing, BillingStatus};
use bursar_domain::collections::{
    assess, AccountFacts, CustomerBillingStatus, DunningPolicy, Health, Retry, StatusChange,
};
use bursar_domain::commerce::PaymentMethod;
use bursar_domain::contract::{Contract, ContractStatus};
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::id::*;
use bursar_domain::invoice::{Invoice, InvoiceStatus};
use bursar_domain::jobs::JobKind;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, BILLING_STATUS, CONTRACT, INVOICE, PAYMENT_METHOD};
use bursar_store::{customers, Tx};
use futures::StreamExt;
use serde_json::json;

use crate::dunning_policies;
use crate::error::Error;
use crate::job_attempts::Pass;
use crate::write::Context;
use crate::App;

/// Accounts the sweep evaluates per pass.
const SWEEP_BATCH: i64 = 500;
/// Accounts the sweep evaluates at once.
const SWEEP_PARALLEL: usize = 16;

/// Everything stored about one customer that its health depends on.
#[derive(Debug, Clone)]
pub struct Account {
    pub customer_id: CustomerId,
    pub stored: Option<CustomerBillingStatus>,
    pub invoices: Vec<Invoice>,
    pub contracts: Vec<Contract>,
    /// The policy it would enter dunning under now (`None`: excluded).
    pub policy: Option<DunningPolicy>,
    /// The policy version of the dunning it is in.
    pub pinned: Option<DunningPolicy>,
    pub payment_method: Option<PaymentMethod>,
}

impl Account {
    /// The account's health at `now`.
    pub fn assess(&self, now: Timestamp) -> Health {
        let dunning = self.stored.as_ref().and_then(|s| s.dunning.as_ref());
        assess(&AccountFacts {
            now,
            closed: self
                .stored
                .as_ref()
                .is_some_and(|s| s.status == BillingStatus::Closed),
            invoices: &self.invoices,
            contracts: &self.contracts,
            policy: self.policy.as_ref(),
            dunning: dunning.zip(self.pinned.as_ref()),
            payment_method: self.payment_method.as_ref().map(|m| m.id.as_str()),
        })
    }
}

/// Loads customer `customer_id`'s account; `lock` locks its stored status (PostgreSQL) so
/// concurrent evaluations of one customer run one after the other.
pub async fn load(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    customer_id: &CustomerId,
    lock: bool,
) -> Result<Account, Error> {
    let id = customer_id.as_str();
    let stored: Option<CustomerBillingStatus> =
        documents::get(tx, BILLING_STATUS, workspace_id, id, lock).await?;
    let invoices: Vec<Invoice> =
        documents::find_in(tx, INVOICE, workspace_id, "customer_id", &[id]).await?;
    let contracts: Vec<Contract> =
        documents::find_in(tx, CONTRACT, workspace_id, "buyer_id", &[id]).await?;
    let methods: Vec<PaymentMethod> =
        documents::find_in(tx, PAYMENT_METHOD, workspace_id, "customer_id", &[id]).await?;
    let policy = dunning_policies::policy_for(tx, workspace_id, id).await?;
    let pinned = match stored.as_ref().and_then(|s| s.dunning.as_ref()) {
        Some(d) => Some(
            dunning_policies::version(tx, workspace_id, d.policy_id.as_ref(), d.policy_version)
                .await?,
        ),
        None => None,
    };
    Ok(Account {
        customer_id: customer_id.clone(),
        stored,
        invoices,
        contracts,
        policy,
        pinned,
        payment_method: methods.into_iter().max_by_key(|m| m.created_at),
    })
}

/// A customer's status before its first invoice.
pub fn pending(customer_id: &CustomerId) -> CustomerBillingStatus {
    CustomerBillingStatus {
        object: "billing_status".into(),
        customer_id: customer_id.clone(),
        contract_id: None,
        status: BillingStatus::Pending,
        reason: "no_invoice_yet".into(),
        since: None,
        history: Vec::new(),
        access: bursar_domain::billing_status::Access::Full,
        changes_blocked: false,
        position: None,
        reasons: Vec::new(),
        dunning: None,
        evaluated_at: None,
    }
}

/// Brings the customer's health (and each of its contracts' statuses) to the present, in the
/// caller's transaction; returns the customer's stored status.
pub async fn refresh_billing_status(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
) -> Result<CustomerBillingStatus, Error> {
    evaluate(cx, customer_id).await
}

/// Adds a retry's outcome to the account's dunning (once per anchor and step).
async fn note_retry(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    retry: Retry,
) -> Result<(), Error> {
    let id = customer_id.as_str();
    let stored: Option<CustomerBillingStatus> =
        documents::get(cx.tx, BILLING_STATUS, cx.workspace_id, id, true).await?;
    let Some(mut stored) = stored else {
        return Ok(());
    };
    let Some(dunning) = stored.dunning.as_mut() else {
        return Ok(());
    };
    steps::record_retry(dunning, retry);
    let extra = [("status", stored.status.as_str().into())];
    documents::save(cx.tx, BILLING_STATUS, cx.workspace_id, id, &stored, &extra).await?;
    Ok(())
}

/// Makes this engine the one [`crate::account_hook`] calls when invoices or payments change.
pub fn install() {
    crate::account_hook::install(evaluate_changed);
}

fn evaluate_changed<'a, 'c>(
    cx: &'a mut Context<'c>,
    customer_id: &'a CustomerId,
) -> futures::future::BoxFuture<'a, Result<(), Error>> {
    Box::pin(async move { evaluate(cx, customer_id).await.map(|_| ()) })
}

/// Evaluates the account: sends the per-invoice reminders, enters or leaves dunning, runs the
/// steps due, and stores the resulting health; see the module's documentation.
pub async fn evaluate(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
) -> Result<CustomerBillingStatus, Error> {
    let mut account = load(cx.tx, cx.workspace_id, customer_id, true).await?;
    refresh_contract_statuses(cx, customer_id, &account.invoices, &account.contracts).await?;
    let mut stored = account
        .stored
        .clone()
        .unwrap_or_else(|| pending(customer_id));
    if stored.status == BillingStatus::Closed {
        return Ok(stored);
    }
    let health = account.assess(cx.now);
    steps::send_reminders(cx, &health, &mut account.invoices).await?;
    steps::enter_or_leave(cx, &mut stored, &health, account.policy.as_ref()).await?;
    if stored.dunning.is_some() && account.pinned.is_none() {
        account.pinned = account.policy.clone();
    }
    account.stored = Some(stored.clone());
    let mut health = account.assess(cx.now);
    if steps::run_due(cx, &mut stored, &health, &account).await? {
        let pinned = account.pinned.take();
        account = load(cx.tx, cx.workspace_id, customer_id, false).await?;
        account.pinned = pinned;
        account.stored = Some(stored.clone());
        health = account.assess(cx.now);
    }
    if health.status != stored.status {
        let reason = health.transition_reason(stored.status);
        change_status(cx, &mut stored, health.status, reason, &health).await?;
    }
    store_health(cx, &mut stored, &health).await?;
    Ok(stored)
}

/// Writes the health onto the stored status (upserted) with its next check.
async fn store_health(
    cx: &mut Context<'_>,
    stored: &mut CustomerBillingStatus,
    health: &Health,
) -> Result<(), Error> {
    stored.access = health.access;
    stored.changes_blocked = health.changes_blocked;
    stored.position = health.position.clone();
    stored.reasons = health.reasons.clone();
    stored.evaluated_at = Some(cx.now);
    let id = stored.customer_id.to_string();
    let extra = [("status", stored.status.as_str().into())];
    documents::upsert(
        cx.tx,
        BILLING_STATUS,
        cx.workspace_id,
        &id,
        &*stored,
        &extra,
    )
    .await?;
    bursar_store::collections::set_next_check(cx.tx, cx.workspace_id, &id, health.next_check_at)
        .await?;
    Ok(())
}

/// Moves the stored status to `to`, with the change in its history and a
/// `billing_status.changed` event carrying the policy version, the step and the reasons.
async fn change_status(
    cx: &mut Context<'_>,
    current: &mut CustomerBillingStatus,
    to: BillingStatus,
    reason: &str,
    health: &Health,
) -> Result<(), Error> {
    let from = record_change(current, to, reason, cx.now);
    let id = current.customer_id.to_string();
    cx.emit(NewEvent::new(
        event_type::BILLING_STATUS_CHANGED,
        "customer",
        &id,
        json!({ "object": current, "from": from, "to": to, "reason": reason,
                "position": health.position, "reasons": health.reasons }),
    ))
    .await
}

/// Moves `current` to `to` with the change in its history; returns the status it left.
fn record_change(
    current: &mut CustomerBillingStatus,
    to: BillingStatus,
    reason: &str,
    at: Timestamp,
) -> BillingStatus {
    let from = current.status;
    current.history.push(StatusChange {
        from,
        to,
        reason: reason.to_owned(),
        at,
    });
    current.status = to;
    current.reason = reason.to_owned();
    current.since = Some(at);
    from
}

/// Each contract's own status, from its invoices alone: pending until one is issued, past
/// due or in collections while one is late or written off, closed once the contract ended
/// with nothing owed.
async fn refresh_contract_statuses(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    invoices: &[Invoice],
    contracts: &[Contract],
) -> Result<(), Error> {
    let mut ids: Vec<&ContractId> = invoices
        .iter()
        .filter_map(|i| i.contract_id.as_ref())
        .collect();
    ids.sort();
    ids.dedup();
    for contract_id in ids {
        let theirs: Vec<Invoice> = invoices
            .iter()
            .filter(|i| i.contract_id.as_ref() == Some(contract_id))
            .cloned()
            .collect();
        let ended = contracts
            .iter()
            .find(|c| c.id == contract_id.as_str())
            .is_some_and(|c| {
                matches!(
                    c.status,
                    ContractStatus::Terminated | ContractStatus::Expired
                ) && c.terminates_at.is_none_or(|t| t <= cx.now)
            });
        let stored: Option<CustomerBillingStatus> = documents::get(
            cx.tx,
            BILLING_STATUS,
            cx.workspace_id,
            contract_id.as_str(),
            true,
        )
        .await?;
        let mut current = stored.unwrap_or_else(|| CustomerBillingStatus {
            contract_id: Some(contract_id.clone()),
            ..pending(customer_id)
        });
        let facts = contract_facts(&theirs, cx.now);
        let settled = facts.overdue_days.is_none()
            && !facts.uncollectible
            && theirs
                .iter()
                .all(|i| i.amount_due == 0 || i.number.is_none());
        let change = if ended && settled && current.status != BillingStatus::Closed {
            Some((BillingStatus::Closed, "contract_ended"))
        } else {
            billing::next(current.status, &facts)
        };
        if let Some((to, reason)) = change {
            change_contract_status(cx, &mut current, to, reason).await?;
        }
    }
    Ok(())
}

/// What a contract's invoices say at `now`.
fn contract_facts(invoices: &[Invoice], now: Timestamp) -> billing::Facts {
    billing::Facts {
        issued: invoices.iter().any(|i| i.number.is_some()),
        overdue_days: invoices
            .iter()
            .filter(|i| i.status == InvoiceStatus::Issued && i.amount_due > 0)
            .filter_map(|i| bursar_domain::collections::days_past(i.due_at?, now))
            .max(),
        uncollectible: invoices
            .iter()
            .any(|i| i.status == InvoiceStatus::Uncollectible && i.amount_due > 0),
    }
}

async fn change_contract_status(
    cx: &mut Context<'_>,
    current: &mut CustomerBillingStatus,
    to: BillingStatus,
    reason: &str,
) -> Result<(), Error> {
    let from = record_change(current, to, reason, cx.now);
    let id = current
        .contract_id
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let extra = [("status", to.as_str().into())];
    documents::upsert(
        cx.tx,
        BILLING_STATUS,
        cx.workspace_id,
        &id,
        &*current,
        &extra,
    )
    .await?;
    cx.emit(NewEvent::new(
        event_type::BILLING_STATUS_CHANGED,
        "contract",
        &id,
        json!({ "object": current, "from": from, "to": to, "reason": reason }),
    ))
    .await
}

/// The cause recorded with the engine's own writes.
fn system_cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("system:collections".into()),
    }
}

/// How often the server sweeps the accounts due: one that failed is tried again on the next
/// sweep (its `dunning_evaluation` job run shows why).
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Evaluates every account whose next check has come (charging due retries first), each in
/// its own transaction, until none is left; accounts cancelled from the job monitor are
/// skipped until retried. Returns how many were evaluated.
pub async fn sweep(app: &App) -> Result<usize, Error> {
    let pass = Pass::begin(app, JobKind::DunningEvaluation, SWEEP_INTERVAL).await?;
    let mut evaluated = 0;
    let mut seen = std::collections::HashSet::new();
    loop {
        let now = app.db.now();
        let due = app
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    bursar_store::collections::accounts_due(tx, now, SWEEP_BATCH).await
                })
            })
            .await?;
        if due.is_empty() {
            return Ok(evaluated);
        }
        let batch = due.len();
        // Accounts cancelled from the job monitor are skipped (they stay due).
        let fresh: Vec<_> = due
            .into_iter()
            .filter(|d| seen.insert(d.clone()) && !pass.skips(&d.0, &d.1))
            .collect();
        if fresh.is_empty() {
            // Only accounts evaluated in this pass are left (a provider out of reach).
            return Ok(evaluated);
        }
        // On SQLite, accounts in parallel: each its own transaction, their commits grouped by
        // the one writer. On PostgreSQL one at a time: an evaluation takes the workspace's
        // audit head and ledger clock in the order its steps need them, and two evaluations
        // taking them in opposite orders would deadlock.
        let parallel = match app.db.backend() {
            bursar_store::Backend::Sqlite => SWEEP_PARALLEL,
            bursar_store::Backend::Postgres => 1,
        };
        let results: Vec<_> = futures::stream::iter(fresh)
            .map(|(workspace_id, customer)| async move {
                let started = std::time::Instant::now();
                let customer_id = CustomerId::from_trusted(customer);
                let result = evaluate_due(app, &workspace_id, &customer_id).await;
                (workspace_id, customer_id, started, result)
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        for (workspace_id, customer, started, result) in results {
            // A failed account's transaction rolled back; it stays due for the next sweep.
            let outcome = result.as_ref().map(|_| ());
            pass.record(app, &workspace_id, customer.as_str(), started, outcome)
                .await;
            evaluated += usize::from(result.is_ok());
        }
        if batch < SWEEP_BATCH as usize {
            return Ok(evaluated);
        }
    }
}

/// Charges the account's due retry, then evaluates it.
async fn evaluate_due(
    app: &App,
    workspace_id: &WorkspaceId,
    customer_id: &CustomerId,
) -> Result<CustomerBillingStatus, Error> {
    let retry = charge_due_retry(app, workspace_id, customer_id).await?;
    evaluate_now(app, workspace_id, customer_id, retry).await
}

/// Evaluates one account in its own transaction, recording `retry` (with its payment).
pub async fn evaluate_now(
    app: &App,
    workspace_id: &WorkspaceId,
    customer_id: &CustomerId,
    retry: Option<ChargedRetry>,
) -> Result<CustomerBillingStatus, Error> {
    let (workspace_id, customer_id) = (workspace_id.clone(), customer_id.clone());
    let now = app.db.now();
    app.db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let cause = system_cause();
                let mut cx = Context {
                    tx,
                    workspace_id: &workspace_id,
                    now,
                    cause: &cause,
                };
                if let Some(charged) = retry {
                    // Into dunning first (a retry can be the first step), then the outcome.
                    evaluate(&mut cx, &customer_id).await?;
                    record_charge(&mut cx, &customer_id, charged).await?;
                }
                evaluate(&mut cx, &customer_id).await
            })
        })
        .await
}

/// A customer's stored billing status (pending before its first invoice).
pub async fn status_of(
    app: &App,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<CustomerBillingStatus, Error> {
    let customer_id = CustomerId::parse(id, "id").map_err(|_| Error::not_found("customer", id))?;
    let workspace_id = workspace_id.clone();
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                customers::get(tx, &workspace_id, &customer_id, false)
                    .await?
                    .ok_or_else(|| Error::not_found("customer", customer_id.as_str()))?;
                let stored: Option<CustomerBillingStatus> = documents::get(
                    tx,
                    BILLING_STATUS,
                    &workspace_id,
                    customer_id.as_str(),
                    false,
                )
                .await?;
                Ok::<_, Error>(stored.unwrap_or_else(|| pending(&customer_id)))
            })
        })
        .await
}

/// What customer `id` may use now, from the same function that decides its status.
pub async fn entitlements_of(
    app: &App,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<bursar_domain::collections::Entitlements, Error> {
    let customer_id = CustomerId::parse(id, "id").map_err(|_| Error::not_found("customer", id))?;
    let workspace_id = workspace_id.clone();
    let now = app.db.now();
    let account = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                customers::get(tx, &workspace_id, &customer_id, false)
                    .await?
                    .ok_or_else(|| Error::not_found("customer", customer_id.as_str()))?;
                load(tx, &workspace_id, &customer_id, false).await
            })
        })
        .await?;
    let health = account.assess(now);
    Ok(bursar_domain::collections::Entitlements {
        object: "entitlements".into(),
        customer_id: account.customer_id.clone(),
        billing_status: health.status,
        access: health.access,
        features: health.features(),
        contracts: health.contracts.clone(),
        changes_blocked: health.changes_blocked,
    })
}

/// Closes a customer's billing account, for good (`billing_status.changed`); refused when it is
/// closed already.
pub async fn close_billing_account(
    cx: &mut Context<'_>,
    customer_id: &CustomerId,
    reason: &str,
) -> Result<CustomerBillingStatus, Error> {
    customers::get(cx.tx, cx.workspace_id, customer_id, false)
        .await?
        .ok_or_else(|| Error::not_found("customer", customer_id.as_str()))?;
    let account = load(cx.tx, cx.workspace_id, customer_id, true).await?;
    let mut current = account
        .stored
        .clone()
        .unwrap_or_else(|| pending(customer_id));
    if current.status == BillingStatus::Closed {
        return Err(Error::state(
            "billing_status_closed",
            "closed",
            "The billing account is closed already.",
        ));
    }
    let health = account.assess(cx.now);
    change_status(cx, &mut current, BillingStatus::Closed, reason, &health).await?;
    let closed = Account {
        stored: Some(current.clone()),
        ..account
    };
    store_health(cx, &mut current, &closed.assess(cx.now)).await?;
    Ok(current)
}
