//! The catalog of domain events: every event type Bursar records, as a constant, with the
//! version of its payload. Code names an event by its constant, never by a string written at
//! the call site, so a misspelt type does not compile and every type is listed here once.
//!
//! Payload versions start at 1 and go up when a payload changes incompatibly; subscribers and
//! webhook consumers can tell the shape they read from the event's type and this version.

pub const ACH_MANDATE_ACCEPTED: &str = "ach_mandate.accepted";
pub const ACH_MANDATE_STOPPED: &str = "ach_mandate.stopped";
pub const ACH_RETURN_RATE_CROSSED: &str = "ach_return_rate.crossed";
pub const API_KEY_CREATED: &str = "api_key.created";
pub const API_KEY_REVOKED: &str = "api_key.revoked";
pub const ARTIFACT_CREATED: &str = "artifact.created";
pub const ARTIFACT_RETIRED: &str = "artifact.retired";
pub const AUTOMATION_RUN_COMPLETED_MANUALLY: &str = "automation_run.completed_manually";
pub const AUTOMATION_RUN_MANUAL_TASK: &str = "automation_run.manual_task_created";
pub const AUTOMATION_RUN_STARTED: &str = "automation_run.started";
pub const AUTOMATION_RUN_STEP_FAILED: &str = "automation_run.step_failed";
pub const AUTOMATION_RUN_STEP_SUCCEEDED: &str = "automation_run.step_succeeded";
pub const AUTOMATION_RUN_SUCCEEDED: &str = "automation_run.succeeded";
pub const AUTOMATION_SCENARIO_UPDATED: &str = "automation_scenario.updated";
pub const BANK_ACCOUNT_CREATED: &str = "bank_account.created";
pub const BANK_ACCOUNT_DISABLED: &str = "bank_account.disabled";
pub const BANK_CONNECTION_CREATED: &str = "bank_connection.created";
pub const BANK_TRANSACTION_ACCEPTED: &str = "bank_transaction.accepted";
pub const BANK_TRANSACTION_MATCHED: &str = "bank_transaction.matched";
pub const BANK_TRANSACTION_UNMATCHED: &str = "bank_transaction.unmatched";
pub const BILLING_RUN_COMPLETED: &str = "billing_run.completed";
pub const BILLING_STATUS_CHANGED: &str = "billing_status.changed";
pub const COMPANY_CREATED: &str = "company.created";
pub const COMPANY_UPDATED: &str = "company.updated";
pub const CONTRACT_BILLED: &str = "contract.billed";
pub const CONTRACT_COMMITMENT_SET: &str = "contract.commitment_set";
pub const CONTRACT_CREATED: &str = "contract.created";
pub const CONTRACT_DOWNPAYMENT_SET: &str = "contract.downpayment_set";
pub const CONTRACT_LINE_ADDED: &str = "contract.line_added";
pub const CONTRACT_LINE_REMOVED: &str = "contract.line_removed";
pub const CONTRACT_PRICE_CHANGED: &str = "contract.price_changed";
pub const CONTRACT_QUANTITY_CHANGED: &str = "contract.quantity_changed";
pub const CONTRACT_RENEWAL_CANCELED: &str = "contract.renewal_canceled";
pub const CONTRACT_RENEWAL_RESUMED: &str = "contract.renewal_resumed";
pub const CONTRACT_RENEWED: &str = "contract.renewed";
pub const CONTRACT_SERVICE_STATUS_CHANGED: &str = "contract.service_status_changed";
pub const CONTRACT_STATUS_CHANGED: &str = "contract.status_changed";
pub const CONTRACT_TERM_AMENDED: &str = "contract.term_amended";
pub const CONTRACT_TERMINATION_SCHEDULED: &str = "contract.termination_scheduled";
pub const CONTRACT_TRIAL_CONVERTED: &str = "contract.trial_converted";
pub const CONTRACT_TRIAL_ENDED: &str = "contract.trial_ended";
pub const CONTRACT_TRIAL_ENDING: &str = "contract.trial_ending";
pub const COUPON_CREATED: &str = "coupon.created";
pub const COURIER_CONNECTION_CREATED: &str = "courier_connection.created";
pub const CREDIT_NOTE_CREATED: &str = "credit_note.created";
pub const CUSTOMER_CREATED: &str = "customer.created";
pub const CUSTOMER_PAYMENT_METHOD_DEFAULT_SET: &str = "customer.payment_method_default_set";
pub const CUSTOMER_PAYMENT_METHOD_REMOVED: &str = "customer.payment_method_removed";
pub const CUSTOMER_PAYMENT_METHOD_SAVED: &str = "customer.payment_method_saved";
pub const CUSTOMER_PAYMENT_METHOD_SETUP_STARTED: &str = "customer.payment_method_setup_started";
pub const CUSTOMER_UPDATED: &str = "customer.updated";
pub const CUSTOMER_USAGE_CLOSED: &str = "customer.usage_closed";
pub const CUSTOMER_USAGE_SUBJECT_ADDED: &str = "customer.usage_subject_added";
pub const DEAD_LETTER_REPLAYED: &str = "dead_letter.replayed";
pub const DEVICE_ASSET_CHANGED: &str = "device.asset_changed";
pub const DEVICE_ASSIGNED: &str = "device.assigned";
pub const DEVICE_CREATED: &str = "device.created";
pub const DEVICE_REPLACED: &str = "device.replaced";
pub const DEVICE_RETURNED: &str = "device.returned";
pub const DOWNLOAD_STARTED: &str = "download.started";
pub const DOWNLOAD_LINK_CREATED: &str = "download_link.created";
pub const DOWNLOAD_LINK_LOCKED: &str = "download_link.locked";
pub const DOWNLOAD_LINK_UNLOCKED: &str = "download_link.unlocked";
pub const DOWNLOADS_RESENT: &str = "downloads.resent";
pub const DUNNING_EXHAUSTED: &str = "dunning.exhausted";
pub const DUNNING_RECOVERED: &str = "dunning.recovered";
pub const DUNNING_RETRY_ATTEMPTED: &str = "dunning.retry_attempted";
pub const DUNNING_STARTED: &str = "dunning.started";
pub const DUNNING_STEP_EXECUTED: &str = "dunning.step_executed";
pub const DUNNING_POLICY_ASSIGNED: &str = "dunning_policy.assigned";
pub const DUNNING_POLICY_CREATED: &str = "dunning_policy.created";
pub const DUNNING_POLICY_UPDATED: &str = "dunning_policy.updated";
pub const EXPECTED_PAYMENT_CREATED: &str = "expected_payment.created";
pub const EXPECTED_PAYMENT_OVERDUE: &str = "expected_payment.overdue";
pub const EXPECTED_PAYMENT_PARTIALLY_RECONCILED: &str = "expected_payment.partially_reconciled";
pub const EXPECTED_PAYMENT_RECONCILED: &str = "expected_payment.reconciled";
pub const INVOICE_CREATED: &str = "invoice.created";
pub const INVOICE_CREDITED: &str = "invoice.credited";
pub const INVOICE_DUE_SOON: &str = "invoice.due_soon";
pub const INVOICE_ISSUED: &str = "invoice.issued";
pub const INVOICE_LINE_ADDED: &str = "invoice.line_added";
pub const INVOICE_LINE_REMOVED: &str = "invoice.line_removed";
pub const INVOICE_MARKED_UNCOLLECTIBLE: &str = "invoice.marked_uncollectible";
pub const INVOICE_OVERDUE: &str = "invoice.overdue";
pub const INVOICE_PAID: &str = "invoice.paid";
pub const INVOICE_PAYMENT_APPLIED: &str = "invoice.payment_applied";
pub const INVOICE_PAYMENT_FAILED: &str = "invoice.payment_failed";
pub const INVOICE_PAYMENT_LINK_CREATED: &str = "invoice.payment_link_created";
pub const INVOICE_PAYMENT_LINK_SHARED: &str = "invoice.payment_link_shared";
pub const INVOICE_REOPENED: &str = "invoice.reopened";
pub const INVOICE_UPDATED: &str = "invoice.updated";
pub const INVOICE_VOIDED: &str = "invoice.voided";
pub const INVOICE_SETTINGS_UPDATED: &str = "invoice_settings.updated";
pub const STOREFRONT_UPDATED: &str = "storefront.updated";
pub const PORTAL_SIGN_IN_REQUESTED: &str = "portal.sign_in_requested";
pub const PORTAL_SIGNED_IN: &str = "portal.signed_in";
pub const PORTAL_SIGNED_OUT: &str = "portal.signed_out";
pub const JOB_RUN_CANCELLED: &str = "job_run.cancelled";
pub const JOB_RUN_RETRY_REQUESTED: &str = "job_run.retry_requested";
pub const LEDGER_TRANSFERS_APPLIED: &str = "ledger.transfers_applied";
pub const LEDGER_ACCOUNT_CREATED: &str = "ledger_account.created";
pub const LICENSE_ACTIVATED: &str = "license.activated";
pub const LICENSE_DEACTIVATED: &str = "license.deactivated";
pub const LICENSE_ISSUED: &str = "license.issued";
pub const LICENSE_REISSUED: &str = "license.reissued";
pub const LICENSE_REVOKED: &str = "license.revoked";
pub const METER_CREATED: &str = "meter.created";
pub const METER_DELETED: &str = "meter.deleted";
pub const ORDER_CANCELED: &str = "order.canceled";
pub const ORDER_CHECKOUT_EXPIRED: &str = "order.checkout_expired";
pub const ORDER_CHECKOUT_OPENED: &str = "order.checkout_opened";
pub const ORDER_CREATED: &str = "order.created";
pub const ORDER_DELIVERED: &str = "order.delivered";
pub const ORDER_DISPUTE_LOST: &str = "order.dispute_lost";
pub const ORDER_DISPUTE_WON: &str = "order.dispute_won";
pub const ORDER_DISPUTED: &str = "order.disputed";
pub const ORDER_FULFILLED: &str = "order.fulfilled";
pub const ORDER_ONBOARDING: &str = "order.onboarding";
pub const ORDER_PAID: &str = "order.paid";
pub const ORDER_PARTIALLY_REFUNDED: &str = "order.partially_refunded";
pub const ORDER_PAYMENT_FAILED: &str = "order.payment_failed";
pub const ORDER_PAYMENT_PROCESSING: &str = "order.payment_processing";
pub const ORDER_REFUND_FAILED: &str = "order.refund_failed";
pub const ORDER_REFUND_REQUESTED: &str = "order.refund_requested";
pub const ORDER_REFUNDED: &str = "order.refunded";
pub const PAY_IN_CREATED: &str = "pay_in.created";
pub const PAY_IN_FAILED: &str = "pay_in.failed";
pub const PAY_IN_PROCESSING: &str = "pay_in.processing";
pub const PAY_IN_RETURNED: &str = "pay_in.returned";
pub const PAY_IN_SETTLED: &str = "pay_in.settled";
pub const PAYMENT_DISPUTE_LOST: &str = "payment.dispute_lost";
pub const PAYMENT_DISPUTE_WON: &str = "payment.dispute_won";
pub const PAYMENT_DISPUTED: &str = "payment.disputed";
pub const PAYMENT_RECEIVED: &str = "payment.received";
pub const PAYMENT_PROVIDER_CREATED: &str = "payment_provider.created";
pub const PAYMENT_PROVIDER_UPDATED: &str = "payment_provider.updated";
pub const PAYOUT_CANCELED: &str = "payout.canceled";
pub const PAYOUT_CREATED: &str = "payout.created";
pub const PAYOUT_FAILED: &str = "payout.failed";
pub const PAYOUT_IN_TRANSIT: &str = "payout.in_transit";
pub const PAYOUT_PAID: &str = "payout.paid";
pub const PAYOUT_RETRIED: &str = "payout.retried";
pub const PAYOUT_RETURNED: &str = "payout.returned";
pub const PAYOUT_SCHEDULE_UPDATED: &str = "payout_schedule.updated";
pub const PRICE_CREATED: &str = "price.created";
pub const PRICE_UPDATED: &str = "price.updated";
pub const PRICE_AGREEMENT_ACTIVATED: &str = "price_agreement.activated";
pub const PRICE_AGREEMENT_CREATED: &str = "price_agreement.created";
pub const PRICE_AGREEMENT_EXPIRED: &str = "price_agreement.expired";
pub const PRICE_AGREEMENT_UPDATED: &str = "price_agreement.updated";
pub const PRICE_BOOK_CREATED: &str = "price_book.created";
pub const PRODUCT_CREATED: &str = "product.created";
pub const PRODUCT_UPDATED: &str = "product.updated";
pub const PROMOTION_CODE_CREATED: &str = "promotion_code.created";
pub const PROMOTION_CODE_UPDATED: &str = "promotion_code.updated";
pub const RECONCILIATION_ITEM_ACCEPTED: &str = "reconciliation_item.accepted";
pub const RECONCILIATION_ITEM_ACKNOWLEDGED: &str = "reconciliation_item.acknowledged";
pub const RECONCILIATION_ITEM_CREATED: &str = "reconciliation_item.created";
pub const RECONCILIATION_ITEM_REOPENED: &str = "reconciliation_item.reopened";
pub const RECONCILIATION_ITEM_RESOLVED: &str = "reconciliation_item.resolved";
pub const RECONCILIATION_ITEM_SNOOZED: &str = "reconciliation_item.snoozed";
pub const SANDBOX_CREATED: &str = "sandbox.created";
pub const SANDBOX_RESET: &str = "sandbox.reset";
pub const SHIPMENT_CANCELLED: &str = "shipment.cancelled";
pub const SHIPMENT_CREATED: &str = "shipment.created";
pub const SHIPMENT_DELIVERED: &str = "shipment.delivered";
pub const SHIPMENT_EXCEPTION: &str = "shipment.exception";
pub const SHIPMENT_RETURNED_TO_SENDER: &str = "shipment.returned_to_sender";
pub const SHIPMENT_TRACKING_UPDATED: &str = "shipment.tracking_updated";
pub const TAX_RATE_CREATED: &str = "tax_rate.created";
pub const USAGE_INGESTED: &str = "usage.ingested";
pub const WALLET_CASHED_OUT: &str = "wallet.cashed_out";
pub const WALLET_COMMITTED: &str = "wallet.committed";
pub const WALLET_DOWNPAYMENT_COMMITTED: &str = "wallet.downpayment_committed";
pub const WALLET_FUNDED: &str = "wallet.funded";
pub const WALLET_PAY_IN_HELD: &str = "wallet.pay_in_held";
pub const WALLET_RELEASED: &str = "wallet.released";
pub const WALLET_SEASONED: &str = "wallet.seasoned";
pub const WEBHOOK_ENDPOINT_CREATED: &str = "webhook_endpoint.created";
pub const WEBHOOK_ENDPOINT_DISABLED: &str = "webhook_endpoint.disabled";
pub const WEBHOOK_ENDPOINT_ENABLED: &str = "webhook_endpoint.enabled";
pub const WEBHOOK_ENDPOINT_SECRET_ROTATED: &str = "webhook_endpoint.secret_rotated";
pub const WEBHOOK_ENDPOINT_UPDATED: &str = "webhook_endpoint.updated";

/// Every event type with the version of its payload, sorted by type.
pub const CATALOG: &[(&str, u32)] = &[
    (ACH_MANDATE_ACCEPTED, 1),
    (ACH_MANDATE_STOPPED, 1),
    (ACH_RETURN_RATE_CROSSED, 1),
    (API_KEY_CREATED, 1),
    (API_KEY_REVOKED, 1),
    (ARTIFACT_CREATED, 1),
    (ARTIFACT_RETIRED, 1),
    (AUTOMATION_RUN_COMPLETED_MANUALLY, 1),
    (AUTOMATION_RUN_MANUAL_TASK, 1),
    (AUTOMATION_RUN_STARTED, 1),
    (AUTOMATION_RUN_STEP_FAILED, 1),
    (AUTOMATION_RUN_STEP_SUCCEEDED, 1),
    (AUTOMATION_RUN_SUCCEEDED, 1),
    (AUTOMATION_SCENARIO_UPDATED, 1),
    (BANK_ACCOUNT_CREATED, 1),
    (BANK_ACCOUNT_DISABLED, 1),
    (BANK_CONNECTION_CREATED, 1),
    (BANK_TRANSACTION_ACCEPTED, 1),
    (BANK_TRANSACTION_MATCHED, 1),
    (BANK_TRANSACTION_UNMATCHED, 1),
    (BILLING_RUN_COMPLETED, 1),
    (BILLING_STATUS_CHANGED, 1),
    (COMPANY_CREATED, 1),
    (COMPANY_UPDATED, 1),
    (CONTRACT_BILLED, 1),
    (CONTRACT_COMMITMENT_SET, 1),
    (CONTRACT_CREATED, 1),
    (CONTRACT_DOWNPAYMENT_SET, 1),
    (CONTRACT_LINE_ADDED, 1),
    (CONTRACT_LINE_REMOVED, 1),
    (CONTRACT_PRICE_CHANGED, 1),
    (CONTRACT_QUANTITY_CHANGED, 1),
    (CONTRACT_RENEWAL_CANCELED, 1),
    (CONTRACT_RENEWAL_RESUMED, 1),
    (CONTRACT_RENEWED, 1),
    (CONTRACT_SERVICE_STATUS_CHANGED, 1),
    (CONTRACT_STATUS_CHANGED, 1),
    (CONTRACT_TERM_AMENDED, 1),
    (CONTRACT_TERMINATION_SCHEDULED, 1),
    (CONTRACT_TRIAL_CONVERTED, 1),
    (CONTRACT_TRIAL_ENDED, 1),
    (CONTRACT_TRIAL_ENDING, 1),
    (COUPON_CREATED, 1),
    (COURIER_CONNECTION_CREATED, 1),
    (CREDIT_NOTE_CREATED, 1),
    (CUSTOMER_CREATED, 1),
    (CUSTOMER_PAYMENT_METHOD_DEFAULT_SET, 1),
    (CUSTOMER_PAYMENT_METHOD_REMOVED, 1),
    (CUSTOMER_PAYMENT_METHOD_SAVED, 1),
    (CUSTOMER_PAYMENT_METHOD_SETUP_STARTED, 1),
    (CUSTOMER_UPDATED, 1),
    (CUSTOMER_USAGE_CLOSED, 1),
    (CUSTOMER_USAGE_SUBJECT_ADDED, 1),
    (DEAD_LETTER_REPLAYED, 1),
    (DEVICE_ASSET_CHANGED, 1),
    (DEVICE_ASSIGNED, 1),
    (DEVICE_CREATED, 1),
    (DEVICE_REPLACED, 1),
    (DEVICE_RETURNED, 1),
    (DOWNLOAD_STARTED, 1),
    (DOWNLOAD_LINK_CREATED, 1),
    (DOWNLOAD_LINK_LOCKED, 1),
    (DOWNLOAD_LINK_UNLOCKED, 1),
    (DOWNLOADS_RESENT, 1),
    (DUNNING_EXHAUSTED, 1),
    (DUNNING_RECOVERED, 1),
    (DUNNING_RETRY_ATTEMPTED, 1),
    (DUNNING_STARTED, 1),
    (DUNNING_STEP_EXECUTED, 1),
    (DUNNING_POLICY_ASSIGNED, 1),
    (DUNNING_POLICY_CREATED, 1),
    (DUNNING_POLICY_UPDATED, 1),
    (EXPECTED_PAYMENT_CREATED, 1),
    (EXPECTED_PAYMENT_OVERDUE, 1),
    (EXPECTED_PAYMENT_PARTIALLY_RECONCILED, 1),
    (EXPECTED_PAYMENT_RECONCILED, 1),
    (INVOICE_CREATED, 1),
    (INVOICE_CREDITED, 1),
    (INVOICE_DUE_SOON, 1),
    (INVOICE_ISSUED, 1),
    (INVOICE_LINE_ADDED, 1),
    (INVOICE_LINE_REMOVED, 1),
    (INVOICE_MARKED_UNCOLLECTIBLE, 1),
    (INVOICE_OVERDUE, 1),
    (INVOICE_PAID, 1),
    (INVOICE_PAYMENT_APPLIED, 1),
    (INVOICE_PAYMENT_FAILED, 1),
    (INVOICE_PAYMENT_LINK_CREATED, 1),
    (INVOICE_PAYMENT_LINK_SHARED, 1),
    (INVOICE_REOPENED, 1),
    (INVOICE_UPDATED, 1),
    (INVOICE_VOIDED, 1),
    (INVOICE_SETTINGS_UPDATED, 1),
    (JOB_RUN_CANCELLED, 1),
    (JOB_RUN_RETRY_REQUESTED, 1),
    (LEDGER_TRANSFERS_APPLIED, 1),
    (LEDGER_ACCOUNT_CREATED, 1),
    (LICENSE_ACTIVATED, 1),
    (LICENSE_DEACTIVATED, 1),
    (LICENSE_ISSUED, 1),
    (LICENSE_REISSUED, 1),
    (LICENSE_REVOKED, 1),
    (METER_CREATED, 1),
    (METER_DELETED, 1),
    (ORDER_CANCELED, 1),
    (ORDER_CHECKOUT_EXPIRED, 1),
    (ORDER_CHECKOUT_OPENED, 1),
    (ORDER_CREATED, 1),
    (ORDER_DELIVERED, 1),
    (ORDER_DISPUTE_LOST, 1),
    (ORDER_DISPUTE_WON, 1),
    (ORDER_DISPUTED, 1),
    (ORDER_FULFILLED, 1),
    (ORDER_ONBOARDING, 1),
    (ORDER_PAID, 1),
    (ORDER_PARTIALLY_REFUNDED, 1),
    (ORDER_PAYMENT_FAILED, 1),
    (ORDER_PAYMENT_PROCESSING, 1),
    (ORDER_REFUND_FAILED, 1),
    (ORDER_REFUND_REQUESTED, 1),
    (ORDER_REFUNDED, 1),
    (PAY_IN_CREATED, 1),
    (PAY_IN_FAILED, 1),
    (PAY_IN_PROCESSING, 1),
    (PAY_IN_RETURNED, 1),
    (PAY_IN_SETTLED, 1),
    (PAYMENT_DISPUTE_LOST, 1),
    (PAYMENT_DISPUTE_WON, 1),
    (PAYMENT_DISPUTED, 1),
    (PAYMENT_RECEIVED, 1),
    (PAYMENT_PROVIDER_CREATED, 1),
    (PAYMENT_PROVIDER_UPDATED, 1),
    (PAYOUT_CANCELED, 1),
    (PAYOUT_CREATED, 1),
    (PAYOUT_FAILED, 1),
    (PAYOUT_IN_TRANSIT, 1),
    (PAYOUT_PAID, 1),
    (PAYOUT_RETRIED, 1),
    (PAYOUT_RETURNED, 1),
    (PAYOUT_SCHEDULE_UPDATED, 1),
    (PORTAL_SIGN_IN_REQUESTED, 1),
    (PORTAL_SIGNED_IN, 1),
    (PORTAL_SIGNED_OUT, 1),
    (PRICE_CREATED, 1),
    (PRICE_UPDATED, 1),
    (PRICE_AGREEMENT_ACTIVATED, 1),
    (PRICE_AGREEMENT_CREATED, 1),
    (PRICE_AGREEMENT_EXPIRED, 1),
    (PRICE_AGREEMENT_UPDATED, 1),
    (PRICE_BOOK_CREATED, 1),
    (PRODUCT_CREATED, 1),
    (PRODUCT_UPDATED, 1),
    (PROMOTION_CODE_CREATED, 1),
    (PROMOTION_CODE_UPDATED, 1),
    (RECONCILIATION_ITEM_ACCEPTED, 1),
    (RECONCILIATION_ITEM_ACKNOWLEDGED, 1),
    (RECONCILIATION_ITEM_CREATED, 1),
    (RECONCILIATION_ITEM_REOPENED, 1),
    (RECONCILIATION_ITEM_RESOLVED, 1),
    (RECONCILIATION_ITEM_SNOOZED, 1),
    (SANDBOX_CREATED, 1),
    (SANDBOX_RESET, 1),
    (SHIPMENT_CANCELLED, 1),
    (SHIPMENT_CREATED, 1),
    (SHIPMENT_DELIVERED, 1),
    (SHIPMENT_EXCEPTION, 1),
    (SHIPMENT_RETURNED_TO_SENDER, 1),
    (SHIPMENT_TRACKING_UPDATED, 1),
    (STOREFRONT_UPDATED, 1),
    (TAX_RATE_CREATED, 1),
    (USAGE_INGESTED, 1),
    (WALLET_CASHED_OUT, 1),
    (WALLET_COMMITTED, 1),
    (WALLET_DOWNPAYMENT_COMMITTED, 1),
    (WALLET_FUNDED, 1),
    (WALLET_PAY_IN_HELD, 1),
    (WALLET_RELEASED, 1),
    (WALLET_SEASONED, 1),
    (WEBHOOK_ENDPOINT_CREATED, 1),
    (WEBHOOK_ENDPOINT_DISABLED, 1),
    (WEBHOOK_ENDPOINT_ENABLED, 1),
    (WEBHOOK_ENDPOINT_SECRET_ROTATED, 1),
    (WEBHOOK_ENDPOINT_UPDATED, 1),
];

/// The payload version of `event_type`, if it is in the catalog.
pub fn payload_version(event_type: &str) -> Option<u32> {
    CATALOG
        .binary_search_by(|(name, _)| name.cmp(&event_type))
        .ok()
        .map(|index| CATALOG[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_sorted_unique_and_named_aggregate_dot_action() {
        for pair in CATALOG.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{pair:?}");
        }
        for (name, version) in CATALOG {
            let (aggregate, action) = name.split_once('.').unwrap_or_default();
            assert!(!aggregate.is_empty() && !action.is_empty(), "{name}");
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'));
            assert!(*version >= 1, "{name}");
        }
        assert_eq!(payload_version(ORDER_PAID), Some(1));
        assert_eq!(payload_version("order.payed"), None);
    }
}
