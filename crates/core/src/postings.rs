//! Ledger postings of commerce: the accounts money moves between and the transfer codes,
//! posted in the write's transaction.

use std::collections::BTreeMap;

use bursar_domain::ledger::{
    AccountFlags, AccountId, NewAccount, NewTransfer, TransferId, TransferResult,
};
use bursar_domain::money::Currency;
use bursar_store::ledger;

use crate::error::Error;
use crate::write::Context;

// Ledger transfer codes of commerce.
pub const CODE_PAYMENT: i64 = 100;

pub const CODE_FEE: i64 = 101;

pub const CODE_REFUND: i64 = 110;

pub const CODE_DISPUTE_HOLD: i64 = 120;

pub const CODE_DISPUTE_RELEASE: i64 = 121;

pub const CODE_DISPUTE_LOSS: i64 = 122;

/// A commerce ledger account of a workspace: `commerce:<name>:<currency>`, e.g.
/// `commerce:clearing:stripe:USD` (money the provider holds for us), `commerce:revenue:USD`,
/// `commerce:fees:USD`, `commerce:refunds:USD`, `commerce:disputes:USD` (held by an open
/// dispute), `commerce:dispute_losses:USD`.
pub fn account(name: &str, currency: Currency) -> AccountId {
    AccountId::from_trusted(format!("commerce:{name}:{currency}"))
}

/// Posts balanced transfers (`id`, debit, credit, amount, code), creating the accounts on first
/// use. Transfer ids derive from the business object, so a repeat posts nothing twice.
pub async fn post(
    cx: &mut Context<'_>,
    currency: Currency,
    transfers: &[(String, String, String, i64, i64)],
) -> Result<(), Error> {
    let mut names: Vec<&String> = transfers.iter().flat_map(|t| [&t.1, &t.2]).collect();
    names.sort_unstable();
    names.dedup();
    let accounts: Vec<NewAccount> = names
        .iter()
        .map(|name| NewAccount {
            id: account(name, currency),
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
    let batch: Vec<NewTransfer> = transfers
        .iter()
        .filter(|t| t.3 > 0)
        .map(|(id, debit, credit, amount, code)| {
            NewTransfer::single(
                TransferId::from_trusted(id.clone()),
                account(debit, currency),
                account(credit, currency),
                *amount,
                *code,
            )
        })
        .collect();
    for (result, _) in ledger::create_transfers(cx.tx, cx.workspace_id, &batch, cx.now).await? {
        if !matches!(result, TransferResult::Ok | TransferResult::Exists) {
            tracing::error!(?result, "BUG: a commerce ledger posting failed");
            return Err(Error::internal());
        }
    }
    Ok(())
}
