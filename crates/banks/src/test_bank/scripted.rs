//! What a sandbox user makes the test bank do: return a settled ACH payment with a NACHA code,
//! and push money in that Bursar did not originate.

use bursar_domain::time::Timestamp;
use bursar_domain::treasury::returns::{self, Group};

use super::calendar::{self, INSTANT_AFTER_SECONDS, PROCESSING_AFTER_SECONDS};
use super::records::IncomingRecord;
use super::state::{Due, State};
use super::{IncomingRequest, TestBankError};
use crate::types::{PaymentOrderStatus, Rail};

impl State {
    /// Returns a completed ACH payment order with `code`, at `now`, if NACHA's window for the
    /// code is still open.
    pub fn return_payment_order(
        &mut self,
        id: &str,
        code: &str,
        now: Timestamp,
    ) -> Result<(), TestBankError> {
        let code = returns::lookup(code)
            .ok_or_else(|| TestBankError::UnknownReturnCode(code.to_owned()))?;
        if matches!(code.group, Group::Dishonored | Group::ContestedDishonored) {
            return Err(TestBankError::NotAReturn(code.code.to_owned()));
        }
        let record = self
            .orders
            .get(id)
            .ok_or_else(|| TestBankError::UnknownPaymentOrder(id.to_owned()))?;
        let order = &record.order;
        if order.rail != Rail::Ach {
            return Err(TestBankError::NotAch {
                id: id.to_owned(),
                rail: order.rail.as_str().to_owned(),
            });
        }
        if record.return_id.is_some() {
            return Err(TestBankError::AlreadyReturned(id.to_owned()));
        }
        let settled = match (order.status, record.settled_on) {
            (PaymentOrderStatus::Completed, Some(settled)) => settled,
            (status, _) => {
                return Err(TestBankError::NotCompleted {
                    id: id.to_owned(),
                    status: status.as_str(),
                })
            }
        };
        let today = calendar::date_of(now);
        if let Some(deadline) = returns::return_deadline(code, settled).filter(|d| today > *d) {
            return Err(TestBankError::WindowClosed {
                id: id.to_owned(),
                code: code.code.to_owned(),
                settled: settled.to_string(),
                deadline: deadline.to_string(),
                today: today.to_string(),
            });
        }
        self.schedule_return(id, code, now);
        Ok(())
    }

    /// Records money pushed in (or pulled out) by someone else: `created` a second later,
    /// `completed` a second after that for wire and RTP, or at the next banking day's
    /// settlement for ACH. Answers the incoming payment detail's id.
    pub fn send_incoming(
        &mut self,
        request: &IncomingRequest,
        now: Timestamp,
    ) -> Result<String, TestBankError> {
        check_incoming(request)?;
        let id = self.next_id("ipd");
        let created = now.plus_seconds(PROCESSING_AFTER_SECONDS);
        let completes = match request.rail {
            Rail::Ach => calendar::settles_after(calendar::date_of(now), 1),
            _ => now.plus_seconds(INSTANT_AFTER_SECONDS),
        };
        self.incoming.insert(
            id.clone(),
            IncomingRecord {
                id: id.clone(),
                request: request.clone(),
                status: "pending",
                as_of_date: calendar::date_of(created),
                transaction_id: None,
                created_at: created,
                updated_at: created,
            },
        );
        let due = |completed| Due::Incoming {
            id: id.clone(),
            completed,
        };
        self.schedule(created, due(false));
        self.schedule(completes, due(true));
        Ok(id)
    }
}

fn check_incoming(request: &IncomingRequest) -> Result<(), TestBankError> {
    let invalid = |field: &'static str, message: &str| TestBankError::Invalid {
        field,
        message: message.to_owned(),
    };
    if request.amount <= 0 {
        return Err(invalid(
            "amount",
            "must be a positive number of minor units",
        ));
    }
    if !super::api::valid_currency(&request.currency) {
        return Err(invalid(
            "currency",
            "must be an ISO 4217 code in upper case",
        ));
    }
    if !matches!(request.rail, Rail::Ach | Rail::Wire | Rail::Rtp) {
        return Err(invalid("rail", "must be ach, wire or rtp"));
    }
    if request.internal_account_id.trim().is_empty() {
        return Err(invalid("internal_account_id", "is required"));
    }
    Ok(())
}
