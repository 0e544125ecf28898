//! Invoices and their one state machine; tax rates; numbering.
//!
//! ```text
//! draft ──► issued ◄─► paid
//!   │         │  ▲
//!   │         │  └── uncollectible (written off; a late payment still pays it)
//!   ▼         ▼
//!  void      void
//! ```
//!
//! A paid invoice is issued again only when a dispute of a payment that paid it is lost: what
//! that payment paid is owed again ([`crate::dispute`]).
//!
//! A draft can be edited (lines, memo, payment terms) and previewed; issuing assigns the next
//! number of its sequence (`INV-2026-000123`: prefix, year of issue, six digits, gapless within
//! a prefix and year) and freezes it. Amounts are integer minor units.
//!
//! **Tax** is computed per line, rounded once to whole minor units, half away from zero (the
//! rounding rule of rating too): for an exclusive rate the tax is `net × rate`; for an
//! inclusive rate the line's amount already holds it and the net is `amount / (1 + rate)`, the
//! tax the difference. Totals are sums of the lines' figures, so every line shows exactly what
//! it contributes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dispute::{DisputeStatus, InvoiceDispute, PaymentDispute, Reversal};
use crate::id::*;
use crate::money::Currency;
use crate::time::Timestamp;
use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Issued,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 5] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Issued,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
        InvoiceStatus::Uncollectible,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }

    pub fn parse(value: &str) -> Option<InvoiceStatus> {
        InvoiceStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The one table of legal transitions.
    pub fn can_become(self, to: InvoiceStatus) -> bool {
        use InvoiceStatus::*;
        matches!(
            (self, to),
            (Draft, Issued | Void)
                | (Issued, Paid | Void | Uncollectible)
                | (Paid, Issued)
                | (Uncollectible, Paid | Void)
        )
    }

    pub fn transition(self, to: InvoiceStatus) -> Result<InvoiceStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("An invoice that is {} cannot become {}.", from.as_str(), to.as_str())]
pub struct IllegalTransition {
    pub from: InvoiceStatus,
    pub to: InvoiceStatus,
}

/// A tax rate of a jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxRate {
    pub id: TaxRateId,
    /// Always `tax_rate`.
    pub object: String,
    /// Shown on invoices, e.g. `VAT`, `Sales tax`.
    pub display_name: String,
    /// Where it applies: a country (`DE`), or a country and region (`US-CA`).
    pub jurisdiction: String,
    /// The rate in hundredths of a percent: 1900 is 19.00 %.
    pub percentage_bp: u32,
    /// Whether prices with this rate already include the tax.
    pub inclusive: bool,
    pub active: bool,
    pub created_at: Timestamp,
}

/// Parses a percentage with at most two decimals (`19`, `7.25`) into hundredths of a percent.
pub fn parse_percentage(text: &str, param: &str) -> Result<u32, ValidationError> {
    let invalid = || {
        ValidationError::invalid(
            param,
            "A percentage is 0 to 100 with at most two decimals, e.g. 19 or 7.25.",
        )
    };
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 3
    {
        return Err(invalid());
    }
    let whole: u32 = whole.parse().map_err(|_| invalid())?;
    let fraction: u32 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
    let bp = whole * 100 + fraction;
    if bp > 10_000 {
        return Err(invalid());
    }
    Ok(bp)
}

/// `numerator / denominator` rounded half away from zero (denominator > 0).
fn div_round(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.abs() * 2 >= denominator {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

/// A line's net, tax and total for `amount` (after discounts) at `bp` hundredths of a percent.
pub fn line_tax(amount: i64, bp: u32, inclusive: bool) -> (i64, i64, i64) {
    let amount_wide = i128::from(amount);
    let rate = i128::from(bp);
    if inclusive {
        let net = div_round(amount_wide * 10_000, 10_000 + rate);
        let net = i64::try_from(net).unwrap_or(amount);
        (net, amount - net, amount)
    } else {
        let tax = div_round(amount_wide * rate, 10_000);
        let tax = i64::try_from(tax).unwrap_or(0);
        (amount, tax, amount.saturating_add(tax))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A fixed fee of a subscription period.
    Fixed,
    /// Rated usage of a period.
    Usage,
    /// The change of a fee inside a period.
    Proration,
    /// Added by hand to a draft, or a one-off charge.
    Manual,
}

/// One line of an invoice, with how its amounts were reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    /// `il_…`, unique within the invoice.
    pub id: String,
    pub kind: LineKind,
    pub description: String,
    pub quantity: i64,
    /// Minor units per unit.
    pub unit_amount: i64,
    /// `quantity × unit_amount`.
    pub amount: i64,
    pub discount_amount: i64,
    pub tax_rate_id: Option<TaxRateId>,
    pub tax_percentage_bp: u32,
    pub tax_inclusive: bool,
    /// Without tax.
    pub net_amount: i64,
    pub tax_amount: i64,
    /// With tax: what the line adds to the invoice's total.
    pub total: i64,
    pub period_start: Option<Timestamp>,
    pub period_end: Option<Timestamp>,
    /// How a rated line was computed (model, tiers applied), when it was rated.
    pub rating: Option<serde_json::Value>,
}

impl InvoiceLine {
    /// A line with its amounts computed; refuses amounts that overflow or a discount larger
    /// than the amount.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: LineKind,
        description: String,
        quantity: i64,
        unit_amount: i64,
        discount_amount: i64,
        tax: Option<&TaxRate>,
        period: Option<(Timestamp, Timestamp)>,
        param: &str,
    ) -> Result<InvoiceLine, ValidationError> {
        let amount = quantity
            .checked_mul(unit_amount)
            .ok_or_else(|| ValidationError::invalid(param, "quantity × unit_amount overflows."))?;
        // A line beyond the cap would make every later total in its currency overflow.
        crate::money::check_amount_cap(amount, param)?;
        if discount_amount < 0 || (amount >= 0 && discount_amount > amount) {
            return Err(ValidationError::invalid(
                format!("{param}.discount_amount"),
                "A discount is between 0 and the line's amount.",
            ));
        }
        let after_discount = amount - discount_amount;
        let (bp, inclusive) = tax.map_or((0, false), |t| (t.percentage_bp, t.inclusive));
        let (net_amount, tax_amount, total) = line_tax(after_discount, bp, inclusive);
        Ok(InvoiceLine {
            id: format!("il_{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
            kind,
            description,
            quantity,
            unit_amount,
            amount,
            discount_amount,
            tax_rate_id: tax.map(|t| t.id.clone()),
            tax_percentage_bp: bp,
            tax_inclusive: inclusive,
            net_amount,
            tax_amount,
            total,
            period_start: period.map(|p| p.0),
            period_end: period.map(|p| p.1),
            rating: None,
        })
    }
}

/// Tax per rate, as the invoice's totals show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxTotal {
    pub tax_rate_id: Option<TaxRateId>,
    pub percentage_bp: u32,
    pub inclusive: bool,
    pub taxable_amount: i64,
    pub tax_amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub id: InvoiceId,
    /// Always `invoice`.
    pub object: String,
    #[schema(value_type = crate::schema::BuyerIdSchema)]
    pub customer_id: CustomerId,
    pub contract_id: Option<ContractId>,
    pub currency: Currency,
    pub status: InvoiceStatus,
    /// Assigned when issued.
    pub number: Option<String>,
    pub lines: Vec<InvoiceLine>,
    /// Σ net amounts.
    pub subtotal: i64,
    pub tax: i64,
    pub tax_totals: Vec<TaxTotal>,
    /// Σ line totals = subtotal + tax.
    pub total: i64,
    pub amount_paid: i64,
    pub amount_credited: i64,
    /// `total − amount_paid − amount_credited` while it is owed; 0 once void.
    pub amount_due: i64,
    /// Days from issue to due date.
    pub payment_terms_days: u32,
    pub memo: Option<String>,
    pub period_start: Option<Timestamp>,
    pub period_end: Option<Timestamp>,
    pub issued_at: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    pub paid_at: Option<Timestamp>,
    pub voided_at: Option<Timestamp>,
    /// Reminders sent (`due_soon`, `overdue`), each once.
    #[serde(default)]
    pub reminders: Vec<String>,
    /// The hosted page where the customer pays what is due online, when one was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_link: Option<PaymentLink>,
    /// Disputes of the payments that paid it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disputes: Vec<InvoiceDispute>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A hosted checkout at the payment provider for an issued invoice's amount due. The invoice
/// is paid only when the provider confirms the payment (its signed webhook), never on the
/// customer's return from the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentLink {
    /// Where to send the customer.
    pub url: String,
    /// `pp_…`: the provider connection.
    pub provider_id: String,
    /// `test`, `stripe`.
    pub provider: String,
    /// The provider's session id (`cs_…`).
    pub session_id: String,
    /// The amount the page collects (the amount due when it was opened).
    pub amount: i64,
    pub expires_at: Timestamp,
    /// Links opened for this invoice so far.
    pub attempt: u32,
}

impl Invoice {
    /// A draft with its totals computed.
    pub fn draft(
        customer_id: CustomerId,
        currency: Currency,
        lines: Vec<InvoiceLine>,
        payment_terms_days: u32,
        now: Timestamp,
    ) -> Result<Invoice, ValidationError> {
        let mut invoice = Invoice {
            id: InvoiceId::new(),
            object: "invoice".into(),
            customer_id,
            contract_id: None,
            currency,
            status: InvoiceStatus::Draft,
            number: None,
            lines,
            subtotal: 0,
            tax: 0,
            tax_totals: Vec::new(),
            total: 0,
            amount_paid: 0,
            amount_credited: 0,
            amount_due: 0,
            payment_terms_days,
            memo: None,
            period_start: None,
            period_end: None,
            issued_at: None,
            due_at: None,
            paid_at: None,
            voided_at: None,
            reminders: Vec::new(),
            payment_link: None,
            disputes: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        invoice.recompute()?;
        Ok(invoice)
    }

    /// Recomputes the totals from the lines.
    pub fn recompute(&mut self) -> Result<(), ValidationError> {
        let overflow = || ValidationError::invalid("lines", "The invoice's total overflows.");
        let mut subtotal: i64 = 0;
        let mut tax: i64 = 0;
        let mut total: i64 = 0;
        let mut by_rate: Vec<TaxTotal> = Vec::new();
        for line in &self.lines {
            subtotal = subtotal.checked_add(line.net_amount).ok_or_else(overflow)?;
            tax = tax.checked_add(line.tax_amount).ok_or_else(overflow)?;
            total = total.checked_add(line.total).ok_or_else(overflow)?;
            if line.tax_rate_id.is_some() {
                match by_rate
                    .iter_mut()
                    .find(|t| t.tax_rate_id == line.tax_rate_id)
                {
                    Some(rate) => {
                        rate.taxable_amount += line.net_amount;
                        rate.tax_amount += line.tax_amount;
                    }
                    None => by_rate.push(TaxTotal {
                        tax_rate_id: line.tax_rate_id.clone(),
                        percentage_bp: line.tax_percentage_bp,
                        inclusive: line.tax_inclusive,
                        taxable_amount: line.net_amount,
                        tax_amount: line.tax_amount,
                    }),
                }
            }
        }
        self.subtotal = subtotal;
        self.tax = tax;
        self.total = total;
        self.tax_totals = by_rate;
        self.amount_due = if self.status == InvoiceStatus::Void {
            0
        } else {
            (total - self.amount_paid - self.amount_credited).max(0)
        };
        Ok(())
    }
}

/// How a payment arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodKind {
    /// Through the payment provider (a card).
    Card,
    BankTransfer,
    /// Cash, a cheque, anything recorded by hand.
    Manual,
    /// From the buyer's wallet: money they pushed to the platform earlier, committed to a
    /// marketplace invoice. Recorded by settlement only.
    Wallet,
}

impl PaymentMethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethodKind::Card => "card",
            PaymentMethodKind::BankTransfer => "bank_transfer",
            PaymentMethodKind::Manual => "manual",
            PaymentMethodKind::Wallet => "wallet",
        }
    }
}

/// Part of a payment applied to one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    pub invoice_id: InvoiceId,
    pub amount: i64,
    pub allocated_at: Timestamp,
    /// The ledger transfer (customer credit → receivable).
    pub transfer_id: String,
}

/// Money received from a customer. What is not allocated to invoices is the customer's credit,
/// applied to later invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: PaymentId,
    /// Always `payment`.
    pub object: String,
    #[schema(value_type = crate::schema::BuyerIdSchema)]
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub amount: i64,
    pub method: PaymentMethodKind,
    /// The bank's or provider's reference.
    pub reference: Option<String>,
    pub allocations: Vec<Allocation>,
    /// Not yet applied to an invoice: the customer's credit.
    pub unallocated: i64,
    /// The ledger transfer (cash → customer credit).
    pub transfer_id: String,
    pub received_at: Timestamp,
    pub created_at: Timestamp,
    /// The customer's bank contested it (card payments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispute: Option<PaymentDispute>,
}

impl Payment {
    /// How a dispute of `amount` splits over what the payment funded: its unallocated credit
    /// first, then its allocations, newest first.
    pub fn reversal(&self, amount: i64) -> Reversal {
        let credit = amount.min(self.unallocated).max(0);
        let mut left = amount - credit;
        let mut invoices: Vec<(InvoiceId, i64)> = Vec::new();
        for allocation in self.allocations.iter().rev() {
            if left == 0 {
                break;
            }
            let part = allocation.amount.min(left);
            left -= part;
            match invoices
                .iter_mut()
                .find(|(id, _)| id == &allocation.invoice_id)
            {
                Some((_, total)) => *total += part,
                None => invoices.push((allocation.invoice_id.clone(), part)),
            }
        }
        Reversal {
            credit,
            invoices,
            loss: left,
        }
    }
}

impl Invoice {
    /// The instant it falls due: its due date, or the day a lost dispute made part of it owed
    /// again, whichever is later.
    pub fn falls_due(&self) -> Option<Timestamp> {
        let reinstated = self
            .disputes
            .iter()
            .filter(|d| d.status == DisputeStatus::Lost && d.reinstated > 0)
            .filter_map(|d| d.closed_at)
            .max();
        match (self.due_at, reinstated) {
            (Some(due), Some(at)) => Some(due.max(at)),
            (due, at) => due.or(at),
        }
    }

    /// Its disputes that are open.
    pub fn open_disputes(&self) -> impl Iterator<Item = &InvoiceDispute> {
        self.disputes
            .iter()
            .filter(|d| d.status == DisputeStatus::Open)
    }

    /// Whether a lost dispute made part of it owed again.
    pub fn reinstated_by_dispute(&self) -> bool {
        self.disputes
            .iter()
            .any(|d| d.status == DisputeStatus::Lost && d.reinstated > 0)
    }
}

/// A credit note: part or all of an issued invoice taken back. It reduces what is owed, and
/// what the customer had paid beyond that is refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreditNote {
    pub id: CreditNoteId,
    /// Always `credit_note`.
    pub object: String,
    /// `CN-2026-000001`: its own gapless sequence.
    pub number: String,
    pub invoice_id: InvoiceId,
    #[schema(value_type = crate::schema::BuyerIdSchema)]
    pub customer_id: CustomerId,
    pub currency: Currency,
    /// Credited, tax included; split into net and tax in the invoice's proportion.
    pub amount: i64,
    pub net_amount: i64,
    pub tax_amount: i64,
    /// Of `amount`: what it took off the amount due, and what was paid back.
    pub reduced_due: i64,
    pub refunded: i64,
    pub refund_method: Option<PaymentMethodKind>,
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

/// The net part of `amount` credited on an invoice of `subtotal` net and `total` with tax,
/// rounded half away from zero; the rest is tax.
pub fn credit_split(amount: i64, subtotal: i64, total: i64) -> (i64, i64) {
    if total == 0 {
        return (amount, 0);
    }
    let net = div_round(i128::from(amount) * i128::from(subtotal), i128::from(total));
    let net = i64::try_from(net).unwrap_or(amount);
    (net, amount - net)
}

/// An invoice number: `PREFIX-YEAR-000123`.
pub fn invoice_number(prefix: &str, year: i16, sequence: i64) -> String {
    format!("{prefix}-{year}-{sequence:06}")
}

crate::schema_only!(
    /// The schema of one line of the issuer's address in the invoice settings, checked by
    /// [`crate::commerce::parse_text`] with at most 200 characters.
    AddressLine => crate::schema::text("Not blank; trimmed", r"\S", Some(1), Some(200))
);

/// Checks a numbering prefix: 1 to 12 upper-case letters, digits or `-`.
pub fn parse_number_prefix(value: &str, param: &str) -> Result<String, ValidationError> {
    let ok = (1..=12).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::invalid(
            param,
            "A number prefix is 1 to 12 upper-case letters, digits or '-', e.g. INV.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::InvoiceStatus::*;
    use super::*;

    #[test]
    fn tax_is_per_line_and_rounds_half_away_from_zero() {
        // 19 % on 10.00 exclusive: 1.90.
        assert_eq!(line_tax(1000, 1900, false), (1000, 190, 1190));
        // 19 % on 0.05 exclusive: 0.0095 → 0.01.
        assert_eq!(line_tax(5, 1900, false), (5, 1, 6));
        // 19 % on 0.02: 0.0038 → 0.00.
        assert_eq!(line_tax(2, 1900, false), (2, 0, 2));
        // 7.25 % on 2.00: 0.145 → 0.15 (half away from zero).
        assert_eq!(line_tax(200, 725, false), (200, 15, 215));
        // Inclusive 20 %: 12.00 holds 10.00 net and 2.00 tax.
        assert_eq!(line_tax(1200, 2000, true), (1000, 200, 1200));
        // Inclusive 19 % of 1.00: net 0.8403… → 0.84, tax 0.16.
        assert_eq!(line_tax(100, 1900, true), (84, 16, 100));
        // A credit (negative amount) mirrors a charge.
        assert_eq!(line_tax(-200, 725, false), (-200, -15, -215));
        assert_eq!(line_tax(1000, 0, false), (1000, 0, 1000));
    }

    #[test]
    fn percentages_parse_to_hundredths() {
        assert_eq!(parse_percentage("19", "p"), Ok(1900));
        assert_eq!(parse_percentage("7.25", "p"), Ok(725));
        assert_eq!(parse_percentage("0.5", "p"), Ok(50));
        assert_eq!(parse_percentage("100", "p"), Ok(10_000));
        for bad in ["", "-1", "100.01", "7.255", "x", "1e2", "1000"] {
            assert_eq!(
                parse_percentage(bad, "percentage").unwrap_err().param,
                "percentage",
                "{bad}"
            );
        }
    }

    #[test]
    fn the_state_machine_never_leaves_void_and_leaves_paid_only_for_issued() {
        for pair in [
            [Draft, Issued],
            [Issued, Paid],
            [Paid, Issued],
            [Issued, Uncollectible],
            [Uncollectible, Paid],
            [Draft, Void],
            [Issued, Void],
        ] {
            assert!(pair[0].can_become(pair[1]), "{pair:?}");
        }
        for to in InvoiceStatus::ALL {
            assert!(!Void.can_become(to));
            assert_eq!(Paid.can_become(to), to == Issued);
            assert!(!Issued.can_become(Draft));
        }
        assert_eq!(
            Paid.transition(Draft).unwrap_err().to_string(),
            "An invoice that is paid cannot become draft."
        );
    }

    #[test]
    fn numbers_have_the_documented_shape() {
        assert_eq!(invoice_number("INV", 2026, 123), "INV-2026-000123");
        assert_eq!(
            invoice_number("ACME-DE", 2027, 1_234_567),
            "ACME-DE-2027-1234567"
        );
        assert!(parse_number_prefix("INV", "p").is_ok());
        assert!(parse_number_prefix("inv", "p").is_err());
        assert!(parse_number_prefix("", "p").is_err());
    }

    #[test]
    fn totals_are_sums_of_lines_with_tax_per_rate() {
        let now = Timestamp::from_unix_micros(0);
        let rate = |bp, inclusive| TaxRate {
            id: TaxRateId::new(),
            object: "tax_rate".into(),
            display_name: "VAT".into(),
            jurisdiction: "DE".into(),
            percentage_bp: bp,
            inclusive,
            active: true,
            created_at: now,
        };
        let vat = rate(1900, false);
        let reduced = rate(700, true);
        let line = |q, u, d, t: Option<&TaxRate>| {
            InvoiceLine::new(LineKind::Manual, "x".into(), q, u, d, t, None, "lines[0]").unwrap()
        };
        let mut invoice = Invoice {
            id: InvoiceId::new(),
            object: "invoice".into(),
            customer_id: CustomerId::new(),
            contract_id: None,
            currency: Currency::from_code("EUR").unwrap(),
            status: Draft,
            number: None,
            lines: vec![
                line(3, 1999, 0, Some(&vat)),         // 59.97 + 11.3943 → 11.39
                line(1, 10_700, 700, Some(&reduced)), // 100.00 incl. 7 %: net 93.46, tax 6.54
                line(2, 250, 0, None),                // 5.00, no tax
            ],
            subtotal: 0,
            tax: 0,
            tax_totals: Vec::new(),
            total: 0,
            amount_paid: 1000,
            amount_credited: 0,
            amount_due: 0,
            payment_terms_days: 14,
            memo: None,
            period_start: None,
            period_end: None,
            issued_at: None,
            due_at: None,
            paid_at: None,
            voided_at: None,
            reminders: Vec::new(),
            payment_link: None,
            disputes: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        invoice.recompute().unwrap();
        assert_eq!(invoice.subtotal, 5997 + 9346 + 500);
        assert_eq!(invoice.tax, 1139 + 654);
        assert_eq!(invoice.total, 7136 + 10_000 + 500);
        assert_eq!(invoice.amount_due, 17_636 - 1000);
        assert_eq!(invoice.tax_totals.len(), 2);
        assert_eq!(invoice.tax_totals[1].tax_amount, 654);
        let refused = InvoiceLine::new(
            LineKind::Manual,
            "x".into(),
            1,
            100,
            101,
            None,
            None,
            "lines[2]",
        );
        assert_eq!(refused.unwrap_err().param, "lines[2].discount_amount");
        let overflow = InvoiceLine::new(
            LineKind::Manual,
            "x".into(),
            i64::MAX,
            2,
            0,
            None,
            None,
            "lines[0]",
        );
        assert_eq!(overflow.unwrap_err().param, "lines[0]");
    }

    fn payment(unallocated: i64, allocations: &[(&InvoiceId, i64)]) -> Payment {
        let now = Timestamp::from_unix_micros(0);
        Payment {
            id: PaymentId::new(),
            object: "payment".into(),
            customer_id: CustomerId::new(),
            currency: Currency::from_code("USD").unwrap(),
            amount: unallocated + allocations.iter().map(|(_, a)| a).sum::<i64>(),
            method: PaymentMethodKind::Card,
            reference: None,
            allocations: allocations
                .iter()
                .map(|(id, amount)| Allocation {
                    invoice_id: (*id).clone(),
                    amount: *amount,
                    allocated_at: now,
                    transfer_id: String::new(),
                })
                .collect(),
            unallocated,
            transfer_id: String::new(),
            received_at: now,
            created_at: now,
            dispute: None,
        }
    }

    #[test]
    fn a_lost_dispute_takes_the_credit_first_then_the_newest_allocations() {
        let (a, b) = (InvoiceId::new(), InvoiceId::new());
        let paid = payment(300, &[(&a, 1_000), (&b, 700)]);
        let split = paid.reversal(1_200);
        assert_eq!(split.credit, 300);
        assert_eq!(split.invoices, vec![(b.clone(), 700), (a.clone(), 200)]);
        assert_eq!(split.loss, 0);
        let all = paid.reversal(2_500);
        assert_eq!((all.credit, all.loss), (300, 500));
        assert_eq!(all.invoices, vec![(b, 700), (a, 1_000)]);
    }

    #[test]
    fn a_partial_dispute_of_credit_only_reopens_nothing() {
        let a = InvoiceId::new();
        let split = payment(500, &[(&a, 1_000)]).reversal(400);
        assert_eq!(
            (split.credit, split.invoices.len(), split.loss),
            (400, 0, 0)
        );
    }
}

/// What a billing run did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BillingRun {
    /// `brun_…`, for runs started through the API (the id of its `billing_run.completed`
    /// event's aggregate).
    pub id: Option<String>,
    /// Always `billing_run`.
    pub object: String,
    pub as_of: Option<Timestamp>,
    pub contracts: usize,
    /// Draft invoices made by this run.
    pub invoices_created: Vec<InvoiceId>,
    /// Contracts whose current period was billed before.
    pub already_billed: usize,
    /// Contracts not billed now: not active, in trial, or bought by a company.
    pub skipped: usize,
    /// Contracts whose billing failed (logged); a later run retries them.
    pub failed: Vec<String>,
}

/// Who issues the workspace's invoices and how they are numbered and paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceSettings {
    /// Always `invoice_settings`.
    pub object: String,
    /// Numbers read `PREFIX-YEAR-000123`; each prefix and year counts from 1, without gaps.
    pub number_prefix: String,
    pub issuer_name: String,
    pub issuer_address: Vec<String>,
    pub issuer_tax_id: Option<String>,
    /// Days from issue to due date, unless an invoice says otherwise.
    pub payment_terms_days: u32,
    /// Printed on every invoice, e.g. the bank account to pay to.
    pub payment_instructions: Option<String>,
    /// The tax rate on the lines billing runs make (none: untaxed; drafts can be edited).
    #[serde(default)]
    pub default_tax_rate_id: Option<TaxRateId>,
    /// Drafts made by billing runs are issued this many hours after they were made, by the
    /// server's billing loop (none, the default: they wait for a person to issue them).
    #[serde(default)]
    pub auto_issue_after_hours: Option<u32>,
    /// Marketplace invoices (of a contract with a seller): days the seller's part seasons
    /// after the invoice is paid, unless the contract says otherwise.
    #[serde(default = "default_seasoning_days")]
    pub seller_seasoning_days: u32,
    /// The platform's fee on marketplace invoices, in basis points of the net (100 = 1%).
    #[serde(default)]
    pub platform_fee_bps: u32,
    /// A fixed platform fee per marketplace invoice, in minor units of its currency.
    #[serde(default)]
    pub platform_fee_fixed: i64,
}

fn default_seasoning_days() -> u32 {
    crate::treasury::settlement::DEFAULT_SEASONING_DAYS
}

impl Default for InvoiceSettings {
    fn default() -> Self {
        InvoiceSettings {
            object: "invoice_settings".into(),
            number_prefix: "INV".into(),
            issuer_name: "Bursar".into(),
            issuer_address: Vec::new(),
            issuer_tax_id: None,
            payment_terms_days: 30,
            payment_instructions: None,
            default_tax_rate_id: None,
            auto_issue_after_hours: None,
            seller_seasoning_days: default_seasoning_days(),
            platform_fee_bps: 0,
            platform_fee_fixed: 0,
        }
    }
}
