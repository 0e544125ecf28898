//! Usage metering over OpenMeter's API: ingestion, deduplication, every aggregation, window
//! size, time zone and group-by, malformed events, an injected failure part-way through a
//! batch, customers' subjects and closed periods.

use std::collections::{BTreeMap, BTreeSet};

use bursar_domain::time::Timestamp;

use crate::both_backends;
use crate::helpers::*;

/// 2025-01-06T00:00:00Z, a Monday.
const T0: i64 = 1_736_121_600;

/// A usage event for the tests: (id, subject, unix seconds, data).
#[derive(Clone)]
struct Ev {
    id: String,
    subject: &'static str,
    at: i64,
    data: Value,
}

impl Ev {
    fn json(&self) -> Value {
        json!({"specversion": "1.0", "id": self.id, "source": "tests", "type": "prompt",
               "subject": self.subject, "time": rfc3339(self.at), "data": self.data})
    }
}

fn rfc3339(seconds: i64) -> String {
    Timestamp::from_unix_micros(seconds * 1_000_000).to_rfc3339()
}

async fn ingest(app: &TestApp, content_type: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/events"))
        .bearer_auth(&app.admin_key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn ingest_batch(app: &TestApp, events: &[Ev]) {
    let body = Value::Array(events.iter().map(Ev::json).collect()).to_string();
    let response = ingest(app, "application/cloudevents-batch+json", body).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
}

async fn query(app: &TestApp, meter: &str, params: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/meters/{meter}/query?{params}"))
        .await;
    let status = response.status();
    let body = json_body(response).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The meters of these tests: one per aggregation over the same events.
async fn meters(app: &TestApp) {
    for (slug, aggregation, value) in [
        ("tokens", "SUM", Some("$.tokens")),
        ("prompts", "COUNT", None),
        ("users", "UNIQUE_COUNT", Some("$.user")),
        ("tokens_avg", "AVG", Some("$.tokens")),
        ("tokens_min", "MIN", Some("$.tokens")),
        ("tokens_max", "MAX", Some("$.tokens")),
        ("tokens_latest", "LATEST", Some("$.tokens")),
    ] {
        let mut body = json!({"slug": slug, "aggregation": aggregation, "eventType": "prompt",
                              "groupBy": {"model": "$.model"}});
        if let Some(value) = value {
            body["valueProperty"] = json!(value);
        }
        let response = app.post("/api/v1/meters", body).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }
}

/// A deterministic spread of events over three days: subjects, models, users, values.
fn workload() -> Vec<Ev> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..600)
        .map(|i| {
            let r = next();
            let model = ["small", "large"][((r >> 40) % 2) as usize];
            Ev {
                id: format!("ev-{i}"),
                subject: ["acme", "globex", "initech"][(r % 3) as usize],
                at: T0 + (r >> 8) as i64 % (3 * 86_400),
                data: json!({
                    "tokens": (r >> 20) % 1000,
                    "model": model,
                    "user": format!("u{}", (r >> 44) % 17),
                }),
            }
        })
        .collect()
}

/// (window start, subject, model).
type Cell = (i64, String, String);
type Cells = BTreeMap<Cell, f64>;

/// What a query must answer, computed from the events alone: (window start, subject, model) →
/// value, for windows of `size` seconds in a zone `offset` seconds east of UTC.
fn expected(
    events: &[Ev],
    aggregation: &str,
    size: i64,
    offset: i64,
    (by_subject, by_model): (bool, bool),
) -> Cells {
    let mut cells: BTreeMap<Cell, Vec<(i64, f64, String)>> = BTreeMap::new();
    for e in events {
        let window = (e.at + offset).div_euclid(size) * size - offset;
        let key = (
            window,
            if by_subject {
                e.subject.to_owned()
            } else {
                String::new()
            },
            if by_model {
                e.data["model"].as_str().unwrap().to_owned()
            } else {
                String::new()
            },
        );
        let tokens = e.data["tokens"].as_f64().unwrap();
        cells.entry(key).or_default().push((
            e.at,
            tokens,
            e.data["user"].as_str().unwrap().to_owned(),
        ));
    }
    cells
        .into_iter()
        .map(|(key, values)| {
            let tokens = values.iter().map(|v| v.1);
            let value = match aggregation {
                "SUM" => tokens.sum(),
                "COUNT" => values.len() as f64,
                "UNIQUE_COUNT" => values.iter().map(|v| &v.2).collect::<BTreeSet<_>>().len() as f64,
                "AVG" => tokens.sum::<f64>() / values.len() as f64,
                "MIN" => tokens.fold(f64::INFINITY, f64::min),
                "MAX" => tokens.fold(f64::NEG_INFINITY, f64::max),
                // The latest by time; ties go to the later arrival.
                "LATEST" => {
                    values
                        .iter()
                        .fold(
                            (i64::MIN, 0.0),
                            |a, v| if v.0 >= a.0 { (v.0, v.1) } else { a },
                        )
                        .1
                }
                other => panic!("{other}"),
            };
            (key, value)
        })
        .collect()
}

/// The same cells with the same values; an average may differ in its last bit with the order
/// its terms were added in.
fn same(got: &Cells, want: &Cells, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (key, value) in want {
        let answer = got[key];
        assert!(
            (answer - value).abs() <= value.abs() * 1e-12,
            "{what}: {key:?} is {answer}, expected {value}"
        );
    }
}

fn answered(result: &Value) -> Cells {
    result["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let start = Timestamp::parse_rfc3339(row["windowStart"].as_str().unwrap())
                .unwrap()
                .unix_micros()
                / 1_000_000;
            let key = (
                start,
                row["subject"].as_str().unwrap_or("").to_owned(),
                row["groupBy"]["model"].as_str().unwrap_or("").to_owned(),
            );
            (key, row["value"].as_f64().unwrap())
        })
        .collect()
}

both_backends! {
    /// Goal: every aggregation, for every window size, in UTC and in a zone half an hour off
    /// the hour, by subject and by group — with resent and late events in the mix — answers
    /// what a computation over the events themselves answers.
    async fn every_aggregation_window_zone_and_group_matches_the_events(app: TestApp) {
        meters(&app).await;
        let events = workload();
        // In arrival order: batches of 100, shuffled in time; then every tenth event resent
        // (counted once); then 20 late events for the first day, two days after it.
        for chunk in events.chunks(100) {
            ingest_batch(&app, chunk).await;
        }
        let resent: Vec<Ev> = events.iter().step_by(10).cloned().collect();
        ingest_batch(&app, &resent).await;
        let mut all = events.clone();
        let late: Vec<Ev> = (0..20)
            .map(|i| Ev {
                id: format!("late-{i}"),
                subject: "acme",
                at: T0 + 3_600 * i + 59,
                data: json!({"tokens": 1000 + i, "model": "small", "user": format!("late{}", i % 3)}),
            })
            .collect();
        ingest_batch(&app, &late).await;
        all.extend(late.iter().cloned());
        // A resend with the same id but another payload is still the same event.
        let mut changed = all[3].clone();
        changed.data["tokens"] = json!(999_999);
        ingest_batch(&app, &[changed]).await;

        let from = T0;
        let to = T0 + 3 * 86_400;
        let mut checked = 0;
        for (zone, offset) in [("UTC", 0), ("Asia/Kolkata", 19_800)] {
            for (size_name, size) in [("MINUTE", 60), ("HOUR", 3_600), ("DAY", 86_400)] {
                // Windows whole in the zone: Kolkata days start at 18:30 UTC.
                let (from, to) = if size == 86_400 { (from - offset, to - offset) } else if size == 3_600 { (from - offset % 3_600, to - offset % 3_600) } else { (from, to) };
                let window_events: Vec<Ev> = all.iter().filter(|e| e.at >= from && e.at < to).cloned().collect();
                for aggregation in ["SUM", "COUNT", "UNIQUE_COUNT", "AVG", "MIN", "MAX", "LATEST"] {
                    let slug = match aggregation {
                        "SUM" => "tokens", "COUNT" => "prompts", "UNIQUE_COUNT" => "users", "AVG" => "tokens_avg",
                        "MIN" => "tokens_min", "MAX" => "tokens_max", _ => "tokens_latest",
                    };
                    for (group, grouping) in [("", (false, false)), ("&groupBy=subject", (true, false)), ("&groupBy=model&groupBy=subject", (true, true))] {
                        if size == 60 && grouping != (true, true) {
                            continue;
                        }
                        let params = format!("from={}&to={}&windowSize={size_name}&windowTimeZone={zone}{group}", rfc3339(from), rfc3339(to));
                        let result = query(&app, slug, &params).await;
                        same(&answered(&result), &expected(&window_events, aggregation, size, offset, grouping), &format!("{slug} {params}"));
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 60);
        // Without a window size: one value for the whole period; filtered by subject and group.
        let result = query(&app, "tokens", &format!("from={}&to={}&subject=acme&filterGroupBy[model]=large", rfc3339(from), rfc3339(to))).await;
        let acme_large: f64 = all.iter().filter(|e| e.subject == "acme" && e.data["model"] == "large").map(|e| e.data["tokens"].as_f64().unwrap()).sum();
        assert_eq!(result["data"].as_array().unwrap().len(), 1, "{result}");
        assert_eq!((result["data"][0]["value"].as_f64(), result["data"][0]["subject"].as_str()), (Some(acme_large), Some("acme")));
        assert_eq!(result["data"][0]["windowStart"], rfc3339(from));
        // OpenMeter's advanced filters: a JSON FilterString per group-by key.
        let filter = serde_json::to_string(&json!({"model": {"$in": ["large"]}})).unwrap();
        let advanced = query(&app, "tokens", &format!("from={}&to={}&subject=acme&advancedMeterGroupByFilters={}", rfc3339(from), rfc3339(to), urlencode(&filter))).await;
        assert_eq!(advanced["data"], result["data"]);
        let none = serde_json::to_string(&json!({"model": {"$like": "x%"}})).unwrap();
        let empty = query(&app, "tokens", &format!("from={}&to={}&advancedMeterGroupByFilters={}", rfc3339(from), rfc3339(to), urlencode(&none))).await;
        assert_eq!(empty["data"], json!([]));
        // A zone with daylight saving: the spring-forward day in New York has 23 hours.
        let dst = [Ev { id: "dst-1".into(), subject: "acme", at: 1_741_496_400 + 3_600, data: json!({"tokens": 5, "model": "small", "user": "x"}) },
                   Ev { id: "dst-2".into(), subject: "acme", at: 1_741_496_400 + 22 * 3_600 + 1, data: json!({"tokens": 7, "model": "small", "user": "x"}) }];
        ingest_batch(&app, &dst).await;
        // 2025-03-09T05:00Z is midnight in New York; the next midnight is 23 hours later.
        let result = query(&app, "tokens", "from=2025-03-09T05:00:00Z&to=2025-03-11T04:00:00Z&windowSize=DAY&windowTimeZone=America/New_York").await;
        let rows: Vec<(String, String, f64)> = result["data"].as_array().unwrap().iter()
            .map(|r| (r["windowStart"].as_str().unwrap().to_owned(), r["windowEnd"].as_str().unwrap().to_owned(), r["value"].as_f64().unwrap())).collect();
        assert_eq!(rows, vec![("2025-03-09T05:00:00Z".into(), "2025-03-10T04:00:00Z".into(), 12.0)]);
    }
}

both_backends! {
    /// Goal: malformed events are refused with an error naming the event and field, and change
    /// no meter — not even the valid events of the same batch.
    async fn malformed_events_are_refused_and_change_nothing(app: TestApp) {
        meters(&app).await;
        let good = |id: &str| json!({"specversion": "1.0", "id": id, "source": "tests", "type": "prompt", "subject": "acme",
                                     "time": "2025-01-06T10:00:00Z", "data": {"tokens": 10, "model": "small", "user": "u1"}});
        ingest(&app, "application/cloudevents+json", good("first").to_string()).await;
        let before = query(&app, "tokens", "groupBy=subject").await;
        assert_eq!(before["data"][0]["value"], 10.0);
        let mut cases: Vec<(&str, String, u16, &str, Option<&str>)> = Vec::new();
        for field in ["id", "source", "type", "subject", "specversion"] {
            let mut event = good("x");
            event.as_object_mut().unwrap().remove(field);
            cases.push(("application/cloudevents-batch+json", json!([good("ok-1"), event]).to_string(), 400, "event_invalid", None));
        }
        let mut bad_time = good("x");
        bad_time["time"] = json!("last tuesday");
        cases.push(("application/cloudevents+json", bad_time.to_string(), 400, "event_invalid", Some("time")));
        let mut wrong_type = good("x");
        wrong_type["data"]["tokens"] = json!("lots");
        cases.push(("application/cloudevents-batch+json", json!([good("ok-2"), wrong_type]).to_string(), 400, "event_invalid", Some("[1].data")));
        let mut not_object = good("x");
        not_object["data"] = json!([1, 2]);
        cases.push(("application/cloudevents+json", not_object.to_string(), 400, "event_invalid", Some("data")));
        let mut unique_number = good("x");
        unique_number["data"]["user"] = json!(42);
        cases.push(("application/cloudevents+json", unique_number.to_string(), 400, "event_invalid", Some("data")));
        cases.push(("application/cloudevents+json", "{not json".into(), 400, "json_invalid", None));
        cases.push(("text/plain", good("x").to_string(), 415, "content_type_unsupported", None));
        cases.push(("application/cloudevents+json", json!([good("x")]).to_string(), 400, "event_invalid", None));
        for (content_type, body, status, code, param) in cases {
            let response = ingest(&app, content_type, body.clone()).await;
            assert_eq!(response.status().as_u16(), status, "{body}");
            let error = json_body(response).await;
            assert_eq!(error["error"]["code"], code, "{body}: {error}");
            if let Some(param) = param {
                assert_eq!(error["error"]["param"], param, "{error}");
            }
            assert!(error["error"]["message"].as_str().unwrap().len() > 10);
        }
        // The field a batch error names includes the event's position.
        let mut missing = good("x");
        missing.as_object_mut().unwrap().remove("subject");
        let response = ingest(&app, "application/cloudevents-batch+json", json!([good("ok-3"), missing]).to_string()).await;
        expect_error(response, 400, "event_invalid", Some("[1].subject")).await;
        for meter in ["tokens", "prompts", "users"] {
            let after = query(&app, meter, "groupBy=subject").await;
            assert_eq!(after["data"].as_array().unwrap().len(), 1, "{after}");
            assert_eq!(after["data"][0]["value"], if meter == "tokens" { 10.0 } else { 1.0 }, "{meter}: {after}");
        }
        // The valid events refused with their batch were not stored: sent alone now, they count.
        ingest(&app, "application/cloudevents+json", good("ok-1").to_string()).await;
        assert_eq!(query(&app, "prompts", "").await["data"][0]["value"], 2.0);
    }
}

/// Makes the database fail the insert of the event with id `poison` (raising inside the
/// statement, after the rows before it were written), or stops doing so.
async fn poison(app: &TestApp, on: bool) {
    let sql = match (app.location.backend(), on) {
        (Backend::Sqlite, true) => "create trigger poison before insert on usage_event when new.event_id = 'poison' \
                                     begin select raise(abort, 'injected failure'); end;",
        (Backend::Sqlite, false) => "drop trigger poison;",
        (Backend::Postgres, true) => "create function poison() returns trigger language plpgsql as $$ begin \
                                       if new.event_id = 'poison' then raise exception 'injected failure'; end if; \
                                       return new; end $$; \
                                       create trigger poison before insert on usage_event for each row execute function poison();",
        (Backend::Postgres, false) => "drop trigger poison on usage_event; drop function poison();",
    };
    app.db()
        .write(move |tx| Box::pin(async move { tx.execute_batch(sql).await }))
        .await
        .unwrap();
}

both_backends! {
    /// Goal: when the database write of a batch fails part-way, the client's retry of the whole
    /// batch counts every event exactly once — none lost to a claim that outlived the failure,
    /// none counted twice.
    async fn a_batch_failing_part_way_counts_each_event_once_on_retry(app: TestApp) {
        meters(&app).await;
        let event = |id: &str, tokens: i64| Ev { id: id.into(), subject: "acme", at: T0 + 60, data: json!({"tokens": tokens, "model": "small", "user": id}) };
        // Some events arrived before.
        ingest_batch(&app, &[event("a", 1), event("b", 2)]).await;
        let mut batch: Vec<Ev> = (0..500).map(|i| event(&format!("n{i}"), 10)).collect();
        batch.insert(0, event("a", 1));
        batch.insert(250, event("poison", 100));
        batch.push(event("b", 2));
        let body = Value::Array(batch.iter().map(Ev::json).collect()).to_string();
        poison(&app, true).await;
        let failed = ingest(&app, "application/cloudevents-batch+json", body.clone()).await;
        assert_eq!(failed.status(), 500, "{}", failed.text().await.unwrap());
        assert_eq!(total_tokens(&app).await, Some(3.0), "the failed batch counted nothing");
        poison(&app, false).await;
        for _ in 0..2 {
            let retried = ingest(&app, "application/cloudevents-batch+json", body.clone()).await;
            assert_eq!(retried.status(), 204);
            assert_eq!(total_tokens(&app).await, Some(3.0 + 500.0 * 10.0 + 100.0));
            assert_eq!(query(&app, "prompts", "").await["data"][0]["value"], 503.0);
            assert_eq!(query(&app, "users", "").await["data"][0]["value"], 503.0);
        }
    }
}

both_backends! {
    /// Goal: subjects map to customers; a meter created after its events counts them; a
    /// deleted meter frees its slug; a closed period's figures never change, late usage for it
    /// is counted at the close.
    async fn subjects_belong_to_customers_and_closed_periods_stay_closed(app: TestApp) {
        let customer = ok(app.post("/v1/customers", json!({"name": "Acme"})).await).await["id"].as_str().unwrap().to_owned();
        let other = ok(app.post("/v1/customers", json!({"name": "Globex"})).await).await["id"].as_str().unwrap().to_owned();
        ok(app.post(&format!("/v1/customers/{customer}/usage_subjects"), json!({"subject": "acme-prod"})).await).await;
        let taken = app.post(&format!("/v1/customers/{other}/usage_subjects"), json!({"subject": "acme-prod"})).await;
        expect_error(taken, 409, "usage_subject_taken", Some("subject")).await;
        // A customer's own id is its subject already: registering it twice changes nothing
        // (the fuzzer's 500); another customer's id belongs to that customer.
        for _ in 0..2 {
            ok(app.post(&format!("/v1/customers/{customer}/usage_subjects"), json!({"subject": customer})).await).await;
        }
        let theirs = app.post(&format!("/v1/customers/{customer}/usage_subjects"), json!({"subject": other})).await;
        expect_error(theirs, 409, "usage_subject_taken", Some("subject")).await;
        let at = |id: &str, subject: &'static str, at: i64, tokens: i64| Ev { id: id.into(), subject, at, data: json!({"tokens": tokens, "model": "small", "user": "u"}) };
        // Events first, meter later: creating the meter counts them.
        let cus: &'static str = Box::leak(customer.clone().into_boxed_str());
        ingest_batch(&app, &[at("1", "acme-prod", T0 + 10, 5), at("2", cus, T0 + 20, 7), at("3", "someone", T0 + 30, 100)]).await;
        meters(&app).await;
        let january = format!("from={}&to={}", rfc3339(T0), rfc3339(T0 + 86_400));
        let result = query(&app, "tokens", &format!("{january}&filterCustomerId={customer}")).await;
        let rows = result["data"].as_array().unwrap();
        let mut by_subject: Vec<(String, f64, String)> = rows.iter().map(|r| (r["subject"].as_str().unwrap().to_owned(), r["value"].as_f64().unwrap(), r["customerId"].as_str().unwrap().to_owned())).collect();
        by_subject.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = vec![("acme-prod".to_owned(), 5.0, customer.clone()), (customer.clone(), 7.0, customer.clone())];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(by_subject, expected);
        // Close the day; a late event for it is counted at the close, in the next day.
        let close = ok(app.post(&format!("/v1/customers/{customer}/usage_close"), json!({"until": rfc3339(T0 + 86_400)})).await).await;
        assert_eq!(close["closed_until"], rfc3339(T0 + 86_400));
        let closed_before = query(&app, "tokens", &format!("{january}&filterCustomerId={customer}")).await;
        ingest_batch(&app, &[at("late", "acme-prod", T0 + 40, 11), at("late-other", "someone", T0 + 40, 13)]).await;
        assert_eq!(query(&app, "tokens", &format!("{january}&filterCustomerId={customer}")).await, closed_before);
        let next_day = query(&app, "tokens", &format!("from={}&to={}&subject=acme-prod", rfc3339(T0 + 86_400), rfc3339(T0 + 2 * 86_400))).await;
        assert_eq!(next_day["data"][0]["value"], 11.0);
        // Subjects of no closed customer count in their own window.
        assert_eq!(query(&app, "tokens", &format!("{january}&subject=someone")).await["data"][0]["value"], 113.0);
        // Meters: listed, fetched by slug or id, deleted (slug free again), unknown → 404.
        let listed = ok(app.get("/api/v1/meters").await).await;
        assert_eq!(listed.as_array().unwrap().len(), 7);
        let meter = ok(app.get("/api/v1/meters/tokens").await).await;
        assert_eq!(ok(app.get(&format!("/api/v1/meters/{}", meter["id"].as_str().unwrap())).await).await, meter);
        let duplicate = app.post("/api/v1/meters", json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"})).await;
        expect_error(duplicate, 409, "meter_slug_taken", Some("slug")).await;
        let deleted = app.client.delete(app.url("/api/v1/meters/tokens")).bearer_auth(&app.admin_key).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        expect_error(app.get("/api/v1/meters/tokens").await, 404, "resource_missing", Some("meterIdOrSlug")).await;
        let again = app.post("/api/v1/meters", json!({"slug": "tokens", "aggregation": "SUM", "eventType": "prompt", "valueProperty": "$.tokens"})).await;
        assert_eq!(again.status(), 201);
        assert_eq!(query(&app, "tokens", &format!("{january}&subject=someone")).await["data"][0]["value"], 113.0, "rebuilt from the stored events");
        let subjects = ok(app.get("/api/v1/meters/tokens/subjects").await).await;
        assert_eq!(subjects, json!(["acme-prod", customer.as_str(), "someone"].iter().collect::<BTreeSet<_>>()));
        // Bad queries name their parameter.
        for (params, param) in [("windowSize=WEEK", "windowSize"), ("windowTimeZone=Mars/Base", "windowTimeZone"), ("groupBy=colour", "groupBy"),
                                ("from=2025-01-06T00:00:30Z", "from"), ("windowSize=DAY&from=2025-01-06T01:00:00Z", "from"), ("bogus=1", "bogus")] {
            expect_error(app.get(&format!("/api/v1/meters/tokens/query?{params}")).await, 400, if param == "bogus" { "parameter_unknown" } else { "parameter_invalid" }, Some(param)).await;
        }
    }
}

both_backends! {
    /// Goal: queries read rollups, not raw events; `bursar meters rebuild` recomputes the
    /// rollups from the stored events and the answers are the same.
    async fn meters_rebuild_recomputes_rollups_from_stored_events(app: TestApp) {
        meters(&app).await;
        let events = workload();
        ingest_batch(&app, &events[..300]).await;
        let params = format!("from={}&to={}&windowSize=HOUR&groupBy=subject&groupBy=model", rfc3339(T0), rfc3339(T0 + 3 * 86_400));
        let slugs = ["tokens", "prompts", "users", "tokens_latest"];
        let mut before = Vec::new();
        for slug in slugs {
            before.push(query(&app, slug, &params).await);
        }
        assert!(!before[0]["data"].as_array().unwrap().is_empty());
        app.db()
            .write(|tx| Box::pin(async move { tx.execute_batch("delete from meter_rollup; delete from meter_unique;").await }))
            .await
            .unwrap();
        assert_eq!(query(&app, "tokens", &params).await["data"], json!([]), "queries read the rollups");
        let (mut command, _data) = bursar_command(&app.location, &["meters", "rebuild"]);
        let output = command.output().unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{printed} {}", String::from_utf8_lossy(&output.stderr));
        assert!(printed.contains("tokens: 300 events counted, 0 skipped"), "{printed}");
        assert!(printed.contains("rebuilt 7 meters"), "{printed}");
        for (slug, before) in slugs.iter().zip(&before) {
            assert_eq!(&query(&app, slug, &params).await, before, "{slug}");
        }
        // Another process wrote to the database: the server's memory of claims is reloaded
        // from the stored events, and resends still count once.
        ingest_batch(&app, &events[..350]).await;
        assert_eq!(query(&app, "prompts", "").await["data"][0]["value"], 350.0);
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn total_tokens(app: &TestApp) -> Option<f64> {
    query(app, "tokens", "").await["data"][0]["value"].as_f64()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_body(response).await;
    assert!(status.is_success(), "unexpected {status}: {body}");
    body
}
