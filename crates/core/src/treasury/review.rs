//! The reconciliation review queue: what people do to an item (acknowledge, resolve by linking
//! an expected payment, accept with a note, snooze until a date), and the sweep that marks
//! expected payments overdue past their window and reopens snoozed items whose date came.

use bursar_domain::event::Cause;
use bursar_domain::event_type as types;
use bursar_domain::id::{ExpectedPaymentId, WorkspaceId};
use bursar_domain::ledger::TransferId;
use bursar_domain::treasury::matching::Direction;
use bursar_domain::treasury::objects::{
    BankTransactionStatus, ExpectedPaymentStatus, ReconciliationItem, ReviewAction, ReviewReason,
    ReviewStatus,
};
use bursar_store::treasury::{self, ExpectedUpdate};
use bursar_store::wallet::{Recipe, RecipeRequest};
use bursar_store::{events, Tx};

use super::reconcile::{fund, item_event, new_item, transaction_event};
use crate::error::Error;
use crate::write::Context;
use crate::App;

/// Most rows one sweep round takes.
const SWEEP_BATCH: i64 = 1_000;

/// Applies `action` to item `id` and answers the item as it now stands.
pub async fn act(
    cx: &mut Context<'_>,
    id: &str,
    action: ReviewAction,
) -> Result<ReconciliationItem, Error> {
    super::lock(cx.tx, cx.workspace_id).await?;
    let (mut item, seq) = treasury::get_item(cx.tx, cx.workspace_id, id, true)
        .await?
        .ok_or_else(|| Error::not_found("reconciliation_item", id))?;
    let today = super::today(cx.now);
    item.status = action
        .apply(item.status, today)
        .map_err(|e| match e.param.as_str() {
            "status" => Error::state("reconciliation_item_state", item.status.as_str(), e.message),
            _ => e.into(),
        })?;
    let event_type = match &action {
        ReviewAction::Acknowledge => types::RECONCILIATION_ITEM_ACKNOWLEDGED,
        ReviewAction::Resolve(expected) => {
            link(cx, &item, expected).await?;
            item.expected_payment_id = Some(expected.clone());
            types::RECONCILIATION_ITEM_RESOLVED
        }
        ReviewAction::Accept(note) => {
            item.note = Some(note.trim().to_owned());
            accept_transaction(cx, &item).await?;
            types::RECONCILIATION_ITEM_ACCEPTED
        }
        ReviewAction::Snooze(until) => {
            item.snoozed_until = Some(*until);
            types::RECONCILIATION_ITEM_SNOOZED
        }
    };
    if !matches!(action, ReviewAction::Snooze(_)) {
        item.snoozed_until = None;
    }
    save(cx, &item, seq, event_type).await?;
    Ok(item)
}

async fn save(
    cx: &mut Context<'_>,
    item: &ReconciliationItem,
    seq: i64,
    event_type: &'static str,
) -> Result<(), Error> {
    let mut item = item.clone();
    item.updated_at = cx.now;
    treasury::update_item(cx.tx, cx.workspace_id, &item, seq + 1).await?;
    let event = (item_event(event_type, &item), cx.cause.clone());
    events::record_sequenced(cx.tx, cx.workspace_id, &[event], &[seq + 1], cx.now).await?;
    Ok(())
}

/// Resolving: the item's bank transaction is matched to `expected` by a person.
async fn link(
    cx: &mut Context<'_>,
    item: &ReconciliationItem,
    expected: &ExpectedPaymentId,
) -> Result<(), Error> {
    let Some(transaction_id) = &item.bank_transaction_id else {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("expected_payment_id".into()),
            "An overdue expected payment is resolved by its money arriving; accept or snooze \
             this item instead.",
        ));
    };
    let mut transaction =
        treasury::get_transaction(cx.tx, cx.workspace_id, transaction_id.as_str())
            .await?
            .ok_or_else(Error::internal)?;
    let (mut payment, seq) =
        treasury::get_expected(cx.tx, cx.workspace_id, expected.as_str(), true)
            .await?
            .ok_or_else(|| {
                Error::not_found("expected_payment", expected.as_str())
                    .with_param("expected_payment_id")
            })?;
    if payment.currency != transaction.currency || payment.direction != transaction.direction {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("expected_payment_id".into()),
            "The expected payment's currency and direction differ from the transaction's.",
        ));
    }
    if payment.status == ExpectedPaymentStatus::Reconciled {
        return Err(Error::state(
            "expected_payment_reconciled",
            payment.status.as_str(),
            "That expected payment has fully arrived already.",
        ));
    }
    let was_overdue = payment.status == ExpectedPaymentStatus::Overdue;
    payment.reconciled_amount = payment.reconciled_amount.saturating_add(transaction.amount);
    payment.status = payment.status_for(payment.reconciled_amount, super::today(cx.now));
    payment.updated_at = cx.now;
    let update = ExpectedUpdate {
        id: payment.id.as_str(),
        status: payment.status,
        reconciled_amount: payment.reconciled_amount,
        event_seq: seq + 1,
    };
    treasury::update_expected(cx.tx, cx.workspace_id, &[update], cx.now).await?;
    let event = (
        super::event(super::status_event(payment.status), &payment),
        cx.cause.clone(),
    );
    events::record_sequenced(cx.tx, cx.workspace_id, &[event], &[seq + 1], cx.now).await?;
    treasury::settle_transaction(
        cx.tx,
        cx.workspace_id,
        transaction.id.as_str(),
        BankTransactionStatus::Matched,
        Some(expected.as_str()),
    )
    .await?;
    transaction.status = BankTransactionStatus::Matched;
    transaction.expected_payment_id = Some(expected.clone());
    cx.emit(transaction_event(
        types::BANK_TRANSACTION_MATCHED,
        &transaction,
    ))
    .await?;
    if let (Some(party), Direction::Credit) = (&payment.party_id, transaction.direction) {
        let request = RecipeRequest {
            id: TransferId::from_trusted(format!("fund_{}", transaction.id)),
            party: party.clone(),
            currency: transaction.currency,
            amount: transaction.amount,
            recipe: Recipe::Fund,
        };
        fund(cx, &[request]).await?;
    }
    if was_overdue && payment.status == ExpectedPaymentStatus::Reconciled {
        close_overdue(cx, expected).await?;
    }
    Ok(())
}

/// Accepting: the item's bank transaction (if any) stays unmatched, accepted as it is.
async fn accept_transaction(cx: &mut Context<'_>, item: &ReconciliationItem) -> Result<(), Error> {
    let Some(id) = &item.bank_transaction_id else {
        return Ok(());
    };
    let mut transaction = treasury::get_transaction(cx.tx, cx.workspace_id, id.as_str())
        .await?
        .ok_or_else(Error::internal)?;
    treasury::settle_transaction(
        cx.tx,
        cx.workspace_id,
        id.as_str(),
        BankTransactionStatus::Accepted,
        None,
    )
    .await?;
    transaction.status = BankTransactionStatus::Accepted;
    cx.emit(transaction_event(
        types::BANK_TRANSACTION_ACCEPTED,
        &transaction,
    ))
    .await
}

/// Resolves the open overdue item of `expected`, whose money has now arrived in full.
/// Opens a review item that no bank transaction carries (a returned payout or pay-in, a
/// balance drift): the item, naming `candidates`, and `reconciliation_item.created`.
pub async fn open_item(
    cx: &mut Context<'_>,
    reason: ReviewReason,
    candidates: Vec<String>,
    note: Option<String>,
) -> Result<ReconciliationItem, Error> {
    let mut item = new_item(reason, None, None, candidates, cx);
    item.note = note;
    treasury::insert_items(cx.tx, cx.workspace_id, std::slice::from_ref(&item)).await?;
    let event = item_event(types::RECONCILIATION_ITEM_CREATED, &item);
    events::record_firsts(cx.tx, cx.workspace_id, &[(event, cx.cause.clone())], cx.now).await?;
    Ok(item)
}

pub(super) async fn close_overdue(
    cx: &mut Context<'_>,
    expected: &ExpectedPaymentId,
) -> Result<(), Error> {
    let Some((mut item, seq)) =
        treasury::overdue_item(cx.tx, cx.workspace_id, expected.as_str()).await?
    else {
        return Ok(());
    };
    if item.status.is_closed() {
        return Ok(());
    }
    item.status = ReviewStatus::Resolved;
    item.snoozed_until = None;
    save(cx, &item, seq, types::RECONCILIATION_ITEM_RESOLVED).await
}

/// Marks expected payments overdue past their window (each with an item in review) and
/// reopens snoozed items whose date came; answers how many rows changed.
pub async fn sweep(app: &App) -> Result<usize, Error> {
    let today = super::today(app.db.now());
    let mut changed = 0;
    loop {
        let (overdue, waking) = app
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let overdue = treasury::newly_overdue(tx, None, today, SWEEP_BATCH).await?;
                    let waking = treasury::items_waking(tx, None, today, SWEEP_BATCH).await?;
                    Ok::<_, bursar_store::StoreError>((overdue, waking))
                })
            })
            .await?;
        if overdue.is_empty() && waking.is_empty() {
            return Ok(changed);
        }
        let mut workspaces: Vec<WorkspaceId> = overdue
            .iter()
            .map(|(w, _)| w.clone())
            .chain(waking.iter().map(|(w, _)| w.clone()))
            .collect();
        workspaces.sort();
        workspaces.dedup();
        for workspace_id in workspaces {
            changed += sweep_workspace(app, workspace_id, today).await?;
        }
    }
}

async fn sweep_workspace(
    app: &App,
    workspace_id: WorkspaceId,
    today: jiff::civil::Date,
) -> Result<usize, Error> {
    let cause = Cause {
        request_id: None,
        actor: Some("system:treasury".into()),
    };
    app.write(workspace_id, cause, move |mut cx: Context<'_>| {
        Box::pin(async move {
            super::lock(cx.tx, cx.workspace_id).await?;
            let mut changed = 0;
            for (workspace, (mut payment, seq)) in
                treasury::newly_overdue(cx.tx, Some(cx.workspace_id), today, SWEEP_BATCH).await?
            {
                debug_assert_eq!(&workspace, cx.workspace_id);
                payment.status = ExpectedPaymentStatus::Overdue;
                payment.updated_at = cx.now;
                let update = ExpectedUpdate {
                    id: payment.id.as_str(),
                    status: payment.status,
                    reconciled_amount: payment.reconciled_amount,
                    event_seq: seq + 1,
                };
                treasury::update_expected(cx.tx, cx.workspace_id, &[update], cx.now).await?;
                let event = (
                    super::event(types::EXPECTED_PAYMENT_OVERDUE, &payment),
                    cx.cause.clone(),
                );
                events::record_sequenced(cx.tx, cx.workspace_id, &[event], &[seq + 1], cx.now)
                    .await?;
                let item = new_item(
                    ReviewReason::Overdue,
                    None,
                    Some(payment.id.clone()),
                    Vec::new(),
                    &cx,
                );
                treasury::insert_items(cx.tx, cx.workspace_id, std::slice::from_ref(&item)).await?;
                let created = (
                    item_event(types::RECONCILIATION_ITEM_CREATED, &item),
                    cx.cause.clone(),
                );
                events::record_firsts(cx.tx, cx.workspace_id, &[created], cx.now).await?;
                changed += 1;
            }
            for (workspace, (mut item, seq)) in
                treasury::items_waking(cx.tx, Some(cx.workspace_id), today, SWEEP_BATCH).await?
            {
                debug_assert_eq!(&workspace, cx.workspace_id);
                item.status = ReviewStatus::Open;
                item.snoozed_until = None;
                save(&mut cx, &item, seq, types::RECONCILIATION_ITEM_REOPENED).await?;
                changed += 1;
            }
            Ok::<usize, Error>(changed)
        })
    })
    .await
}
