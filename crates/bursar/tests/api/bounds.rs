//! The bounds `/openapi.json` declares are where the server starts refusing: a value at a
//! declared limit is taken, one past it is a 400 naming the field. Where the document used to
//! promise more than the server checked, the server now checks it (cursors, amount caps,
//! metadata keys in updates, return URLs).

use crate::both_backends;
use crate::helpers::*;

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_body(response).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The schema named `name` in the served document.
async fn schema(app: &TestApp, name: &str) -> Value {
    let spec = json_body(app.get("/openapi.json").await).await;
    spec["components"]["schemas"][name].clone()
}

both_backends! {
    /// Goal: a product's name and a metadata value are refused exactly past the lengths the
    /// document declares, and a price's amount exactly past the declared maximum.
    async fn declared_limits_are_where_refusals_start(app: TestApp) {
        let product = schema(&app, "CreateProductRequest").await;
        let name_max = product["properties"]["name"]["maxLength"].as_u64().unwrap() as usize;
        let metadata = schema(&app, "Metadata").await;
        let value_max = metadata["additionalProperties"]["maxLength"].as_u64().unwrap() as usize;
        let at_limit = json!({"name": "n".repeat(name_max), "kind": "service",
            "metadata": {"k": "v".repeat(value_max)}});
        let product_id = created(app.post("/v1/products", at_limit).await).await["id"].clone();
        let long_name = json!({"name": "n".repeat(name_max + 1), "kind": "service"});
        expect_error(app.post("/v1/products", long_name).await, 400, "parameter_invalid", Some("name")).await;
        let long_value = json!({"name": "n", "kind": "service", "metadata": {"k": "v".repeat(value_max + 1)}});
        expect_error(app.post("/v1/products", long_value).await, 400, "parameter_invalid", Some("metadata[k]")).await;

        let amount_max = schema(&app, "NonNegativeAmount").await["maximum"].as_i64().unwrap();
        let price = |amount: i64| json!({"product_id": product_id, "currency": "EUR", "unit_amount": amount});
        created(app.post("/v1/prices", price(amount_max)).await).await;
        expect_error(app.post("/v1/prices", price(amount_max + 1)).await, 400, "parameter_invalid", Some("unit_amount")).await;
    }
}

both_backends! {
    /// Goal: a list cursor is an id of the listed kind (the declared pattern), not any text
    /// with the right prefix; a well-formed cursor of an unknown object is an empty page.
    async fn list_cursors_are_ids_of_the_listed_kind(app: TestApp) {
        for cursor in ["prod_x", "prod_01jdx2k3m4n5p6q7r8s9t0v1wu", "price_01jdx2k3m4n5p6q7r8s9t0v1w2"] {
            let response = app.get(&format!("/v1/products?starting_after={cursor}")).await;
            expect_error(response, 400, "parameter_invalid", Some("starting_after")).await;
        }
        let page = json_body(app.get("/v1/products?ending_before=prod_01JDX2K3M4N5P6Q7R8S9T0V1W2").await).await;
        assert_eq!(page["data"].as_array().map(Vec::len), Some(0), "{page}");
    }
}

both_backends! {
    /// Goal: an update that removes a metadata key still refuses a key no entry could have,
    /// as the declared key pattern says; a well-formed removal is taken.
    async fn metadata_updates_check_the_keys_they_remove(app: TestApp) {
        let customer = created(app.post("/v1/customers", json!({"metadata": {"plan": "pro"}})).await).await;
        let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
        let long = "k".repeat(41);
        for key in ["", "a]", long.as_str()] {
            let response = app.post(&path, json!({"metadata": {key: null}})).await;
            expect_error(response, 400, "parameter_invalid", Some(&format!("metadata[{key}]"))).await;
        }
        let updated = created(app.post(&path, json!({"metadata": {"plan": null}})).await).await;
        assert_eq!(updated["metadata"], json!({}), "{updated}");
    }
}

both_backends! {
    /// Goal: saving a payment method checks its return URLs as a checkout does (absolute
    /// http(s)), before any provider is called.
    async fn payment_method_setups_check_their_return_urls(app: TestApp) {
        let customer = created(app.post("/v1/customers", json!({"name": "Ada"})).await).await;
        let path = format!("/v1/customers/{}/payment_method_setups", customer["id"].as_str().unwrap());
        for (field, url) in [("success_url", "javascript:alert(1)"), ("cancel_url", "/relative")] {
            let response = app.post(&path, json!({"currency": "EUR", field: url})).await;
            expect_error(response, 400, "parameter_invalid", Some(field)).await;
        }
    }
}
