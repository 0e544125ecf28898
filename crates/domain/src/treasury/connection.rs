//! A workspace's connection to a bank, as the API shows it (its secrets never), and what
//! became of one inbound bank webhook.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{BankConnectionId, ExpectedPaymentId};
use crate::money::Currency;
use crate::time::Timestamp;
use crate::treasury::objects::ExpectedPayment;

/// The banks Bursar speaks to.
pub const BANK_KINDS: [&str; 2] = ["modern_treasury", "test_bank"];

/// A connection to a bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankConnection {
    pub id: BankConnectionId,
    /// Always `bank_connection`.
    pub object: String,
    /// `modern_treasury` or `test_bank` (sandbox workspaces only).
    pub kind: String,
    pub name: String,
    /// Modern Treasury's organization id.
    pub organization_id: Option<String>,
    /// Where requests go (Modern Treasury; a local fake in tests).
    pub api_base: Option<String>,
    /// The platform's account at the bank that payers push to and payouts leave from.
    pub internal_account_id: Option<String>,
    /// Where the bank sends its webhooks: `POST {webhook_path}`.
    pub webhook_path: String,
    /// The API key's last 4 characters.
    pub api_key_last4: Option<String>,
    /// How many webhook signing keys are accepted (rotation).
    pub webhook_secrets: usize,
    /// The platform's accounts at this bank that payers push money to, one per currency: the
    /// details shown to buyers in payment instructions.
    #[serde(default)]
    pub receiving_accounts: Vec<ReceivingAccount>,
    pub created_at: Timestamp,
}

/// An account of the platform's that payers send wires and RTP payments to. Its numbers are
/// the platform's own, meant to be given to payers: stored and shown in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceivingAccount {
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    pub bank_name: String,
    /// The name the account is held in, as a payer's bank checks it.
    pub account_holder: String,
    /// ABA routing number (9 digits).
    pub routing_number: String,
    pub account_number: String,
    /// For international wires.
    pub swift_code: Option<String>,
}

impl ReceivingAccount {
    /// The test bank's sandbox account in `currency` (numbers that reach no real bank).
    pub fn test_bank(currency: Currency, holder: &str) -> ReceivingAccount {
        ReceivingAccount {
            currency,
            bank_name: "Bursar Test Bank".into(),
            account_holder: holder.to_owned(),
            routing_number: "110000000".into(),
            account_number: "000123456789".into(),
            swift_code: Some("BTSTUS00".into()),
        }
    }
}

/// What a payer is told to send for an expected payment: where, how much, and the reference
/// that lets Bursar match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaymentInstructions {
    /// Always `payment_instructions`.
    pub object: &'static str,
    #[schema(value_type = String)]
    pub expected_payment_id: ExpectedPaymentId,
    /// What to send, in minor units (the expectation's upper bound).
    pub amount: i64,
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    /// Quote it with the payment (none: matched by amount, date and counterparty).
    pub reference: Option<String>,
    pub pay_to: ReceivingAccount,
    /// The instructions as one sentence for a buyer.
    pub text: String,
}

impl PaymentInstructions {
    /// The instructions for `expected`, paid into `account`.
    pub fn new(expected: &ExpectedPayment, account: ReceivingAccount) -> PaymentInstructions {
        let currency = expected.currency;
        let mut text = format!(
            "Send {} by wire or RTP to {}, routing number {}, account number {}, in the name of {}",
            currency.format(expected.amount_upper),
            account.bank_name,
            account.routing_number,
            account.account_number,
            account.account_holder,
        );
        if let Some(swift) = &account.swift_code {
            text.push_str(&format!(" (SWIFT {swift})"));
        }
        match &expected.reference {
            Some(reference) => text.push_str(&format!(", quoting the reference {reference}.")),
            None => text.push('.'),
        }
        PaymentInstructions {
            object: "payment_instructions",
            expected_payment_id: expected.id.clone(),
            amount: expected.amount_upper,
            currency,
            reference: expected.reference.clone(),
            pay_to: account,
            text,
        }
    }
}

/// What Bursar did with one inbound bank webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankWebhookReceipt {
    pub received: bool,
    /// The bank's webhook id (the same on every redelivery).
    pub webhook_id: String,
    /// False when this webhook had been received before (nothing happened again).
    pub first_delivery: bool,
    /// `applied` or `ignored` (with the reason in `detail`).
    pub outcome: String,
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::treasury::matching::Direction;
    use crate::treasury::objects::ExpectedPaymentStatus;

    fn expected(reference: Option<&str>) -> ExpectedPayment {
        let at = Timestamp::from_unix_micros(0);
        let day = jiff::civil::date(2026, 5, 4);
        ExpectedPayment {
            id: ExpectedPaymentId::new(),
            object: "expected_payment".into(),
            status: ExpectedPaymentStatus::Unreconciled,
            currency: Currency::parse("USD", "currency").unwrap(),
            direction: Direction::Credit,
            amount_lower: 250_000,
            amount_upper: 250_000,
            date_lower: day,
            date_upper: day,
            counterparty: None,
            reference: reference.map(str::to_owned),
            party_id: None,
            description: None,
            reconciled_amount: 0,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn instructions_name_the_account_the_amount_and_the_reference() {
        let usd = Currency::parse("USD", "currency").unwrap();
        let account = ReceivingAccount::test_bank(usd, "Demo Marketplace");
        let told = PaymentInstructions::new(&expected(Some("WIRE-1001")), account.clone());
        assert_eq!(
            told.text,
            "Send 2500.00 USD by wire or RTP to Bursar Test Bank, routing number 110000000, \
             account number 000123456789, in the name of Demo Marketplace (SWIFT BTSTUS00), \
             quoting the reference WIRE-1001."
        );
        assert_eq!((told.amount, told.pay_to), (250_000, account.clone()));
        let unreferenced = PaymentInstructions::new(&expected(None), account);
        assert!(
            unreferenced.text.ends_with("(SWIFT BTSTUS00)."),
            "{}",
            unreferenced.text
        );
    }
}
