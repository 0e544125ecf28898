//! The drift check: what the banks report the platform's internal accounts hold, per currency,
//! against the ledger's cash at the bank — the bank clearing account (money in, a debit
//! balance) less what payouts took out (posted to payout-in-flight). A difference opens a
//! `balance_drift` review item, one per currency while it stays open: money at the bank the
//! ledger does not know (a statement line still in review, a bank fee) or the other way round.

use std::collections::BTreeMap;

use bursar_domain::event::Cause;
use bursar_domain::id::{ReconciliationItemId, WorkspaceId};
use bursar_domain::jobs::JobKind;
use bursar_domain::ledger::AccountId;
use bursar_domain::money::Currency;
use bursar_domain::treasury::objects::ReviewReason;
use bursar_domain::treasury::payouts::in_flight_account;
use bursar_domain::wallet::{platform_account, PlatformAccount};
use bursar_store::{bank_connections as rows, ledger, treasury, workspaces, Tx};

use crate::bank_connections::{object_of, rails};
use crate::error::{Error, ErrorKind};
use crate::job_attempts::Pass;
use crate::write::Context;
use crate::App;

/// One currency compared: what the banks report and what the ledger holds (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub currency: Currency,
    pub bank: i64,
    pub ledger: i64,
    /// A `balance_drift` item was opened now for this difference.
    pub item_opened: Option<ReconciliationItemId>,
}

/// Compares every currency the workspace's banks report; opens an item for each difference
/// that has none open. A bank that cannot be reached fails the check (tried again next time).
pub async fn check_workspace(
    app: &App,
    workspace_id: &WorkspaceId,
) -> Result<Vec<Comparison>, Error> {
    let reported = bank_balances(app, workspace_id).await?;
    let cause = Cause {
        request_id: None,
        actor: Some("system:drift_check".into()),
    };
    app.write(workspace_id.clone(), cause, move |mut cx| {
        Box::pin(async move {
            let mut compared = Vec::with_capacity(reported.len());
            for (currency, bank) in reported {
                compared.push(compare(&mut cx, currency, bank).await?);
            }
            Ok::<_, Error>(compared)
        })
    })
    .await
}

/// How often every workspace's banks are compared with the ledger (the daily job).
pub const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// The subject of a workspace's `reconciliation` job run: its bank balance check.
pub const SUBJECT: &str = "bank_balances";

/// The daily job: every workspace with a bank connection; answers how many items it opened.
/// A workspace whose check fails is a `reconciliation` job run, tried again the next day or
/// at once when retried from the job monitor ([`check_queued`]); one cancelled there is
/// skipped until retried.
pub async fn check_all(app: &App) -> Result<usize, Error> {
    let listed = app
        .db
        .read(|tx: &mut Tx| Box::pin(async move { workspaces::list(tx).await }))
        .await?;
    let pass = Pass::begin(app, JobKind::Reconciliation, CHECK_INTERVAL).await?;
    let ids = listed.into_iter().map(|w| w.id).collect();
    check_each(app, &pass, ids).await
}

/// The checks support asked to run again from the job monitor.
pub async fn check_queued(app: &App) -> Result<usize, Error> {
    let pass = Pass::begin(app, JobKind::Reconciliation, CHECK_INTERVAL).await?;
    let queued = pass.queued().into_iter();
    let ids = queued
        .filter(|(_, s)| s == SUBJECT)
        .map(|(w, _)| w)
        .collect();
    check_each(app, &pass, ids).await
}

async fn check_each(app: &App, pass: &Pass, workspaces: Vec<WorkspaceId>) -> Result<usize, Error> {
    let mut opened = 0;
    for workspace in workspaces {
        if pass.skips(&workspace, SUBJECT) {
            continue;
        }
        let started = std::time::Instant::now();
        let checked = check_workspace(app, &workspace).await;
        let outcome = checked.as_ref().map(|_| ());
        pass.record(app, &workspace, SUBJECT, started, outcome)
            .await;
        if let Ok(compared) = checked {
            opened += compared.iter().filter(|c| c.item_opened.is_some()).count();
        }
    }
    Ok(opened)
}

/// What the workspace's banks report its internal accounts hold, summed per currency.
async fn bank_balances(
    app: &App,
    workspace_id: &WorkspaceId,
) -> Result<BTreeMap<Currency, i64>, Error> {
    let lookup = workspace_id.clone();
    let connections = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { rows::of_workspace(tx, &lookup).await }))
        .await?;
    let mut totals: BTreeMap<Currency, i64> = BTreeMap::new();
    for row in &connections {
        let Some(internal) = object_of(row)?.internal_account_id else {
            continue;
        };
        let balances = rails(app, row)?
            .balances(&internal)
            .await
            .map_err(|e| Error::new(ErrorKind::Unavailable, "bank_unavailable", e.to_string()))?;
        for balance in balances {
            let Ok(currency) = Currency::parse(&balance.currency, "currency") else {
                continue;
            };
            let total = totals.entry(currency).or_default();
            *total = total
                .checked_add(balance.amount)
                .ok_or_else(Error::internal)?;
        }
    }
    Ok(totals)
}

/// The ledger's cash at the bank in `currency`: bank clearing's debit balance less what
/// payouts posted out.
async fn ledger_cash(cx: &mut Context<'_>, currency: Currency) -> Result<i64, Error> {
    let net = |account: Option<bursar_domain::ledger::Account>| {
        account.map_or(0, |a| a.balances.debits_posted - a.balances.credits_posted)
    };
    let clearing = account(
        cx,
        platform_account(PlatformAccount::BankClearing, currency),
    )
    .await?;
    let paid_out = account(cx, in_flight_account(currency)).await?;
    Ok(net(clearing) + net(paid_out))
}

async fn account(
    cx: &mut Context<'_>,
    id: AccountId,
) -> Result<Option<bursar_domain::ledger::Account>, Error> {
    Ok(ledger::get_account(cx.tx, cx.workspace_id, &id).await?)
}

async fn compare(cx: &mut Context<'_>, currency: Currency, bank: i64) -> Result<Comparison, Error> {
    let ledger = ledger_cash(cx, currency).await?;
    let mut compared = Comparison {
        currency,
        bank,
        ledger,
        item_opened: None,
    };
    let candidates = vec![currency.code().to_owned()];
    if bank == ledger
        || treasury::open_item_exists(
            cx.tx,
            cx.workspace_id,
            ReviewReason::BalanceDrift,
            &candidates,
        )
        .await?
    {
        return Ok(compared);
    }
    let note = format!(
        "The bank reports {}; the ledger holds {} (difference {}), on {}.",
        currency.format(bank),
        currency.format(ledger),
        currency.format(bank.saturating_sub(ledger)),
        super::today(cx.now),
    );
    let item = super::open_item(cx, ReviewReason::BalanceDrift, candidates, Some(note)).await?;
    compared.item_opened = Some(item.id);
    Ok(compared)
}
