//! Payouts: a seller's AVAILABLE money sent to their bank account, and the bank accounts and
//! schedules behind them.
//!
//! A payout is a row and a **pending** ledger transfer from the seller's AVAILABLE to the
//! workspace's payout-in-flight account, written with `payout.created` in one transaction. It is
//! then sent to the bank as an ACH credit (the attempt id, `<payout>-<attempt>`, is the bank's
//! idempotency key) **outside** any transaction, and the answer is recorded in another
//! (`in_transit`). The bank's events ([`apply_bank_event`]) post the reservation (`paid`), void
//! it (`failed`, retried as a new attempt with backoff when the failure allows), or undo a paid
//! payout once with a reversal transfer (`returned`, the bank account disabled when the return
//! code says it is bad, and an item in the reconciliation review queue). Pure rules are
//! `bursar_domain::treasury::payouts`.

mod bank_accounts;
mod bank_events;
mod schedule;
mod submit;

use std::sync::Arc;

use bursar_banks::BankRails;
use bursar_domain::event_type as types;
use bursar_domain::id::{CustomerId, PayoutId, WorkspaceId};
use bursar_domain::ledger::{NewAccount, NewTransfer, TransferId, TransferKind, TransferResult};
use bursar_domain::money::{parse_positive_amount, Currency};
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::payout_objects::{PayoutObject, PayoutOrigin};
use bursar_domain::treasury::payouts::{self as rules, in_flight_account, PayoutMove};
use bursar_domain::wallet::{party_account, platform_flags, Role};
use bursar_store::{ledger, payouts as rows, wallet, Tx};

use crate::error::{Error, ErrorKind};
use crate::write::Context;

pub(crate) use bank_accounts::ensure_registered;
pub use bank_accounts::{create_bank_account, list_bank_accounts, BankAccountInput};
pub use bank_events::apply_bank_event;
pub use schedule::{get_schedule, run_schedules, set_schedule, ScheduleInput, SCHEDULE_INTERVAL};
pub(crate) use submit::originating_account;
pub use submit::{request, retry_due, submit};

/// A workspace's bank: its connection id and its rails (see `bank_connections`).
pub type Rails = (String, Arc<dyn BankRails>);

/// Ledger transfer codes of payouts.
const CODE_RESERVE: i64 = 60;
const CODE_POST: i64 = 61;
const CODE_VOID: i64 = 62;
const CODE_RETURN: i64 = 63;

/// The attempt id of a payout's attempt: the bank's idempotency key.
pub fn attempt_id(payout: &PayoutObject) -> String {
    format!("{}-{}", payout.id, payout.attempts)
}

/// The payout and attempt an attempt id names.
fn parse_attempt_id(attempt_id: &str) -> Option<(&str, i64)> {
    let (payout, attempt) = attempt_id.rsplit_once('-')?;
    Some((payout, attempt.parse().ok()?))
}

fn reserve_transfer_id(payout: &PayoutId, attempt: i64) -> String {
    format!("payout:{payout}:{attempt}")
}

/// What a payout is asked for.
#[derive(Debug, Clone)]
pub struct PayoutInput {
    pub party: CustomerId,
    pub amount: i64,
    pub currency: Currency,
}

/// The seller's AVAILABLE in `currency`: posted credits less posted and pending debits.
pub async fn available(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
    currency: Currency,
) -> Result<i64, Error> {
    let id = party_account(party, Role::Available, currency);
    let account = ledger::get_account(tx, workspace_id, &id).await?;
    let credit = account.map_or(0, |a| a.balances.available_credit());
    Ok(i64::try_from(credit.max(0)).unwrap_or(i64::MAX))
}

/// Creates the party's wallet accounts and the payout-in-flight account, if missing.
async fn ensure_accounts(
    cx: &mut Context<'_>,
    party: &CustomerId,
    currency: Currency,
) -> Result<(), Error> {
    wallet::ensure_accounts(cx.tx, cx.workspace_id, &[party], currency, cx.now).await?;
    let in_flight = NewAccount {
        id: in_flight_account(currency),
        currency,
        code: 1,
        flags: platform_flags(),
        metadata: [("role".to_owned(), "payout_in_flight".to_owned())]
            .into_iter()
            .collect(),
    };
    ledger::create_accounts(cx.tx, cx.workspace_id, &[in_flight], cx.now).await?;
    Ok(())
}

/// Applies one ledger transfer of a payout; refuses (as a bug) anything but `ok`/`exists`,
/// except `exceeds_credits`, which is the seller's AVAILABLE running short.
async fn apply(cx: &mut Context<'_>, transfer: NewTransfer) -> Result<(), Error> {
    let results = ledger::create_transfers(cx.tx, cx.workspace_id, &[transfer], cx.now).await?;
    match results.first().map(|(result, _)| *result) {
        Some(TransferResult::Ok | TransferResult::Exists) => Ok(()),
        Some(TransferResult::ExceedsCredits) => Err(Error::invalid(
            "insufficient_available",
            Some("amount".into()),
            "The seller's AVAILABLE is less than the payout.",
        )),
        other => {
            tracing::error!(result = ?other, "BUG: a payout transfer failed");
            Err(Error::internal())
        }
    }
}

fn payout_transfer(
    id: String,
    kind: TransferKind,
    code: i64,
    payout: &PayoutObject,
) -> NewTransfer {
    NewTransfer {
        id: TransferId::from_trusted(id),
        debit_account_id: None,
        credit_account_id: None,
        amount: None,
        code,
        kind,
        linked: false,
        balancing_debit: false,
        balancing_credit: false,
        metadata: [
            ("recipe".to_owned(), "payout".to_owned()),
            ("payout_id".to_owned(), payout.id.to_string()),
        ]
        .into_iter()
        .collect(),
    }
}

/// Reserves the payout's current attempt: a pending transfer AVAILABLE → payout in flight.
async fn reserve(cx: &mut Context<'_>, payout: &PayoutObject) -> Result<(), Error> {
    ensure_accounts(cx, &payout.party_id, payout.currency).await?;
    let kind = TransferKind::Pending {
        timeout_seconds: None,
    };
    let mut transfer = payout_transfer(payout.transfer_id.clone(), kind, CODE_RESERVE, payout);
    transfer.debit_account_id = Some(party_account(
        &payout.party_id,
        Role::Available,
        payout.currency,
    ));
    transfer.credit_account_id = Some(in_flight_account(payout.currency));
    transfer.amount = Some(payout.amount);
    apply(cx, transfer).await
}

/// Posts (`post`) or voids the current attempt's reservation.
async fn settle(cx: &mut Context<'_>, payout: &PayoutObject, post: bool) -> Result<(), Error> {
    let pending_id = TransferId::from_trusted(payout.transfer_id.clone());
    let (suffix, kind, code) = match post {
        true => ("post", TransferKind::PostPending { pending_id }, CODE_POST),
        false => ("void", TransferKind::VoidPending { pending_id }, CODE_VOID),
    };
    let id = format!("{}:{suffix}", payout.transfer_id);
    apply(cx, payout_transfer(id, kind, code, payout)).await
}

/// Undoes a paid payout once: payout in flight → the seller's AVAILABLE.
async fn reverse(cx: &mut Context<'_>, payout: &PayoutObject) -> Result<(), Error> {
    let id = format!("payout:{}:return", payout.id);
    let mut transfer = payout_transfer(id, TransferKind::Single, CODE_RETURN, payout);
    transfer.debit_account_id = Some(in_flight_account(payout.currency));
    transfer.credit_account_id = Some(party_account(
        &payout.party_id,
        Role::Available,
        payout.currency,
    ));
    transfer.amount = Some(payout.amount);
    apply(cx, transfer).await
}

/// Moves `payout` by `step`, or refuses with 409 and its current state.
fn step(payout: &mut PayoutObject, step: PayoutMove, now: Timestamp) -> Result<(), Error> {
    payout.status = step
        .apply(payout.status)
        .map_err(|r| Error::state("payout_state", r.current.as_str(), r.message))?;
    payout.updated_at = now;
    Ok(())
}

/// Saves `payout` and records `event_type` about it.
async fn save(
    cx: &mut Context<'_>,
    payout: &PayoutObject,
    event_type: &'static str,
) -> Result<(), Error> {
    rows::update_payout(cx.tx, cx.workspace_id, payout).await?;
    cx.emit_object(event_type, "payout", payout.id.as_str(), payout)
        .await
}

/// Creates a payout of `input` to the seller's active bank account, reserved in the ledger
/// (`payout.created`); sent to the bank at `send_at` (now when `None`). Refused above AVAILABLE
/// and without an active bank account.
pub async fn create(
    cx: &mut Context<'_>,
    input: &PayoutInput,
    origin: PayoutOrigin,
    send_at: Option<Timestamp>,
) -> Result<PayoutObject, Error> {
    crate::wallets::require_party(cx.tx, cx.workspace_id, &input.party, "id").await?;
    let amount = parse_positive_amount(input.amount, "amount")?;
    let account = rows::active_bank_account(cx.tx, cx.workspace_id, &input.party)
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Invalid,
                "bank_account_missing",
                "The party has no active bank account to pay out to: add one with \
                 POST /v1/parties/{id}/bank_accounts.",
            )
        })?;
    let available = available(cx.tx, cx.workspace_id, &input.party, input.currency).await?;
    rules::check_amount(amount, available)?;
    let id = PayoutId::new();
    let payout = PayoutObject {
        transfer_id: reserve_transfer_id(&id, 1),
        id,
        object: "payout".into(),
        party_id: input.party.clone(),
        bank_account_id: account.id,
        status: rules::PayoutStatus::Pending,
        amount,
        currency: input.currency,
        origin,
        attempts: 1,
        payment_order_id: None,
        failure_code: None,
        failure_message: None,
        return_code: None,
        next_attempt_at: Some(send_at.unwrap_or(cx.now)),
        created_at: cx.now,
        updated_at: cx.now,
    };
    rows::insert_payout(cx.tx, cx.workspace_id, &payout).await?;
    reserve(cx, &payout).await?;
    cx.emit_object(types::PAYOUT_CREATED, "payout", payout.id.as_str(), &payout)
        .await?;
    Ok(payout)
}

/// Cancels a payout not yet at the bank: voids its reservation (`payout.canceled`); 409 with
/// its state otherwise.
pub async fn cancel(cx: &mut Context<'_>, id: &str) -> Result<PayoutObject, Error> {
    let mut payout = rows::get_payout(cx.tx, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| Error::not_found("payout", id))?;
    step(&mut payout, PayoutMove::Cancel, cx.now)?;
    payout.next_attempt_at = None;
    settle(cx, &payout, false).await?;
    save(cx, &payout, types::PAYOUT_CANCELED).await?;
    Ok(payout)
}

/// Refuses a party that is not a customer of the workspace (404), in a read of its own.
pub(crate) async fn require_party(
    app: &crate::App,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
) -> Result<(), Error> {
    let (workspace_id, party) = (workspace_id.clone(), party.clone());
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(
                async move { crate::wallets::require_party(tx, &workspace_id, &party, "id").await },
            )
        })
        .await
}

/// The workspace's bank (`bank_connection_missing`, 400, when it has none).
pub(crate) async fn rails_of(app: &crate::App, workspace_id: &WorkspaceId) -> Result<Rails, Error> {
    crate::bank_connections::rails_for_workspace(app, workspace_id).await
}

/// One payout.
pub async fn get(tx: &mut Tx, workspace_id: &WorkspaceId, id: &str) -> Result<PayoutObject, Error> {
    rows::get_payout(tx, workspace_id, id, false)
        .await?
        .ok_or_else(|| Error::not_found("payout", id))
}

/// A party's payouts, newest first.
pub async fn list(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    party: &CustomerId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<PayoutObject>, Error> {
    crate::wallets::require_party(tx, workspace_id, party, "id").await?;
    Ok(rows::list_payouts(tx, workspace_id, Some(party), after, limit).await?)
}
