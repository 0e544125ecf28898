//! Saved methods at Stripe: detaching one from its customer, so it can no longer be charged.

use super::*;

impl StripeAdapter {
    /// `POST /v1/payment_methods/{id}/detach`; the id is percent-encoded so it stays one path
    /// segment. Detaching twice is the same detach: the idempotency key is the method's.
    pub fn detach_request(&self, payment_method: &str) -> ProviderRequest {
        ProviderRequest {
            operation: "payment_method.detach",
            method: Method::POST,
            url: self.url(&format!(
                "/v1/payment_methods/{}/detach",
                encode_path_segment(payment_method)
            )),
            headers: self.headers(),
            form: Some(Vec::new()),
            json: None,
            idempotency_key: Some(format!("detach-{payment_method}")),
        }
    }

    /// Reads the detached `payment_method`. A method Stripe no longer has, or that is attached
    /// to no customer any more, is already detached: that is not a failure.
    pub fn parse_detach(&self, response: &ProviderResponse) -> Result<(), ProviderError> {
        match read_object(response, "payment_method") {
            Ok(_) => Ok(()),
            Err(ProviderError::Refused { code, .. })
                if code == "resource_missing" || code == "payment_method_unexpected_state" =>
            {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> StripeAdapter {
        StripeAdapter::new(StripeConfig {
            secret_key: "sk_test_1".into(),
            api_base: "http://fake".into(),
        })
    }

    fn answer(status: u16, body: Value) -> ProviderResponse {
        ProviderResponse {
            status,
            headers: Default::default(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn a_detach_names_the_method_in_one_path_segment_once() {
        let call = adapter().detach_request("pm_1/../x");
        assert_eq!(call.method, Method::POST);
        assert_eq!(
            call.url,
            "http://fake/v1/payment_methods/pm_1%2F..%2Fx/detach"
        );
        assert_eq!(call.idempotency_key.as_deref(), Some("detach-pm_1/../x"));
    }

    #[test]
    fn a_method_already_gone_is_detached_and_other_refusals_fail() {
        let adapter = adapter();
        let detached = json!({"id": "pm_1", "object": "payment_method", "customer": null});
        assert_eq!(adapter.parse_detach(&answer(200, detached)), Ok(()));
        let gone = json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such PaymentMethod: 'pm_1'"}});
        assert_eq!(adapter.parse_detach(&answer(400, gone)), Ok(()));
        let key = json!({"error": {"type": "invalid_request_error", "code": "api_key_expired", "message": "Expired API Key provided"}});
        assert!(matches!(
            adapter.parse_detach(&answer(401, key)),
            Err(ProviderError::Refused { status: 401, .. })
        ));
        assert!(matches!(
            adapter.parse_detach(&answer(503, json!({}))),
            Err(ProviderError::Unavailable(_))
        ));
        let wrong = json!({"id": "pi_1", "object": "payment_intent"});
        assert!(matches!(
            adapter.parse_detach(&answer(200, wrong)),
            Err(ProviderError::BadResponse(_))
        ));
    }
}
