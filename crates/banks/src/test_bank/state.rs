//! The test bank's state and its clock: events scheduled at instants, applied in time order
//! when the clock reaches them, each applied event becoming one signed webhook.

use std::collections::{BTreeMap, HashMap, HashSet};

use bursar_domain::time::Timestamp;
use bursar_domain::treasury::returns::ReturnCode;
use serde_json::Value;

use super::calendar::{self, settles_after};
use super::payloads;
use super::records::{AccountRecord, ExpectedRecord, IncomingRecord, OrderRecord, ReturnRecord};
use super::Webhook;
use crate::modern_treasury::{EVENT_ID_HEADER, LIVE_MODE_HEADER, TOPIC_HEADER, WEBHOOK_ID_HEADER};
use crate::signature;
use crate::types::{
    AccountBalance, Counterparty, CounterpartyRequest, Direction, ExpectedPaymentRequest,
    ExpectedPaymentStatus, PaymentOrderRequest, PaymentOrderStatus,
};
use crate::Headers;

/// Something that happens at a scheduled instant.
#[derive(Debug, Clone)]
pub(super) enum Due {
    Order {
        id: String,
        status: PaymentOrderStatus,
    },
    Return {
        id: String,
        completed: bool,
    },
    Incoming {
        id: String,
        completed: bool,
    },
}

#[derive(Debug, Default)]
pub(super) struct State {
    secret: String,
    counters: HashMap<&'static str, u64>,
    pub accounts: HashMap<String, AccountRecord>,
    pub counterparty_attempts: HashMap<String, (CounterpartyRequest, Counterparty)>,
    pub orders: HashMap<String, OrderRecord>,
    pub order_attempts: HashMap<String, (PaymentOrderRequest, String)>,
    /// In creation order: the first that fits an incoming payment reconciles with it.
    pub expected: Vec<ExpectedRecord>,
    pub expected_attempts: HashMap<String, (ExpectedPaymentRequest, String)>,
    pub returns: HashMap<String, ReturnRecord>,
    pub incoming: HashMap<String, IncomingRecord>,
    /// Account numbers of the fail-once scenario that have failed their one time.
    pub failed_once: HashSet<String>,
    /// API calls still to refuse as unavailable.
    pub outage: u32,
    queue: BTreeMap<(Timestamp, u64), Due>,
    outbox: Vec<Webhook>,
    delivered: HashMap<String, Webhook>,
}

impl State {
    pub fn new(secret: String) -> Self {
        Self {
            secret,
            ..Self::default()
        }
    }

    /// `tb_<prefix>_<n>`, `n` counting from 1 per prefix.
    pub fn next_id(&mut self, prefix: &'static str) -> String {
        let counter = self.counters.entry(prefix).or_insert(0);
        *counter += 1;
        format!("tb_{prefix}_{counter}")
    }

    fn next_seq(&mut self) -> u64 {
        let counter = self.counters.entry("seq").or_insert(0);
        *counter += 1;
        *counter
    }

    pub fn schedule(&mut self, at: Timestamp, due: Due) {
        let seq = self.next_seq();
        self.queue.insert((at, seq), due);
    }

    /// Takes the webhooks emitted so far, in time order.
    pub fn drain(&mut self) -> Vec<Webhook> {
        std::mem::take(&mut self.outbox)
    }

    /// A webhook already emitted, byte for byte.
    pub fn delivered(&self, webhook_id: &str) -> Option<Webhook> {
        self.delivered.get(webhook_id).cloned()
    }

    /// Applies, in time order, everything due at or before `now` (including what applying
    /// schedules for no later than `now`).
    pub fn tick(&mut self, now: Timestamp) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, _), due) = entry.remove_entry();
            match due {
                Due::Order { id, status } => self.apply_order(&id, status, at),
                Due::Return { id, completed } => self.apply_return(&id, completed, at),
                Due::Incoming { id, completed } => self.apply_incoming(&id, completed, at),
            }
        }
    }

    /// The internal account's booked balance per currency: completed incoming payments in,
    /// completed payment orders out (credits) or in (debits); a returned order is undone.
    pub fn balances(&self, internal_account_id: &str, now: Timestamp) -> Vec<AccountBalance> {
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        let signed = |direction: Direction, amount: i64, inbound: Direction| {
            if direction == inbound {
                amount
            } else {
                -amount
            }
        };
        for record in self.incoming.values() {
            let request = &record.request;
            if record.status == "completed" && request.internal_account_id == internal_account_id {
                let amount = signed(request.direction, request.amount, Direction::Credit);
                *totals.entry(request.currency.clone()).or_default() += amount;
            }
        }
        for record in self.orders.values() {
            let order = &record.order;
            let ours = order.originating_account_id.as_deref() == Some(internal_account_id);
            if ours && order.status == PaymentOrderStatus::Completed {
                // A payment order's credit pays someone: money out.
                let amount = signed(order.direction, order.amount, Direction::Debit);
                *totals.entry(order.currency.clone()).or_default() += amount;
            }
        }
        let as_of_date = calendar::date_of(now).to_string();
        totals
            .into_iter()
            .map(|(currency, amount)| AccountBalance {
                currency,
                amount,
                as_of_date: as_of_date.clone(),
            })
            .collect()
    }

    fn apply_order(&mut self, id: &str, status: PaymentOrderStatus, at: Timestamp) {
        let Some(record) = self.orders.get_mut(id) else {
            return;
        };
        record.order.status = status;
        record.updated_at = at;
        if status == PaymentOrderStatus::Completed {
            record.settled_on = Some(calendar::date_of(at));
        }
        let body = payloads::payment_order_webhook(record, order_event(status));
        let auto_return = match status {
            PaymentOrderStatus::Completed => record.auto_return,
            _ => None,
        };
        self.emit("payment_order", &body, at);
        if let Some(code) = auto_return {
            let when = settles_after(calendar::date_of(at), 1);
            self.schedule_return(id, code, when);
        }
    }

    /// Schedules `return` created, the order `returned`, then `return` completed, all at `at`.
    /// Nothing when the order is unknown or already has a return.
    pub fn schedule_return(&mut self, order_id: &str, code: &'static ReturnCode, at: Timestamp) {
        let id = self.next_id("rtn");
        let Some(order) = self.orders.get_mut(order_id) else {
            return;
        };
        if order.return_id.is_some() {
            return;
        }
        order.return_id = Some(id.clone());
        let record = ReturnRecord {
            id: id.clone(),
            order_id: order_id.to_owned(),
            code,
            amount: order.order.amount,
            currency: order.order.currency.clone(),
            internal_account_id: order.order.originating_account_id.clone(),
            status: "pending",
            created_at: at,
            updated_at: at,
        };
        self.returns.insert(id.clone(), record);
        let order_id = order_id.to_owned();
        self.schedule(
            at,
            Due::Return {
                id: id.clone(),
                completed: false,
            },
        );
        self.schedule(
            at,
            Due::Order {
                id: order_id,
                status: PaymentOrderStatus::Returned,
            },
        );
        self.schedule(
            at,
            Due::Return {
                id,
                completed: true,
            },
        );
    }

    fn apply_return(&mut self, id: &str, completed: bool, at: Timestamp) {
        let Some(record) = self.returns.get_mut(id) else {
            return;
        };
        if completed {
            record.status = "completed";
            record.updated_at = at;
        }
        let body =
            payloads::return_webhook(record, if completed { "completed" } else { "created" });
        self.emit("return", &body, at);
    }

    fn apply_incoming(&mut self, id: &str, completed: bool, at: Timestamp) {
        let transaction_id = completed.then(|| self.next_id("txn"));
        let Some(record) = self.incoming.get_mut(id) else {
            return;
        };
        record.updated_at = at;
        record.as_of_date = calendar::date_of(at);
        if completed {
            record.status = "completed";
            record.transaction_id = transaction_id.clone();
        }
        let body =
            payloads::incoming_webhook(record, if completed { "completed" } else { "created" });
        let record = record.clone();
        self.emit("incoming_payment_detail", &body, at);
        if let Some(transaction_id) = transaction_id {
            self.reconcile(&record, transaction_id, at);
        }
    }

    /// Reconciles the first open expected payment `incoming` fits.
    fn reconcile(&mut self, incoming: &IncomingRecord, transaction_id: String, at: Timestamp) {
        let line_item_id = self.next_id("tli");
        let Some(record) = self
            .expected
            .iter_mut()
            .find(|e| e.expected.status == ExpectedPaymentStatus::Unreconciled && e.fits(incoming))
        else {
            return;
        };
        let expected = &mut record.expected;
        expected.status = ExpectedPaymentStatus::Reconciled;
        expected.transaction_id = Some(transaction_id);
        expected.amount_reconciled = Some(incoming.request.amount);
        expected.amount_unreconciled = Some(0);
        record.line_item_id = Some(line_item_id);
        record.updated_at = at;
        let body = payloads::reconciled_webhook(record);
        self.emit("expected_payment", &body, at);
    }

    /// Signs `body` and queues it as the next webhook, with fresh webhook and event ids.
    fn emit(&mut self, topic: &str, body: &Value, at: Timestamp) {
        let webhook_id = self.next_id("wh");
        let event_id = self.next_id("evt");
        let body = body.to_string().into_bytes();
        let mut headers = Headers::new();
        headers.insert(
            signature::HEADER.into(),
            signature::sign(&self.secret, &body),
        );
        headers.insert(WEBHOOK_ID_HEADER.into(), webhook_id.clone());
        headers.insert(EVENT_ID_HEADER.into(), event_id);
        headers.insert(TOPIC_HEADER.into(), topic.to_owned());
        headers.insert(LIVE_MODE_HEADER.into(), "false".into());
        headers.insert("x-event-time".into(), at.to_rfc3339());
        headers.insert("content-type".into(), "application/json".into());
        let webhook = Webhook { headers, body };
        self.delivered.insert(webhook_id, webhook.clone());
        self.outbox.push(webhook);
    }
}

/// Modern Treasury's event name for a payment order reaching `status`.
fn order_event(status: PaymentOrderStatus) -> &'static str {
    match status {
        PaymentOrderStatus::Processing => "begin_processing",
        PaymentOrderStatus::Sent => "finished_processing",
        other => other.as_str(),
    }
}
