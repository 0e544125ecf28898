//! Customers: the conventions every resource follows.

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    /// Goal: the basic lifecycle works and round-trips every field.
    async fn a_customer_can_be_created_read_and_updated(app: TestApp) {
        let created = app
            .post("/v1/customers", json!({"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro", "region": "eu"}}))
            .await;
        assert_eq!(created.status(), 200);
        let created = json_body(created).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("cus_") && id.len() == 30, "{id}");
        assert_eq!(created["object"], "customer");
        assert_eq!(created["metadata"], json!({"plan": "pro", "region": "eu"}));
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

        let fetched = json_body(app.get(&format!("/v1/customers/{id}")).await).await;
        assert_eq!(fetched, created);

        let updated = app
            .post(&format!("/v1/customers/{id}"), json!({"name": null, "metadata": {"plan": "team", "region": null}}))
            .await;
        assert_eq!(updated.status(), 200);
        let updated = json_body(updated).await;
        assert_eq!(updated["name"], Value::Null);
        assert_eq!(updated["email"], "ada@example.com");
        assert_eq!(updated["metadata"], json!({"plan": "team"}));
        assert_eq!(updated["created_at"], created["created_at"]);
        assert_eq!(json_body(app.get(&format!("/v1/customers/{id}")).await).await, updated);
    }
}

both_backends! {
    /// Goal: a key of workspace A can never see or change workspace B's customers.
    /// Method: create customers in both, then probe get, list and update across the boundary.
    async fn workspaces_are_isolated(app: TestApp) {
        let (_, other_key) = app.new_workspace("Other").await;
        let mine = json_body(app.post("/v1/customers", json!({"name": "Mine"})).await).await;
        let theirs = app
            .client
            .post(app.url("/v1/customers"))
            .bearer_auth(&other_key)
            .json(&json!({"name": "Theirs"}))
            .send()
            .await
            .unwrap();
        let theirs = json_body(theirs).await;
        let their_id = theirs["id"].as_str().unwrap();

        expect_error(app.get(&format!("/v1/customers/{their_id}")).await, 404, "resource_missing", Some("id")).await;
        let update = app.post(&format!("/v1/customers/{their_id}"), json!({"name": "Hijacked"})).await;
        expect_error(update, 404, "resource_missing", Some("id")).await;

        let my_ids = all_customer_ids(&app, &app.admin_key).await;
        assert_eq!(my_ids, vec![mine["id"].as_str().unwrap().to_owned()]);
        let their_ids = all_customer_ids(&app, &other_key).await;
        assert_eq!(their_ids, vec![their_id.to_owned()]);

        // Their customer is untouched.
        let still = app.client.get(app.url(&format!("/v1/customers/{their_id}"))).bearer_auth(&other_key).send().await.unwrap();
        assert_eq!(json_body(still).await["name"], "Theirs");
    }
}

both_backends! {
    /// Goal: cursor pagination visits every customer exactly once, forwards and backwards.
    async fn pagination_has_no_gaps_or_duplicates(app: TestApp) {
        let mut created = Vec::new();
        for i in 0..25 {
            let c = json_body(app.post("/v1/customers", json!({"name": format!("C{i}")})).await).await;
            created.push(c["id"].as_str().unwrap().to_owned());
        }
        // Newest first.
        created.reverse();

        let mut seen = Vec::new();
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                None => "/v1/customers?limit=10".to_owned(),
                Some(a) => format!("/v1/customers?limit=10&starting_after={a}"),
            };
            let page = json_body(app.get(&path).await).await;
            let ids: Vec<String> = page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
            seen.extend(ids.clone());
            pages.push((ids.clone(), page["has_more"].as_bool().unwrap()));
            if !page["has_more"].as_bool().unwrap() {
                break;
            }
            after = ids.last().cloned();
        }
        assert_eq!(seen, created);
        assert_eq!(pages.iter().map(|(ids, more)| (ids.len(), *more)).collect::<Vec<_>>(), vec![(10, true), (10, true), (5, false)]);

        // Backwards from the last page: ending_before its first id gives the middle page.
        let last_first = &pages[2].0[0];
        let back = json_body(app.get(&format!("/v1/customers?limit=10&ending_before={last_first}")).await).await;
        let back_ids: Vec<String> = back["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(back_ids, pages[1].0);
        assert_eq!(back["has_more"], true);
        let first_first = &pages[0].0[0];
        let newest = json_body(app.get(&format!("/v1/customers?ending_before={first_first}")).await).await;
        assert_eq!(newest["data"], json!([]));
        assert_eq!(newest["has_more"], false);
    }
}

both_backends! {
    /// Goal: bad input gets a 4xx naming the field, and writes nothing.
    async fn bad_input_is_refused_naming_the_field_and_writes_nothing(app: TestApp) {
        let send_raw = |body: &'static str| {
            app.client
                .post(app.url("/v1/customers"))
                .bearer_auth(&app.admin_key)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        expect_error(send_raw("{\"email\": ").await.unwrap(), 400, "json_invalid", None).await;
        expect_error(send_raw("not json").await.unwrap(), 400, "json_invalid", None).await;
        expect_error(send_raw("[1, 2]").await.unwrap(), 400, "parameter_invalid", None).await;
        expect_error(send_raw(r#"{"email": 42}"#).await.unwrap(), 400, "parameter_invalid", Some("email")).await;
        expect_error(send_raw(r#"{"name": "A", "colour": "red"}"#).await.unwrap(), 400, "parameter_unknown", Some("colour")).await;
        expect_error(send_raw(r#"{"metadata": {"plan": 3}}"#).await.unwrap(), 400, "parameter_invalid", Some("metadata.plan")).await;
        expect_error(send_raw(r#"{"email": "not-an-email"}"#).await.unwrap(), 400, "parameter_invalid", Some("email")).await;
        expect_error(send_raw(r#"{"name": "   "}"#).await.unwrap(), 400, "parameter_invalid", Some("name")).await;
        let long_key = format!(r#"{{"metadata": {{"{}": "v"}}}}"#, "k".repeat(41));
        let response = app.client.post(app.url("/v1/customers")).bearer_auth(&app.admin_key)
            .header("content-type", "application/json").body(long_key).send().await.unwrap();
        expect_error(response, 400, "parameter_invalid", Some(&format!("metadata[{}]", "k".repeat(41)))).await;
        let form = app.client.post(app.url("/v1/customers")).bearer_auth(&app.admin_key)
            .header("content-type", "application/x-www-form-urlencoded").body("name=A").send().await.unwrap();
        expect_error(form, 415, "content_type_unsupported", None).await;
        // On a connection of its own: the server answers before reading the whole body and
        // closes that connection, which a pooled client could otherwise pick for the next request.
        let huge = json!({"name": "x".repeat(2 * 1024 * 1024)});
        let response = reqwest::Client::new().post(app.url("/v1/customers")).bearer_auth(&app.admin_key).json(&huge).send().await.unwrap();
        expect_error(response, 413, "body_too_large", None).await;

        // Query parameters too.
        expect_error(app.get("/v1/customers?limit=0").await, 400, "parameter_invalid", Some("limit")).await;
        expect_error(app.get("/v1/customers?limit=ten").await, 400, "parameter_invalid", Some("limit")).await;
        expect_error(app.get("/v1/customers?starting_after=ws_01jdx2k3m4n5p6q7r8s9t0v1w2").await, 400, "parameter_invalid", Some("starting_after")).await;
        expect_error(app.get("/v1/customers?sort=name").await, 400, "parameter_unknown", Some("sort")).await;

        // Updates validate the same way, and an unknown id is a 404.
        let c = json_body(app.post("/v1/customers", json!({"email": "keep@example.com"})).await).await;
        let id = c["id"].as_str().unwrap();
        expect_error(app.post(&format!("/v1/customers/{id}"), json!({"email": "nope"})).await, 400, "parameter_invalid", Some("email")).await;
        expect_error(app.post(&format!("/v1/customers/{id}"), json!({"emial": "x@y.co"})).await, 400, "parameter_unknown", Some("emial")).await;
        expect_error(app.get("/v1/customers/cus_01jdx2k3m4n5p6q7r8s9t0v1w2").await, 404, "resource_missing", Some("id")).await;
        expect_error(app.get("/v1/customers/garbage").await, 404, "resource_missing", Some("id")).await;

        // Nothing of the refused requests was written; the valid customer is unchanged.
        assert_eq!(all_customer_ids(&app, &app.admin_key).await, vec![id.to_owned()]);
        assert_eq!(json_body(app.get(&format!("/v1/customers/{id}")).await).await["email"], "keep@example.com");
    }
}
