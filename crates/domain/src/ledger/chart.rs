//! The chart of accounts of commerce and the codes of its transfers: every account an order,
//! an invoice or a payment posts to, and why money moved, as types instead of strings built at
//! each call site.
//!
//! A commerce account of a workspace is `commerce:<name>:<currency>`, e.g.
//! `commerce:clearing:stripe:USD` (money the provider holds for us until it pays out) or
//! `commerce:receivable:cus_…:EUR` (what a customer owes).

use crate::id::CustomerId;
use crate::ledger::AccountId;
use crate::money::Currency;

/// An account of the commerce chart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CommerceAccount {
    /// Money a payment provider (`stripe`, `test`) holds for the workspace.
    Clearing(String),
    /// Money received by other means (`bank_transfer`, `cash`, `check`, …).
    Cash(String),
    Revenue,
    /// Providers' fees.
    Fees,
    Refunds,
    /// Amounts held by open disputes.
    Disputes,
    DisputeLosses,
    TaxPayable,
    /// Invoices written off as uncollectible.
    BadDebt,
    /// Paid marketplace invoices' nets passed on (a contra-revenue): to the seller, a referrer,
    /// and the platform's fee account.
    SellerShares,
    /// What a customer owes on issued invoices.
    Receivable(CustomerId),
    /// Money a customer paid that no invoice took yet (overpayments, prepaid credit).
    CustomerCredit(CustomerId),
}

impl CommerceAccount {
    /// The account's name in the chart, e.g. `clearing:stripe` or `receivable:cus_…`.
    pub fn name(&self) -> String {
        match self {
            Self::Clearing(provider) => format!("clearing:{provider}"),
            Self::Cash(method) => format!("cash:{method}"),
            Self::Revenue => "revenue".to_owned(),
            Self::Fees => "fees".to_owned(),
            Self::Refunds => "refunds".to_owned(),
            Self::Disputes => "disputes".to_owned(),
            Self::DisputeLosses => "dispute_losses".to_owned(),
            Self::TaxPayable => "tax_payable".to_owned(),
            Self::BadDebt => "bad_debt".to_owned(),
            Self::SellerShares => "seller_shares".to_owned(),
            Self::Receivable(customer) => format!("receivable:{customer}"),
            Self::CustomerCredit(customer) => format!("customer_credit:{customer}"),
        }
    }

    /// The ledger account in `currency`: `commerce:<name>:<currency>`.
    pub fn id(&self, currency: Currency) -> AccountId {
        AccountId::from_trusted(format!("commerce:{}:{currency}", self.name()))
    }
}

/// Why money moved: the code every commerce transfer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferCode {
    /// A provider's payment of an order: clearing → revenue.
    Payment = 100,
    /// A provider's fee: fees → clearing.
    Fee = 101,
    Refund = 110,
    DisputeHold = 120,
    DisputeRelease = 121,
    DisputeLoss = 122,
    /// An invoice issued: receivable → revenue (net).
    Invoiced = 200,
    /// An invoice issued: receivable → tax payable.
    Tax = 201,
    /// A payment received: clearing or cash → customer credit.
    Received = 202,
    /// A payment allocated to an invoice: customer credit → receivable.
    Allocated = 203,
    WrittenOff = 204,
    Reinstated = 205,
    Voided = 206,
    Credited = 207,
    Refunded = 208,
    /// A marketplace invoice paid from the buyer's wallet: COMMITTED → customer credit.
    WalletPaid = 209,
    /// What the platform keeps of a paid marketplace invoice: seller shares → platform fees.
    /// (The seller's and a referrer's parts are wallet holdings, code 31.)
    PlatformFee = 211,
}

impl TransferCode {
    /// The code as the ledger stores it.
    pub const fn code(self) -> i64 {
        self as i64
    }
}

/// One balanced movement of commerce money: `amount` from `debit` to `credit`, under a transfer
/// id that derives from the business object (so posting it again does nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub transfer_id: String,
    pub debit: CommerceAccount,
    pub credit: CommerceAccount,
    pub amount: i64,
    pub code: TransferCode,
}

impl Posting {
    pub fn new(
        transfer_id: impl Into<String>,
        debit: CommerceAccount,
        credit: CommerceAccount,
        amount: i64,
        code: TransferCode,
    ) -> Posting {
        Posting {
            transfer_id: transfer_id.into(),
            debit,
            credit,
            amount,
            code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_named_as_the_ledger_has_always_stored_them() {
        let customer = CustomerId::new();
        let eur = Currency::parse("EUR", "currency").unwrap();
        assert_eq!(
            CommerceAccount::Clearing("stripe".into()).id(eur).as_str(),
            "commerce:clearing:stripe:EUR"
        );
        assert_eq!(
            CommerceAccount::Receivable(customer.clone())
                .id(eur)
                .as_str(),
            format!("commerce:receivable:{customer}:EUR")
        );
        assert_eq!(CommerceAccount::DisputeLosses.name(), "dispute_losses");
        assert_eq!(
            CommerceAccount::Cash("bank_transfer".into()).name(),
            "cash:bank_transfer"
        );
        assert_eq!(
            (TransferCode::Payment.code(), TransferCode::Refunded.code()),
            (100, 208)
        );
    }
}
