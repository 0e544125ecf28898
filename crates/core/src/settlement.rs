//! Settlement of marketplace invoices (those of a contract with a seller), driven by events:
//!
//! - an invoice issued, or the buyer's wallet funded → the buyer's AVAILABLE **commits** to the
//!   invoice's amount due and **pays** it from there (a `wallet` payment: COMMITTED → the
//!   buyer's credit → the receivable), when the wallet holds enough;
//! - an invoice paid (from the wallet or any other way) → its seller's part (the net, less
//!   the platform's fee) is **released** into the seller's PAY_IN_HOLDING, a referrer's share
//!   of the fee into theirs, the rest of the fee to `platform:fees`; holdings season for the
//!   contract's days or the workspace's, the background job **seasons** them when due, and the
//!   seller's payout schedule pays out.
//!
//! Each step is keyed by the invoice, so a redelivered event does nothing twice.

use bursar_domain::contract::Contract;
use bursar_domain::id::CustomerId;
use bursar_domain::invoice::{Invoice, InvoiceStatus, PaymentMethodKind};
use bursar_domain::ledger::chart::{CommerceAccount, TransferCode};
use bursar_domain::ledger::{NewTransfer, TransferId, TransferResult};
use bursar_domain::money::Currency;
use bursar_domain::treasury::settlement::{referral_share, seasoned_at, PlatformFee};
use bursar_domain::wallet::{party_account, platform_account, PlatformAccount, Role};
use bursar_store::documents::{self, CONTRACT, INVOICE};
use bursar_store::ledger;
use bursar_store::wallet::{self as wallet_store, Held, Recipe, RecipeOutcome, RecipeRequest};
use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::invoices::{load_settings, record_payment, ReceivedPayment};
use crate::write::Context;

/// A marketplace invoice: the invoice, its buyer and its seller as wallet parties.
struct Marketplace {
    invoice: Invoice,
    contract: Contract,
    seller: CustomerId,
}

/// Loads `invoice_id` and, when it is a marketplace invoice, its contract and seller.
async fn load(cx: &mut Context<'_>, invoice_id: &str) -> Result<Option<Marketplace>, Error> {
    let Some(invoice) =
        documents::get::<Invoice>(cx.tx, INVOICE, cx.workspace_id, invoice_id, false).await?
    else {
        return Ok(None);
    };
    let Some(contract_id) = invoice.contract_id.clone() else {
        return Ok(None);
    };
    let Some(contract) = documents::get::<Contract>(
        cx.tx,
        CONTRACT,
        cx.workspace_id,
        contract_id.as_str(),
        false,
    )
    .await?
    else {
        return Ok(None);
    };
    let Some(seller) = contract
        .seller_id
        .as_deref()
        .and_then(|id| CustomerId::parse(id, "seller_id").ok())
    else {
        return Ok(None);
    };
    Ok(Some(Marketplace {
        invoice,
        contract,
        seller,
    }))
}

/// Pays an open marketplace invoice from its buyer's wallet when AVAILABLE covers what it
/// owes: commits the amount, then pays the invoice from COMMITTED. Answers whether it did;
/// `false` for anything else (not a marketplace invoice, nothing owed, not enough money).
pub async fn pay_from_wallet(cx: &mut Context<'_>, invoice_id: &str) -> Result<bool, Error> {
    let Some(Marketplace { invoice, .. }) = load(cx, invoice_id).await? else {
        return Ok(false);
    };
    if invoice.status != InvoiceStatus::Issued || invoice.amount_due <= 0 {
        return Ok(false);
    }
    // A refused transfer id stays refused: commit only what AVAILABLE holds now.
    if spendable(cx, &invoice.customer_id, invoice.currency).await? < invoice.amount_due {
        return Ok(false);
    }
    let commit = RecipeRequest {
        id: TransferId::from_trusted(format!("{}:commit", invoice.id)),
        party: invoice.customer_id.clone(),
        currency: invoice.currency,
        amount: invoice.amount_due,
        recipe: Recipe::Commit,
    };
    match wallet_store::run_recipe(cx.tx, cx.workspace_id, &commit, cx.now, cx.cause).await? {
        // Committed now: pay from it. `exists`: committed and paid before (one transaction).
        RecipeOutcome::Done {
            result: TransferResult::Ok,
            ..
        } => {}
        RecipeOutcome::Done { .. } => return Ok(false),
        // Spent since it was read (a concurrent write): undo this attempt, retried later.
        RecipeOutcome::Failed(result) => {
            return Err(Error::new(
                ErrorKind::State,
                "wallet_insufficient",
                format!("The buyer's wallet could not commit the invoice ({result:?})."),
            ))
        }
    }
    let received = ReceivedPayment {
        customer_id: invoice.customer_id.clone(),
        currency: invoice.currency,
        amount: invoice.amount_due,
        method: PaymentMethodKind::Wallet,
        reference: None,
        allocations: Some(vec![(invoice.id.to_string(), invoice.amount_due)]),
    };
    record_payment(cx, received).await?;
    Ok(true)
}

/// What the party's AVAILABLE can spend in `currency`: posted credits less posted and pending
/// debits (money on its way in is not spendable yet).
async fn spendable(
    cx: &mut Context<'_>,
    party: &CustomerId,
    currency: Currency,
) -> Result<i64, Error> {
    let id = party_account(party, Role::Available, currency);
    Ok(
        match ledger::get_account(cx.tx, cx.workspace_id, &id).await? {
            Some(account) => {
                let b = account.balances;
                b.credits_posted - b.debits_posted - b.debits_pending
            }
            None => 0,
        },
    )
}

/// Pays the buyer's open marketplace invoices in `currency` from their wallet, oldest due
/// first, while it covers them (after money arrived for the buyer). Answers how many.
pub async fn pay_open_from_wallet(
    cx: &mut Context<'_>,
    buyer: &CustomerId,
    currency: Currency,
) -> Result<usize, Error> {
    let mut paid = 0;
    for invoice in crate::invoices::open_invoices(cx, buyer, currency).await? {
        if invoice.status == InvoiceStatus::Issued
            && invoice.contract_id.is_some()
            && pay_from_wallet(cx, invoice.id.as_str()).await?
        {
            paid += 1;
        }
    }
    Ok(paid)
}

/// Releases a paid marketplace invoice's net (less what was credited): the seller's part into
/// their PAY_IN_HOLDING, the referrer's share of the platform's fee into theirs, both seasoning
/// for the contract's days or the workspace's; what the platform keeps to `platform:fees`.
/// Answers the amount held for the seller now (0: nothing, or done before).
pub async fn release_seller_share(cx: &mut Context<'_>, invoice_id: &str) -> Result<i64, Error> {
    let Some(Marketplace {
        invoice,
        contract,
        seller,
    }) = load(cx, invoice_id).await?
    else {
        return Ok(0);
    };
    if invoice.status != InvoiceStatus::Paid || seller == invoice.customer_id {
        return Ok(0);
    }
    let settings = load_settings(cx.tx, cx.workspace_id).await?;
    let fee = PlatformFee {
        basis_points: settings.platform_fee_bps,
        fixed: settings.platform_fee_fixed,
    };
    let split = fee.split(net_kept(&invoice));
    let referrer = contract
        .referrer_id
        .as_deref()
        .and_then(|id| CustomerId::parse(id, "referrer_id").ok());
    let referral = match &referrer {
        Some(_) => referral_share(split.fee, contract.referral_share_bps.unwrap_or(0)),
        None => 0,
    };
    let release = Release {
        invoice: &invoice,
        not_before: seasoned_at(
            cx.now,
            contract.seasoning_days,
            settings.seller_seasoning_days,
        ),
        detail: json!({ "invoice_id": invoice.id, "platform_fee": split.fee, "referral": referral }),
    };
    // Each transfer is keyed by the invoice: a second release moves nothing again.
    let held = hold(
        cx,
        &release,
        &seller,
        ("release", split.seller, "seller_share"),
    )
    .await?;
    if let Some(referrer) = &referrer {
        hold(
            cx,
            &release,
            referrer,
            ("referral", referral, "referral_share"),
        )
        .await?;
    }
    keep_fee(cx, &invoice, split.fee - referral).await?;
    Ok(held)
}

/// What one release of an invoice shares.
struct Release<'a> {
    invoice: &'a Invoice,
    not_before: bursar_domain::time::Timestamp,
    detail: serde_json::Value,
}

/// Holds `amount` of the invoice's release for `party` (transfer `<invoice>:<suffix>`, out of
/// the seller shares); answers what was held now.
async fn hold(
    cx: &mut Context<'_>,
    release: &Release<'_>,
    party: &CustomerId,
    (suffix, amount, recipe): (&str, i64, &'static str),
) -> Result<i64, Error> {
    if amount <= 0 {
        return Ok(0);
    }
    let invoice = release.invoice;
    let shares = CommerceAccount::SellerShares;
    crate::postings::open_accounts(cx, invoice.currency, &[&shares]).await?;
    let held = Held {
        seller: party,
        buyer: &invoice.customer_id,
        currency: invoice.currency,
        not_before: release.not_before,
    };
    let result = wallet_store::hold_for_seller(
        cx.tx,
        cx.workspace_id,
        (
            TransferId::from_trusted(format!("{}:{suffix}", invoice.id)),
            shares.id(invoice.currency),
            amount,
            recipe,
        ),
        &held,
        release.detail.clone(),
        (cx.now, cx.cause),
    )
    .await?;
    Ok(if result == TransferResult::Ok {
        amount
    } else {
        0
    })
}

/// The platform's fee (less the referrer's share): seller shares → `platform:fees`, once.
async fn keep_fee(cx: &mut Context<'_>, invoice: &Invoice, amount: i64) -> Result<(), Error> {
    if amount <= 0 {
        return Ok(());
    }
    let shares = CommerceAccount::SellerShares;
    crate::postings::open_accounts(cx, invoice.currency, &[&shares]).await?;
    wallet_store::ensure_accounts(cx.tx, cx.workspace_id, &[], invoice.currency, cx.now).await?;
    let batch = [NewTransfer::single(
        TransferId::from_trusted(format!("{}:fee", invoice.id)),
        shares.id(invoice.currency),
        platform_account(PlatformAccount::Fees, invoice.currency),
        amount,
        TransferCode::PlatformFee.code(),
    )];
    let results = ledger::create_transfers(cx.tx, cx.workspace_id, &batch, cx.now).await?;
    match results.first().map(|(result, _)| *result) {
        Some(TransferResult::Ok | TransferResult::Exists) => Ok(()),
        other => {
            tracing::error!(result = ?other, "BUG: a platform fee transfer failed");
            Err(Error::internal())
        }
    }
}

/// The invoice's net that stands: the subtotal less the net part of its credit notes.
fn net_kept(invoice: &Invoice) -> i64 {
    if invoice.total <= 0 {
        return 0;
    }
    let kept = invoice.total.saturating_sub(invoice.amount_credited).max(0);
    let net = i128::from(kept) * i128::from(invoice.subtotal) / i128::from(invoice.total);
    i64::try_from(net).unwrap_or(0)
}
