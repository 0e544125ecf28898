//! The access token (cached, refreshed after a 401) and PayPal's error answers.

use super::*;

#[test]
fn paypal_errors_become_refusals_or_unavailability() {
    let a = adapter();
    let exceeded = r#"{"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed.", "debug_id": "4c1b2c7f", "details": [{"issue": "REFUND_AMOUNT_EXCEEDED", "description": "The refund is more than what is left of the capture."}]}"#;
    assert_eq!(
        a.parse_refund(&response(422, exceeded), &refund_request()),
        Err(ProviderError::Refused {
            status: 422,
            code: "REFUND_AMOUNT_EXCEEDED".into(),
            message: "The requested action could not be performed.: The refund is more than what is left of the capture. (debug_id 4c1b2c7f)".into(),
        })
    );
    let oauth =
        r#"{"error": "invalid_client", "error_description": "Client Authentication failed"}"#;
    assert_eq!(
        a.parse_token(&response(401, oauth)),
        Err(ProviderError::Refused {
            status: 401,
            code: "invalid_client".into(),
            message: "Client Authentication failed".into(),
        })
    );
    let mut html = response(404, "<html>not found</html>");
    html.headers.insert("paypal-debug-id".into(), "abc".into());
    assert!(matches!(
        a.parse_payment(&html),
        Err(ProviderError::Refused { status: 404, code, .. }) if code == "http_404"
    ));
    let unnamed = response(404, r#"{"debug_id": "abc"}"#);
    assert!(matches!(
        a.parse_payment(&unnamed),
        Err(ProviderError::Refused { status: 404, code, message })
            if code == "http_404" && message == "no error message (debug_id abc)"
    ));
    assert_eq!(
        a.parse_payment(&response(500, data!("error-500.json"))),
        Err(ProviderError::Unavailable(
            "HTTP 500: INTERNAL_SERVER_ERROR: An internal server error occurred. (debug_id b5e2c41f07d39)".into()
        ))
    );
    assert!(matches!(
        a.parse_payment(&response(200, "[]")),
        Err(ProviderError::BadResponse(_))
    ));
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_key_then_unavailable() {
    let failure = data!("error-500.json");
    let server = Server::start(&[
        ("POST /v2/checkout/orders", 500, failure),
        ("POST /v2/checkout/orders", 500, failure),
    ])
    .await;
    let result = server.provider().create_checkout(&checkout()).await;
    assert!(
        matches!(result, Err(ProviderError::Unavailable(_))),
        "{result:?}"
    );
    let keys: Vec<_> = server.requests()[1..]
        .iter()
        .map(|r| r.header("paypal-request-id").map(str::to_owned))
        .collect();
    assert_eq!(
        keys,
        [
            Some("bursar-checkout-att_1".to_owned()),
            Some("bursar-checkout-att_1".to_owned())
        ]
    );
}

#[tokio::test]
async fn the_token_is_cached_and_fetched_again_after_a_401() {
    let expired =
        r#"{"error": "invalid_token", "error_description": "Token signature verification failed"}"#;
    let server = Server::start(&[("GET /v2/payments/captures/C2", 401, expired)]).await;
    let provider = server.provider();
    provider.payment("C1").await.unwrap();
    provider.payment("C2").await.unwrap();
    let paths: Vec<_> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1/oauth2/token",
            "/v2/payments/captures/C1",
            "/v2/payments/captures/C2",
            "/v1/oauth2/token",
            "/v2/payments/captures/C2",
        ]
    );
}

#[test]
fn the_token_answer_is_read() {
    let token = adapter()
        .parse_token(&response(200, data!("oauth-token.json")))
        .unwrap();
    assert_eq!(
        (token.value.as_str(), token.expires_in),
        (TOKEN, Duration::from_secs(32400))
    );
    assert!(!format!("{token:?}").contains("A21AA"));
    let shown = format!("{:?}", config("x"));
    assert!(!shown.contains(SECRET), "{shown}");
}
