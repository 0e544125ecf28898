//! Saved PayPal wallets: the setup token, completing the setup into a payment token, and
//! charging the saved wallet (declines included).

use super::*;

#[tokio::test]
async fn setup_opens_a_setup_token_the_payer_approves() {
    let server = Server::start(&[]).await;
    let provider = server.provider();
    let session = provider.create_setup(&setup_request()).await.unwrap();
    assert_eq!(
        session,
        SetupSession {
            id: SETUP_TOKEN.into(),
            url: format!(
                "https://www.paypal.com/agreements/approve?approval_session_id={SETUP_TOKEN}"
            ),
            provider_customer: PAYPAL_CUSTOMER.into(),
        }
    );
    let call = token_then_call(&server.requests(), Some("bursar-setup-att_s"));
    assert_eq!(call.path, "/v3/vault/setup-tokens");
    assert_eq!(
        call.json(),
        json!({
            "payment_source": {"paypal": {
                "usage_type": "MERCHANT",
                "customer_type": "CONSUMER",
                "permit_multiple_payment_tokens": false,
                "experience_context": {
                    "return_url": "https://shop.example/saved",
                    "cancel_url": "https://shop.example/cancel",
                    "shipping_preference": "NO_SHIPPING",
                },
            }},
            "customer": {"merchant_customer_id": "cus_7"},
        })
    );
    let mut known = setup_request();
    known.provider_customer = Some("customer_1".into());
    let body = body_of(&adapter().setup_request(&known, "t"));
    assert_eq!(
        body["customer"],
        json!({"id": "customer_1", "merchant_customer_id": "cus_7"})
    );
    let answer = response(
        201,
        r#"{"id": "S", "links": [{"rel": "approve", "href": "u"}]}"#,
    );
    assert_eq!(
        adapter()
            .parse_setup(&answer, &known)
            .unwrap()
            .provider_customer,
        "customer_1",
        "PayPal's answer names no customer: the one Bursar named"
    );
    assert!(matches!(
        adapter().parse_setup(&answer, &setup_request()),
        Err(ProviderError::BadResponse(_))
    ));
}

/// Core completes an approved setup through the trait alone: PayPal's setup token becomes the
/// payment token that later charges name.
#[tokio::test]
async fn complete_setup_turns_the_approved_setup_token_into_a_saved_wallet() {
    let server = Server::start(&[]).await;
    let provider: Arc<dyn PaymentProvider> = Arc::new(server.provider());
    let session = provider.create_setup(&setup_request()).await.unwrap();
    let saved = provider.complete_setup(&session.id).await.unwrap();
    assert_eq!(
        saved,
        SavedMethod {
            payment_method: VAULT_ID.into(),
            provider_customer: Some(PAYPAL_CUSTOMER.into()),
        }
    );
    assert_eq!(saved.payment_method, charge().payment_method);
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "the cached token serves the second call");
    let confirm = &requests[2];
    assert_eq!(
        (confirm.method.as_str(), confirm.path.as_str()),
        ("POST", "/v3/vault/payment-tokens")
    );
    let key = format!("bursar-payment-token-{SETUP_TOKEN}");
    assert_eq!(confirm.header("paypal-request-id"), Some(key.as_str()));
    assert_eq!(confirm.header("idempotency-key"), Some(key.as_str()));
    assert_eq!(
        confirm.json(),
        json!({"payment_source": {"token": {"id": SETUP_TOKEN, "type": "SETUP_TOKEN"}}})
    );
    // A setup token the payer has not approved yet is PayPal's refusal, passed on (Payment
    // Method Tokens v3 answers 422 `PAYER_ACTION_REQUIRED`).
    let unapproved = r#"{"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed.", "details": [{"issue": "PAYER_ACTION_REQUIRED", "description": "The payer has not approved the setup token."}]}"#;
    let server = Server::start(&[("POST /v3/vault/payment-tokens", 422, unapproved)]).await;
    let provider: Arc<dyn PaymentProvider> = Arc::new(server.provider());
    assert!(matches!(
        provider.complete_setup("0AB12345CD6789012").await,
        Err(ProviderError::Refused { status: 422, code, .. }) if code == "PAYER_ACTION_REQUIRED"
    ));
}

#[tokio::test]
async fn charge_saved_pays_with_the_vault_id_at_once() {
    let server = Server::start(&[]).await;
    let state = server.provider().charge_saved(&charge()).await.unwrap();
    assert_eq!(
        state,
        payment_state(
            "47A19356WC851422K",
            PaymentStatus::Succeeded,
            10000,
            "USD",
            Some("ord_9")
        )
    );
    let call = token_then_call(&server.requests(), Some("bursar-charge-att_9"));
    assert_eq!(call.path, "/v2/checkout/orders");
    assert_eq!(
        call.json(),
        json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": "ord_9",
                "custom_id": "ord_9",
                "invoice_id": "att_9",
                "amount": {"currency_code": "USD", "value": "100.00"},
            }],
            "payment_source": {"paypal": {"vault_id": VAULT_ID}},
        })
    );
}

#[test]
fn a_declined_saved_charge_is_a_state_not_an_error() {
    let a = adapter();
    let expected = Expected {
        id: String::new(),
        amount: 10000,
        currency: "USD".into(),
        order_id: Some("ord_9".into()),
    };
    let issue = |issue: &str| {
        response(
            422,
            &json!({"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": issue}]}).to_string(),
        )
    };
    let declined = a.parse_charge(&response(422, DECLINED), &expected).unwrap();
    assert_eq!(
        (
            declined.status,
            declined.last_error.as_deref(),
            declined.decline_class
        ),
        (
            PaymentStatus::Failed,
            Some("INSTRUMENT_DECLINED"),
            Some(DeclineClass::Soft)
        )
    );
    assert_eq!(
        (
            declined.id.as_str(),
            declined.amount,
            declined.order_id.as_deref()
        ),
        ("", 10000, Some("ord_9"))
    );
    let gone = a
        .parse_charge(&issue("AGREEMENT_ALREADY_CANCELLED"), &expected)
        .unwrap();
    assert_eq!(
        (gone.status, gone.decline_class),
        (PaymentStatus::Failed, Some(DeclineClass::Hard))
    );
    for needs_payer in [
        issue("PAYER_ACTION_REQUIRED"),
        response(201, data!("order-create-payer-action.json")),
    ] {
        let state = a.parse_charge(&needs_payer, &expected).unwrap();
        assert_eq!(
            (
                state.status,
                state.last_error.as_deref(),
                state.decline_class
            ),
            (
                PaymentStatus::Open,
                Some("authentication_required"),
                Some(DeclineClass::AuthenticationRequired)
            )
        );
    }
    assert!(matches!(
        a.parse_charge(&issue("CURRENCY_NOT_SUPPORTED"), &expected),
        Err(ProviderError::Refused { status: 422, code, .. }) if code == "CURRENCY_NOT_SUPPORTED"
    ));
}
