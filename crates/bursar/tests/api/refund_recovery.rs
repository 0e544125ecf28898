//! A refund left `pending` by a crash (reserved, the provider never heard back) is settled by
//! the background job, once.

use bursar_domain::event::Cause;

use crate::both_backends;
use crate::helpers::*;

async fn id_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    json_body(response).await["id"].as_str().unwrap().to_owned()
}

both_backends! {
    /// Goal: a refund whose request ended after it was reserved (a crash, a timeout) does not
    /// stay `pending`: the job asks the provider again with the refund's own idempotency key
    /// and settles it; run again, it settles nothing more, and the order is refunded once.
    async fn refunds_left_pending_are_settled_once(app: TestApp) {
        let product = id_of(app.post("/v1/products", json!({"name": "Tool", "kind": "service"})).await).await;
        id_of(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 3_000})).await).await;
        let buyer = id_of(app.post("/v1/customers", json!({"name": "Cy", "email": "cy@example.com"})).await).await;
        let order = id_of(app.post("/v1/orders", json!({"customer_id": buyer, "currency": "USD", "lines": [{"product_id": product, "quantity": 1}]})).await).await;
        let opened = json_body(app.post(&format!("/v1/orders/{order}/checkout"), json!({})).await).await;
        let session = opened["checkout"]["session_id"].as_str().unwrap().to_owned();
        let paid = app.post(&format!("/v1/test_provider/checkout_sessions/{session}/complete"), json!({"outcome": "succeeded"})).await;
        assert_eq!(paid.status(), 200);

        // The request that reserved this refund never came back.
        let order_id = order.clone();
        let cause = Cause { request_id: None, actor: Some("test:crashed-request".into()) };
        let refund = app
            .core()
            .write(app.workspace_id.clone(), cause, move |mut cx| {
                Box::pin(async move {
                    let new = bursar_core::refunds::NewRefund { order_id, amount: Some(1_200), reason: None };
                    bursar_core::refunds::reserve(&mut cx, new).await
                })
            })
            .await
            .unwrap();
        let pending = json_body(app.get(&format!("/v1/refunds/{}", refund.id)).await).await;
        assert_eq!(pending["status"], "pending", "{pending}");

        let settled = bursar_core::refunds::finish_stale(app.core(), 0).await.unwrap();
        assert_eq!(settled, 1);
        let done = json_body(app.get(&format!("/v1/refunds/{}", refund.id)).await).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(bursar_core::refunds::finish_stale(app.core(), 0).await.unwrap(), 0, "nothing twice");
        let order = json_body(app.get(&format!("/v1/orders/{order}")).await).await;
        assert_eq!(order["status"], "partially_refunded", "{order}");
        assert_eq!(order["amount_refunded"], 1_200, "{order}");
    }
}
