//! Contracts as an event-sourced edit log over HTTP: operations validated against the state at
//! their effective time (refusals write nothing), typed events, future-dated and back-dated
//! changes, and bitemporal reads.

use crate::both_backends;
use crate::helpers::*;

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_body(response).await;
    assert!(status.is_success(), "unexpected {status}: {body}");
    body
}

fn at(day: i64) -> String {
    // 2026-01-01T00:00:00Z plus days.
    bursar_domain::time::Timestamp::from_unix_micros((1_767_225_600 + day * 86_400) * 1_000_000)
        .to_rfc3339()
}

async fn log_len(app: &TestApp, id: &str) -> usize {
    ok(app.get(&format!("/v1/contracts/{id}/log")).await).await["data"]
        .as_array()
        .unwrap()
        .len()
}

both_backends! {
    /// Goal: a contract's life through its log — created with lines, activated, a scheduled
    /// price change, a back-dated quantity change learned later — read as of any moment and as
    /// known at any moment; illegal operations refused with the state or the field, writing
    /// nothing; every operation a typed event.
    async fn a_contract_is_the_projection_of_its_edit_log(app: TestApp) {
        let (buyer, product) = buyer_and_product(&app).await;
        // Signed ten days ago, entered now.
        let signed = app.db().now().plus_seconds(-10 * 86_400).to_rfc3339();
        let created = ok(app.post("/v1/contracts", json!({
            "buyer_id": buyer, "currency": "USD", "effective_at": signed,
            "term": {"start": at(0), "end": at(365), "auto_renew": true, "notice_days": 30},
            "lines": [{"product_id": product, "unit_amount": 10_000, "quantity": 2}]
        })).await).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!((created["status"].as_str(), created["lines"][0]["id"].as_str()), (Some("draft"), Some("line_1")));
        let path = format!("/v1/contracts/{id}/operations");
        let op = |body: Value| app.post(&path, body);
        let activated = ok(op(json!({"type": "activate"})).await).await;
        assert_eq!(activated["contract"]["status"], "active");

        // Refusals: the state or the field, and nothing written.
        let before = log_len(&app, &id).await;
        expect_error(op(json!({"type": "remove_line", "line_id": "line_9"})).await, 400, "line_not_found", Some("line_id")).await;
        let again = expect_error(op(json!({"type": "activate"})).await, 409, "contract_not_draft", None).await;
        assert_eq!(again["error"]["current_state"], "active");
        expect_error(op(json!({"type": "change_quantity", "line_id": "line_1", "quantity": 0})).await, 400, "quantity_invalid", Some("quantity")).await;
        expect_error(op(json!({"type": "set_downpayment", "line_id": "line_1", "downpayment": 100})).await, 409, "contract_not_draft", None).await;
        expect_error(op(json!({"type": "teleport"})).await, 400, "parameter_invalid", Some("type")).await;
        expect_error(op(json!({"type": "add_line", "product_id": "prod_nope", "unit_amount": 1, "quantity": 1})).await, 404, "resource_missing", Some("product_id")).await;
        assert_eq!(log_len(&app, &id).await, before, "refused operations write nothing");

        // A price change scheduled for a later date: not in effect now, in effect then.
        let now = app.db().now();
        let later = now.plus_seconds(30 * 86_400).to_rfc3339();
        let scheduled = ok(op(json!({"type": "change_price", "line_id": "line_1", "unit_amount": 12_000, "effective_at": later})).await).await;
        assert_eq!(scheduled["contract"]["lines"][0]["unit_amount"], 12_000, "the stored projection includes what is scheduled");
        let current = ok(app.get(&format!("/v1/contracts/{id}")).await).await;
        assert_eq!(current["lines"][0]["unit_amount"], 10_000);
        let then = ok(app.get(&format!("/v1/contracts/{id}?as_of={}", urlencode(&later))).await).await;
        assert_eq!(then["lines"][0]["unit_amount"], 12_000);

        // A back-dated change: effective five days ago, recorded now.
        let back = app.db().now().plus_seconds(-5 * 86_400).to_rfc3339();
        let known_before = app.db().now().to_rfc3339();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        ok(op(json!({"type": "change_quantity", "line_id": "line_1", "quantity": 5, "effective_at": back})).await).await;
        let quantity = |body: &Value| body["lines"][0]["quantity"].as_i64().unwrap();
        let as_known_before = ok(app.get(&format!("/v1/contracts/{id}?as_of={}&known_at={}", urlencode(&back), urlencode(&known_before))).await).await;
        let as_known_now = ok(app.get(&format!("/v1/contracts/{id}?as_of={}", urlencode(&back))).await).await;
        assert_eq!((quantity(&as_known_before), quantity(&as_known_now)), (2, 5), "as of the same moment: before and after we learned it");
        // Before the contract existed (as of), 404 naming as_of.
        expect_error(app.get(&format!("/v1/contracts/{id}?as_of={}", urlencode(&at(-400)))).await, 404, "contract_not_yet_in_effect", Some("as_of")).await;

        // Invoiced periods are closed to back-dated changes.
        ok(op(json!({"type": "mark_billed", "through": app.db().now().to_rfc3339()})).await).await;
        expect_error(op(json!({"type": "change_price", "line_id": "line_1", "unit_amount": 1, "effective_at": back})).await, 409, "period_invoiced", None).await;
        // Removing the line before the scheduled price change would break it.
        expect_error(op(json!({"type": "remove_line", "line_id": "line_1"})).await, 409, "later_operation_conflicts", None).await;

        // Lifecycle: suspend, resume, terminate; then nothing more.
        ok(op(json!({"type": "suspend"})).await).await;
        ok(op(json!({"type": "resume"})).await).await;
        ok(op(json!({"type": "set_service_status", "service_status": "live"})).await).await;
        let ended = ok(op(json!({"type": "terminate", "effective_at": later})).await).await;
        assert_eq!(ended["contract"]["status"], "terminated");
        let refused = expect_error(op(json!({"type": "activate", "effective_at": later})).await, 409, "contract_not_draft", None).await;
        assert_eq!(refused["error"]["current_state"], "terminated");

        // The log replays to the stored projection; every operation is a typed event.
        let log = ok(app.get(&format!("/v1/contracts/{id}/log")).await).await;
        let types: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["operation"]["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["create", "add_line", "activate", "change_price", "change_quantity", "mark_billed", "suspend", "resume", "set_service_status", "terminate"]);
        let timeline = ok(app.get(&format!("/v1/contracts/{id}/timeline")).await).await;
        let events: Vec<&str> = timeline["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(events, ["contract.created", "contract.line_added", "contract.status_changed", "contract.price_changed",
                            "contract.quantity_changed", "contract.billed", "contract.status_changed", "contract.status_changed",
                            "contract.service_status_changed", "contract.status_changed"]);
        let listed = ok(app.get(&format!("/v1/contracts?buyer_id={buyer}")).await).await;
        assert_eq!(listed["data"][0]["id"], id.as_str());
        assert_eq!(listed["data"][0]["status"], "terminated");
        assert_eq!(listed["data"][0]["version"], 10);
    }
}

both_backends! {
    /// Goal: creating a contract checks its parties, currency and products, writing nothing on
    /// refusal.
    async fn contracts_check_what_they_refer_to(app: TestApp) {
        let (buyer, product) = buyer_and_product(&app).await;
        let term = json!({"start": at(0), "end": at(365)});
        expect_error(app.post("/v1/contracts", json!({"buyer_id": "cus_00000000000000000000000000", "currency": "USD", "term": term})).await, 404, "resource_missing", Some("buyer_id")).await;
        expect_error(app.post("/v1/contracts", json!({"buyer_id": buyer, "currency": "usdx", "term": term})).await, 400, "parameter_invalid", Some("currency")).await;
        expect_error(app.post("/v1/contracts", json!({"buyer_id": buyer, "currency": "USD", "term": {"start": at(10), "end": at(5)}})).await, 400, "term_invalid", Some("term.end")).await;
        expect_error(app.post("/v1/contracts", json!({"buyer_id": buyer, "currency": "USD", "term": term, "lines": [{"product_id": product, "unit_amount": 5}, {"product_id": "prod_x", "unit_amount": 5}]})).await, 404, "resource_missing", Some("lines[1].product_id")).await;
        assert_eq!(ok(app.get("/v1/contracts").await).await["data"], json!([]), "nothing written");
        // Without a unit amount, the pricing resolver's price: the default, or the buyer's
        // company agreement.
        ok(app.post("/v1/prices", json!({"product_id": product, "currency": "USD", "unit_amount": 4_000})).await).await;
        let company = ok(app.post("/v1/companies", json!({"name": "Acme Inc"})).await).await["id"].as_str().unwrap().to_owned();
        let past = bursar_domain::time::Timestamp::from_unix_micros(0).to_rfc3339();
        let agreement = ok(app.post("/v1/price_agreements", json!({"company_id": company, "name": "Deal", "currency": "USD", "effective_from": past, "lines": [{"product_id": product, "unit_amount": 3_200}]})).await).await;
        ok(app.post(&format!("/v1/price_agreements/{}/activate", agreement["id"].as_str().unwrap()), json!({})).await).await;
        for (buyer, price) in [(buyer.clone(), 4_000), (company.clone(), 3_200)] {
            let contract = ok(app.post("/v1/contracts", json!({"buyer_id": buyer, "currency": "USD", "term": term, "lines": [{"product_id": product, "quantity": 3}]})).await).await;
            assert_eq!(contract["lines"][0]["unit_amount"], price, "{buyer}");
        }
        let euro = app.post("/v1/contracts", json!({"buyer_id": buyer, "currency": "EUR", "term": term, "lines": [{"product_id": product}]})).await;
        assert_eq!(euro.status(), 400, "no EUR price: {}", euro.text().await.unwrap());
    }
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

async fn spawn_on_clock(backend: Backend) -> (TestApp, bursar_domain::time::ManualClock) {
    let clock = bursar_domain::time::ManualClock::new(
        bursar_domain::time::Timestamp::from_unix_micros(1_767_225_600 * 1_000_000),
    );
    let app = TestApp::spawn_with_clock(backend, std::sync::Arc::new(clock.clone())).await;
    (app, clock)
}

both_backends! {
/// Goal: the scheduler renews, expires and terminates over a simulated year (the clock moved by
/// the test), honouring notice periods; on SQLite and on PostgreSQL.
async fn a_year_of_renewals(backend: Backend) {
    let (app, clock) = spawn_on_clock(backend).await;
    let state = app.core().clone();
    let (buyer, product) = buyer_and_product(&app).await;
    // Quarterly terms that renew, with 30 days' notice.
    let mut ids = Vec::new();
    for _ in 0..4 {
        let contract = ok(app.post("/v1/contracts", json!({
            "buyer_id": buyer, "currency": "USD",
            "term": {"start": at(0), "end": at(90), "auto_renew": true, "renewal_months": 3, "notice_days": 30},
            "lines": [{"product_id": product, "unit_amount": 5_000}]
        })).await).await;
        let id = contract["id"].as_str().unwrap().to_owned();
        ok(app
            .post(
                &format!("/v1/contracts/{id}/operations"),
                json!({"type": "activate"}),
            )
            .await)
        .await;
        ids.push(id);
    }
    let (renewing, canceled, too_late, terminated) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    ok(app
        .post(
            &format!("/v1/contracts/{terminated}/operations"),
            json!({"type": "terminate", "at": at(165)}),
        )
        .await)
    .await;
    // A price change scheduled for day 100.
    ok(app.post(&format!("/v1/contracts/{renewing}/operations"), json!({"type": "change_price", "line_id": "line_1", "unit_amount": 6_000, "effective_at": at(100)})).await).await;
    for day in 1..365 {
        clock.advance_seconds(86_400);
        if day == 45 {
            // Before the notice deadline (day 60): the renewal is canceled.
            ok(app
                .post(
                    &format!("/v1/contracts/{canceled}/operations"),
                    json!({"type": "cancel_renewal"}),
                )
                .await)
            .await;
        }
        if day == 74 {
            // Inside the notice period: too late, it renews.
            let late = app
                .post(
                    &format!("/v1/contracts/{too_late}/operations"),
                    json!({"type": "cancel_renewal"}),
                )
                .await;
            expect_error(late, 409, "notice_period_passed", None).await;
        }
        bursar_core::contracts::run_scheduler(&state).await.unwrap();
        if day == 99 || day == 100 {
            // The subscription bills the new price once it takes effect, not before.
            let subscription = ok(app
                .get(&format!("/v1/subscriptions?contract_id={renewing}"))
                .await)
            .await;
            let price = subscription["data"][0]["items"][0]["unit_amount"].as_i64();
            assert_eq!(
                price,
                Some(if day == 99 { 5_000 } else { 6_000 }),
                "day {day}"
            );
        }
    }
    let contract = |id: String| {
        let app = &app;
        async move { ok(app.get(&format!("/v1/contracts/{id}")).await).await }
    };
    // Renewed at days 90, 181 and 273 (calendar quarters): its term now ends 2027-01-01.
    let renewed = contract(renewing.clone()).await;
    assert_eq!(
        (renewed["status"].as_str(), renewed["term"]["end"].as_str()),
        (Some("active"), Some("2027-01-01T00:00:00Z"))
    );
    assert_eq!(
        contract(too_late.clone()).await["term"]["end"],
        "2027-01-01T00:00:00Z"
    );
    let expired = contract(canceled.clone()).await;
    assert_eq!(
        (expired["status"].as_str(), expired["term"]["end"].as_str()),
        (Some("expired"), Some("2026-04-01T00:00:00Z"))
    );
    let ended = contract(terminated.clone()).await;
    assert_eq!(
        (ended["status"].as_str(), ended["updated_at"].as_str()),
        (Some("terminated"), Some(at(165).as_str()))
    );
    // Each renewal is an operation of the log, effective when it was due, and an event.
    let log = ok(app.get(&format!("/v1/contracts/{renewing}/log")).await).await;
    let renewals: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"]["type"] == "renew")
        .map(|e| e["effective_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        renewals,
        [
            "2026-04-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
            "2026-10-01T00:00:00Z"
        ]
    );
    let timeline = ok(app.get(&format!("/v1/contracts/{renewing}/timeline")).await).await;
    let renewed_events = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "contract.renewed")
        .count();
    assert_eq!(renewed_events, 3);
    // As of mid-February the canceled one was still active, as known then.
    let february = ok(app
        .get(&format!(
            "/v1/contracts/{canceled}?as_of={}",
            urlencode(&at(45))
        ))
        .await)
    .await;
    assert_eq!(
        (
            february["status"].as_str(),
            february["renewal_canceled"].as_bool()
        ),
        (Some("active"), Some(true))
    );
}
}

/// A subscriber that refuses its first `failures` deliveries of each event, then does the
/// real projection.
struct Flaky {
    inner: std::sync::Arc<dyn bursar::relay::Subscriber>,
    attempts: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    failures: u32,
}

impl bursar::relay::Subscriber for Flaky {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn deliver<'a>(
        &'a self,
        workspace_id: &'a bursar_domain::id::WorkspaceId,
        event: &'a bursar_domain::event::Event,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let n = attempts.entry(event.id.to_string()).or_default();
            *n += 1;
            *n
        };
        if attempt <= self.failures {
            return Box::pin(
                async move { Err(format!("attempt {attempt}: projection store down")) },
            );
        }
        self.inner.deliver(workspace_id, event)
    }
}

both_backends! {
    /// Goal: the subscription follows every contract operation through the relay (created on
    /// activation, items and prorations on changes, paused on suspension, canceled on
    /// termination), survives a subscriber failing twice per event, and is rebuilt identically
    /// from the log by `bursar contracts rebuild`.
    async fn subscriptions_follow_contracts_through_the_relay(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let db = app.db().clone();
        let projector = Flaky { inner: bursar::subscriptions::SubscriptionProjector::subscriber(db.clone()), attempts: Default::default(), failures: 2 };
        let relay = bursar::relay::Relay::new(db.clone(), vec![std::sync::Arc::new(projector)], crate::relay::fast());
        let (buyer, product) = buyer_and_product(&app).await;
        let start = app.db().now().plus_seconds(-40 * 86_400).to_rfc3339();
        let contract = ok(app.post("/v1/contracts", json!({
            "buyer_id": buyer, "currency": "USD", "effective_at": start,
            "term": {"start": start}, "billing": {"proration": "second"},
            "lines": [{"product_id": product, "unit_amount": 3_000, "quantity": 1}]
        })).await).await;
        let id = contract["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/contracts/{id}/operations");
        let url = format!("/v1/subscriptions?contract_id={id}");
        crate::relay::drain(&relay, &db).await;
        assert_eq!(subscription_of(&app, url.clone()).await, None, "no subscription for a draft");

        let active_at = app.db().now().plus_seconds(-30 * 86_400).to_rfc3339();
        ok(app.post(&path, json!({"type": "activate", "effective_at": active_at})).await).await;
        crate::relay::drain(&relay, &db).await;
        let created = subscription_of(&app, url.clone()).await.expect("created on activation");
        assert_eq!((created["status"].as_str(), created["items"][0]["quantity"].as_i64()), (Some("active"), Some(1)));

        // A change inside the current period leaves a proration item (by the second).
        ok(app.post(&path, json!({"type": "change_quantity", "line_id": "line_1", "quantity": 4})).await).await;
        ok(app.post(&path, json!({"type": "suspend"})).await).await;
        crate::relay::drain(&relay, &db).await;
        let paused = subscription_of(&app, url.clone()).await.unwrap();
        assert_eq!((paused["status"].as_str(), paused["items"][0]["quantity"].as_i64()), (Some("paused"), Some(4)));
        let proration = &paused["proration_items"][0];
        let (period_start, period_end) = (micros(&proration["period_start"]), micros(&proration["period_end"]));
        let effective = micros(&proration["effective_at"]);
        // Whole seconds left of whole seconds in the period; the change happened at "now",
        // a fraction of a second past a whole second.
        let (left, period) = ((period_end - effective) / 1_000_000, (period_end - period_start) / 1_000_000);
        let expected = (9_000_i128 * i128::from(left) * 2 + i128::from(period)) / (i128::from(period) * 2);
        assert_eq!(proration["amount"].as_i64(), Some(i64::try_from(expected).unwrap()), "{paused}");

        ok(app.post(&path, json!({"type": "resume"})).await).await;
        ok(app.post(&path, json!({"type": "terminate"})).await).await;
        crate::relay::drain(&relay, &db).await;
        let canceled = subscription_of(&app, url.clone()).await.unwrap();
        assert_eq!(canceled["status"], "canceled");
        let log_len = ok(app.get(&format!("/v1/contracts/{id}/log")).await).await["data"].as_array().unwrap().len();
        assert_eq!(canceled["contract_version"].as_u64(), Some(log_len as u64), "it follows every operation");

        // Rebuilt from the log: the same subscription.
        app.db().write(|tx| Box::pin(async move { tx.execute_batch("delete from subscription").await })).await.unwrap();
        assert_eq!(subscription_of(&app, url.clone()).await, None);
        let (mut command, _data) = bursar_command(&app.location, &["contracts", "rebuild"]);
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let rebuilt = subscription_of(&app, url.clone()).await.unwrap();
        let without_period = |mut s: Value| {
            // The current period is the one holding "now", which the rebuild sees later.
            s.as_object_mut().unwrap().remove("current_period_start");
            s.as_object_mut().unwrap().remove("current_period_end");
            s
        };
        assert_eq!(without_period(rebuilt), without_period(canceled));
    }
}

fn micros(value: &Value) -> i64 {
    bursar_domain::time::Timestamp::parse_rfc3339(value.as_str().unwrap())
        .unwrap()
        .unix_micros()
}

async fn subscription_of(app: &TestApp, url: String) -> Option<Value> {
    ok(app.get(&url).await).await["data"]
        .as_array()
        .unwrap()
        .first()
        .cloned()
}

both_backends! {
    /// Goal: random sequences of operations through the API (some refused, many back-dated)
    /// leave a stored projection equal to the replay of the stored log, on both backends.
    async fn the_stored_projection_is_the_replay_of_the_stored_log(app: TestApp) {
        let (buyer, product) = buyer_and_product(&app).await;
        let now = app.db().now();
        let start = now.plus_seconds(-100 * 86_400).to_rfc3339();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for round in 0..3 {
            let contract = ok(app.post("/v1/contracts", json!({
                "buyer_id": buyer, "currency": "USD", "effective_at": start,
                "term": {"start": start, "end": now.plus_seconds(200 * 86_400).to_rfc3339(), "auto_renew": true},
                "lines": [{"product_id": product, "unit_amount": 1_000}]
            })).await).await;
            let id = contract["id"].as_str().unwrap().to_owned();
            let (mut accepted, mut refused) = (0, 0);
            for _ in 0..40 {
                let line = ["line_1", "line_x", "line_y"][next(3) as usize];
                let mut op = match next(9) {
                    0 => json!({"type": "add_line", "line_id": line, "product_id": product, "unit_amount": next(5_000), "quantity": 1 + next(3)}),
                    1 => json!({"type": "remove_line", "line_id": line}),
                    2 => json!({"type": "change_quantity", "line_id": line, "quantity": next(4)}),
                    3 => json!({"type": "change_price", "line_id": line, "unit_amount": next(9_000)}),
                    4 => json!({"type": "activate"}),
                    5 => json!({"type": "suspend"}),
                    6 => json!({"type": "resume"}),
                    7 => json!({"type": "set_commitment", "line_id": line, "minimum_commitment": next(20_000)}),
                    _ => json!({"type": "cancel_renewal"}),
                };
                // Effective anywhere from 100 days ago to 50 days ahead.
                let offset = i64::try_from(next(150)).unwrap() - 100;
                op["effective_at"] = json!(now.plus_seconds(offset * 86_400 + i64::try_from(next(86_400)).unwrap()).to_rfc3339());
                let response = app.post(&format!("/v1/contracts/{id}/operations"), op).await;
                match response.status().as_u16() {
                    200 => accepted += 1,
                    400 | 404 | 409 => refused += 1,
                    other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
                }
            }
            assert!(accepted > 3 && refused > 3, "round {round}: {accepted} accepted, {refused} refused");
            let stored = ok(app.get(&format!("/v1/contracts?buyer_id={buyer}")).await).await["data"][0].clone();
            assert_eq!(stored["id"], id.as_str());
            let far = now.plus_seconds(10_000 * 86_400).to_rfc3339();
            let replayed = ok(app.get(&format!("/v1/contracts/{id}?as_of={}&known_at={}", urlencode(&far), urlencode(&far))).await).await;
            assert_eq!(stored, replayed, "round {round}");
        }
    }
}

both_backends! {
/// Goal: trials remind three days before their end, then convert or lapse on time.
async fn trials_end_on_time(backend: Backend) {
    let (app, clock) = spawn_on_clock(backend).await;
    let state = app.core().clone();
    let (buyer, product) = buyer_and_product(&app).await;
    let mut ids = Vec::new();
    for converts in [true, false] {
        let contract = ok(app.post("/v1/contracts", json!({
            "buyer_id": buyer, "currency": "USD", "trial_ends_at": at(14), "trial_converts": converts,
            "term": {"start": at(0)}, "lines": [{"product_id": product, "unit_amount": 5_000}]
        })).await).await;
        let id = contract["id"].as_str().unwrap().to_owned();
        ok(app
            .post(
                &format!("/v1/contracts/{id}/operations"),
                json!({"type": "activate"}),
            )
            .await)
        .await;
        ids.push(id);
    }
    for _ in 0..15 {
        clock.advance_seconds(86_400);
        bursar_core::contracts::run_scheduler(&state).await.unwrap();
    }
    for (id, status) in ids.iter().zip(["active", "expired"]) {
        let contract = ok(app.get(&format!("/v1/contracts/{id}")).await).await;
        assert_eq!(
            (
                contract["status"].as_str(),
                contract["trial_ended"].as_bool()
            ),
            (Some(status), Some(true))
        );
        let timeline = ok(app.get(&format!("/v1/contracts/{id}/timeline")).await).await;
        let trial: Vec<(&str, &str)> = timeline["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"].as_str().unwrap().starts_with("contract.trial"))
            .map(|e| {
                (
                    e["type"].as_str().unwrap(),
                    e["data"]["effective_at"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            trial,
            [
                ("contract.trial_ending", at(11).as_str()),
                ("contract.trial_ended", at(14).as_str())
            ]
        );
    }
}
}

/// A buyer and a service product to contract for.
async fn buyer_and_product(app: &TestApp) -> (String, String) {
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let buyer = id(ok(app.post("/v1/customers", json!({"name": "Acme"})).await).await);
    let product = id(ok(app
        .post(
            "/v1/products",
            json!({"name": "Platform", "kind": "service"}),
        )
        .await)
    .await);
    (buyer, product)
}
