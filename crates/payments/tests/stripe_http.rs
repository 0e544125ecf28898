//! `StripeProvider` against a fake Stripe on 127.0.0.1: the exact requests it sends, and how the
//! executor retries (same idempotency key), refuses and gives up.
//!
//! The fake answers with Stripe's own fixture objects (see `fixtures/README.md`), overriding the
//! fields a real Stripe would take from the request. For customers, setup sessions and
//! off-session charges it also replays the first answer to a repeated idempotency key, as Stripe
//! does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_stripe;

use bursar_payments::executor::{Method, ProviderRequest};
use bursar_payments::stripe::{event_json, parse_event, StripeConfig, StripeProvider};
use bursar_payments::{
    CheckoutSession, DeclineClass, OffSessionCharge, PaymentEventKind, PaymentProvider,
    PaymentState, PaymentStatus, ProviderError, RefundResult, RefundStatus, SetupRequest,
    SetupSession,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

use fake_stripe::*;

#[tokio::test]
async fn checkout_sends_stripes_form_and_reads_the_session() {
    let server = Server::start(|_| {}).await;
    let session = server
        .provider(3)
        .create_checkout(&checkout_request())
        .await
        .unwrap();
    assert_eq!(
        session,
        CheckoutSession {
            id: "cs_test_fake1".into(),
            url: "https://checkout.stripe.com/c/pay/cs_test_fake1".into(),
            payment_id: Some("pi_1PgafyB7WZ01zgkWSjxsAJo3".into()),
            expires_at: 1_721_003_600,
        }
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/checkout/sessions");
    assert_stripe_headers(request);
    assert_eq!(
        request.header("idempotency-key"),
        Some("bursar-checkout-att_1")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.form,
        pairs(&[
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            (
                "line_items[0][price_data][product_data][name]",
                "Annual plan"
            ),
            ("line_items[0][price_data][unit_amount]", "1000"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][price_data][currency]", "usd"),
            (
                "line_items[1][price_data][product_data][name]",
                "Setup & onboarding"
            ),
            ("line_items[1][price_data][unit_amount]", "500"),
            ("line_items[1][quantity]", "1"),
            ("success_url", "https://shop.example/paid?order=ord_1"),
            ("cancel_url", "https://shop.example/cancel"),
            ("expires_at", "1721003600"),
            ("client_reference_id", "ord_1"),
            ("customer_email", "buyer@example.com"),
            ("metadata[bursar_order_id]", "ord_1"),
            ("metadata[contract]", "ctr_9"),
            ("payment_intent_data[metadata][bursar_order_id]", "ord_1"),
            ("payment_intent_data[metadata][contract]", "ctr_9"),
        ])
    );
}

#[tokio::test]
async fn a_known_customer_replaces_the_email() {
    let server = Server::start(|_| {}).await;
    let mut request = checkout_request();
    request.provider_customer = Some("cus_42".into());
    server.provider(1).create_checkout(&request).await.unwrap();
    let form: BTreeMap<_, _> = server.requests()[0].form.iter().cloned().collect();
    assert_eq!(form.get("customer").map(String::as_str), Some("cus_42"));
    assert!(!form.contains_key("customer_email"));
}

#[tokio::test]
async fn refund_sends_its_form_and_reads_the_refund() {
    let server = Server::start(|fake| fake.refund_status = Some("pending")).await;
    let provider = server.provider(3);
    let result = provider
        .refund(&refund_request("requested_by_customer"))
        .await
        .unwrap();
    assert_eq!(
        result,
        RefundResult {
            id: "re_fake1".into(),
            status: RefundStatus::Pending,
            amount: 700,
        }
    );
    // Bursar's own reason is not one of Stripe's: it is left out.
    provider.refund(&refund_request("goodwill")).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v1/refunds");
    assert_stripe_headers(&requests[0]);
    assert_eq!(
        requests[0].header("idempotency-key"),
        Some("bursar-refund-rf_1")
    );
    assert_eq!(
        requests[0].form,
        pairs(&[
            ("payment_intent", "pi_123"),
            ("amount", "700"),
            ("reason", "requested_by_customer"),
            ("metadata[bursar_refund_id]", "rf_1"),
        ])
    );
    assert_eq!(
        requests[1].form,
        pairs(&[
            ("payment_intent", "pi_123"),
            ("amount", "700"),
            ("metadata[bursar_refund_id]", "rf_1"),
        ])
    );
    // Two logical calls, two request ids.
    assert_ne!(
        requests[0].header("x-bursar-request-id"),
        requests[1].header("x-bursar-request-id")
    );
}

#[tokio::test]
async fn payment_status_is_a_plain_get() {
    for (stripe, neutral) in [
        ("succeeded", PaymentStatus::Succeeded),
        ("requires_action", PaymentStatus::Open),
        ("requires_capture", PaymentStatus::Processing),
        ("processing", PaymentStatus::Processing),
        ("canceled", PaymentStatus::Canceled),
    ] {
        let server = Server::start(|fake| fake.payment_status = Some(stripe)).await;
        let state = server.provider(3).payment("pi_abc").await.unwrap();
        assert_eq!(
            state,
            PaymentState {
                id: "pi_abc".into(),
                status: neutral,
                amount: 2500,
                amount_received: if stripe == "succeeded" { 2500 } else { 0 },
                currency: "USD".into(),
                order_id: Some("ord_1".into()),
                // The fixture's `last_payment_error` has a type but no code.
                last_error: None,
                decline_code: None,
                decline_class: None,
            }
        );
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/v1/payment_intents/pi_abc");
        assert_stripe_headers(&requests[0]);
        assert_eq!(requests[0].header("idempotency-key"), None);
        assert!(requests[0].form.is_empty());
    }
}

#[tokio::test]
async fn failures_are_retried_with_the_same_idempotency_key_and_request_id() {
    let server = Server::start(|fake| fake.fail_first = 2).await;
    let session = server
        .provider(3)
        .create_checkout(&checkout_request())
        .await
        .unwrap();
    assert_eq!(session.id, "cs_test_fake3");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(
            request.header("idempotency-key"),
            Some("bursar-checkout-att_1")
        );
        assert_eq!(
            request.header("x-bursar-request-id"),
            requests[0].header("x-bursar-request-id")
        );
        assert_eq!(request.form, requests[0].form);
        assert_stripe_headers(request);
    }
}

#[tokio::test]
async fn rate_limits_and_should_retry_true_are_retried() {
    let server = Server::start(|fake| {
        fake.fail_first = 1;
        fake.fail_status = 429;
    })
    .await;
    server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 2);

    // A 409 is normally final, but Stripe says this one is worth repeating.
    let server = Server::start(|fake| {
        fake.fail_first = 1;
        fake.fail_status = 409;
        fake.should_retry = Some("true");
    })
    .await;
    server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn should_retry_false_is_never_retried() {
    let server = Server::start(|fake| {
        fake.fail_first = 5;
        fake.should_retry = Some("false");
    })
    .await;
    let error = server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stripe_error_is_a_refusal_and_is_not_retried() {
    let server = Server::start(|fake| fake.refuse = true).await;
    let error = server
        .provider(3)
        .refund(&refund_request("duplicate"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ProviderError::Refused {
            status: 400,
            code: "parameter_invalid_integer".into(),
            message: "Invalid integer: -5 (param: amount)".into(),
        }
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn exhausted_retries_are_unavailable() {
    let server = Server::start(|fake| fake.fail_first = 100).await;
    let error = server
        .provider(3)
        .create_checkout(&checkout_request())
        .await
        .unwrap_err();
    let ProviderError::Unavailable(message) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("3 attempt"), "{message}");
    assert!(message.contains("HTTP 500"), "{message}");
    assert!(message.contains("req_fake_3"), "{message}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_timeout_is_retried_with_the_same_key() {
    let server = Server::start(|fake| fake.delay_first = Some(Duration::from_secs(2))).await;
    let provider = StripeProvider::new(
        StripeConfig {
            secret_key: KEY.into(),
            api_base: server.base.clone(),
        },
        executor(3, Duration::from_millis(300)),
    );
    let result = provider.refund(&refund_request("duplicate")).await.unwrap();
    assert_eq!(result.id, "re_fake2");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let provider = StripeProvider::new(
        StripeConfig {
            secret_key: KEY.into(),
            api_base: base,
        },
        executor(2, Duration::from_secs(2)),
    );
    let error = provider.payment("pi_1").await.unwrap_err();
    let ProviderError::Unavailable(message) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("2 attempt"), "{message}");
    assert!(!message.contains("fake_key"), "{message}");
}

/// A Stripe setup saves the method on Stripe's page: the trait's second setup step (PayPal's)
/// is the default refusal, given without any call (there is nothing listening to call).
#[tokio::test]
async fn a_stripe_setup_has_no_completion_step() {
    let provider: Box<dyn PaymentProvider> = Box::new(StripeProvider::new(
        StripeConfig {
            secret_key: KEY.into(),
            api_base: "http://127.0.0.1:9".into(),
        },
        executor(1, Duration::from_secs(1)),
    ));
    assert_eq!(
        provider.complete_setup("cs_test_1").await,
        Err(ProviderError::Unsupported("complete setup"))
    );
}

/// Without an idempotency key a POST that reached the provider is not repeated (it might have
/// taken effect): the 500 goes back to the caller. A GET is repeated.
#[tokio::test]
async fn only_safe_requests_are_repeated_after_a_5xx() {
    let server = Server::start(|fake| fake.fail_first = 1).await;
    let executor = executor(3, Duration::from_secs(5));
    let post = ProviderRequest {
        operation: "refund.create",
        method: Method::POST,
        url: format!("{}/v1/refunds", server.base),
        headers: vec![],
        form: Some(pairs(&[("payment_intent", "pi_1"), ("amount", "1")])),
        json: None,
        idempotency_key: None,
    };
    let response = executor.execute("stripe", &post).await.unwrap();
    assert_eq!(response.status, 500);
    assert_eq!(response.header("request-id"), Some("req_fake_1"));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].header("idempotency-key"), None);

    let server = Server::start(|fake| fake.fail_first = 1).await;
    let get = ProviderRequest {
        operation: "payment.retrieve",
        method: Method::GET,
        url: format!("{}/v1/payment_intents/pi_1", server.base),
        headers: vec![],
        form: None,
        json: None,
        idempotency_key: None,
    };
    let response = executor.execute("stripe", &get).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(server.requests().len(), 2);
}

fn setup_request(provider_customer: Option<&str>) -> SetupRequest {
    SetupRequest {
        attempt_id: "att_s1".into(),
        customer_id: "cus_bursar1".into(),
        provider_customer: provider_customer.map(str::to_owned),
        email: Some("buyer@example.com".into()),
        name: Some("Ada Lovelace".into()),
        currency: "EUR".into(),
        success_url: "https://shop.example/saved?c=cus_bursar1".into(),
        cancel_url: "https://shop.example/account".into(),
    }
}

fn setup_form(provider_customer: &str) -> Vec<(String, String)> {
    pairs(&[
        ("mode", "setup"),
        ("customer", provider_customer),
        ("currency", "eur"),
        ("success_url", "https://shop.example/saved?c=cus_bursar1"),
        ("cancel_url", "https://shop.example/account"),
        ("client_reference_id", "cus_bursar1"),
        ("metadata[bursar_customer_id]", "cus_bursar1"),
        (
            "setup_intent_data[metadata][bursar_customer_id]",
            "cus_bursar1",
        ),
    ])
}

fn charge_request() -> OffSessionCharge {
    OffSessionCharge {
        attempt_id: "att_c1".into(),
        order_id: "ord_7".into(),
        provider_customer: "cus_QXg1o8vcGmoR32".into(),
        payment_method: "pm_card_visa".into(),
        amount: 4200,
        currency: "USD".into(),
        metadata: BTreeMap::from([("subscription".to_owned(), "sub_3".to_owned())]),
    }
}

#[tokio::test]
async fn setup_creates_the_customer_then_a_setup_session() {
    let server = Server::start(|_| {}).await;
    let session = server
        .provider(3)
        .create_setup(&setup_request(None))
        .await
        .unwrap();
    assert_eq!(
        session,
        SetupSession {
            id: "cs_test_fake2".into(),
            url: "https://checkout.stripe.com/c/pay/cs_test_fake2".into(),
            provider_customer: "cus_fake1".into(),
        }
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let customer = &requests[0];
    assert_eq!(customer.method, "POST");
    assert_eq!(customer.path, "/v1/customers");
    assert_stripe_headers(customer);
    assert_eq!(
        customer.header("idempotency-key"),
        Some("bursar-customer-att_s1")
    );
    assert_eq!(
        customer.form,
        pairs(&[
            ("email", "buyer@example.com"),
            ("name", "Ada Lovelace"),
            ("metadata[bursar_customer_id]", "cus_bursar1"),
        ])
    );
    let setup = &requests[1];
    assert_eq!(setup.method, "POST");
    assert_eq!(setup.path, "/v1/checkout/sessions");
    assert_stripe_headers(setup);
    assert_eq!(setup.header("idempotency-key"), Some("bursar-setup-att_s1"));
    assert_eq!(setup.form, setup_form("cus_fake1"));
    // Two logical calls, two request ids.
    assert_ne!(
        customer.header("x-bursar-request-id"),
        setup.header("x-bursar-request-id")
    );

    // The setup intent the session created carries the customer into its webhook.
    let mut intent = server.fake.lock().unwrap().setup_intents[0].clone();
    intent["status"] = json!("succeeded");
    intent["payment_method"] = json!("pm_saved");
    let event = event_json("evt_1", "setup_intent.succeeded", 1_721_000_000, intent);
    let event = parse_event(event.to_string().as_bytes()).unwrap();
    assert_eq!(
        event.kind,
        PaymentEventKind::PaymentMethodSaved {
            setup_id: "seti_fake2".into(),
            payment_method: "pm_saved".into(),
            provider_customer: Some("cus_fake1".into()),
            customer_id: Some("cus_bursar1".into()),
        }
    );
}

#[tokio::test]
async fn setup_for_a_known_customer_creates_no_customer() {
    let server = Server::start(|_| {}).await;
    let session = server
        .provider(3)
        .create_setup(&setup_request(Some("cus_known")))
        .await
        .unwrap();
    assert_eq!(session.id, "cs_test_fake1");
    assert_eq!(session.provider_customer, "cus_known");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/checkout/sessions");
    assert_eq!(
        requests[0].header("idempotency-key"),
        Some("bursar-setup-att_s1")
    );
    assert_eq!(requests[0].form, setup_form("cus_known"));
}

#[tokio::test]
async fn a_customer_without_email_or_name_sends_only_its_metadata() {
    let server = Server::start(|_| {}).await;
    let mut request = setup_request(None);
    request.email = None;
    request.name = None;
    server.provider(1).create_setup(&request).await.unwrap();
    assert_eq!(
        server.requests()[0].form,
        pairs(&[("metadata[bursar_customer_id]", "cus_bursar1")])
    );
}

/// Retried attempts and a repeated setup reuse both keys, so Stripe replays the customer and
/// the session instead of creating second ones.
#[tokio::test]
async fn setup_retries_reuse_their_keys() {
    let server = Server::start(|fake| fake.fail_first = 2).await;
    let provider = server.provider(3);
    let first = provider.create_setup(&setup_request(None)).await.unwrap();
    assert_eq!(first.provider_customer, "cus_fake3");
    let again = provider.create_setup(&setup_request(None)).await.unwrap();
    assert_eq!(again, first);

    let requests = server.requests();
    let keys: Vec<_> = requests
        .iter()
        .map(|r| (r.path.as_str(), r.header("idempotency-key").unwrap()))
        .collect();
    assert_eq!(
        keys,
        [
            ("/v1/customers", "bursar-customer-att_s1"),
            ("/v1/customers", "bursar-customer-att_s1"),
            ("/v1/customers", "bursar-customer-att_s1"),
            ("/v1/checkout/sessions", "bursar-setup-att_s1"),
            ("/v1/customers", "bursar-customer-att_s1"),
            ("/v1/checkout/sessions", "bursar-setup-att_s1"),
        ]
    );
    // The retried attempts are one logical call: same request id, same form.
    for request in &requests[1..3] {
        assert_eq!(
            request.header("x-bursar-request-id"),
            requests[0].header("x-bursar-request-id")
        );
        assert_eq!(request.form, requests[0].form);
    }
    assert_eq!(requests[4].form, requests[0].form);
    assert_eq!(requests[3].form, setup_form("cus_fake3"));
    assert_eq!(requests[5].form, requests[3].form);
}

#[tokio::test]
async fn charge_saved_confirms_an_off_session_intent() {
    let server = Server::start(|_| {}).await;
    let state = server
        .provider(3)
        .charge_saved(&charge_request())
        .await
        .unwrap();
    assert_eq!(
        state,
        PaymentState {
            id: "pi_fake1".into(),
            status: PaymentStatus::Succeeded,
            amount: 4200,
            amount_received: 4200,
            currency: "USD".into(),
            order_id: Some("ord_7".into()),
            last_error: None,
            decline_code: None,
            decline_class: None,
        }
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/payment_intents");
    assert_stripe_headers(request);
    assert_eq!(
        request.header("idempotency-key"),
        Some("bursar-charge-att_c1")
    );
    assert_eq!(
        request.form,
        pairs(&[
            ("amount", "4200"),
            ("currency", "usd"),
            ("customer", "cus_QXg1o8vcGmoR32"),
            ("payment_method", "pm_card_visa"),
            ("off_session", "true"),
            ("confirm", "true"),
            ("metadata[bursar_order_id]", "ord_7"),
            ("metadata[subscription]", "sub_3"),
        ])
    );
}

#[tokio::test]
async fn charge_retries_reuse_the_key_and_never_charge_twice() {
    let server = Server::start(|fake| fake.fail_first = 2).await;
    let provider = server.provider(3);
    let state = provider.charge_saved(&charge_request()).await.unwrap();
    assert_eq!(state.id, "pi_fake3");
    assert_eq!(state.status, PaymentStatus::Succeeded);
    // Bursar repeating the whole charge gets the same intent back.
    assert_eq!(
        provider.charge_saved(&charge_request()).await.unwrap(),
        state
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(
            request.header("idempotency-key"),
            Some("bursar-charge-att_c1")
        );
        assert_eq!(request.form, requests[0].form);
    }
    assert_eq!(
        requests[2].header("x-bursar-request-id"),
        requests[0].header("x-bursar-request-id")
    );
}

/// Stripe's 402 `card_error` is the charge's outcome: a failed payment, read from the intent the
/// error embeds, and not retried. Stripe says `card_declined` and puts the issuer's reason in
/// `decline_code`: that reason decides the class.
#[tokio::test]
async fn a_declined_charge_is_a_failed_state_classed_by_its_decline_code() {
    for (code, decline_code, class) in [
        ("card_declined", "insufficient_funds", DeclineClass::Soft),
        ("card_declined", "generic_decline", DeclineClass::Soft),
        ("card_declined", "stolen_card", DeclineClass::Hard),
        ("card_declined", "lost_card", DeclineClass::Hard),
        ("expired_card", "expired_card", DeclineClass::Hard),
    ] {
        let server = Server::start(|fake| {
            fake.charge = ChargeAnswer::CardError(code, decline_code);
        })
        .await;
        let state = server.provider(3).charge_saved(&charge_request()).await;
        assert_eq!(
            state,
            Ok(PaymentState {
                id: "pi_fake1".into(),
                status: PaymentStatus::Failed,
                amount: 4200,
                amount_received: 0,
                currency: "USD".into(),
                order_id: Some("ord_7".into()),
                last_error: Some(code.into()),
                decline_code: Some(decline_code.into()),
                decline_class: Some(class),
            }),
            "{decline_code}"
        );
        assert_eq!(server.requests().len(), 1);
    }
}

/// The customer must come back to authenticate: whether Stripe says so with a 402
/// `authentication_required` or a `requires_action` intent, the payment stays open.
#[tokio::test]
async fn authentication_required_leaves_the_charge_open() {
    for (answer, decline_code) in [
        (
            ChargeAnswer::CardError("authentication_required", "authentication_required"),
            Some("authentication_required"),
        ),
        (ChargeAnswer::RequiresAction, None),
    ] {
        let server = Server::start(|fake| fake.charge = answer).await;
        let state = server
            .provider(3)
            .charge_saved(&charge_request())
            .await
            .unwrap();
        assert_eq!(
            state,
            PaymentState {
                id: "pi_fake1".into(),
                status: PaymentStatus::Open,
                amount: 4200,
                amount_received: 0,
                currency: "USD".into(),
                order_id: Some("ord_7".into()),
                last_error: Some("authentication_required".into()),
                decline_code: decline_code.map(Into::into),
                decline_class: Some(DeclineClass::AuthenticationRequired),
            },
            "{answer:?}"
        );
        assert_eq!(server.requests().len(), 1, "{answer:?}");
    }
}

/// A fetched payment whose last attempt was declined carries that decline, classed by its
/// decline code; once the payment succeeded, a leftover error is no decline.
#[tokio::test]
async fn a_fetched_payment_carries_its_last_decline() {
    for (status, class) in [
        ("requires_payment_method", Some(DeclineClass::Hard)),
        ("succeeded", None),
    ] {
        let server = Server::start(|fake| {
            fake.payment_status = Some(status);
            fake.payment_error = Some(("card_declined", "lost_card"));
        })
        .await;
        let state = server.provider(3).payment("pi_abc").await.unwrap();
        assert_eq!(state.last_error.as_deref(), Some("card_declined"));
        assert_eq!(
            (state.decline_code.as_deref(), state.decline_class),
            (class.map(|_| "lost_card"), class),
            "{status}"
        );
    }
}

#[tokio::test]
async fn other_charge_errors_stay_refusals() {
    let server = Server::start(|fake| fake.refuse = true).await;
    let error = server
        .provider(3)
        .charge_saved(&charge_request())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ProviderError::Refused {
            status: 400,
            code: "parameter_invalid_integer".into(),
            message: "Invalid integer: -5 (param: amount)".into(),
        }
    );
    assert_eq!(server.requests().len(), 1);
}
