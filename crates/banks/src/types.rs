//! Rail-neutral types: what Bursar asks a bank for and what it reads back, whatever the bank.

use std::collections::BTreeMap;
use std::fmt;

/// Which way money moves, seen from the platform's internal account: `Credit` pays someone
/// (a payout), `Debit` pulls from them (an ACH debit). Inbound money is a `Credit` to us on
/// expected payments and incoming payment details, as banks report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    /// `credit`, `debit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Credit => "credit",
            Direction::Debit => "debit",
        }
    }

    /// Reads `credit` or `debit`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "credit" => Some(Direction::Credit),
            "debit" => Some(Direction::Debit),
            _ => None,
        }
    }
}

/// The payment rail. `Other` keeps a rail Bursar does not originate on (a check, SEPA) when a
/// bank reports one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rail {
    Ach,
    Wire,
    Rtp,
    /// A transfer between two accounts at the same bank.
    Book,
    Other(String),
}

impl Rail {
    /// `ach`, `wire`, `rtp`, `book`, or the other rail's name.
    pub fn as_str(&self) -> &str {
        match self {
            Rail::Ach => "ach",
            Rail::Wire => "wire",
            Rail::Rtp => "rtp",
            Rail::Book => "book",
            Rail::Other(name) => name,
        }
    }

    /// Reads a rail name; an unknown one is `Other`.
    pub fn parse(text: &str) -> Self {
        match text {
            "ach" => Rail::Ach,
            "wire" => Rail::Wire,
            "rtp" => Rail::Rtp,
            "book" => Rail::Book,
            other => Rail::Other(other.to_owned()),
        }
    }
}

/// A bank routing or account number. It never prints in full: `Debug` shows
/// [`masked`](Self::masked); only [`expose`](Self::expose) gives the digits, for the request
/// body that needs them.
#[derive(Clone, PartialEq, Eq)]
pub struct BankNumber(String);

impl BankNumber {
    pub fn new(digits: impl Into<String>) -> Self {
        Self(digits.into())
    }

    /// The full number. Use it only to build the bank's request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `••••6789`: the last four characters (fewer when the number is that short).
    pub fn masked(&self) -> String {
        mask_number(&self.0)
    }
}

impl fmt::Debug for BankNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BankNumber({})", self.masked())
    }
}

/// `••••` and the last four characters of `number` (all of them under five characters would
/// show the whole number, so then only the last one).
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let shown = if chars.len() > 4 { 4 } else { 1 };
    let tail: String = chars[chars.len().saturating_sub(shown)..].iter().collect();
    format!("••••{tail}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    Checking,
    Savings,
}

impl AccountType {
    /// `checking`, `savings`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Checking => "checking",
            AccountType::Savings => "savings",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyType {
    Individual,
    Business,
}

impl PartyType {
    /// `individual`, `business`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyType::Individual => "individual",
            PartyType::Business => "business",
        }
    }
}

/// A bank account outside the platform (a buyer's or a seller's), with its numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccount {
    pub account_type: AccountType,
    /// The account holder; the counterparty's name when `None`.
    pub party_name: Option<String>,
    pub party_type: Option<PartyType>,
    /// ABA routing number.
    pub routing_number: BankNumber,
    pub account_number: BankNumber,
}

/// Bursar asks the bank to know a party (a buyer or a seller) and its accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterpartyRequest {
    /// Bursar's id for this attempt: the idempotency key, so a retry creates one counterparty.
    pub attempt_id: String,
    /// The Bursar party (`pty_…`); travels as `bursar_party_id` metadata.
    pub party_id: String,
    pub name: String,
    pub email: Option<String>,
    pub accounts: Vec<ExternalAccount>,
    pub metadata: BTreeMap<String, String>,
}

/// A counterparty as the bank holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterparty {
    pub id: String,
    pub name: Option<String>,
    pub accounts: Vec<CounterpartyAccount>,
    pub metadata: BTreeMap<String, String>,
}

/// One of a counterparty's accounts as the bank holds it: its id and only masked numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterpartyAccount {
    pub id: String,
    pub party_name: Option<String>,
    /// `••••6789`, from the last digits the bank shows.
    pub account_number_masked: Option<String>,
    pub routing_number_masked: Option<String>,
}

/// Where a payment order sends money or pulls it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceivingAccount {
    /// An account the bank already knows (a counterparty's).
    Id(String),
    /// An account given with the order.
    Inline(ExternalAccount),
}

/// Bursar asks the bank to move money: a payout (credit) or an originated pull (debit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrderRequest {
    /// Bursar's id for this attempt (a payout, a pay-in): the idempotency key, so a retried call
    /// moves the money once.
    pub attempt_id: String,
    pub rail: Rail,
    pub direction: Direction,
    /// Minor units, positive.
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// The platform's internal account the money leaves or lands in.
    pub originating_account_id: String,
    pub counterparty_id: Option<String>,
    pub receiving_account: ReceivingAccount,
    /// `YYYY-MM-DD`; the bank's next possible date when `None`.
    pub effective_date: Option<String>,
    /// What the receiver sees (the remittance information).
    pub reference: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// Where a payment order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOrderStatus {
    /// Created, awaiting approval or the bank's cut-off.
    Pending,
    /// Being sent to the bank.
    Processing,
    /// The bank has it; not yet final.
    Sent,
    Completed,
    Failed,
    Returned,
    Cancelled,
}

impl PaymentOrderStatus {
    /// `pending`, `processing`, `sent`, `completed`, `failed`, `returned`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentOrderStatus::Pending => "pending",
            PaymentOrderStatus::Processing => "processing",
            PaymentOrderStatus::Sent => "sent",
            PaymentOrderStatus::Completed => "completed",
            PaymentOrderStatus::Failed => "failed",
            PaymentOrderStatus::Returned => "returned",
            PaymentOrderStatus::Cancelled => "cancelled",
        }
    }
}

/// Why a payment order failed, as the bank put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReason {
    pub code: Option<String>,
    pub message: Option<String>,
    /// The request field the bank objected to, when it names one.
    pub parameter: Option<String>,
}

/// A payment order as the bank holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    pub id: String,
    pub status: PaymentOrderStatus,
    pub rail: Rail,
    pub direction: Direction,
    pub amount: i64,
    pub currency: String,
    pub originating_account_id: Option<String>,
    pub counterparty_id: Option<String>,
    pub receiving_account_id: Option<String>,
    /// `YYYY-MM-DD`.
    pub effective_date: Option<String>,
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// The rule an inbound payment must fit to settle an expected payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationRule {
    pub amount_lower_bound: i64,
    pub amount_upper_bound: i64,
    pub direction: Direction,
    /// The platform's internal account the money lands in.
    pub internal_account_id: String,
    pub currency: Option<String>,
    pub rail: Option<Rail>,
    /// `YYYY-MM-DD`, inclusive.
    pub date_lower_bound: Option<String>,
    pub date_upper_bound: Option<String>,
    pub counterparty_id: Option<String>,
    /// Identifiers the payment must carry (a reference the payer was told to quote).
    pub custom_identifiers: BTreeMap<String, String>,
}

/// Bursar tells the bank a payment it cannot originate is coming (a buyer's wire or RTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedPaymentRequest {
    /// Bursar's id for this attempt: the idempotency key.
    pub attempt_id: String,
    pub rule: ReconciliationRule,
    /// The reference the payer was told to quote (the remittance information).
    pub reference: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedPaymentStatus {
    Unreconciled,
    PartiallyReconciled,
    Reconciled,
    Overdue,
    Archived,
}

impl ExpectedPaymentStatus {
    /// Reads `unreconciled`, `partially_reconciled`, `reconciled`, `overdue`, `archived`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "unreconciled" => Some(ExpectedPaymentStatus::Unreconciled),
            "partially_reconciled" => Some(ExpectedPaymentStatus::PartiallyReconciled),
            "reconciled" => Some(ExpectedPaymentStatus::Reconciled),
            "overdue" => Some(ExpectedPaymentStatus::Overdue),
            "archived" => Some(ExpectedPaymentStatus::Archived),
            _ => None,
        }
    }
}

/// An expected payment as the bank holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedPayment {
    pub id: String,
    pub status: ExpectedPaymentStatus,
    pub rules: Vec<ReconciliationRule>,
    pub amount_reconciled: Option<i64>,
    pub amount_unreconciled: Option<i64>,
    /// The bank transaction it was matched to, once reconciled.
    pub transaction_id: Option<String>,
    pub external_id: Option<String>,
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_to_their_last_four() {
        let number = BankNumber::new("123456789");
        assert_eq!(number.masked(), "••••6789");
        assert_eq!(format!("{number:?}"), "BankNumber(••••6789)");
        assert_eq!(number.expose(), "123456789");
        assert_eq!(mask_number("1234"), "••••4");
        assert_eq!(mask_number(""), "••••");
    }

    #[test]
    fn an_account_prints_without_its_numbers() {
        let account = ExternalAccount {
            account_type: AccountType::Checking,
            party_name: Some("Ada".into()),
            party_type: Some(PartyType::Individual),
            routing_number: BankNumber::new("021000021"),
            account_number: BankNumber::new("000123456789"),
        };
        let shown = format!("{account:?}");
        assert!(!shown.contains("021000021"), "{shown}");
        assert!(!shown.contains("123456789"), "{shown}");
        assert!(shown.contains("••••0021") && shown.contains("••••6789"));
    }

    #[test]
    fn rails_and_directions_round_trip() {
        for rail in [Rail::Ach, Rail::Wire, Rail::Rtp, Rail::Book] {
            assert_eq!(Rail::parse(rail.as_str()), rail);
        }
        assert_eq!(Rail::parse("check"), Rail::Other("check".into()));
        for direction in [Direction::Credit, Direction::Debit] {
            assert_eq!(Direction::parse(direction.as_str()), Some(direction));
        }
        assert_eq!(Direction::parse("sideways"), None);
    }
}

/// What the bank reports an internal account holds in one currency: its current ledger balance
/// (money booked at the bank), in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    /// ISO 4217, upper case.
    pub currency: String,
    pub amount: i64,
    /// The bank's report date, `YYYY-MM-DD`.
    pub as_of_date: String,
}
