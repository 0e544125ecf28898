//! Returns (RMAs) refunded through the existing refund path: a workspace whose `return`
//! scenario has a refund step gets each received return refunded at what its units cost,
//! once, by the provider that took the payment; the order ends `refunded` when everything came
//! back. A refund step on a parcel that went out fails and leaves a manual task.

use crate::both_backends;
use crate::helpers::*;
use crate::shipping::{event_types, paid_physical_order};
use crate::shipping_automation::run_when;
use crate::shipping_devices::ship_and_deliver;

/// Returns `quantity` units of the outbound parcel and has them arrive.
async fn receive_return(
    app: &TestApp,
    order: &str,
    outbound: &Value,
    tracking: &str,
    quantity: i64,
) -> String {
    let product = &outbound["lines"][0]["product_id"];
    let back = ship_and_deliver(app, order, json!({"carrier": "test_courier", "tracking_number": tracking,
        "direction": "return", "return_of": id(outbound), "lines": [{"product_id": product, "quantity": quantity}]})).await;
    id(&back)
}

both_backends! {
    /// Goal (issue #20, returns): a received return is refunded through the refund path for
    /// exactly its units — one unit, then the other two — and the order ends `refunded`.
    async fn received_returns_are_refunded_once_for_their_units(app: TestApp = crate::helpers::TestApp::spawn) {
        let bad = app.post("/v1/automation_scenarios", json!({"key": "return", "fallback_instructions": "x", "steps": [
            {"key": "refund", "action": {"type": "refund"}, "max_attempts": 1, "retry_delay_seconds": 0},
            {"key": "refund_again", "action": {"type": "refund"}, "max_attempts": 1, "retry_delay_seconds": 0}]})).await;
        expect_error(bad, 400, "parameter_invalid", Some("steps[1].action")).await;
        ok(app.post("/v1/automation_scenarios", json!({"key": "return",
            "fallback_instructions": "Refund the return by hand from the order's page, then complete this task.",
            "steps": [{"key": "refund", "action": {"type": "refund"}, "max_attempts": 3, "retry_delay_seconds": 60}]})).await).await;

        let (order, _) = paid_physical_order(&app, 3).await;
        let outbound = ship_and_deliver(&app, &order, json!({"carrier": "test_courier", "tracking_number": "OUT1"})).await;
        assert_eq!(ok(app.get(&format!("/v1/orders/{order}")).await).await["status"], "fulfilled");

        let first = receive_return(&app, &order, &outbound, "RMA1", 1).await;
        let run = run_when(&app, &order, |r| r["shipment_id"] == first.as_str() && r["status"] == "succeeded").await;
        let refund = ok(app.get(&format!("/v1/refunds/{}", run["refund_id"].as_str().unwrap())).await).await;
        assert_eq!((refund["amount"].as_i64(), refund["status"].as_str()), (Some(12_900), Some("succeeded")), "{refund}");
        assert_eq!(refund["reason"], format!("Return {first} received"));
        let paid = ok(app.get(&format!("/v1/orders/{order}")).await).await;
        assert_eq!((paid["status"].as_str(), paid["amount_refunded"].as_i64()), (Some("fulfilled"), Some(12_900)), "{paid}");

        let second = receive_return(&app, &order, &outbound, "RMA2", 2).await;
        let run = run_when(&app, &order, |r| r["shipment_id"] == second.as_str() && r["status"] == "succeeded").await;
        assert_eq!(run["steps"][0]["attempts"].as_array().unwrap().len(), 1, "{run}");
        let refund = ok(app.get(&format!("/v1/refunds/{}", run["refund_id"].as_str().unwrap())).await).await;
        assert_eq!(refund["amount"], 25_800, "{refund}");
        let refunded = ok(app.get(&format!("/v1/orders/{order}")).await).await;
        assert_eq!((refunded["status"].as_str(), refunded["amount_refunded"].as_i64()), (Some("refunded"), Some(38_700)), "{refunded}");
        let refunds = ok(app.get(&format!("/v1/orders/{order}/refunds")).await).await;
        assert_eq!(refunds["data"].as_array().unwrap().len(), 2, "one refund per return: {refunds}");
        let types = event_types(&app, &order).await;
        let refunds: Vec<&str> = types.iter().map(String::as_str).filter(|t| t.ends_with("refunded")).collect();
        assert_eq!(refunds, ["order.partially_refunded", "order.refunded"], "{types:?}");
    }
}

both_backends! {
    /// Goal: a refund step run for a parcel that went out refunds nothing: the attempt fails
    /// with the reason, support gets the manual task, and the order keeps its payment.
    async fn a_refund_step_on_an_outbound_parcel_leaves_a_manual_task(app: TestApp = crate::helpers::TestApp::spawn) {
        ok(app.post("/v1/automation_scenarios", json!({"key": "wrong_way",
            "fallback_instructions": "Check the scenario named on the shipment.",
            "steps": [{"key": "refund", "action": {"type": "refund"}, "max_attempts": 1, "retry_delay_seconds": 0}]})).await).await;
        let (order, _) = paid_physical_order(&app, 1).await;
        ship_and_deliver(&app, &order, json!({"carrier": "test_courier", "tracking_number": "OUT2",
            "automation_scenario": "wrong_way"})).await;
        let run = run_when(&app, &order, |r| r["status"] == "manual_task").await;
        let error = run["steps"][0]["attempts"][0]["error"].as_str().unwrap();
        assert!(error.starts_with("Only a return is refunded"), "{run}");
        assert_eq!(run["refund_id"], Value::Null);
        let order = ok(app.get(&format!("/v1/orders/{order}")).await).await;
        assert_eq!((order["status"].as_str(), order["amount_refunded"].as_i64()), (Some("paid"), Some(0)), "{order}");
    }
}
