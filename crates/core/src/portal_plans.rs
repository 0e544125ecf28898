//! The portal's plans: the contracts a signed-in customer buys under, each with its lines, its
//! next invoice and its renewal; canceling or resuming the renewal within the notice rules; and
//! changing a seat count with the proration it charges or credits, previewed before it is
//! applied. Every change is the same contract operation the API appends; a contract of a
//! customer the session does not reach is not found.

use std::collections::{BTreeMap, BTreeSet};

use bursar_domain::contract::{self, line_amount, Contract, LogEntry, Operation, OperationResult};
use bursar_domain::event::Cause;
use bursar_domain::subscription;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, CONTRACT, PRODUCT};
use bursar_store::{contracts, Tx};

use crate::error::Error;
use crate::portal::Portal;
use crate::storefront::Shop;
use crate::App;

/// Contracts a portal page lists at most.
pub const PLANS_MAX: usize = 50;

/// A contract line as the portal shows it.
#[derive(Debug, Clone)]
pub struct PlanLine {
    pub line_id: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_amount: i64,
    /// What the line bills a period (0 for usage, rated when the period closes).
    pub amount: i64,
    /// Billed by usage: its quantity is not the customer's to change.
    pub usage: bool,
}

/// A contract as the portal shows it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub contract: Contract,
    pub lines: Vec<PlanLine>,
    /// When the next invoice is due: the end of the current billing period (none before the
    /// contract is active).
    pub next_invoice_at: Option<Timestamp>,
    /// The fixed fees of the next period; usage is added when it is rated.
    pub next_invoice_amount: i64,
    /// The last moment the renewal can be canceled (the term's end less the notice), when the
    /// contract renews.
    pub cancel_deadline: Option<Timestamp>,
    pub can_cancel_renewal: bool,
    pub can_resume_renewal: bool,
}

/// The contracts of the customers `portal` reaches, newest first (at most [`PLANS_MAX`]),
/// without their next invoice (a list reads no contract's log): a fixed number of statements
/// however many contracts there are.
pub async fn plans(app: &App, shop: &Shop, portal: &Portal) -> Result<Vec<Plan>, Error> {
    let workspace_id = shop.workspace_id.clone();
    let customers: Vec<String> = portal.customers.iter().map(|c| c.to_string()).collect();
    let now = app.now();
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let ids: Vec<&str> = customers.iter().map(String::as_str).collect();
                let found: Vec<Contract> = documents::newest_for(
                    tx,
                    CONTRACT,
                    &workspace_id,
                    "buyer_id",
                    &ids,
                    None,
                    PLANS_MAX,
                )
                .await?;
                let names = product_names(tx, &workspace_id, &found).await?;
                Ok::<_, Error>(
                    found
                        .into_iter()
                        .map(|contract| plan_of(contract, &names, None, now))
                        .collect(),
                )
            })
        })
        .await
}

/// Contract `id` with its next invoice, if it is of a customer `portal` reaches.
pub async fn plan(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
) -> Result<Option<Plan>, Error> {
    let (workspace_id, id, now) = (shop.workspace_id.clone(), id.to_owned(), app.now());
    let portal = portal.clone();
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some((contract, log)) = reached(tx, &workspace_id, &portal, &id).await? else {
                    return Ok(None);
                };
                let names =
                    product_names(tx, &workspace_id, std::slice::from_ref(&contract)).await?;
                Ok::<_, Error>(Some(plan_of(contract, &names, Some(&log), now)))
            })
        })
        .await
}

/// The contract `id` and its log, if its buyer is a customer `portal` reaches.
pub(crate) async fn reached(
    tx: &mut Tx,
    workspace_id: &bursar_domain::id::WorkspaceId,
    portal: &Portal,
    id: &str,
) -> Result<Option<(Contract, Vec<LogEntry>)>, Error> {
    let contract: Option<Contract> = documents::get(tx, CONTRACT, workspace_id, id, false).await?;
    let Some(contract) = contract.filter(|c| {
        portal
            .customers
            .iter()
            .any(|customer| customer.as_str() == c.buyer_id)
    }) else {
        return Ok(None);
    };
    let log = contracts::log(tx, workspace_id, id, false).await?;
    Ok(Some((contract, log)))
}

/// The names of the products `contracts` sell, by id (one query).
async fn product_names(
    tx: &mut Tx,
    workspace_id: &bursar_domain::id::WorkspaceId,
    contracts: &[Contract],
) -> Result<BTreeMap<String, String>, Error> {
    let ids: BTreeSet<&str> = contracts
        .iter()
        .flat_map(|c| c.lines.iter().map(|l| l.product_id.as_str()))
        .collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    let products: Vec<(String, serde_json::Value)> =
        documents::get_many(tx, PRODUCT, workspace_id, &ids).await?;
    Ok(products
        .into_iter()
        .filter_map(|(id, p)| p["name"].as_str().map(|name| (id, name.to_owned())))
        .collect())
}

/// The plan of `contract`; its next invoice when its `log` is given.
fn plan_of(
    contract: Contract,
    names: &BTreeMap<String, String>,
    log: Option<&[LogEntry]>,
    now: Timestamp,
) -> Plan {
    let lines: Vec<PlanLine> = contract
        .lines
        .iter()
        .map(|line| PlanLine {
            line_id: line.id.clone(),
            product_name: names
                .get(&line.product_id)
                .cloned()
                .unwrap_or_else(|| line.product_id.clone()),
            quantity: line.quantity,
            unit_amount: line.unit_amount,
            amount: line_amount(line).unwrap_or(0),
            usage: line.usage.is_some(),
        })
        .collect();
    let next_invoice_at = log
        .and_then(|log| subscription::derive(&contract.id, log, now))
        .filter(|s| s.status != "canceled")
        .map(|s| s.current_period_end);
    let renews = contract.term.auto_renew && !contract.status.ended();
    let cancel_deadline = contract
        .term
        .end
        .filter(|_| renews)
        .map(|end| end.plus_seconds(-i64::from(contract.term.notice_days) * 86_400));
    Plan {
        next_invoice_amount: lines.iter().map(|l| l.amount).fold(0, i64::saturating_add),
        can_cancel_renewal: !contract.renewal_canceled && cancel_deadline.is_some_and(|d| now <= d),
        can_resume_renewal: renews
            && contract.renewal_canceled
            && contract.term.end.is_some_and(|end| now < end),
        next_invoice_at,
        cancel_deadline,
        lines,
        contract,
    }
}

/// What the customer does to a renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalChange {
    Cancel,
    Resume,
}

/// Cancels or resumes contract `id`'s renewal (refused past the notice period or the term's
/// end, with the contract's state); asking for what is already so changes nothing, so a form
/// sent twice acts once. `None` when the contract is not the session's.
pub async fn change_renewal(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    change: RenewalChange,
) -> Result<Option<Contract>, Error> {
    let (id, portal) = (id.to_owned(), portal.clone());
    app.write(shop.workspace_id.clone(), portal_cause(), move |mut cx| {
        Box::pin(async move {
            let Some((contract, _)) = reached(cx.tx, cx.workspace_id, &portal, &id).await? else {
                return Ok(None);
            };
            let operation = match change {
                RenewalChange::Cancel if !contract.renewal_canceled => Operation::CancelRenewal,
                RenewalChange::Resume if contract.renewal_canceled => Operation::ResumeRenewal,
                _ => return Ok(Some(contract)),
            };
            let done = crate::contracts::operate(&mut cx, &id, operation, None).await?;
            Ok(Some(done.contract))
        })
    })
    .await
}

/// A seat change as previewed before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityPreview {
    pub line_id: String,
    pub from: i64,
    pub to: i64,
    /// How much each later period's invoice changes by (minor units; negative is less).
    pub per_period: i64,
    /// Charged (positive) or credited (negative) now for the rest of the current period, by
    /// the contract's proration rule.
    pub prorated: i64,
    /// The end of the period the proration covers.
    pub period_end: Option<Timestamp>,
}

/// What changing line `line_id` of contract `id` to `quantity` seats would charge, without
/// changing anything; refused as the change itself would be (an ended contract, a usage line,
/// a quantity below 1). `None` when the contract is not the session's.
pub async fn preview_quantity(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    line_id: &str,
    quantity: i64,
) -> Result<Option<QuantityPreview>, Error> {
    let (workspace_id, id, now) = (shop.workspace_id.clone(), id.to_owned(), app.now());
    let (line_id, portal) = (line_id.to_owned(), portal.clone());
    let found = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move { reached(tx, &workspace_id, &portal, &id).await })
        })
        .await?;
    let Some((contract, log)) = found else {
        return Ok(None);
    };
    Ok(Some(quantity_preview(
        &contract, &log, &line_id, quantity, now,
    )?))
}

/// The preview of a seat change: the log with the change appended now, derived as billing
/// derives it.
fn quantity_preview(
    contract: &Contract,
    log: &[LogEntry],
    line_id: &str,
    quantity: i64,
    now: Timestamp,
) -> Result<QuantityPreview, Error> {
    let line = contract
        .lines
        .iter()
        .find(|l| l.id == line_id)
        .ok_or_else(|| Error::not_found("contract line", line_id).with_param("line_id"))?;
    let entry = LogEntry {
        seq: log.iter().map(|e| e.seq).max().unwrap_or(0) + 1,
        effective_at: now,
        recorded_at: now,
        operation: Operation::ChangeQuantity {
            line_id: line_id.to_owned(),
            quantity,
        },
    };
    let changed = contract::validate(&contract.id, log, &entry)?;
    let after = changed
        .at_entry
        .lines
        .iter()
        .find(|l| l.id == line_id)
        .and_then(line_amount)
        .unwrap_or(0);
    let mut extended = log.to_vec();
    extended.push(entry.clone());
    let prorations = subscription::derive(&contract.id, &extended, now)
        .map(|s| s.proration_items)
        .unwrap_or_default();
    let ours = prorations.iter().filter(|p| p.contract_seq == entry.seq);
    Ok(QuantityPreview {
        line_id: line_id.to_owned(),
        from: line.quantity,
        to: quantity,
        per_period: after.saturating_sub(line_amount(line).unwrap_or(0)),
        prorated: ours.clone().map(|p| p.amount).fold(0, i64::saturating_add),
        period_end: ours.map(|p| p.period_end).next(),
    })
}

/// Changes line `line_id` of contract `id` to `quantity` seats, now (the proration follows from
/// the contract's rule, as previewed); the quantity it already has changes nothing, so a form
/// sent twice acts once. `None` when the contract is not the session's.
pub async fn change_quantity(
    app: &App,
    shop: &Shop,
    portal: &Portal,
    id: &str,
    line_id: &str,
    quantity: i64,
) -> Result<Option<Contract>, Error> {
    let (id, line_id, portal) = (id.to_owned(), line_id.to_owned(), portal.clone());
    app.write(shop.workspace_id.clone(), portal_cause(), move |mut cx| {
        Box::pin(async move {
            let Some((contract, _)) = reached(cx.tx, cx.workspace_id, &portal, &id).await? else {
                return Ok(None);
            };
            let current = contract.lines.iter().find(|l| l.id == line_id);
            if current.is_some_and(|l| l.quantity == quantity) {
                return Ok(Some(contract));
            }
            let operation = Operation::ChangeQuantity { line_id, quantity };
            let OperationResult { contract, .. } =
                crate::contracts::operate(&mut cx, &id, operation, None).await?;
            Ok(Some(contract))
        })
    })
    .await
}

pub(crate) fn portal_cause() -> Cause {
    Cause {
        request_id: None,
        actor: Some("portal".into()),
    }
}
