//! What the bank's events do to pay-ins: the debit settling (post), failing (void), or coming
//! back after settlement (taken back once, the mandate stopped on an unauthorized code, an item
//! in review).

use bursar_banks::event::{BankEvent, BankEventKind, BankReturn};
use bursar_banks::types::{PaymentOrder, PaymentOrderStatus};
use bursar_domain::event_type as types;
use bursar_domain::ledger::{AccountId, NewAccount, TransferKind};
use bursar_domain::treasury::objects::ReviewReason;
use bursar_domain::treasury::pay_ins::{
    category_name, split_return, PayInMove, PayInObject, PayInStatus, ReturnRatesObject,
};
use bursar_domain::treasury::returns::{stops_mandate, RateCategory};
use bursar_domain::wallet::{party_account, platform_account, PlatformAccount, Role};
use bursar_store::{ledger, pay_ins as rows};

use super::{apply, save, settle, step, transfer, CODE_RETURN};
use crate::error::Error;
use crate::write::Context;

/// Applies a bank event to the pay-in it concerns, in the ingestion's transaction; answers
/// whether it concerned a pay-in.
pub async fn apply_bank_event(cx: &mut Context<'_>, event: &BankEvent) -> Result<bool, Error> {
    match &event.kind {
        BankEventKind::PaymentOrderStatusChanged {
            payment_order_id,
            status,
            failure,
            order,
        } => {
            let Some(mut pay_in) = find(cx, payment_order_id, order.as_ref()).await? else {
                return Ok(false);
            };
            match status {
                PaymentOrderStatus::Completed
                    if matches!(
                        pay_in.status,
                        PayInStatus::Pending | PayInStatus::Processing
                    ) =>
                {
                    settled(cx, &mut pay_in).await?;
                }
                PaymentOrderStatus::Failed
                    if matches!(
                        pay_in.status,
                        PayInStatus::Pending | PayInStatus::Processing
                    ) =>
                {
                    step(&mut pay_in, PayInMove::Fail, cx)?;
                    settle(cx, &pay_in, false).await?;
                    pay_in.failure_code = failure.as_ref().and_then(|f| f.code.clone());
                    pay_in.failure_message = failure.as_ref().and_then(|f| f.message.clone());
                    save(cx, &pay_in, types::PAY_IN_FAILED).await?;
                }
                PaymentOrderStatus::Processing | PaymentOrderStatus::Sent
                    if pay_in.status == PayInStatus::Pending =>
                {
                    step(&mut pay_in, PayInMove::Submit, cx)?;
                    save(cx, &pay_in, types::PAY_IN_PROCESSING).await?;
                }
                _ => {}
            }
            Ok(true)
        }
        BankEventKind::Return(bank_return) => {
            let Some(order_id) = bank_return.returnable_id.as_deref() else {
                return Ok(false);
            };
            let Some(mut pay_in) = rows::by_order(cx.tx, cx.workspace_id, order_id).await? else {
                return Ok(false);
            };
            match pay_in.status {
                PayInStatus::Returned => return Ok(true),
                PayInStatus::Failed => {
                    tracing::warn!(pay_in = %pay_in.id, "a return of a failed pay-in: nothing moved, nothing to take back");
                    return Ok(true);
                }
                PayInStatus::Settled => {}
                // A return implies the debit settled first.
                PayInStatus::Pending | PayInStatus::Processing => settled(cx, &mut pay_in).await?,
            }
            returned(cx, pay_in, bank_return).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The pay-in a payment order belongs to: by the order id recorded, or — the event arriving
/// before the bank's answer was recorded — by the pay-in id the order's metadata carries.
async fn find(
    cx: &mut Context<'_>,
    order_id: &str,
    order: Option<&PaymentOrder>,
) -> Result<Option<PayInObject>, Error> {
    if let Some(pay_in) = rows::by_order(cx.tx, cx.workspace_id, order_id).await? {
        return Ok(Some(pay_in));
    }
    let Some(id) = order.and_then(|o| o.metadata.get("bursar_pay_in_id")) else {
        return Ok(None);
    };
    let Some(mut pay_in) = rows::get(cx.tx, cx.workspace_id, id, true).await? else {
        return Ok(None);
    };
    if pay_in.payment_order_id.is_none() {
        pay_in.payment_order_id = Some(order_id.to_owned());
        rows::update(cx.tx, cx.workspace_id, &pay_in).await?;
    }
    Ok(Some(pay_in))
}

async fn settled(cx: &mut Context<'_>, pay_in: &mut PayInObject) -> Result<(), Error> {
    step(pay_in, PayInMove::Settle, cx)?;
    settle(cx, pay_in, true).await?;
    save(cx, pay_in, types::PAY_IN_SETTLED).await
}

/// What a party's account of `role` can give back now (posted credits less every debit).
async fn spendable(cx: &mut Context<'_>, id: &AccountId) -> Result<i64, Error> {
    let account = ledger::get_account(cx.tx, cx.workspace_id, id).await?;
    let credit = account.map_or(0, |a| a.balances.available_credit());
    Ok(i64::try_from(credit.max(0)).unwrap_or(i64::MAX))
}

/// The buyer's account of what it owes the platform after returns.
fn owed_account(pay_in: &PayInObject) -> AccountId {
    AccountId::from_trusted(format!(
        "party:{}:OWED:{}",
        pay_in.party_id, pay_in.currency
    ))
}

/// Takes a settled pay-in back once: from AVAILABLE, then COMMITTED, the rest onto the buyer's
/// OWED account; stops the mandate on an unauthorized code; puts an item in review.
async fn returned(
    cx: &mut Context<'_>,
    mut pay_in: PayInObject,
    bank_return: &BankReturn,
) -> Result<(), Error> {
    let before = super::return_rates(cx.tx, cx.workspace_id, cx.now)
        .await?
        .crossed();
    let (currency, party) = (pay_in.currency, pay_in.party_id.clone());
    let available = spendable(cx, &party_account(&party, Role::Available, currency)).await?;
    let committed = spendable(cx, &party_account(&party, Role::Committed, currency)).await?;
    let split = split_return(pay_in.amount, available, committed);
    let owed = NewAccount {
        id: owed_account(&pay_in),
        currency,
        code: 2,
        flags: bursar_domain::wallet::platform_flags(),
        metadata: [
            ("party".to_owned(), party.to_string()),
            ("role".to_owned(), "OWED".to_owned()),
        ]
        .into_iter()
        .collect(),
    };
    ledger::create_accounts(cx.tx, cx.workspace_id, &[owed], cx.now).await?;
    let legs = [
        (
            "available",
            party_account(&party, Role::Available, currency),
            split.from_available,
        ),
        (
            "committed",
            party_account(&party, Role::Committed, currency),
            split.from_committed,
        ),
        ("owed", owed_account(&pay_in), split.owed),
    ];
    for (name, from, amount) in legs.into_iter().filter(|(_, _, amount)| *amount > 0) {
        let mut leg = transfer(
            format!("{}:return:{name}", pay_in.transfer_id),
            TransferKind::Single,
            CODE_RETURN,
            &pay_in,
        );
        leg.debit_account_id = Some(from);
        leg.credit_account_id = Some(platform_account(PlatformAccount::BankClearing, currency));
        leg.amount = Some(amount);
        apply(cx, leg).await?;
    }
    step(&mut pay_in, PayInMove::Return, cx)?;
    pay_in.return_code = bank_return.code.clone();
    pay_in.returned = Some(split);
    save(cx, &pay_in, types::PAY_IN_RETURNED).await?;
    if bank_return.code.as_deref().is_some_and(stops_mandate) {
        stop_mandate(cx, &pay_in, bank_return).await?;
    }
    review(cx, &pay_in).await?;
    watch_rates(cx, &before).await
}

/// Sets the workspace's return-rate gauges and records `ach_return_rate.crossed` for each
/// category this return took over NACHA's threshold.
async fn watch_rates(cx: &mut Context<'_>, before: &[RateCategory]) -> Result<(), Error> {
    let rates = super::return_rates(cx.tx, cx.workspace_id, cx.now).await?;
    let object = ReturnRatesObject::of(&rates);
    let workspace = cx.workspace_id.to_string();
    for (category, bps) in [
        ("unauthorized", object.unauthorized_bps),
        ("administrative", object.administrative_bps),
        ("overall", object.overall_bps),
    ] {
        metrics::gauge!("bursar_ach_return_rate_bps", "workspace" => workspace.clone(), "category" => category)
            .set(bps as f64);
    }
    for category in rates.crossed().into_iter().filter(|c| !before.contains(c)) {
        let event = bursar_domain::event::NewEvent::new(
            types::ACH_RETURN_RATE_CROSSED,
            "ach_return_rate",
            category_name(category),
            serde_json::json!({"category": category_name(category), "rates": object}),
        );
        cx.emit(event).await?;
    }
    Ok(())
}

async fn stop_mandate(
    cx: &mut Context<'_>,
    pay_in: &PayInObject,
    bank_return: &BankReturn,
) -> Result<(), Error> {
    let Some(mut mandate) =
        rows::mandate(cx.tx, cx.workspace_id, pay_in.bank_account_id.as_str()).await?
    else {
        return Ok(());
    };
    mandate.status = "stopped".into();
    mandate.stopped_reason = Some(format!(
        "return_{}: {}",
        bank_return.code.as_deref().unwrap_or("?"),
        bank_return.reason.as_deref().unwrap_or("unauthorized")
    ));
    mandate.updated_at = cx.now;
    rows::save_mandate(cx.tx, cx.workspace_id, &mandate).await?;
    cx.emit_object(
        types::ACH_MANDATE_STOPPED,
        "bank_account",
        mandate.bank_account_id.as_str(),
        &mandate,
    )
    .await
}

/// An open `pay_in_returned` item naming the pay-in.
async fn review(cx: &mut Context<'_>, pay_in: &PayInObject) -> Result<(), Error> {
    let candidates = vec![pay_in.id.to_string()];
    crate::treasury::open_item(cx, ReviewReason::PayInReturned, candidates, None).await?;
    Ok(())
}
