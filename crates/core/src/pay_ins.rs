//! Originated ACH pay-ins: a buyer's bank account debited under its mandate.
//!
//! A pay-in is a row and a **pending** ledger transfer from the platform's bank clearing to the
//! buyer's AVAILABLE, written with `pay_in.created` in one transaction; the ACH debit is then
//! sent to the bank outside any transaction (the pay-in id is the bank's idempotency key) and
//! its answer recorded in another. The bank's events post the transfer (`settled`), void it
//! (`failed`), or — after settlement — take the money back once (`returned`): from AVAILABLE,
//! then COMMITTED, and the rest recorded on the buyer's `OWED` account, so what the buyer owes
//! is explicit. An unauthorized return stops the mandate; every return goes to review. Pure
//! rules are `bursar_domain::treasury::pay_ins`.

mod bank_events;

use std::collections::BTreeMap;

use bursar_banks::types::{Direction, PaymentOrder, PaymentOrderRequest, Rail, ReceivingAccount};
use bursar_banks::ProviderError;
use bursar_domain::event::Cause;
use bursar_domain::event_type as types;
use bursar_domain::id::{CustomerId, PayInId, WorkspaceId};
use bursar_domain::ledger::{NewTransfer, TransferId, TransferKind, TransferResult};
use bursar_domain::money::{parse_positive_amount, Currency};
use bursar_domain::treasury::pay_ins::{
    MandateObject, PayInMove, PayInObject, PayInStatus, ReturnRatesObject,
};
use bursar_domain::treasury::payout_objects::BankAccountStatus;
use bursar_domain::treasury::returns::{lookup, ReturnRates, RATE_WINDOW_DAYS};
use bursar_domain::wallet::{party_account, platform_account, PlatformAccount, Role};
use bursar_store::{ledger, pay_ins as rows, payouts as accounts, wallet, Tx};

use crate::error::{Error, ErrorKind};
use crate::write::Context;
use crate::App;

pub use bank_events::apply_bank_event;

/// Ledger transfer codes of pay-ins.
const CODE_RESERVE: i64 = 70;
const CODE_POST: i64 = 71;
const CODE_VOID: i64 = 72;
const CODE_RETURN: i64 = 73;

/// Records the buyer's debit authorization on one of its bank accounts (`ach_mandate.accepted`).
pub async fn accept_mandate(
    cx: &mut Context<'_>,
    party: &CustomerId,
    bank_account_id: &str,
) -> Result<MandateObject, Error> {
    crate::wallets::require_party(cx.tx, cx.workspace_id, party, "id").await?;
    let (account, _) = accounts::get_bank_account(cx.tx, cx.workspace_id, bank_account_id)
        .await?
        .filter(|(a, _)| &a.party_id == party)
        .ok_or_else(|| Error::not_found("bank_account", bank_account_id))?;
    if account.status != BankAccountStatus::Active {
        return Err(Error::state(
            "bank_account_disabled",
            account.status.as_str(),
            "A disabled bank account cannot be debited.",
        ));
    }
    let mandate = MandateObject {
        object: "ach_mandate".into(),
        bank_account_id: account.id,
        party_id: party.clone(),
        status: "active".into(),
        stopped_reason: None,
        accepted_at: cx.now,
        updated_at: cx.now,
    };
    rows::save_mandate(cx.tx, cx.workspace_id, &mandate).await?;
    cx.emit_object(
        types::ACH_MANDATE_ACCEPTED,
        "bank_account",
        mandate.bank_account_id.as_str(),
        &mandate,
    )
    .await?;
    Ok(mandate)
}

/// What a pay-in is asked for.
#[derive(Debug, Clone)]
pub struct PayInInput {
    pub party: CustomerId,
    pub amount: i64,
    pub currency: Currency,
}

/// Debits the buyer's mandated bank account: created and reserved, then sent to the bank;
/// answers the pay-in as it then stands (`processing`, or `failed` if the bank refused it).
pub async fn request(
    app: &App,
    workspace_id: WorkspaceId,
    cause: Cause,
    input: PayInInput,
) -> Result<PayInObject, Error> {
    crate::payouts::require_party(app, &workspace_id, &input.party).await?;
    let rails = crate::payouts::rails_of(app, &workspace_id).await?;
    let pay_in = app
        .write(workspace_id.clone(), cause.clone(), move |mut cx| {
            Box::pin(async move { create(&mut cx, &input).await })
        })
        .await?;
    // Whatever goes wrong before the bank answers fails the pay-in (voided): it is never left
    // pending with nobody to send it.
    let answer = send(app, &workspace_id, cause.clone(), &rails, &pay_in)
        .await
        .unwrap_or_else(|error| Err(ProviderError::Unavailable(error.message)));
    record(app, &workspace_id, cause, pay_in.id.to_string(), answer).await
}

/// Sends the pay-in's ACH debit to the bank (registering the account there first if needed).
async fn send(
    app: &App,
    workspace_id: &WorkspaceId,
    cause: Cause,
    rails: &crate::payouts::Rails,
    pay_in: &PayInObject,
) -> Result<Result<PaymentOrder, ProviderError>, Error> {
    let lookup = (
        workspace_id.clone(),
        pay_in.bank_account_id.to_string(),
        rails.0.clone(),
    );
    let (account, originating) = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let account = accounts::get_bank_account(tx, &lookup.0, &lookup.1)
                    .await?
                    .ok_or_else(Error::internal)?;
                let originating = crate::payouts::originating_account(tx, &lookup.2).await?;
                Ok::<_, Error>((account, originating))
            })
        })
        .await?;
    let account =
        crate::payouts::ensure_registered(app, workspace_id, cause, rails, account.0, &account.1)
            .await?;
    let Some(external) = account.external_account_id.clone() else {
        let unregistered = "the bank did not register the account".to_owned();
        return Ok(Err(ProviderError::Unavailable(unregistered)));
    };
    let order = PaymentOrderRequest {
        attempt_id: pay_in.id.to_string(),
        rail: Rail::Ach,
        direction: Direction::Debit,
        amount: pay_in.amount,
        currency: pay_in.currency.code().to_owned(),
        originating_account_id: originating,
        counterparty_id: account.counterparty_id.clone(),
        receiving_account: ReceivingAccount::Id(external),
        effective_date: None,
        reference: Some(pay_in.id.to_string()),
        description: Some("Pay-in".into()),
        metadata: BTreeMap::from([("bursar_pay_in_id".to_owned(), pay_in.id.to_string())]),
    };
    Ok(rails.1.create_payment_order(&order).await)
}

/// Creates and reserves a pay-in from the buyer's newest active, mandated bank account.
async fn create(cx: &mut Context<'_>, input: &PayInInput) -> Result<PayInObject, Error> {
    let amount = parse_positive_amount(input.amount, "amount")?;
    let mut mandated = None;
    for account in accounts::list_bank_accounts(cx.tx, cx.workspace_id, &input.party)
        .await?
        .into_iter()
        .rev()
    {
        let mandate = rows::mandate(cx.tx, cx.workspace_id, account.id.as_str()).await?;
        if account.status == BankAccountStatus::Active
            && mandate.is_some_and(|m| m.status == "active")
        {
            mandated = Some(account);
            break;
        }
    }
    let account = mandated.ok_or_else(|| {
        Error::new(
            ErrorKind::Invalid,
            "mandate_missing",
            "The party has no active bank account with an active debit mandate: record one with \
             POST /v1/parties/{id}/bank_accounts/{account_id}/mandate.",
        )
    })?;
    wallet::ensure_accounts(
        cx.tx,
        cx.workspace_id,
        &[&input.party],
        input.currency,
        cx.now,
    )
    .await?;
    let id = PayInId::new();
    let pay_in = PayInObject {
        transfer_id: format!("pay_in:{id}"),
        id,
        object: "pay_in".into(),
        party_id: input.party.clone(),
        bank_account_id: account.id,
        status: PayInStatus::Pending,
        amount,
        currency: input.currency,
        payment_order_id: None,
        failure_code: None,
        failure_message: None,
        return_code: None,
        returned: None,
        created_at: cx.now,
        updated_at: cx.now,
    };
    rows::insert(cx.tx, cx.workspace_id, &pay_in).await?;
    let mut reserve = transfer(
        pay_in.transfer_id.clone(),
        TransferKind::Pending {
            timeout_seconds: None,
        },
        CODE_RESERVE,
        &pay_in,
    );
    reserve.debit_account_id = Some(platform_account(
        PlatformAccount::BankClearing,
        pay_in.currency,
    ));
    reserve.credit_account_id = Some(party_account(
        &pay_in.party_id,
        Role::Available,
        pay_in.currency,
    ));
    reserve.amount = Some(amount);
    apply(cx, reserve).await?;
    cx.emit_object(types::PAY_IN_CREATED, "pay_in", pay_in.id.as_str(), &pay_in)
        .await?;
    Ok(pay_in)
}

fn transfer(id: String, kind: TransferKind, code: i64, pay_in: &PayInObject) -> NewTransfer {
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
            ("recipe".to_owned(), "pay_in".to_owned()),
            ("pay_in_id".to_owned(), pay_in.id.to_string()),
        ]
        .into_iter()
        .collect(),
    }
}

async fn apply(cx: &mut Context<'_>, transfer: NewTransfer) -> Result<(), Error> {
    let results = ledger::create_transfers(cx.tx, cx.workspace_id, &[transfer], cx.now).await?;
    match results.first().map(|(result, _)| *result) {
        Some(TransferResult::Ok | TransferResult::Exists) => Ok(()),
        other => {
            tracing::error!(result = ?other, "BUG: a pay-in transfer failed");
            Err(Error::internal())
        }
    }
}

/// Posts (`post`) or voids the pay-in's pending transfer.
async fn settle(cx: &mut Context<'_>, pay_in: &PayInObject, post: bool) -> Result<(), Error> {
    let pending_id = TransferId::from_trusted(pay_in.transfer_id.clone());
    let (suffix, kind, code) = match post {
        true => ("post", TransferKind::PostPending { pending_id }, CODE_POST),
        false => ("void", TransferKind::VoidPending { pending_id }, CODE_VOID),
    };
    apply(
        cx,
        transfer(
            format!("{}:{suffix}", pay_in.transfer_id),
            kind,
            code,
            pay_in,
        ),
    )
    .await
}

/// Moves `pay_in` by `step`, or refuses with 409 and its current state.
fn step(pay_in: &mut PayInObject, step: PayInMove, cx: &Context<'_>) -> Result<(), Error> {
    pay_in.status = step.apply(pay_in.status).map_err(|current| {
        Error::state(
            "pay_in_state",
            current.as_str(),
            format!(
                "A pay-in that is {} cannot be {}.",
                current.as_str(),
                step.name()
            ),
        )
    })?;
    pay_in.updated_at = cx.now;
    Ok(())
}

async fn save(
    cx: &mut Context<'_>,
    pay_in: &PayInObject,
    event_type: &'static str,
) -> Result<(), Error> {
    rows::update(cx.tx, cx.workspace_id, pay_in).await?;
    cx.emit_object(event_type, "pay_in", pay_in.id.as_str(), pay_in)
        .await
}

/// Records the bank's answer: `processing` with the order, or `failed` (voided) when the bank
/// refused it or could not be reached (the buyer asks again: a new pay-in).
async fn record(
    app: &App,
    workspace_id: &WorkspaceId,
    cause: Cause,
    id: String,
    answer: Result<PaymentOrder, ProviderError>,
) -> Result<PayInObject, Error> {
    app.write(workspace_id.clone(), cause, move |mut cx| {
        Box::pin(async move {
            let mut pay_in = rows::get(cx.tx, cx.workspace_id, &id, true)
                .await?
                .ok_or_else(Error::internal)?;
            match answer {
                // A bank event may have moved it on already: keep its order id only.
                Ok(order) if pay_in.status != PayInStatus::Pending => {
                    if pay_in.payment_order_id.is_none() {
                        pay_in.payment_order_id = Some(order.id);
                        rows::update(cx.tx, cx.workspace_id, &pay_in).await?;
                    }
                }
                Ok(order) => {
                    step(&mut pay_in, PayInMove::Submit, &cx)?;
                    pay_in.payment_order_id = Some(order.id);
                    save(&mut cx, &pay_in, types::PAY_IN_PROCESSING).await?;
                }
                Err(_) if pay_in.status != PayInStatus::Pending => {}
                Err(error) => {
                    step(&mut pay_in, PayInMove::Fail, &cx)?;
                    settle(&mut cx, &pay_in, false).await?;
                    let (code, message) = match error {
                        ProviderError::Refused { code, message, .. } => (code, message),
                        other => ("bank_unavailable".to_owned(), other.to_string()),
                    };
                    pay_in.failure_code = Some(code);
                    pay_in.failure_message = Some(message);
                    save(&mut cx, &pay_in, types::PAY_IN_FAILED).await?;
                }
            }
            Ok::<_, Error>(pay_in)
        })
    })
    .await
}

/// The workspace's ACH debit return rates over NACHA's rolling window (60 days) at `now`.
pub async fn return_rates(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    now: bursar_domain::time::Timestamp,
) -> Result<ReturnRates, Error> {
    let since = now.plus_seconds(-RATE_WINDOW_DAYS * 86_400);
    let (debits, codes) = rows::since(tx, workspace_id, since).await?;
    let mut rates = ReturnRates {
        debits,
        ..ReturnRates::default()
    };
    for code in codes.iter().filter_map(|c| lookup(c)) {
        rates.count(code);
    }
    Ok(rates)
}

/// The return rates as the API shows them.
pub async fn return_rates_object(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    now: bursar_domain::time::Timestamp,
) -> Result<ReturnRatesObject, Error> {
    Ok(ReturnRatesObject::of(
        &return_rates(tx, workspace_id, now).await?,
    ))
}

/// One pay-in.
pub async fn get(tx: &mut Tx, workspace_id: &WorkspaceId, id: &str) -> Result<PayInObject, Error> {
    rows::get(tx, workspace_id, id, false)
        .await?
        .ok_or_else(|| Error::not_found("pay_in", id))
}
