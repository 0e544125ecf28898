//! Sending payouts to the bank: reserve in one transaction, call the bank with no transaction
//! open, record the answer in another. A crash or an unreachable bank between the two leaves
//! the payout `pending` with a next attempt time; [`retry_due`] sends it again under the same
//! attempt id (the bank answers with the same order), and retries failed payouts whose failure
//! allows it as new attempts.

use std::collections::BTreeMap;

use bursar_banks::modern_treasury::ATTEMPT_ID_KEY;
use bursar_banks::types::{Direction, PaymentOrder, PaymentOrderRequest, Rail, ReceivingAccount};
use bursar_banks::ProviderError;
use bursar_domain::event::Cause;
use bursar_domain::event_type as types;
use bursar_domain::id::WorkspaceId;
use bursar_domain::treasury::payout_objects::{BankAccountStatus, PayoutObject, PayoutOrigin};
use bursar_domain::treasury::payouts::{PayoutMove, PayoutStatus};
use bursar_store::payouts as rows;

use super::bank_accounts::ensure_registered;
use super::{attempt_id, reserve, reserve_transfer_id, save, settle, step, PayoutInput, Rails};
use crate::error::Error;
use crate::App;

/// Seconds before a payout the bank could not be reached for is sent again.
const UNREACHABLE_RETRY_SECONDS: i64 = 60;

/// A seller-initiated payout: created and reserved, then sent to the bank; answers it as it
/// then stands (`in_transit`, or `pending` if the bank could not be reached).
pub async fn request(
    app: &App,
    workspace_id: WorkspaceId,
    cause: Cause,
    input: PayoutInput,
) -> Result<PayoutObject, Error> {
    super::require_party(app, &workspace_id, &input.party).await?;
    let rails = super::rails_of(app, &workspace_id).await?;
    let payout = app
        .write(workspace_id.clone(), cause.clone(), move |mut cx| {
            Box::pin(
                async move { super::create(&mut cx, &input, PayoutOrigin::Request, None).await },
            )
        })
        .await?;
    submit(app, &workspace_id, cause, &rails, &payout.id.to_string()).await
}

/// Sends a pending payout's current attempt to the bank and records the answer; a payout not
/// pending, or not yet due, is answered as it stands.
pub async fn submit(
    app: &App,
    workspace_id: &WorkspaceId,
    cause: Cause,
    rails: &Rails,
    id: &str,
) -> Result<PayoutObject, Error> {
    let lookup = (workspace_id.clone(), id.to_owned(), rails.0.clone());
    let (payout, account, originating) = app
        .db
        .read(move |tx| {
            Box::pin(async move {
                let payout = super::get(tx, &lookup.0, &lookup.1).await?;
                let account =
                    rows::get_bank_account(tx, &lookup.0, payout.bank_account_id.as_str())
                        .await?
                        .ok_or_else(Error::internal)?;
                let originating = originating_account(tx, &lookup.2).await?;
                Ok::<_, Error>((payout, account, originating))
            })
        })
        .await?;
    let due = payout.next_attempt_at.is_some_and(|at| at <= app.now());
    if payout.status != PayoutStatus::Pending || !due {
        return Ok(payout);
    }
    let (account, sealed) = account;
    if account.status == BankAccountStatus::Disabled {
        return record(app, workspace_id, cause, &payout, Err(disabled(&account))).await;
    }
    let account =
        ensure_registered(app, workspace_id, cause.clone(), rails, account, &sealed).await?;
    let Some(external) = account.external_account_id.clone() else {
        let unreachable =
            ProviderError::Unavailable("the bank did not register the account".into());
        return record(app, workspace_id, cause, &payout, Err(unreachable)).await;
    };
    let order = PaymentOrderRequest {
        attempt_id: attempt_id(&payout),
        rail: Rail::Ach,
        direction: Direction::Credit,
        amount: payout.amount,
        currency: payout.currency.code().to_owned(),
        originating_account_id: originating,
        counterparty_id: account.counterparty_id.clone(),
        receiving_account: ReceivingAccount::Id(external),
        effective_date: None,
        reference: Some(payout.id.to_string()),
        description: Some("Payout".into()),
        metadata: BTreeMap::from([("bursar_payout_id".to_owned(), payout.id.to_string())]),
    };
    let answer = rails.1.create_payment_order(&order).await;
    record(app, workspace_id, cause, &payout, answer).await
}

/// The platform's account at the bank that payouts leave from: the connection's internal
/// account.
pub(crate) async fn originating_account(
    tx: &mut bursar_store::Tx,
    connection_id: &str,
) -> Result<String, Error> {
    let row = bursar_store::bank_connections::by_id(tx, connection_id)
        .await?
        .ok_or_else(|| Error::not_found("bank_connection", connection_id))?;
    let connection = crate::bank_connections::object_of(&row)?;
    Ok(connection
        .internal_account_id
        .unwrap_or_else(|| connection_id.to_owned()))
}

fn disabled(account: &bursar_domain::treasury::payout_objects::BankAccountObject) -> ProviderError {
    ProviderError::Refused {
        status: 400,
        code: "bank_account_disabled".into(),
        message: format!(
            "Bank account {} is disabled: {}",
            account.id,
            account
                .disabled_reason
                .as_deref()
                .unwrap_or("no reason given")
        ),
    }
}

/// Records the bank's answer to an attempt: `in_transit` with the order; `failed` (voided) when
/// the bank refused it; still `pending`, tried again later, when the bank was unreachable.
async fn record(
    app: &App,
    workspace_id: &WorkspaceId,
    cause: Cause,
    sent: &PayoutObject,
    answer: Result<PaymentOrder, ProviderError>,
) -> Result<PayoutObject, Error> {
    let (id, attempts) = (sent.id.to_string(), sent.attempts);
    app.write(workspace_id.clone(), cause, move |mut cx| {
        Box::pin(async move {
            let mut payout = rows::get_payout(cx.tx, cx.workspace_id, &id, true)
                .await?
                .ok_or_else(Error::internal)?;
            // A bank event may have moved it on already; an older attempt's answer is stale.
            if payout.status != PayoutStatus::Pending || payout.attempts != attempts {
                if let (Ok(order), None) = (&answer, &payout.payment_order_id) {
                    if payout.attempts == attempts {
                        payout.payment_order_id = Some(order.id.clone());
                        rows::update_payout(cx.tx, cx.workspace_id, &payout).await?;
                    }
                }
                return Ok(payout);
            }
            match answer {
                Ok(order) => {
                    step(&mut payout, PayoutMove::Submit, cx.now)?;
                    payout.payment_order_id = Some(order.id);
                    payout.next_attempt_at = None;
                    super::save(&mut cx, &payout, types::PAYOUT_IN_TRANSIT).await?;
                }
                Err(ProviderError::Refused { code, message, .. }) => {
                    step(&mut payout, PayoutMove::Fail, cx.now)?;
                    settle(&mut cx, &payout, false).await?;
                    payout.failure_code = Some(code);
                    payout.failure_message = Some(message);
                    payout.next_attempt_at = None;
                    save(&mut cx, &payout, types::PAYOUT_FAILED).await?;
                }
                Err(error) => {
                    tracing::warn!(%error, payout = %payout.id, "the bank did not take a payout; it is sent again later");
                    payout.next_attempt_at = Some(cx.now.plus_seconds(UNREACHABLE_RETRY_SECONDS));
                    payout.updated_at = cx.now;
                    rows::update_payout(cx.tx, cx.workspace_id, &payout).await?;
                }
            }
            Ok::<_, Error>(payout)
        })
    })
    .await
}

/// A failed payout's next attempt: reserved again with a new pending transfer; stays failed
/// (no further attempt) when AVAILABLE no longer covers it.
async fn retry(app: &App, workspace_id: &WorkspaceId, cause: Cause, id: &str) -> Result<(), Error> {
    let id = id.to_owned();
    app.write(workspace_id.clone(), cause, move |mut cx| {
        Box::pin(async move {
            let mut payout = rows::get_payout(cx.tx, cx.workspace_id, &id, true)
                .await?
                .ok_or_else(Error::internal)?;
            if payout.status != PayoutStatus::Failed {
                return Ok(());
            }
            step(&mut payout, PayoutMove::Retry, cx.now)?;
            payout.attempts += 1;
            payout.transfer_id = reserve_transfer_id(&payout.id, payout.attempts);
            payout.payment_order_id = None;
            payout.next_attempt_at = Some(cx.now);
            reserve(&mut cx, &payout).await?;
            save(&mut cx, &payout, types::PAYOUT_RETRIED).await
        })
    })
    .await
}

/// Sends every due payout: pending ones (delayed, or the bank was unreachable) and failed ones
/// whose retry time came (as a new attempt), each to its workspace's bank. Answers how many
/// were sent.
pub async fn retry_due(app: &App) -> Result<usize, Error> {
    let now = app.now();
    let due = app
        .db
        .read(move |tx| Box::pin(async move { rows::due_payouts(tx, now).await }))
        .await?;
    let cause = Cause {
        request_id: None,
        actor: Some("system:payouts".into()),
    };
    let mut sent = 0;
    for (workspace_id, id) in due {
        let rails = match super::rails_of(app, &workspace_id).await {
            Ok(rails) => rails,
            Err(error) => {
                tracing::warn!(%error, payout = %id, "no bank to send a payout to");
                continue;
            }
        };
        if let Err(error) = retry(app, &workspace_id, cause.clone(), id.as_str()).await {
            tracing::warn!(%error, payout = %id, "a payout could not be retried");
            stop_retrying(app, &workspace_id, cause.clone(), id.as_str()).await?;
            continue;
        }
        submit(app, &workspace_id, cause.clone(), &rails, id.as_str()).await?;
        sent += 1;
    }
    Ok(sent)
}

/// A failed payout that cannot be retried (its seller's AVAILABLE ran short) stays failed.
async fn stop_retrying(
    app: &App,
    workspace_id: &WorkspaceId,
    cause: Cause,
    id: &str,
) -> Result<(), Error> {
    let id = id.to_owned();
    app.write(workspace_id.clone(), cause, move |cx| {
        Box::pin(async move {
            if let Some(mut payout) = rows::get_payout(cx.tx, cx.workspace_id, &id, true).await? {
                if payout.status == PayoutStatus::Failed {
                    payout.next_attempt_at = None;
                    rows::update_payout(cx.tx, cx.workspace_id, &payout).await?;
                }
            }
            Ok::<_, Error>(())
        })
    })
    .await
}

/// The payout and attempt an order's metadata names (the attempt id it was created with).
pub(super) fn attempt_of(order: &PaymentOrder) -> Option<(String, i64)> {
    let attempt = order.metadata.get(ATTEMPT_ID_KEY)?;
    super::parse_attempt_id(attempt).map(|(p, n)| (p.to_owned(), n))
}
