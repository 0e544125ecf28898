//! PayPal's own published examples, where this machine has them: the steering folder
//! `shared/data/paypal/` beside the repository (sources in its README). Data fetched from other
//! sites is not committed, so elsewhere this check is skipped; every other test uses the fixtures
//! written for them (`tests/data/paypal/`). Each published example must read as it always has:
//! the same ids, amounts, states and errors, so the adapter stays checked against PayPal's real
//! payloads and not only against what its author understood of them.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::signatures::{cert, headers, provider_with_webhook};
use super::*;
use bursar_testkit::pki::pki;

/// The steering folder's copy of PayPal's examples (`/work/shared/data/paypal` on a machine
/// whose repository is `/work/main`).
const PUBLISHED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/paypal");

/// The published examples, read by file name; remembers which were read.
struct Examples {
    dir: PathBuf,
    read: RefCell<BTreeSet<String>>,
}

impl Examples {
    fn text(&self, name: &str) -> String {
        self.read.borrow_mut().insert(name.to_owned());
        let path = self.dir.join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// An API answer of `status` with the example as its body.
    fn answer(&self, status: u16, name: &str) -> ProviderResponse {
        response(status, &self.text(name))
    }

    /// The `resource` of a webhook event, as the API answer it represents.
    fn resource(&self, name: &str) -> ProviderResponse {
        response(200, &fixture(&self.text(name))["resource"].to_string())
    }

    fn event(&self, name: &str) -> PaymentEvent {
        parse_event(self.text(name).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The event with `change` applied to it, parsed.
    fn changed_event(&self, name: &str, change: impl FnOnce(&mut Value)) -> PaymentEvent {
        let mut value = fixture(&self.text(name));
        change(&mut value);
        parse_event(value.to_string().as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

#[test]
fn paypals_published_examples_read_as_before() {
    let dir = Path::new(PUBLISHED);
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED paypals_published_examples_read_as_before (no shared/data/paypal at {PUBLISHED})"
        );
        return;
    }
    let examples = Examples {
        dir: dir.to_path_buf(),
        read: RefCell::new(BTreeSet::new()),
    };
    orders_and_tokens(&examples);
    captures_refunds_and_errors(&examples);
    events(&examples);
    bursars_ids(&examples);
    signature(&examples);
    let present: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert_eq!(
        present,
        *examples.read.borrow(),
        "every published example is checked: a new one needs its assertions here"
    );
}

/// The token, checkout, capture, setup and saved-charge answers.
fn orders_and_tokens(examples: &Examples) {
    let a = adapter();
    let token = a
        .parse_token(&examples.answer(200, "oauth-token.json"))
        .unwrap();
    assert_eq!(
        (token.value.as_str(), token.expires_in),
        (
            "A21AAJ--LVQmYlaxd_TDFOqVs4C3Xa7kPfa0Es7O35_9TEWaWRCMw7-NBJuBWqXZhb3eOolNnMtxwhoMP3NqHOJm1rvPDehfQ",
            Duration::from_secs(32400)
        )
    );
    let order = "5O190127TN364715T";
    let session = CheckoutSession {
        id: order.into(),
        url: format!("https://www.paypal.com/checkoutnow?token={order}"),
        payment_id: None,
        expires_at: checkout().expires_at,
    };
    for name in [
        "order-create-payer-action.json",
        "order-create-approve.json",
    ] {
        let read = a.parse_checkout(&examples.answer(201, name), &checkout());
        assert_eq!(read.as_ref(), Ok(&session), "{name}");
    }
    let expected = Expected {
        id: String::new(),
        amount: 10000,
        currency: "USD".into(),
        order_id: Some("ord_9".into()),
    };
    let waiting = a
        .parse_charge(
            &examples.answer(201, "order-create-payer-action.json"),
            &expected,
        )
        .unwrap();
    assert_eq!(
        (waiting.status, waiting.decline_class),
        (
            PaymentStatus::Open,
            Some(DeclineClass::AuthenticationRequired)
        )
    );
    assert_eq!(
        a.parse_order(&examples.answer(201, "order-capture.json")),
        Ok(payment_state(
            "3C679366HH908993F",
            PaymentStatus::Succeeded,
            10000,
            "USD",
            None
        ))
    );
    assert_eq!(
        a.parse_order(&examples.resource("event-checkout-order-approved.json")),
        Ok(payment_state(
            "4K5112848U951142F",
            PaymentStatus::Open,
            1000,
            "USD",
            Some("{my-local-db-purchase-id}")
        ))
    );
    assert_eq!(
        a.parse_setup(&examples.answer(201, "setup-token.json"), &setup_request()),
        Ok(SetupSession {
            id: "4G4976650J0948357".into(),
            url: "https://sandbox.paypal.com/agreements/approve?approval_session_id=4G4976650J0948357".into(),
            provider_customer: "customer_4029352051".into(),
        })
    );
    assert_eq!(
        a.parse_payment_token(&examples.answer(201, "payment-token.json")),
        Ok(SavedMethod {
            payment_method: "jwgvx42".into(),
            provider_customer: Some("customer_4029352051".into()),
        })
    );
    assert_eq!(
        a.parse_charge(&examples.answer(201, "order-vault-charge.json"), &expected),
        Ok(payment_state(
            "3B017991HX624902V",
            PaymentStatus::Succeeded,
            10000,
            "USD",
            Some("ord_9")
        ))
    );
}

/// Captures (as the API and the capture webhooks represent them), the refund and the error.
fn captures_refunds_and_errors(examples: &Examples) {
    let a = adapter();
    assert_eq!(
        a.parse_payment(&examples.resource("event-payment-capture-completed.json")),
        Ok(payment_state(
            "5VK462069F664902F",
            PaymentStatus::Succeeded,
            1000,
            "USD",
            Some("{my-local-db-purchase-id}")
        ))
    );
    assert_eq!(
        a.parse_payment(&examples.resource("event-payment-capture-pending.json")),
        Ok(payment_state(
            "892032536L382192T",
            PaymentStatus::Processing,
            1539,
            "EUR",
            Some("Custom-1234")
        ))
    );
    assert_eq!(
        a.parse_payment(&examples.resource("event-payment-capture-denied.json")),
        Ok(with_decline(
            payment_state(
                "55X2488039624323N",
                PaymentStatus::Failed,
                1539,
                "EUR",
                Some("Custom-1234")
            ),
            "DECLINED",
            None,
            DeclineClass::Soft
        ))
    );
    // This published "show captured payment details" example writes the amount with v1's
    // `total` and `currency`; the v2 API answers `value` and `currency_code`.
    let Err(ProviderError::BadResponse(reason)) =
        a.parse_payment(&examples.answer(200, "capture-get.json"))
    else {
        panic!("the v1-shaped example must not be read as a payment");
    };
    assert!(reason.contains("amount.currency_code"), "{reason}");
    let mut refund = refund_request();
    refund.payment_id = "3C679366HH908993F".into();
    assert_eq!(
        a.parse_refund(&examples.answer(201, "refund.json"), &refund),
        Ok(RefundResult {
            id: "1JU08902781691411".into(),
            status: RefundStatus::Succeeded,
            amount: 700,
        })
    );
    assert_eq!(
        a.parse_payment(&examples.answer(500, "error-500.json")),
        Err(ProviderError::Unavailable(
            "HTTP 500: INTERNAL_SERVER_ERROR: An internal server error occurred. (debug_id 90957fca61718)".into()
        ))
    );
}

/// Every published webhook event, as Bursar's event.
fn events(examples: &Examples) {
    let approved = examples.event("event-checkout-order-approved.json");
    assert_eq!(
        (
            approved.provider_event_id.as_str(),
            approved.created,
            approved.order_id.as_deref()
        ),
        (
            "WH-1V203642KU442722T-3S346483MF8733038",
            1_634_447_062,
            Some("{my-local-db-purchase-id}")
        )
    );
    assert_eq!(
        approved.kind,
        PaymentEventKind::CheckoutCompleted {
            session_id: "4K5112848U951142F".into(),
            payment_id: None,
            paid: false,
            amount: 1000,
            currency: "USD".into(),
            provider_customer: None,
        }
    );
    let completed = examples.event("event-payment-capture-completed.json");
    assert_eq!(
        (completed.kind, completed.order_id.as_deref()),
        (
            PaymentEventKind::PaymentSucceeded {
                payment_id: "5VK462069F664902F".into(),
                amount: 1000,
                currency: "USD".into(),
                fee: Some(84),
                payment_method: None,
                provider_customer: None,
            },
            Some("{my-local-db-purchase-id}")
        )
    );
    let pending = examples.event("event-payment-capture-pending.json");
    assert_eq!(
        (pending.kind, pending.order_id.as_deref()),
        (
            PaymentEventKind::PaymentProcessing {
                payment_id: "892032536L382192T".into()
            },
            Some("Custom-1234")
        )
    );
    assert_eq!(
        examples.event("event-payment-capture-denied.json").kind,
        PaymentEventKind::PaymentFailed {
            payment_id: "55X2488039624323N".into(),
            code: Some("DECLINED".into()),
            message: Some("OTHER".into()),
            decline_code: None,
            decline_class: Some(DeclineClass::Soft),
            card: None,
        }
    );
    let refunded = examples.event("event-payment-capture-refunded.json");
    assert_eq!(
        (refunded.kind, refunded.order_id),
        (
            PaymentEventKind::Refund {
                refund_id: "1Y107995YT783435V".into(),
                payment_id: Some("0JF852973C016714D".into()),
                amount: 99,
                currency: "USD".into(),
                status: RefundStatus::Succeeded,
                bursar_refund_id: None,
            },
            None
        )
    );
    assert_eq!(
        examples.event("event-customer-dispute-created.json").kind,
        PaymentEventKind::DisputeOpened {
            dispute_id: "PP-000-042-663-135".into(),
            payment_id: Some("00D10444LD479031K".into()),
            amount: 300,
            currency: "USD".into(),
            reason: Some("MERCHANDISE_OR_SERVICE_NOT_RECEIVED".into()),
            fee: None,
        }
    );
    assert_eq!(
        examples.event("event-customer-dispute-resolved.json").kind,
        PaymentEventKind::DisputeClosed {
            dispute_id: "PP-000-042-663-135".into(),
            payment_id: Some("00D10444LD479031K".into()),
            amount: 300,
            currency: "USD".into(),
            won: true,
        }
    );
    assert_eq!(
        examples
            .event("event-vault-payment-token-created.json")
            .kind,
        PaymentEventKind::PaymentMethodSaved {
            setup_id: "3nqvjt3n".into(),
            payment_method: "3nqvjt3n".into(),
            provider_customer: Some("208743798".into()),
            customer_id: None,
        }
    );
}

/// The published events with Bursar's ids where Bursar puts them: read from there.
fn bursars_ids(examples: &Examples) {
    let refund = examples.changed_event("event-payment-capture-refunded.json", |e| {
        e["resource"]["custom_id"] = json!("rf_1");
    });
    assert!(matches!(
        refund.kind,
        PaymentEventKind::Refund { bursar_refund_id: Some(id), .. } if id == "rf_1"
    ));
    let token = examples.changed_event("event-vault-payment-token-created.json", |e| {
        e["resource"]["customer"]["merchant_customer_id"] = json!("cus_7");
    });
    assert!(matches!(
        token.kind,
        PaymentEventKind::PaymentMethodSaved { customer_id: Some(id), .. } if id == "cus_7"
    ));
    let dispute = examples.changed_event("event-customer-dispute-created.json", |e| {
        e["resource"]["disputed_transactions"][0]["custom"] = json!("ord_5");
    });
    assert_eq!(dispute.order_id.as_deref(), Some("ord_5"));
}

/// One transmission of the published capture event, signed with `openssl` and the test key,
/// verifies and parses.
fn signature(examples: &Examples) {
    let body = examples.text("event-payment-capture-completed.json");
    let (transmission, sent, webhook_id) = (
        "b2384410-2f01-11ec-8d3d-0242ac130003",
        "2021-10-17T05:05:04Z",
        "1JE4291016473214C",
    );
    assert_eq!(
        signed_message(transmission, sent, webhook_id, body.as_bytes()),
        "b2384410-2f01-11ec-8d3d-0242ac130003|2021-10-17T05:05:04Z|1JE4291016473214C|4269389320"
    );
    let openssl_signature = pki().openssl_signature(
        "b2384410-2f01-11ec-8d3d-0242ac130003|2021-10-17T05:05:04Z|1JE4291016473214C|4269389320",
    );
    let event = provider_with_webhook(webhook_id)
        .parse_webhook(
            &headers(transmission, sent, &openssl_signature),
            body.as_bytes(),
            &[cert().to_owned()],
            1_634_447_104 + 30,
        )
        .unwrap();
    assert_eq!(
        event.provider_event_id,
        "WH-3UT90572MR669760L-7LL94124G5389840D"
    );
}
