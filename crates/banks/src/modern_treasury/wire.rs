//! Reading Modern Treasury's JSON objects into rail-neutral types. Every reader returns a
//! message naming the missing or wrong field.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::event::{BankReturn, Corrections, IncomingPayment, NotificationOfChange, ReturnStatus};
use crate::types::{
    mask_number, AccountBalance, BankNumber, Counterparty, CounterpartyAccount, Direction,
    ExpectedPayment, ExpectedPaymentStatus, PaymentOrder, PaymentOrderStatus, Rail,
    ReconciliationRule,
};

pub(super) fn opt_str(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub(super) fn req_str(object: &Value, key: &str) -> Result<String, String> {
    opt_str(object, key).ok_or_else(|| format!("'{key}' is missing or not a string"))
}

fn opt_i64(object: &Value, key: &str) -> Option<i64> {
    object.get(key).and_then(Value::as_i64)
}

fn req_i64(object: &Value, key: &str) -> Result<i64, String> {
    opt_i64(object, key).ok_or_else(|| format!("'{key}' is missing or not an integer"))
}

fn direction(object: &Value, key: &str) -> Result<Direction, String> {
    let text = req_str(object, key)?;
    Direction::parse(&text).ok_or_else(|| format!("'{key}' is '{text}', not credit or debit"))
}

/// String values of an object field (`metadata`, `custom_identifiers`); others are skipped.
pub(super) fn string_map(object: &Value, key: &str) -> BTreeMap<String, String> {
    object
        .get(key)
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// `••••6789` from the last digits the bank already shows (`account_number_safe`: `6789`).
fn from_safe(safe: &str) -> String {
    let chars: Vec<char> = safe.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("••••{tail}")
}

/// Modern Treasury's payment order statuses, reduced to Bursar's.
pub(super) fn payment_order_status(text: &str) -> Option<PaymentOrderStatus> {
    use PaymentOrderStatus::*;
    Some(match text {
        "pending" | "needs_approval" | "approved" | "held" => Pending,
        "processing" => Processing,
        "sent" => Sent,
        "completed" => Completed,
        "failed" | "denied" => Failed,
        "returned" | "reversed" => Returned,
        "cancelled" | "stopped" => Cancelled,
        _ => return None,
    })
}

pub(super) fn payment_order(object: &Value) -> Result<PaymentOrder, String> {
    let status = req_str(object, "status")?;
    Ok(PaymentOrder {
        id: req_str(object, "id")?,
        status: payment_order_status(&status)
            .ok_or_else(|| format!("'status' is '{status}', not a payment order status"))?,
        rail: Rail::parse(&req_str(object, "type")?),
        direction: direction(object, "direction")?,
        amount: req_i64(object, "amount")?,
        currency: req_str(object, "currency")?,
        originating_account_id: opt_str(object, "originating_account_id"),
        counterparty_id: opt_str(object, "counterparty_id"),
        receiving_account_id: opt_str(object, "receiving_account_id"),
        effective_date: opt_str(object, "effective_date"),
        reference: opt_str(object, "remittance_information"),
        metadata: string_map(object, "metadata"),
    })
}

pub(super) fn rule(object: &Value) -> Result<ReconciliationRule, String> {
    Ok(ReconciliationRule {
        amount_lower_bound: req_i64(object, "amount_lower_bound")?,
        amount_upper_bound: req_i64(object, "amount_upper_bound")?,
        direction: direction(object, "direction")?,
        internal_account_id: req_str(object, "internal_account_id")?,
        currency: opt_str(object, "currency"),
        rail: opt_str(object, "type").map(|t| Rail::parse(&t)),
        date_lower_bound: opt_str(object, "date_lower_bound"),
        date_upper_bound: opt_str(object, "date_upper_bound"),
        counterparty_id: opt_str(object, "counterparty_id"),
        custom_identifiers: string_map(object, "custom_identifiers"),
    })
}

pub(super) fn rules(object: &Value) -> Result<Vec<ReconciliationRule>, String> {
    object
        .get("reconciliation_rule_variables")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().map(rule).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
        .map_err(|e| format!("reconciliation_rule_variables: {e}"))
}

pub(super) fn expected_payment(object: &Value) -> Result<ExpectedPayment, String> {
    let status = req_str(object, "status")?;
    Ok(ExpectedPayment {
        id: req_str(object, "id")?,
        status: ExpectedPaymentStatus::parse(&status)
            .ok_or_else(|| format!("'status' is '{status}', not an expected payment status"))?,
        rules: rules(object)?,
        amount_reconciled: opt_i64(object, "amount_reconciled"),
        amount_unreconciled: opt_i64(object, "amount_unreconciled"),
        transaction_id: opt_str(object, "transaction_id"),
        external_id: opt_str(object, "external_id"),
        reference: opt_str(object, "remittance_information"),
        metadata: string_map(object, "metadata"),
    })
}

pub(super) fn counterparty(object: &Value) -> Result<Counterparty, String> {
    let accounts = object
        .get("accounts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|account| {
            let first = |list: &str| {
                account
                    .get(list)
                    .and_then(Value::as_array)
                    .and_then(|l| l.first())
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            Ok(CounterpartyAccount {
                id: req_str(account, "id").map_err(|e| format!("accounts: {e}"))?,
                party_name: opt_str(account, "party_name"),
                // The bank shows only the last digits (`account_number_safe`).
                account_number_masked: opt_str(&first("account_details"), "account_number_safe")
                    .map(|safe| from_safe(&safe)),
                routing_number_masked: opt_str(&first("routing_details"), "routing_number")
                    .map(|number| mask_number(&number)),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Counterparty {
        id: req_str(object, "id")?,
        name: opt_str(object, "name"),
        accounts,
        metadata: string_map(object, "metadata"),
    })
}

fn return_status(text: Option<&str>) -> ReturnStatus {
    match text {
        Some("pending") => ReturnStatus::Pending,
        Some("completed") => ReturnStatus::Completed,
        Some("failed") => ReturnStatus::Failed,
        _ => ReturnStatus::Other,
    }
}

/// Whether a return object is a notification of change (`ach_noc`, or a NACHA C-code).
pub(super) fn is_notification_of_change(object: &Value) -> bool {
    opt_str(object, "type").as_deref() == Some("ach_noc")
        || opt_str(object, "code").is_some_and(|code| code.starts_with('C'))
}

pub(super) fn bank_return(object: &Value) -> Result<BankReturn, String> {
    Ok(BankReturn {
        return_id: req_str(object, "id")?,
        status: return_status(object.get("status").and_then(Value::as_str)),
        code: opt_str(object, "code"),
        reason: opt_str(object, "reason"),
        amount: req_i64(object, "amount")?,
        currency: req_str(object, "currency")?,
        returnable_id: opt_str(object, "returnable_id"),
        returnable_type: opt_str(object, "returnable_type"),
        role: opt_str(object, "role"),
        rail: opt_str(object, "type").map(|t| Rail::parse(&t)),
    })
}

pub(super) fn notification_of_change(object: &Value) -> Result<NotificationOfChange, String> {
    let corrections = object.get("corrections").cloned().unwrap_or(Value::Null);
    let number = |key: &str| opt_str(&corrections, key).map(BankNumber::new);
    Ok(NotificationOfChange {
        return_id: req_str(object, "id")?,
        code: req_str(object, "code")?,
        reason: opt_str(object, "reason"),
        returnable_id: opt_str(object, "returnable_id"),
        returnable_type: opt_str(object, "returnable_type"),
        corrections: Corrections {
            routing_number: number("routing_number"),
            account_number: number("account_number"),
            transaction_code: opt_str(&corrections, "transaction_code"),
            company_id: opt_str(&corrections, "company_id"),
            company_name: opt_str(&corrections, "company_name"),
            individual_identification_number: opt_str(
                &corrections,
                "individual_identification_number",
            ),
        },
    })
}

pub(super) fn incoming_payment(object: &Value) -> Result<IncomingPayment, String> {
    Ok(IncomingPayment {
        id: req_str(object, "id")?,
        rail: Rail::parse(&req_str(object, "type")?),
        direction: direction(object, "direction")?,
        amount: req_i64(object, "amount")?,
        currency: req_str(object, "currency")?,
        status: req_str(object, "status")?,
        as_of_date: opt_str(object, "as_of_date"),
        internal_account_id: opt_str(object, "internal_account_id"),
        virtual_account_id: opt_str(object, "virtual_account_id"),
        originator_name: opt_str(object, "originating_party_name"),
        reference: opt_str(object, "remittance_information"),
        originating_account_number_masked: opt_str(object, "originating_account_number_safe")
            .map(|safe| from_safe(&safe)),
        originating_routing_number: opt_str(object, "originating_routing_number"),
        transaction_id: opt_str(object, "transaction_id"),
        metadata: string_map(object, "metadata"),
    })
}

/// A balance report's ledger balance per currency: `current_ledger`, else `closing_ledger`.
pub(super) fn balance_report(object: &Value) -> Result<Vec<AccountBalance>, String> {
    let as_of_date = req_str(object, "as_of_date")?;
    let balances = object
        .get("balances")
        .and_then(Value::as_array)
        .ok_or("'balances' is missing or not a list")?;
    let mut found: BTreeMap<String, (u8, i64)> = BTreeMap::new();
    for balance in balances {
        let rank = match opt_str(balance, "balance_type").as_deref() {
            Some("current_ledger") => 2,
            Some("closing_ledger") => 1,
            _ => continue,
        };
        let currency = req_str(balance, "currency").map_err(|e| format!("balances: {e}"))?;
        let amount = req_i64(balance, "amount").map_err(|e| format!("balances: {e}"))?;
        let slot = found.entry(currency).or_insert((rank, amount));
        if rank > slot.0 {
            *slot = (rank, amount);
        }
    }
    Ok(found
        .into_iter()
        .map(|(currency, (_, amount))| AccountBalance {
            currency,
            amount,
            as_of_date: as_of_date.clone(),
        })
        .collect())
}
