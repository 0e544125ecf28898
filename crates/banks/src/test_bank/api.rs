//! The test bank's API: what `BankRails` calls do to its state. Bad input is refused like
//! Modern Treasury refuses it (422, naming the parameter); a repeated attempt id returns the
//! object it created.

use bursar_domain::time::Timestamp;

use super::calendar::{self, Scenario, INSTANT_AFTER_SECONDS, PROCESSING_AFTER_SECONDS};
use super::records::{AccountRecord, ExpectedRecord, OrderRecord};
use super::state::{Due, State};
use crate::modern_treasury::{ATTEMPT_ID_KEY, PARTY_ID_KEY};
use crate::types::{
    BankNumber, Counterparty, CounterpartyAccount, CounterpartyRequest, Direction, ExpectedPayment,
    ExpectedPaymentRequest, ExpectedPaymentStatus, ExternalAccount, FailureReason, PaymentOrder,
    PaymentOrderRequest, PaymentOrderStatus, Rail, ReceivingAccount, ReconciliationRule,
};
use crate::ProviderError;

/// A 422 naming `parameter`, as Modern Treasury answers bad input.
pub(super) fn refused(parameter: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Refused {
        status: 422,
        code: "parameter_invalid".into(),
        message: format!("{} (parameter: {parameter})", message.into()),
    }
}

fn not_found(what: &str, id: &str) -> ProviderError {
    ProviderError::Refused {
        status: 404,
        code: "resource_not_found".into(),
        message: format!("no {what} '{id}' (parameter: id)"),
    }
}

fn reused(attempt_id: &str) -> ProviderError {
    ProviderError::Refused {
        status: 422,
        code: "idempotency_key_reused".into(),
        message: format!(
            "attempt '{attempt_id}' was already used with other parameters (parameter: attempt_id)"
        ),
    }
}

/// Refuses an empty required text.
fn required(parameter: &str, value: &str) -> Result<(), ProviderError> {
    match value.trim().is_empty() {
        true => Err(refused(parameter, "is required")),
        false => Ok(()),
    }
}

/// Three upper-case ASCII letters (ISO 4217).
pub(super) fn valid_currency(currency: &str) -> bool {
    currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase())
}

fn digits(number: &BankNumber, min: usize, max: usize) -> bool {
    let text = number.expose();
    (min..=max).contains(&text.len()) && text.chars().all(|c| c.is_ascii_digit())
}

fn check_account(account: &ExternalAccount, at: &str) -> Result<(), ProviderError> {
    if !digits(&account.routing_number, 9, 9) {
        return Err(refused(
            &format!("{at}.routing_number"),
            "must be 9 digits (ABA)",
        ));
    }
    if !digits(&account.account_number, 4, 17) {
        return Err(refused(
            &format!("{at}.account_number"),
            "must be 4 to 17 digits",
        ));
    }
    Ok(())
}

impl State {
    /// Refuses the call while a scripted outage lasts.
    pub fn outage_check(&mut self) -> Result<(), ProviderError> {
        if self.outage == 0 {
            return Ok(());
        }
        self.outage -= 1;
        Err(ProviderError::Unavailable(format!(
            "test bank: scripted outage ({} more call(s) to refuse)",
            self.outage
        )))
    }

    pub fn create_counterparty(
        &mut self,
        request: &CounterpartyRequest,
    ) -> Result<Counterparty, ProviderError> {
        required("attempt_id", &request.attempt_id)?;
        if let Some((seen, answer)) = self.counterparty_attempts.get(&request.attempt_id) {
            return match seen == request {
                true => Ok(answer.clone()),
                false => Err(reused(&request.attempt_id)),
            };
        }
        required("name", &request.name)?;
        for (index, account) in request.accounts.iter().enumerate() {
            check_account(account, &format!("accounts[{index}]"))?;
        }
        let id = self.next_id("cp");
        let accounts = request
            .accounts
            .iter()
            .map(|a| self.add_account(a))
            .collect();
        let mut metadata = request.metadata.clone();
        metadata.insert(PARTY_ID_KEY.into(), request.party_id.clone());
        let answer = Counterparty {
            id,
            name: Some(request.name.clone()),
            accounts,
            metadata,
        };
        self.counterparty_attempts.insert(
            request.attempt_id.clone(),
            (request.clone(), answer.clone()),
        );
        Ok(answer)
    }

    fn add_account(&mut self, account: &ExternalAccount) -> CounterpartyAccount {
        let id = self.next_id("ea");
        self.accounts.insert(
            id.clone(),
            AccountRecord {
                account_number: account.account_number.clone(),
            },
        );
        CounterpartyAccount {
            id,
            party_name: account.party_name.clone(),
            account_number_masked: Some(account.account_number.masked()),
            routing_number_masked: Some(account.routing_number.masked()),
        }
    }

    pub fn payment_order(&self, id: &str) -> Result<PaymentOrder, ProviderError> {
        self.orders
            .get(id)
            .map(|record| record.order.clone())
            .ok_or_else(|| not_found("payment order", id))
    }

    pub fn create_payment_order(
        &mut self,
        request: &PaymentOrderRequest,
        now: Timestamp,
    ) -> Result<PaymentOrder, ProviderError> {
        required("attempt_id", &request.attempt_id)?;
        if let Some((seen, id)) = self.order_attempts.get(&request.attempt_id) {
            return match seen == request {
                true => self.payment_order(&id.clone()),
                false => Err(reused(&request.attempt_id)),
            };
        }
        check_order(request)?;
        let effective = effective_date(request, now)?;
        let (account_id, number) = self.receiving_account(&request.receiving_account)?;
        let id = self.next_id("po");
        let mut record = new_order(request, id.clone(), account_id, now);
        self.script(&mut record, &number);
        record.order.effective_date = Some(self.plan(&record, effective, now).to_string());
        self.order_attempts
            .insert(request.attempt_id.clone(), (request.clone(), id.clone()));
        let order = record.order.clone();
        self.orders.insert(id, record);
        Ok(order)
    }

    /// The receiving account's id and number; an inline account becomes a new external account.
    fn receiving_account(
        &mut self,
        account: &ReceivingAccount,
    ) -> Result<(String, String), ProviderError> {
        match account {
            ReceivingAccount::Id(id) => self
                .accounts
                .get(id)
                .map(|a| (id.clone(), a.account_number.expose().to_owned()))
                .ok_or_else(|| {
                    refused(
                        "receiving_account_id",
                        format!("no external account '{id}'"),
                    )
                }),
            ReceivingAccount::Inline(inline) => {
                check_account(inline, "receiving_account")?;
                let created = self.add_account(inline);
                Ok((created.id, inline.account_number.expose().to_owned()))
            }
        }
    }

    /// Applies the receiving account number's scenario (see the module documentation).
    fn script(&mut self, record: &mut OrderRecord, account_number: &str) {
        let fail = |message: &str| FailureReason {
            code: Some("receiving_account_rejected".into()),
            message: Some(message.into()),
            parameter: Some("receiving_account".into()),
        };
        match calendar::scenario(account_number) {
            Scenario::Succeed => {}
            Scenario::Fail => {
                record.failure = Some(fail("the receiving bank rejected the payment"))
            }
            Scenario::FailOnce if self.failed_once.insert(account_number.to_owned()) => {
                record.failure = Some(fail("the receiving bank rejected the payment once"))
            }
            Scenario::FailOnce => {}
            Scenario::Return(code) if record.order.rail == Rail::Ach => {
                record.auto_return = Some(code)
            }
            Scenario::Return(_) => {}
        }
    }

    /// Schedules the order's lifecycle; the settlement date (today for instant rails).
    fn plan(
        &mut self,
        record: &OrderRecord,
        effective: jiff::civil::Date,
        now: Timestamp,
    ) -> jiff::civil::Date {
        let id = &record.order.id;
        let at = |seconds| now.plus_seconds(seconds);
        let due = |status| Due::Order {
            id: id.clone(),
            status,
        };
        self.schedule(
            at(PROCESSING_AFTER_SECONDS),
            due(PaymentOrderStatus::Processing),
        );
        if record.failure.is_some() {
            self.schedule(at(INSTANT_AFTER_SECONDS), due(PaymentOrderStatus::Failed));
            return effective;
        }
        self.schedule(at(INSTANT_AFTER_SECONDS), due(PaymentOrderStatus::Sent));
        let settles = match (&record.order.rail, record.order.direction) {
            (Rail::Ach, Direction::Credit) => calendar::settles_after(effective, 1),
            (Rail::Ach, Direction::Debit) => calendar::settles_after(effective, 2),
            _ => at(INSTANT_AFTER_SECONDS),
        };
        self.schedule(settles, due(PaymentOrderStatus::Completed));
        calendar::date_of(settles)
    }

    pub fn create_expected_payment(
        &mut self,
        request: &ExpectedPaymentRequest,
        now: Timestamp,
    ) -> Result<ExpectedPayment, ProviderError> {
        required("attempt_id", &request.attempt_id)?;
        if let Some((seen, id)) = self.expected_attempts.get(&request.attempt_id) {
            if seen != request {
                return Err(reused(&request.attempt_id));
            }
            let found = self.expected.iter().find(|e| &e.expected.id == id);
            return found
                .map(|e| e.expected.clone())
                .ok_or_else(|| not_found("expected payment", id));
        }
        check_rule(&request.rule)?;
        let id = self.next_id("ep");
        let mut metadata = request.metadata.clone();
        metadata.insert(ATTEMPT_ID_KEY.into(), request.attempt_id.clone());
        let expected = ExpectedPayment {
            id: id.clone(),
            status: ExpectedPaymentStatus::Unreconciled,
            rules: vec![request.rule.clone()],
            amount_reconciled: Some(0),
            amount_unreconciled: Some(request.rule.amount_upper_bound),
            transaction_id: None,
            external_id: None,
            reference: request.reference.clone(),
            metadata,
        };
        self.expected.push(ExpectedRecord {
            expected: expected.clone(),
            description: request.description.clone(),
            line_item_id: None,
            created_at: now,
            updated_at: now,
        });
        self.expected_attempts
            .insert(request.attempt_id.clone(), (request.clone(), id));
        Ok(expected)
    }
}

fn check_order(request: &PaymentOrderRequest) -> Result<(), ProviderError> {
    if request.amount <= 0 {
        return Err(refused(
            "amount",
            "must be a positive number of minor units",
        ));
    }
    if !valid_currency(&request.currency) {
        return Err(refused(
            "currency",
            "must be an ISO 4217 code in upper case",
        ));
    }
    required("originating_account_id", &request.originating_account_id)?;
    match (&request.rail, request.direction) {
        (Rail::Ach, _) | (Rail::Wire | Rail::Rtp | Rail::Book, Direction::Credit) => Ok(()),
        (Rail::Wire | Rail::Rtp | Rail::Book, Direction::Debit) => Err(refused(
            "direction",
            format!(
                "the test bank pulls money only by ACH, not by {}",
                request.rail.as_str()
            ),
        )),
        (Rail::Other(rail), _) => Err(refused(
            "type",
            format!("the test bank has no '{rail}' rail"),
        )),
    }
}

/// The order's effective date: the given one when not before today, else today.
fn effective_date(
    request: &PaymentOrderRequest,
    now: Timestamp,
) -> Result<jiff::civil::Date, ProviderError> {
    let today = calendar::date_of(now);
    match &request.effective_date {
        None => Ok(today),
        Some(text) => calendar::parse_date(text)
            .map(|date| date.max(today))
            .ok_or_else(|| {
                refused(
                    "effective_date",
                    format!("'{text}' is not a YYYY-MM-DD date"),
                )
            }),
    }
}

fn new_order(
    request: &PaymentOrderRequest,
    id: String,
    account_id: String,
    now: Timestamp,
) -> OrderRecord {
    let mut metadata = request.metadata.clone();
    metadata.insert(ATTEMPT_ID_KEY.into(), request.attempt_id.clone());
    OrderRecord {
        order: PaymentOrder {
            id,
            status: PaymentOrderStatus::Pending,
            rail: request.rail.clone(),
            direction: request.direction,
            amount: request.amount,
            currency: request.currency.clone(),
            originating_account_id: Some(request.originating_account_id.clone()),
            counterparty_id: request.counterparty_id.clone(),
            receiving_account_id: Some(account_id),
            effective_date: None,
            reference: request.reference.clone(),
            metadata,
        },
        description: request.description.clone(),
        created_at: now,
        updated_at: now,
        settled_on: None,
        failure: None,
        auto_return: None,
        return_id: None,
    }
}

fn check_rule(rule: &ReconciliationRule) -> Result<(), ProviderError> {
    if rule.amount_lower_bound <= 0 {
        return Err(refused("amount_lower_bound", "must be positive"));
    }
    if rule.amount_upper_bound < rule.amount_lower_bound {
        return Err(refused(
            "amount_upper_bound",
            "must not be below amount_lower_bound",
        ));
    }
    required("internal_account_id", &rule.internal_account_id)?;
    if let Some(currency) = rule.currency.as_deref().filter(|c| !valid_currency(c)) {
        return Err(refused(
            "currency",
            format!("'{currency}' is not an ISO 4217 code in upper case"),
        ));
    }
    let date = |key: &str, value: &Option<String>| match value {
        Some(text) => calendar::parse_date(text)
            .map(Some)
            .ok_or_else(|| refused(key, format!("'{text}' is not a YYYY-MM-DD date"))),
        None => Ok(None),
    };
    let lower = date("date_lower_bound", &rule.date_lower_bound)?;
    let upper = date("date_upper_bound", &rule.date_upper_bound)?;
    if let (Some(lower), Some(upper)) = (lower, upper) {
        if upper < lower {
            return Err(refused(
                "date_upper_bound",
                "must not be before date_lower_bound",
            ));
        }
    }
    Ok(())
}
