//! Contracts as an event-sourced edit log. Pure: no I/O.
//!
//! Every change to a contract is an [`Operation`] appended to its log with two times: when it
//! takes effect in the business (`effective_at`) and when Bursar learned it (`recorded_at`).
//! The contract at any moment is a projection: the entries known at `known_at` that are in
//! effect at `as_of`, applied in effective order (ties in the order they were recorded). A new
//! operation is valid when the whole log, with it, still replays: it is checked against the
//! state at its effective time, and every later operation must still apply after it.

use crate::event_type;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::rating::PricingModel;
use crate::time::Timestamp;

/// Where a contract is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Draft,
    Active,
    Suspended,
    Terminated,
    Expired,
}

impl ContractStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Terminated => "terminated",
            Self::Expired => "expired",
        }
    }

    /// Terminated or expired: nothing changes it any more.
    pub fn ended(self) -> bool {
        matches!(self, Self::Terminated | Self::Expired)
    }
}

/// Whether the service the contract pays for is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    Provisioning,
    Live,
    Degraded,
    Stopped,
}

/// How a change within a billing period is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Proration {
    /// By the second of the period remaining.
    Second,
    /// By whole days remaining (the day of the change counts).
    Day,
    /// Changes take effect at the next period.
    None,
}

/// A line of a contract: a product at a (negotiated) unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractLine {
    pub id: String,
    pub product_id: String,
    /// Minor units of the contract's currency, per unit and billing period.
    pub unit_amount: i64,
    pub quantity: i64,
    /// The least the buyer pays per billing period for this line (minor units).
    pub minimum_commitment: Option<i64>,
    /// Paid up front at activation (minor units).
    pub downpayment: Option<i64>,
    /// When a fixed fee is billed: at the start of its period (default) or after it ends.
    /// Usage lines are always billed in arrears.
    #[serde(default)]
    pub timing: Timing,
    /// A usage line: the period's usage of a meter, priced by a pricing model (its
    /// `unit_amount` is 0 and `quantity` 1; a minimum commitment tops up the rated amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsagePricing>,
}

/// When a line's fee for a period is billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// On the invoice made at the period's start.
    #[default]
    InAdvance,
    /// On the invoice made at the next period's start.
    InArrears,
}

/// How a usage line is priced: a meter's usage by the buyer over the billing period (its
/// subjects, optionally only some group-by values), rated by a pricing model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsagePricing {
    /// The meter's slug.
    pub meter: String,
    pub pricing: PricingModel,
    /// Only usage with these group-by values (exact match).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter_group_by: BTreeMap<String, String>,
}

/// The term: when the contract runs and how it renews.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Term {
    pub start: Timestamp,
    /// None: open-ended.
    pub end: Option<Timestamp>,
    pub auto_renew: bool,
    /// Each renewal extends the end by this many months.
    pub renewal_months: u32,
    /// A renewal can be canceled until this many days before the end.
    pub notice_days: u32,
}

/// How the contract is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BillingTerms {
    /// Day of the month periods start on (1-28).
    pub anchor_day: u8,
    /// Days the buyer has to pay an invoice.
    pub payment_terms_days: u32,
    /// `email` or `portal`.
    pub invoice_delivery: String,
    pub proration: Proration,
}

/// A contract as projected from its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contract {
    pub id: String,
    pub object: String,
    /// The buyer: a customer (`cus_…`) or a company (`comp_…`).
    pub buyer_id: String,
    /// The seller, for a marketplace contract.
    pub seller_id: Option<String>,
    /// Days the seller's part of a paid invoice seasons before it can be paid out (none: the
    /// workspace's `seller_seasoning_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasoning_days: Option<u32>,
    /// Marketplace contracts: a partner (a customer) who referred the deal and earns
    /// `referral_share_bps` of the platform's fee on each paid invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_share_bps: Option<u32>,
    pub currency: String,
    pub status: ContractStatus,
    pub service_status: ServiceStatus,
    pub term: Term,
    pub billing: BillingTerms,
    pub lines: Vec<ContractLine>,
    /// No charge before this instant.
    pub trial_ends_at: Option<Timestamp>,
    /// Whether the trial turns into the paid contract at its end (else it lapses: the
    /// contract expires).
    #[serde(default = "yes")]
    pub trial_converts: bool,
    /// The trial-end reminder went out.
    #[serde(default)]
    pub trial_reminded: bool,
    /// The trial is over (converted or lapsed).
    #[serde(default)]
    pub trial_ended: bool,
    /// A termination scheduled for a later date.
    pub terminates_at: Option<Timestamp>,
    /// Whether the buyer canceled the next renewal (within the notice period).
    pub renewal_canceled: bool,
    /// Billing has invoiced the contract up to here: operations may not take effect earlier.
    pub billed_through: Option<Timestamp>,
    /// Operations applied.
    pub version: u64,
    /// Effective time of the last operation applied.
    pub updated_at: Timestamp,
}

fn yes() -> bool {
    true
}

/// Days before a trial ends that its reminder goes out.
pub const TRIAL_REMINDER_DAYS: i64 = 3;

/// What the create operation carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractDraft {
    pub buyer_id: String,
    pub seller_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasoning_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_share_bps: Option<u32>,
    pub currency: String,
    pub term: Term,
    pub billing: BillingTerms,
    pub trial_ends_at: Option<Timestamp>,
    /// Whether the trial converts at its end (default) or lapses unless converted.
    #[serde(default = "yes")]
    pub trial_converts: bool,
}

/// One change to a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Operation {
    Create(ContractDraft),
    AddLine {
        line_id: String,
        product_id: String,
        unit_amount: i64,
        quantity: i64,
        #[serde(default)]
        timing: Timing,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<UsagePricing>,
    },
    RemoveLine {
        line_id: String,
    },
    ChangeQuantity {
        line_id: String,
        quantity: i64,
    },
    ChangePrice {
        line_id: String,
        unit_amount: i64,
    },
    SetCommitment {
        line_id: String,
        minimum_commitment: Option<i64>,
    },
    SetDownpayment {
        line_id: String,
        downpayment: Option<i64>,
    },
    AmendTerm {
        end: Option<Timestamp>,
        auto_renew: bool,
        notice_days: u32,
    },
    Activate,
    Suspend,
    Resume,
    /// Ends the contract at its effective time, or schedules the end at `at`.
    Terminate {
        at: Option<Timestamp>,
        /// Why (`dunning` when a dunning step ended it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(max_length = 200)]
        reason: Option<String>,
    },
    /// Extends the term by one renewal period (the scheduler, or by hand).
    Renew,
    CancelRenewal,
    /// Undoes a canceled renewal before the term ends: the contract renews again.
    ResumeRenewal,
    /// The term's end passed without renewal.
    Expire,
    SetServiceStatus {
        service_status: ServiceStatus,
    },
    /// Billing invoiced the contract up to `through`.
    MarkBilled {
        through: Timestamp,
    },
    /// The buyer confirms the trial turns into the paid contract at its end.
    ConvertTrial,
    /// The scheduler's reminder that the trial ends soon.
    RemindTrialEnd,
    /// The trial is over: it converts, or (not converted) the contract lapses.
    EndTrial,
}

impl Operation {
    /// The domain event the operation records.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Create(_) => event_type::CONTRACT_CREATED,
            Self::AddLine { .. } => event_type::CONTRACT_LINE_ADDED,
            Self::RemoveLine { .. } => event_type::CONTRACT_LINE_REMOVED,
            Self::ChangeQuantity { .. } => event_type::CONTRACT_QUANTITY_CHANGED,
            Self::ChangePrice { .. } => event_type::CONTRACT_PRICE_CHANGED,
            Self::SetCommitment { .. } => event_type::CONTRACT_COMMITMENT_SET,
            Self::SetDownpayment { .. } => event_type::CONTRACT_DOWNPAYMENT_SET,
            Self::AmendTerm { .. } => event_type::CONTRACT_TERM_AMENDED,
            Self::Activate | Self::Suspend | Self::Resume | Self::Expire => {
                event_type::CONTRACT_STATUS_CHANGED
            }
            Self::Terminate { at: Some(_), .. } => event_type::CONTRACT_TERMINATION_SCHEDULED,
            Self::Terminate { at: None, .. } => event_type::CONTRACT_STATUS_CHANGED,
            Self::Renew => event_type::CONTRACT_RENEWED,
            Self::CancelRenewal => event_type::CONTRACT_RENEWAL_CANCELED,
            Self::ResumeRenewal => event_type::CONTRACT_RENEWAL_RESUMED,
            Self::SetServiceStatus { .. } => event_type::CONTRACT_SERVICE_STATUS_CHANGED,
            Self::MarkBilled { .. } => event_type::CONTRACT_BILLED,
            Self::ConvertTrial => event_type::CONTRACT_TRIAL_CONVERTED,
            Self::RemindTrialEnd => event_type::CONTRACT_TRIAL_ENDING,
            Self::EndTrial => event_type::CONTRACT_TRIAL_ENDED,
        }
    }
}

/// An operation in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    /// Position in the log (order recorded), from 1.
    pub seq: u64,
    pub effective_at: Timestamp,
    pub recorded_at: Timestamp,
    pub operation: Operation,
}

/// Why an operation cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The operation is not allowed in the contract's state (409 with the state).
    #[error("{message}")]
    State {
        code: &'static str,
        current: ContractStatus,
        message: String,
    },
    /// The operation's data is wrong (400 naming the field).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        param: &'static str,
        message: String,
    },
    /// A later operation of the log would no longer apply (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
}

fn state(code: &'static str, current: ContractStatus, message: String) -> ContractError {
    ContractError::State {
        code,
        current,
        message,
    }
}

fn invalid(code: &'static str, param: &'static str, message: String) -> ContractError {
    ContractError::Invalid {
        code,
        param,
        message,
    }
}

/// Adds calendar months to an instant (UTC), clamping the day to the month's length.
pub fn add_months(at: Timestamp, months: u32) -> Timestamp {
    let micros = at.unix_micros();
    let seconds = micros.div_euclid(1_000_000);
    let Ok(date) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        return at;
    };
    let total = i64::from(date.month() as u8) - 1 + i64::from(months);
    let year = date.year() + i32::try_from(total.div_euclid(12)).unwrap_or(0);
    let month = time::Month::try_from(u8::try_from(total.rem_euclid(12) + 1).unwrap_or(1))
        .unwrap_or(time::Month::January);
    let day = date.day().min(month.length(year));
    let Ok(moved) = date.replace_day(1).and_then(|d| {
        d.replace_year(year)
            .and_then(|d| d.replace_month(month))
            .and_then(|d| d.replace_day(day))
    }) else {
        return at;
    };
    Timestamp::from_unix_micros(moved.unix_timestamp() * 1_000_000 + micros.rem_euclid(1_000_000))
}

/// The line, unless it is a usage line (priced by its model, not a unit amount and quantity).
fn fixed_fee(line: &mut ContractLine) -> Result<&mut ContractLine, ContractError> {
    if line.usage.is_some() {
        return Err(invalid(
            "usage_line",
            "line_id",
            format!(
                "Line '{}' is a usage line: its pricing model sets the price and the meter the quantity.",
                line.id
            ),
        ));
    }
    Ok(line)
}

fn line_mut<'c>(
    contract: &'c mut Contract,
    line_id: &str,
) -> Result<&'c mut ContractLine, ContractError> {
    contract
        .lines
        .iter_mut()
        .find(|l| l.id == line_id)
        .ok_or_else(|| {
            invalid(
                "line_not_found",
                "line_id",
                format!("The contract has no line '{line_id}'."),
            )
        })
}

fn non_negative(value: Option<i64>, param: &'static str) -> Result<(), ContractError> {
    match value {
        Some(v) if v < 0 => Err(invalid(
            "amount_invalid",
            param,
            format!("{param} must be zero or more (minor units)."),
        )),
        Some(v) if v > crate::money::MAX_AMOUNT => Err(invalid(
            "amount_invalid",
            param,
            "Amounts are at most 1000000000000000 minor units.".into(),
        )),
        _ => Ok(()),
    }
}

fn positive_quantity(quantity: i64) -> Result<(), ContractError> {
    if quantity < 1 {
        return Err(invalid(
            "quantity_invalid",
            "quantity",
            "quantity must be at least 1.".into(),
        ));
    }
    Ok(())
}

fn editable(contract: &Contract, what: &str) -> Result<(), ContractError> {
    if contract.status.ended() {
        return Err(state(
            "contract_ended",
            contract.status,
            format!(
                "Cannot {what}: the contract is {}.",
                contract.status.as_str()
            ),
        ));
    }
    Ok(())
}

/// Applies `operation` at `at` to `contract` (None before the create operation).
pub fn apply(
    contract: Option<Contract>,
    id: &str,
    operation: &Operation,
    at: Timestamp,
) -> Result<Contract, ContractError> {
    let Some(mut c) = contract else {
        let Operation::Create(draft) = operation else {
            return Err(invalid(
                "contract_not_created",
                "type",
                "A contract's log starts with its create operation.".into(),
            ));
        };
        if let Some(end) = draft.term.end {
            if end <= draft.term.start {
                return Err(invalid(
                    "term_invalid",
                    "term.end",
                    "The term must end after it starts.".into(),
                ));
            }
        }
        if !(1..=28).contains(&draft.billing.anchor_day) {
            return Err(invalid(
                "anchor_day_invalid",
                "billing.anchor_day",
                "anchor_day must be 1-28.".into(),
            ));
        }
        return Ok(Contract {
            id: id.to_owned(),
            object: "contract".into(),
            buyer_id: draft.buyer_id.clone(),
            seller_id: draft.seller_id.clone(),
            seasoning_days: draft.seasoning_days,
            referrer_id: draft.referrer_id.clone(),
            referral_share_bps: draft.referral_share_bps,
            currency: draft.currency.clone(),
            status: ContractStatus::Draft,
            service_status: ServiceStatus::Provisioning,
            term: draft.term.clone(),
            billing: draft.billing.clone(),
            lines: Vec::new(),
            trial_ends_at: draft.trial_ends_at,
            trial_converts: draft.trial_converts,
            trial_reminded: false,
            trial_ended: false,
            terminates_at: None,
            renewal_canceled: false,
            billed_through: None,
            version: 1,
            updated_at: at,
        });
    };
    if let Some(through) = c.billed_through {
        if at < through && !matches!(operation, Operation::MarkBilled { .. }) {
            return Err(ContractError::Conflict {
                code: "period_invoiced",
                message: format!(
                    "The contract is invoiced through {}; a change cannot take effect before it.",
                    through.to_rfc3339()
                ),
            });
        }
    }
    match operation {
        Operation::Create(_) => {
            return Err(invalid(
                "contract_exists",
                "type",
                "The contract is created already.".into(),
            ))
        }
        Operation::AddLine {
            line_id,
            product_id,
            unit_amount,
            quantity,
            timing,
            usage,
        } => {
            editable(&c, "add a line")?;
            positive_quantity(*quantity)?;
            non_negative(Some(*unit_amount), "unit_amount")?;
            if let Some(usage) = usage {
                usage
                    .pricing
                    .check()
                    .map_err(|e| invalid("pricing_invalid", "usage.pricing", e.0))?;
                if *unit_amount != 0 || *quantity != 1 || *timing != Timing::InArrears {
                    return Err(invalid(
                        "usage_line_invalid",
                        "usage",
                        "A usage line is priced by its pricing model and billed in arrears \
                         (unit_amount 0, quantity 1, timing in_arrears)."
                            .into(),
                    ));
                }
            }
            if c.lines.iter().any(|l| &l.id == line_id) {
                return Err(invalid(
                    "line_exists",
                    "line_id",
                    format!("The contract has a line '{line_id}' already."),
                ));
            }
            c.lines.push(ContractLine {
                id: line_id.clone(),
                product_id: product_id.clone(),
                unit_amount: *unit_amount,
                quantity: *quantity,
                minimum_commitment: None,
                downpayment: None,
                timing: *timing,
                usage: usage.clone(),
            });
        }
        Operation::RemoveLine { line_id } => {
            editable(&c, "remove a line")?;
            line_mut(&mut c, line_id)?;
            c.lines.retain(|l| &l.id != line_id);
        }
        Operation::ChangeQuantity { line_id, quantity } => {
            editable(&c, "change a quantity")?;
            positive_quantity(*quantity)?;
            fixed_fee(line_mut(&mut c, line_id)?)?.quantity = *quantity;
        }
        Operation::ChangePrice {
            line_id,
            unit_amount,
        } => {
            editable(&c, "change a price")?;
            non_negative(Some(*unit_amount), "unit_amount")?;
            fixed_fee(line_mut(&mut c, line_id)?)?.unit_amount = *unit_amount;
        }
        Operation::SetCommitment {
            line_id,
            minimum_commitment,
        } => {
            editable(&c, "set a commitment")?;
            non_negative(*minimum_commitment, "minimum_commitment")?;
            line_mut(&mut c, line_id)?.minimum_commitment = *minimum_commitment;
        }
        Operation::SetDownpayment {
            line_id,
            downpayment,
        } => {
            editable(&c, "set a downpayment")?;
            non_negative(*downpayment, "downpayment")?;
            if c.status != ContractStatus::Draft {
                return Err(state(
                    "contract_not_draft",
                    c.status,
                    "A downpayment is set before the contract is activated.".into(),
                ));
            }
            line_mut(&mut c, line_id)?.downpayment = *downpayment;
        }
        Operation::AmendTerm {
            end,
            auto_renew,
            notice_days,
        } => {
            editable(&c, "amend the term")?;
            if end.is_some_and(|e| e <= c.term.start || e < at) {
                return Err(invalid(
                    "term_invalid",
                    "end",
                    "The new end must be after the start and not in the past of the change.".into(),
                ));
            }
            c.term.end = *end;
            c.term.auto_renew = *auto_renew;
            c.term.notice_days = *notice_days;
        }
        Operation::Activate => {
            if c.status != ContractStatus::Draft {
                return Err(state(
                    "contract_not_draft",
                    c.status,
                    format!(
                        "Only a draft contract can be activated; this one is {}.",
                        c.status.as_str()
                    ),
                ));
            }
            if c.lines.is_empty() {
                return Err(invalid(
                    "contract_has_no_lines",
                    "lines",
                    "A contract needs a line before it is activated.".into(),
                ));
            }
            c.status = ContractStatus::Active;
        }
        Operation::Suspend => {
            if c.status != ContractStatus::Active {
                return Err(state(
                    "contract_not_active",
                    c.status,
                    format!(
                        "Only an active contract can be suspended; this one is {}.",
                        c.status.as_str()
                    ),
                ));
            }
            c.status = ContractStatus::Suspended;
        }
        Operation::Resume => {
            if c.status != ContractStatus::Suspended {
                return Err(state(
                    "contract_not_suspended",
                    c.status,
                    format!(
                        "Only a suspended contract can be resumed; this one is {}.",
                        c.status.as_str()
                    ),
                ));
            }
            c.status = ContractStatus::Active;
        }
        Operation::Terminate { at: scheduled, .. } => {
            editable(&c, "terminate it")?;
            match scheduled {
                Some(when) if *when > at => c.terminates_at = Some(*when),
                Some(_) => {
                    return Err(invalid(
                        "termination_in_past",
                        "at",
                        "A scheduled termination must be after the operation takes effect; omit `at` to end now.".into(),
                    ))
                }
                None => {
                    c.status = ContractStatus::Terminated;
                    c.terminates_at = None;
                    c.service_status = ServiceStatus::Stopped;
                }
            }
        }
        Operation::Renew => {
            editable(&c, "renew it")?;
            let Some(end) = c.term.end else {
                return Err(invalid(
                    "term_open_ended",
                    "term.end",
                    "An open-ended contract does not renew.".into(),
                ));
            };
            if c.renewal_canceled {
                return Err(state(
                    "renewal_canceled",
                    c.status,
                    "The renewal was canceled.".into(),
                ));
            }
            c.term.end = Some(add_months(end, c.term.renewal_months.max(1)));
        }
        Operation::CancelRenewal => {
            editable(&c, "cancel its renewal")?;
            let Some(end) = c.term.end else {
                return Err(invalid(
                    "term_open_ended",
                    "term.end",
                    "An open-ended contract has no renewal to cancel.".into(),
                ));
            };
            let deadline = end.plus_seconds(-i64::from(c.term.notice_days) * 86_400);
            if at > deadline {
                return Err(ContractError::Conflict {
                    code: "notice_period_passed",
                    message: format!(
                        "The renewal could be canceled until {} ({} days' notice).",
                        deadline.to_rfc3339(),
                        c.term.notice_days
                    ),
                });
            }
            c.renewal_canceled = true;
        }
        Operation::ResumeRenewal => {
            editable(&c, "resume its renewal")?;
            if !c.renewal_canceled {
                return Err(state(
                    "renewal_not_canceled",
                    c.status,
                    "The contract renews: there is no canceled renewal to resume.".into(),
                ));
            }
            if c.term.end.is_some_and(|end| at >= end) {
                return Err(state(
                    "term_ended",
                    c.status,
                    "The term has ended; a new contract starts a new term.".into(),
                ));
            }
            c.renewal_canceled = false;
        }
        Operation::Expire => {
            editable(&c, "expire it")?;
            if c.term.end.is_none_or(|end| at < end) {
                return Err(invalid(
                    "term_not_ended",
                    "term.end",
                    "A contract expires at the end of its term.".into(),
                ));
            }
            c.status = ContractStatus::Expired;
            c.service_status = ServiceStatus::Stopped;
        }
        Operation::SetServiceStatus { service_status } => {
            editable(&c, "change its service status")?;
            c.service_status = *service_status;
        }
        Operation::ConvertTrial | Operation::RemindTrialEnd | Operation::EndTrial => {
            editable(&c, "change its trial")?;
            let Some(ends) = c.trial_ends_at.filter(|_| !c.trial_ended) else {
                return Err(state(
                    "no_trial",
                    c.status,
                    "The contract has no trial running.".into(),
                ));
            };
            match operation {
                Operation::ConvertTrial => c.trial_converts = true,
                Operation::RemindTrialEnd => c.trial_reminded = true,
                _ => {
                    if at < ends {
                        return Err(invalid(
                            "trial_not_over",
                            "trial_ends_at",
                            "A trial ends at its end.".into(),
                        ));
                    }
                    c.trial_ended = true;
                    if !c.trial_converts {
                        c.status = ContractStatus::Expired;
                        c.service_status = ServiceStatus::Stopped;
                    }
                }
            }
        }
        Operation::MarkBilled { through } => {
            if c.billed_through.is_some_and(|b| *through < b) {
                return Err(invalid(
                    "billed_backwards",
                    "through",
                    "Invoicing never moves back.".into(),
                ));
            }
            c.billed_through = Some(*through);
        }
    }
    c.version += 1;
    c.updated_at = at;
    Ok(c)
}

/// The entries known at `known_at` and in effect at `as_of`, in the order they apply.
pub fn visible(log: &[LogEntry], as_of: Timestamp, known_at: Timestamp) -> Vec<&LogEntry> {
    let mut entries: Vec<&LogEntry> = log
        .iter()
        .filter(|e| e.recorded_at <= known_at && e.effective_at <= as_of)
        .collect();
    entries.sort_by_key(|e| (e.effective_at, e.seq));
    entries
}

/// The contract at `as_of` as known at `known_at`: None before its creation (as known then).
/// Err when the log does not replay (it always does when every entry was validated).
pub fn project(
    id: &str,
    log: &[LogEntry],
    as_of: Timestamp,
    known_at: Timestamp,
) -> Result<Option<Contract>, ContractError> {
    let mut contract = None;
    for entry in visible(log, as_of, known_at) {
        contract = Some(apply(contract, id, &entry.operation, entry.effective_at)?);
    }
    Ok(contract)
}

/// What a valid new entry gives: the contract at its effective time, and the contract after
/// the whole log (the stored projection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub at_entry: Contract,
    pub latest: Contract,
}

/// Checks that `entry` can join `log`: the log with it replays to the end of time as known
/// now.
pub fn validate(id: &str, log: &[LogEntry], entry: &LogEntry) -> Result<Validated, ContractError> {
    // Invoiced periods are closed, whatever the order the invoicing took effect in.
    let billed = log
        .iter()
        .filter_map(|e| match e.operation {
            Operation::MarkBilled { through } => Some(through),
            _ => None,
        })
        .max();
    if let Some(through) = billed {
        if entry.effective_at < through && !matches!(entry.operation, Operation::MarkBilled { .. })
        {
            return Err(ContractError::Conflict {
                code: "period_invoiced",
                message: format!(
                    "The contract is invoiced through {}; a change cannot take effect before it.",
                    through.to_rfc3339()
                ),
            });
        }
    }
    let mut all: Vec<LogEntry> = log.to_vec();
    all.push(entry.clone());
    let mut ordered: Vec<&LogEntry> = all.iter().collect();
    ordered.sort_by_key(|e| (e.effective_at, e.seq));
    let mut contract = None;
    let mut at_entry = None;
    for e in ordered {
        let applied = apply(contract, id, &e.operation, e.effective_at);
        match applied {
            Ok(next) => {
                if e.seq == entry.seq {
                    at_entry = Some(next.clone());
                }
                contract = Some(next);
            }
            // The new entry itself: its own error.
            Err(error) if e.seq == entry.seq => return Err(error),
            Err(error) => {
                return Err(ContractError::Conflict {
                    code: "later_operation_conflicts",
                    message: format!(
                        "Taking effect at {}, this change would break operation {} ({}) recorded later: {error}",
                        entry.effective_at.to_rfc3339(),
                        e.seq,
                        e.operation.event_type()
                    ),
                })
            }
        }
    }
    match (at_entry, contract) {
        (Some(at_entry), Some(latest)) => Ok(Validated { at_entry, latest }),
        _ => Err(ContractError::Conflict {
            code: "later_operation_conflicts",
            message: "BUG: the entry was not applied".into(),
        }),
    }
}

/// The scheduler's decision for a contract at `now`: what operations are due.
pub fn due(contract: &Contract, now: Timestamp) -> Vec<(Operation, Timestamp)> {
    let mut due = Vec::new();
    if contract.status.ended() {
        return due;
    }
    if let Some(at) = contract.terminates_at {
        if at <= now {
            due.push((
                Operation::Terminate {
                    at: None,
                    reason: None,
                },
                at,
            ));
            return due;
        }
    }
    if let Some(ends) = contract.trial_ends_at.filter(|_| !contract.trial_ended) {
        if contract.status != ContractStatus::Draft {
            let remind_at = ends.plus_seconds(-TRIAL_REMINDER_DAYS * 86_400);
            if ends <= now {
                due.push((Operation::EndTrial, ends));
                return due;
            }
            if remind_at <= now && !contract.trial_reminded {
                due.push((Operation::RemindTrialEnd, remind_at));
                return due;
            }
        }
    }
    if let Some(end) = contract.term.end {
        if end <= now && contract.status != ContractStatus::Draft {
            if contract.term.auto_renew && !contract.renewal_canceled {
                due.push((Operation::Renew, end));
            } else {
                due.push((Operation::Expire, end));
            }
        }
    }
    due
}

/// A line's fixed amount for a period (unit amount × quantity, at least its commitment); 0 for
/// a usage line (its commitment tops up the rated usage when the period is billed).
pub fn line_amount(line: &ContractLine) -> Option<i64> {
    if line.usage.is_some() {
        return Some(0);
    }
    let amount = line.unit_amount.checked_mul(line.quantity)?;
    Some(amount.max(line.minimum_commitment.unwrap_or(0)))
}

/// The lines by id.
pub fn lines_by_id(contract: &Contract) -> BTreeMap<&str, &ContractLine> {
    contract.lines.iter().map(|l| (l.id.as_str(), l)).collect()
}

#[cfg(test)]
mod tests;

/// The answer to an operation: the entry appended and the contract it leads to.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationResult {
    pub object: &'static str,
    pub entry: LogEntry,
    /// The contract once every operation known takes effect (future-dated ones included).
    pub contract: Contract,
}
