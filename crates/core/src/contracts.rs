//! Contracts as an event-sourced edit log: [`create`] one, [`operate`] on it. Every change is
//! an operation appended to the contract's log with the time it takes effect and the time
//! Bursar learned it; the contract is the log's projection, at any moment and as known at any
//! moment. The scheduler ([`run_scheduler`]) renews, expires and ends trials when they are due.

use bursar_domain::contract::{
    self, Contract, ContractDraft, ContractError, LogEntry, Operation, OperationResult, Timing,
    UsagePricing,
};
use bursar_domain::event::NewEvent;
use bursar_domain::metering::Meter;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::settlement::{FEE_BPS_MAX, SEASONING_DAYS_MAX};
use bursar_store::documents::{self, COMPANY, CONTRACT, PRODUCT};
use bursar_store::{contracts, customers, Tx};
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::lookup;
use crate::write::Context;
use crate::App;

impl From<ContractError> for Error {
    fn from(error: ContractError) -> Self {
        match error {
            ContractError::State {
                code,
                current,
                message,
            } => Error::state(code, current.as_str(), message),
            ContractError::Invalid {
                code,
                param,
                message,
            } => Error::invalid(code, Some(param.to_owned()), message),
            ContractError::Conflict { code, message } => {
                Error::new(ErrorKind::State, code, message)
            }
        }
    }
}

pub async fn check_party(cx: &mut Context<'_>, id: &str, param: &str) -> Result<(), Error> {
    if id.starts_with("comp_") {
        lookup::get_in::<serde_json::Value>(cx, COMPANY, "company", id, param).await?;
        return Ok(());
    }
    let missing = || Error::not_found("customer", id).with_param(param);
    let parsed = bursar_domain::id::CustomerId::parse(id, param).map_err(|_| missing())?;
    customers::get(cx.tx, cx.workspace_id, &parsed, false)
        .await?
        .ok_or_else(missing)?;
    Ok(())
}

/// Appends `operation` to the contract's log (validated against the whole log), stores the
/// new projection and records the operation's event.
pub async fn append(
    cx: &mut Context<'_>,
    id: &str,
    log: &mut Vec<LogEntry>,
    operation: Operation,
    effective_at: Timestamp,
) -> Result<OperationResult, Error> {
    let entry = LogEntry {
        seq: log.len() as u64 + 1,
        effective_at,
        recorded_at: cx.now,
        operation,
    };
    let validated = contract::validate(id, log, &entry)?;
    contracts::append(cx.tx, cx.workspace_id, id, &entry).await?;
    // Any change makes the contract due for billing again (the billing loop sets when next).
    let extra = [
        ("buyer_id", validated.latest.buyer_id.as_str().into()),
        ("bill_at", Option::<i64>::None.into()),
    ];
    if entry.seq == 1 {
        documents::insert(
            cx.tx,
            CONTRACT,
            cx.workspace_id,
            id,
            &validated.latest,
            &extra,
        )
        .await?;
    } else {
        documents::save(
            cx.tx,
            CONTRACT,
            cx.workspace_id,
            id,
            &validated.latest,
            &extra,
        )
        .await?;
    }
    // The buyer's health depends on its contracts: it is checked at the next sweep.
    bursar_store::collections::set_next_check(
        cx.tx,
        cx.workspace_id,
        &validated.latest.buyer_id,
        Some(cx.now),
    )
    .await?;
    let status = validated.at_entry.status.as_str();
    cx.emit(NewEvent::new(
        entry.operation.event_type(),
        "contract",
        id,
        json!({"seq": entry.seq, "operation": entry.operation, "effective_at": entry.effective_at,
               "recorded_at": entry.recorded_at, "status": status, "contract": validated.at_entry}),
    ))
    .await?;
    log.push(entry.clone());
    Ok(OperationResult {
        object: "contract_operation",
        entry,
        contract: validated.latest,
    })
}

/// The live meter a usage line names, with the line's group-by filters checked against it.
pub async fn usage_meter(
    cx: &mut Context<'_>,
    usage: &UsagePricing,
    param: &str,
) -> Result<Meter, Error> {
    let meter = bursar_store::metering::find_meter(cx.tx, cx.workspace_id, &usage.meter)
        .await?
        .filter(|m| m.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("meter", &usage.meter).with_param(param))?;
    if let Some(key) = usage
        .filter_group_by
        .keys()
        .find(|k| !meter.group_by.contains_key(*k))
    {
        return Err(Error::invalid(
            "parameter_invalid",
            Some(param.replace(".meter", ".filter_group_by")),
            format!("'{key}' is not a group-by key of meter '{}'.", meter.slug),
        ));
    }
    Ok(meter)
}

/// The unit price the resolver picks for the contract's buyer at the term's start.
pub async fn resolved_price(
    cx: &mut Context<'_>,
    contract: &Contract,
    product_id: &str,
    quantity: i64,
    index: usize,
) -> Result<i64, Error> {
    let param = format!("lines[{index}].product_id");
    let product = bursar_domain::id::ProductId::parse(product_id, &param)?;
    let currency = Currency::parse(&contract.currency, "currency")?;
    let (customer, company) = if contract.buyer_id.starts_with("comp_") {
        (
            None,
            Some(bursar_domain::id::CompanyId::from_trusted(
                contract.buyer_id.clone(),
            )),
        )
    } else {
        (
            Some(bursar_domain::id::CustomerId::parse(
                &contract.buyer_id,
                "buyer_id",
            )?),
            None,
        )
    };
    let priced = crate::quotes::price_lines(
        cx.tx,
        cx.workspace_id,
        customer.as_ref(),
        company.as_ref(),
        currency,
        &[(product, quantity)],
        None,
        contract.term.start,
    )
    .await
    .map_err(|mut e| {
        if e.param.as_deref() == Some("lines[0]")
            || e.param.as_deref() == Some("lines[0][product_id]")
        {
            e.param = Some(param.clone());
        }
        e
    })?;
    priced
        .lines
        .first()
        .map(|l| l.unit_amount)
        .ok_or_else(Error::internal)
}

/// At most this many operations per contract and tick (a scheduler that was down catches up
/// over several ticks).
pub const SCHEDULED_PER_TICK: usize = 24;

/// One tick of the contract scheduler at the clock's now: renews contracts whose term ended
/// (unless their renewal was canceled), expires the others, ends scheduled terminations and
/// trials — each an operation of the contract's log, effective when it was due, by
/// `system:scheduler` — and brings each open contract's subscription up to the present
/// (future-dated changes that took effect, the current period).
/// Returns the operations appended.
pub async fn run_scheduler(state: &App) -> Result<usize, Error> {
    let open = state
        .db
        .read(|tx: &mut Tx| Box::pin(async move { contracts::contracts(tx, true).await }))
        .await?;
    let mut appended = 0;
    for (workspace_id, id) in open {
        let now = state.db.now();
        let result = state
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let cause = bursar_domain::event::Cause {
                        request_id: None,
                        actor: Some("system:scheduler".into()),
                    };
                    let mut cx = Context {
                        tx,
                        workspace_id: &workspace_id,
                        now,
                        cause: &cause,
                    };
                    let mut log = contracts::log(cx.tx, &workspace_id, &id, true).await?;
                    let mut done = 0;
                    while done < SCHEDULED_PER_TICK {
                        let Some(current) = contract::project(&id, &log, now, now)? else {
                            break;
                        };
                        let Some((operation, at)) = contract::due(&current, now).into_iter().next()
                        else {
                            break;
                        };
                        append(&mut cx, &id, &mut log, operation, at).await?;
                        done += 1;
                    }
                    // Time moves the subscription too (a scheduled change takes effect, a new
                    // period starts); it is written only when it changed.
                    contracts::project_subscription(cx.tx, &workspace_id, &id, now).await?;
                    Ok::<usize, Error>(done)
                })
            })
            .await;
        match result {
            Ok(done) => appended += done,
            // One contract's problem (an invoiced period, say) does not stop the others.
            Err(error) => {
                tracing::warn!(error = %error.message, "contract scheduler: a contract was skipped")
            }
        }
    }
    Ok(appended)
}

/// A line of a new contract, as asked for: a fixed fee (its price given, or resolved for the
/// buyer) or a usage line priced by its model.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub product_id: String,
    pub unit_amount: Option<i64>,
    pub quantity: Option<i64>,
    pub timing: Option<Timing>,
    pub usage: Option<UsagePricing>,
}

/// Seasoning is a marketplace contract's (one with a seller), at most a year.
fn check_seasoning(draft: &ContractDraft) -> Result<(), Error> {
    let Some(days) = draft.seasoning_days else {
        return Ok(());
    };
    if draft.seller_id.is_none() {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("seasoning_days".into()),
            "seasoning_days applies to marketplace contracts: give a seller_id too.",
        ));
    }
    if days > SEASONING_DAYS_MAX {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("seasoning_days".into()),
            format!("seasoning_days is at most {SEASONING_DAYS_MAX}."),
        ));
    }
    Ok(())
}

/// A referral is a marketplace contract's: a referrer (a customer) with a share of at most
/// the whole fee, and neither without the other.
fn check_referral(draft: &ContractDraft) -> Result<(), Error> {
    let refused = |param: &str, message: &str| {
        Err(Error::invalid(
            "parameter_invalid",
            Some(param.into()),
            message.to_owned(),
        ))
    };
    match (&draft.referrer_id, draft.referral_share_bps) {
        (None, None) => Ok(()),
        (Some(_), _) | (_, Some(_)) if draft.seller_id.is_none() => refused(
            "referrer_id",
            "A referral applies to marketplace contracts: give a seller_id too.",
        ),
        (Some(referrer), _) if !referrer.starts_with("cus_") => {
            refused("referrer_id", "A referrer is a customer (cus_…).")
        }
        (Some(_), None) => refused(
            "referral_share_bps",
            "Give the referrer's share of the platform fee, in basis points.",
        ),
        (None, Some(_)) => refused("referrer_id", "A referral share needs its referrer."),
        (Some(_), Some(bps)) if bps > FEE_BPS_MAX => refused(
            "referral_share_bps",
            "referral_share_bps is at most 10000 (the whole fee).",
        ),
        (Some(_), Some(_)) => Ok(()),
    }
}

/// Creates a contract from `draft` and its `lines`, effective at `effective_at` (now when none;
/// a contract is created now or back-dated, never scheduled), in the write's transaction.
pub async fn create(
    cx: &mut Context<'_>,
    draft: ContractDraft,
    lines: Vec<NewLine>,
    effective_at: Option<Timestamp>,
) -> Result<Contract, Error> {
    check_party(cx, &draft.buyer_id, "buyer_id").await?;
    if let Some(seller) = draft.seller_id.clone() {
        check_party(cx, &seller, "seller_id").await?;
    }
    check_seasoning(&draft)?;
    check_referral(&draft)?;
    if let Some(referrer) = draft.referrer_id.clone() {
        check_party(cx, &referrer, "referrer_id").await?;
    }
    let id = bursar_domain::id::ContractId::new().to_string();
    let now = effective_at.unwrap_or(cx.now);
    if now > cx.now {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("effective_at".into()),
            "A contract is created now or back-dated; schedule later changes as operations.",
        ));
    }
    let mut log = Vec::new();
    let mut result = append(cx, &id, &mut log, Operation::Create(draft), now).await?;
    for (index, line) in lines.into_iter().enumerate() {
        let operation = line_operation(cx, &result.contract, line, index).await?;
        result = append(cx, &id, &mut log, operation, now).await?;
    }
    Ok(result.contract)
}

/// The operation that adds the `index`th line of a new contract.
async fn line_operation(
    cx: &mut Context<'_>,
    contract: &Contract,
    line: NewLine,
    index: usize,
) -> Result<Operation, Error> {
    let param = format!("lines[{index}].product_id");
    lookup::get_in::<serde_json::Value>(cx, PRODUCT, "product", &line.product_id, &param).await?;
    let line_id = format!("line_{}", index + 1);
    if let Some(usage) = line.usage {
        if line.unit_amount.is_some()
            || line.quantity.is_some()
            || line.timing == Some(Timing::InAdvance)
        {
            return Err(Error::invalid(
                "usage_line_invalid",
                Some(format!("lines[{index}].usage")),
                "A usage line has no unit_amount or quantity (its pricing model prices the \
                 meter's usage) and is billed in arrears.",
            ));
        }
        usage_meter(cx, &usage, &format!("lines[{index}].usage.meter")).await?;
        return Ok(Operation::AddLine {
            line_id,
            product_id: line.product_id,
            unit_amount: 0,
            quantity: 1,
            timing: Timing::InArrears,
            usage: Some(usage),
        });
    }
    let quantity = line.quantity.unwrap_or(1);
    let unit_amount = match line.unit_amount {
        Some(amount) => amount,
        None => resolved_price(cx, contract, &line.product_id, quantity, index).await?,
    };
    Ok(Operation::AddLine {
        line_id,
        product_id: line.product_id,
        unit_amount,
        quantity,
        timing: line.timing.unwrap_or_default(),
        usage: None,
    })
}

/// Appends `operation` to contract `id`'s log, effective at `effective_at` (now when none),
/// after checking the product and meter a new line names.
pub async fn operate(
    cx: &mut Context<'_>,
    id: &str,
    operation: Operation,
    effective_at: Option<Timestamp>,
) -> Result<OperationResult, Error> {
    if matches!(operation, Operation::Create(_)) {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("type".into()),
            "Contracts are created with POST /v1/contracts.",
        ));
    }
    let mut log = contracts::log(cx.tx, cx.workspace_id, id, true).await?;
    if log.is_empty() {
        return Err(Error::not_found("contract", id));
    }
    if is_amendment(&operation) {
        refuse_if_blocked(cx, id).await?;
    }
    if let Operation::AddLine {
        product_id, usage, ..
    } = &operation
    {
        lookup::get_in::<serde_json::Value>(cx, PRODUCT, "product", product_id, "product_id")
            .await?;
        if let Some(usage) = usage {
            usage_meter(cx, usage, "usage.meter").await?;
        }
    }
    let at = effective_at.unwrap_or(cx.now);
    append(cx, id, &mut log, operation, at).await
}

/// Operations that change what a contract sells: refused while its buyer's dunning blocks
/// changes (a `block_changes` step).
fn is_amendment(operation: &Operation) -> bool {
    matches!(
        operation,
        Operation::AddLine { .. }
            | Operation::RemoveLine { .. }
            | Operation::ChangeQuantity { .. }
            | Operation::ChangePrice { .. }
            | Operation::SetCommitment { .. }
            | Operation::SetDownpayment { .. }
            | Operation::AmendTerm { .. }
            | Operation::Resume
    )
}

async fn refuse_if_blocked(cx: &mut Context<'_>, contract_id: &str) -> Result<(), Error> {
    let contract: Option<bursar_domain::contract::Contract> =
        documents::get(cx.tx, CONTRACT, cx.workspace_id, contract_id, false).await?;
    let Some(contract) = contract else {
        return Ok(());
    };
    let status: Option<bursar_domain::collections::CustomerBillingStatus> = documents::get(
        cx.tx,
        documents::BILLING_STATUS,
        cx.workspace_id,
        &contract.buyer_id,
        false,
    )
    .await?;
    match status {
        Some(s) if s.changes_blocked => Err(Error::state(
            "account_changes_blocked",
            s.status.as_str(),
            "The buyer's account is in dunning and changes to its contracts are blocked until the overdue balance is paid.",
        )),
        _ => Ok(()),
    }
}
