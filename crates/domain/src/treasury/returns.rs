//! NACHA's ACH return reason codes: what each means, how long the receiving bank has to return
//! an entry, and which return-rate threshold it counts toward. The table is NACHA's
//! (`data/nacha-return-codes.json`, checked against it by a test).
//!
//! Return windows count **banking days** (Monday to Friday; Federal Reserve holidays are not in
//! the calendar here, so a deadline near a holiday is a day early — the safe side for a
//! return arriving late) or calendar days for the unauthorized codes.

use jiff::civil::{Date, Weekday};
use jiff::ToSpan;

/// Which part of the ACH network returns with the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    RdfiReturn,
    FederalAgency,
    ContestedDishonored,
    Dishonored,
    IatGateway,
    ReCheck,
}

/// How long the receiving bank has to return an entry after settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    BankingDays(u8),
    CalendarDays(u16),
}

/// The NACHA debit return-rate threshold a code counts toward (every return counts toward
/// `overall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateCategory {
    Overall,
    Unauthorized,
    Administrative,
}

/// One return reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnCode {
    pub code: &'static str,
    pub title: &'static str,
    pub group: Group,
    pub window: Option<Window>,
    pub category: RateCategory,
}

/// NACHA's thresholds over a rolling window: 0.5 % unauthorized, 3 % administrative, 15 %
/// overall, in basis points.
pub const UNAUTHORIZED_LIMIT_BPS: u32 = 50;
pub const ADMINISTRATIVE_LIMIT_BPS: u32 = 300;
pub const OVERALL_LIMIT_BPS: u32 = 1_500;
pub const RATE_WINDOW_DAYS: i64 = 60;

/// Codes after which the customer's debit authorization (mandate) must not be used again.
pub const MANDATE_STOPPING: [&str; 5] = ["R05", "R07", "R10", "R29", "R51"];

/// The code, if NACHA assigned it.
pub fn lookup(code: &str) -> Option<&'static ReturnCode> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// Whether a return with this code stops the mandate that authorized the debit.
pub fn stops_mandate(code: &str) -> bool {
    MANDATE_STOPPING
        .iter()
        .any(|c| c.eq_ignore_ascii_case(code))
}

/// The last day the receiving bank may return an entry settled on `settled` with `code`; `None`
/// when NACHA sets no window for it.
pub fn return_deadline(code: &ReturnCode, settled: Date) -> Option<Date> {
    match code.window? {
        Window::CalendarDays(days) => settled.checked_add(i64::from(days).days()).ok(),
        Window::BankingDays(days) => Some(add_banking_days(settled, days)),
    }
}

/// `days` banking days (Monday to Friday) after `from`.
pub fn add_banking_days(from: Date, days: u8) -> Date {
    let mut date = from;
    let mut left = days;
    while left > 0 {
        date = date.tomorrow().unwrap_or(date);
        if !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    date
}

/// Returns counted against the debits they come from over [`RATE_WINDOW_DAYS`], per category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnRates {
    pub debits: u64,
    pub unauthorized: u64,
    pub administrative: u64,
    pub overall: u64,
}

impl ReturnRates {
    pub fn count(&mut self, code: &ReturnCode) {
        self.overall += 1;
        match code.category {
            RateCategory::Unauthorized => self.unauthorized += 1,
            RateCategory::Administrative => self.administrative += 1,
            RateCategory::Overall => {}
        }
    }

    /// The categories over NACHA's threshold.
    pub fn crossed(&self) -> Vec<RateCategory> {
        let over = |returns: u64, limit_bps: u32| {
            self.debits > 0 && returns * 10_000 > self.debits * u64::from(limit_bps)
        };
        let mut crossed = Vec::new();
        if over(self.unauthorized, UNAUTHORIZED_LIMIT_BPS) {
            crossed.push(RateCategory::Unauthorized);
        }
        if over(self.administrative, ADMINISTRATIVE_LIMIT_BPS) {
            crossed.push(RateCategory::Administrative);
        }
        if over(self.overall, OVERALL_LIMIT_BPS) {
            crossed.push(RateCategory::Overall);
        }
        crossed
    }
}

/// Every assigned code.
#[rustfmt::skip]
pub const CODES: &[ReturnCode] = &[
    ReturnCode { code: "R01", title: "Insufficient Funds", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R02", title: "Account Closed", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Administrative },
    ReturnCode { code: "R03", title: "No Account/Unable to Locate Account", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Administrative },
    ReturnCode { code: "R04", title: "Invalid Account Number Structure", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Administrative },
    ReturnCode { code: "R05", title: "Unauthorized Debit to Consumer Account Using Corporate SEC Code", group: Group::RdfiReturn, window: Some(Window::CalendarDays(60)), category: RateCategory::Unauthorized },
    ReturnCode { code: "R06", title: "Returned per ODFI's Request", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R07", title: "Authorization Revoked by Customer", group: Group::RdfiReturn, window: Some(Window::CalendarDays(60)), category: RateCategory::Unauthorized },
    ReturnCode { code: "R08", title: "Payment Stopped", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R09", title: "Uncollected Funds", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R10", title: "Customer Advises Originator is Not Known to Receiver and/or Not Authorized to Debit", group: Group::RdfiReturn, window: Some(Window::CalendarDays(60)), category: RateCategory::Unauthorized },
    ReturnCode { code: "R11", title: "Customer Advises Entry Not in Accordance with the Terms of the Authorization", group: Group::RdfiReturn, window: Some(Window::CalendarDays(60)), category: RateCategory::Unauthorized },
    ReturnCode { code: "R12", title: "Account Sold to Another DFI", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R13", title: "Invalid ACH Routing Number / RDFI Not Qualified to Participate", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R14", title: "Representative Payee Deceased or Unable to Continue in That Capacity", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R15", title: "Beneficiary or Account Holder Deceased", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R16", title: "Account Frozen / Entry Returned per OFAC Instruction", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R17", title: "File Record Edit Criteria / Entry with Invalid Account Number Initiated Under Questionable Circumstances", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R18", title: "Improper Effective Entry Date", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R19", title: "Amount Field Error", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R20", title: "Non-Transaction Account", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Overall },
    ReturnCode { code: "R21", title: "Invalid Company Identification", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R22", title: "Invalid Individual ID Number", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R23", title: "Credit Entry Refused by Receiver", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R24", title: "Duplicate Entry", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R25", title: "Addenda Error", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R26", title: "Mandatory Field Error", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R27", title: "Trace Number Error", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R28", title: "Routing Number Check Digit Error", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R29", title: "Corporate Customer Advises Not Authorized", group: Group::RdfiReturn, window: Some(Window::BankingDays(2)), category: RateCategory::Unauthorized },
    ReturnCode { code: "R30", title: "RDFI Not Participant in Check Truncation Program", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R31", title: "Permissible Return Entry (CCD and CTX only)", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R32", title: "RDFI Non-Settlement", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R33", title: "Return of XCK Entry", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R34", title: "Limited Participation DFI", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R35", title: "Return of Improper Debit Entry", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R36", title: "Return of Improper Credit Entry", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R37", title: "Source Document Presented for Payment", group: Group::RdfiReturn, window: Some(Window::CalendarDays(60)), category: RateCategory::Overall },
    ReturnCode { code: "R38", title: "Stop Payment on Source Document", group: Group::RdfiReturn, window: Some(Window::CalendarDays(60)), category: RateCategory::Overall },
    ReturnCode { code: "R39", title: "Improper Source Document/Source Document Presented for Payment", group: Group::RdfiReturn, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R40", title: "Return of ENR Entry by Federal Government Agency", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R41", title: "Invalid Transaction Code (ENR)", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R42", title: "Routing Number/Check Digit Error (ENR)", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R43", title: "Invalid DFI Account Number (ENR)", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R44", title: "Invalid Individual ID Number/Identification Number (ENR)", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R45", title: "Invalid Individual Name/Company Name (ENR)", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R46", title: "Invalid Representative Payee Indicator (ENR)", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R47", title: "Duplicate Enrollment (ENR)", group: Group::FederalAgency, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R50", title: "State Law Affecting RCK Acceptance", group: Group::ReCheck, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R51", title: "Item Related to RCK Entry is Ineligible or RCK Entry is Improper", group: Group::ReCheck, window: Some(Window::CalendarDays(60)), category: RateCategory::Unauthorized },
    ReturnCode { code: "R52", title: "Stop Payment on Item Related to RCK Entry", group: Group::ReCheck, window: Some(Window::CalendarDays(60)), category: RateCategory::Overall },
    ReturnCode { code: "R53", title: "Item and RCK Entry Presented for Payment", group: Group::ReCheck, window: Some(Window::CalendarDays(60)), category: RateCategory::Overall },
    ReturnCode { code: "R61", title: "Misrouted Return", group: Group::Dishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R62", title: "Return of Erroneous or Reversing Debit", group: Group::Dishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R67", title: "Duplicate Return", group: Group::Dishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R68", title: "Untimely Return", group: Group::Dishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R69", title: "Field Error(s)", group: Group::Dishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R70", title: "Permissible Return Entry Not Accepted/Return Not Requested by ODFI", group: Group::Dishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R71", title: "Misrouted Dishonored Return", group: Group::ContestedDishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R72", title: "Untimely Dishonored Return", group: Group::ContestedDishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R73", title: "Timely Original Return", group: Group::ContestedDishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R74", title: "Corrected Return", group: Group::ContestedDishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R75", title: "Return Not a Duplicate", group: Group::ContestedDishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R76", title: "No Errors Found", group: Group::ContestedDishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R77", title: "Non-Acceptance of R62 Dishonored Return", group: Group::ContestedDishonored, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R80", title: "IAT Entry Coding Error", group: Group::IatGateway, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R81", title: "Non-Participant in IAT Program", group: Group::IatGateway, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R82", title: "Invalid Foreign Receiving DFI Identification", group: Group::IatGateway, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R83", title: "Foreign Receiving DFI Unable to Settle", group: Group::IatGateway, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R84", title: "Entry Not Processed by Gateway", group: Group::IatGateway, window: None, category: RateCategory::Overall },
    ReturnCode { code: "R85", title: "Incorrectly Coded Outbound International Payment", group: Group::IatGateway, window: None, category: RateCategory::Overall },
];

#[cfg(test)]
#[path = "returns_tests.rs"]
mod tests;
