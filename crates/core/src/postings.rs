//! Ledger postings of commerce ([`Posting`]s over the chart in `bursar_domain::ledger::chart`),
//! posted in the write's transaction.

use bursar_domain::ledger::chart::{CommerceAccount, Posting};
use std::collections::BTreeMap;

use bursar_domain::ledger::{AccountFlags, NewAccount, NewTransfer, TransferId, TransferResult};
use bursar_domain::money::Currency;
use bursar_store::ledger;

use crate::error::Error;
use crate::write::Context;

/// Posts balanced movements of commerce money, creating the accounts on first use. Transfer
/// ids derive from the business object, so a repeat posts nothing twice.
pub async fn post(
    cx: &mut Context<'_>,
    currency: Currency,
    postings: &[Posting],
) -> Result<(), Error> {
    let mut accounts: Vec<&CommerceAccount> = postings
        .iter()
        .flat_map(|p| [&p.debit, &p.credit])
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    open_accounts(cx, currency, &accounts).await?;
    let batch: Vec<NewTransfer> = postings
        .iter()
        .filter(|p| p.amount > 0)
        .map(|p| {
            NewTransfer::single(
                TransferId::from_trusted(p.transfer_id.clone()),
                p.debit.id(currency),
                p.credit.id(currency),
                p.amount,
                p.code.code(),
            )
        })
        .collect();
    for (result, _) in ledger::create_transfers(cx.tx, cx.workspace_id, &batch, cx.now).await? {
        match result {
            TransferResult::Ok | TransferResult::Exists => {}
            // Amounts are capped, but balances add up: an account that cannot take more is the
            // request's problem, not a server fault, and retrying will not help.
            TransferResult::OverflowsDebits | TransferResult::OverflowsCredits => {
                return Err(Error::invalid(
                    "amount_too_large",
                    Some("amount".into()),
                    "The amount would overflow an account's balance; no part of it was recorded.",
                ));
            }
            other => {
                tracing::error!(result = ?other, "BUG: a commerce ledger posting failed");
                return Err(Error::internal());
            }
        }
    }
    Ok(())
}

/// Creates commerce accounts in `currency` that do not exist yet.
pub async fn open_accounts(
    cx: &mut Context<'_>,
    currency: Currency,
    accounts: &[&CommerceAccount],
) -> Result<(), Error> {
    let accounts: Vec<NewAccount> = accounts
        .iter()
        .map(|account| NewAccount {
            id: account.id(currency),
            currency,
            code: 3,
            flags: AccountFlags {
                debits_must_not_exceed_credits: false,
                credits_must_not_exceed_debits: false,
                history: true,
            },
            metadata: BTreeMap::new(),
        })
        .collect();
    ledger::create_accounts(cx.tx, cx.workspace_id, &accounts, cx.now).await?;
    Ok(())
}
