//! Conformance with the official OpenMeter Python client (PyPI `openmeter`): events ingested one
//! at a time and in batches, meters created, fetched and listed, and meters queried — with and
//! without a window size, in UTC and another zone, by subject and group key, filtered by
//! subject — all through the client, its parsed answers checked against what the events
//! themselves add up to.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::both_backends;
use crate::helpers::*;

/// The client version the test pins: a typespec-generated pre-release.
const CLIENT: &str = "openmeter==1.0.0b236";

/// 2025-01-06T00:00:00Z, a Monday.
const T0: i64 = 1_736_121_600;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
/// Asia/Kolkata is UTC+5:30 all year.
const KOLKATA: i64 = 19_800;

/// A usage event the test sends.
#[derive(Clone)]
struct Ev {
    id: String,
    subject: &'static str,
    at: i64,
    tokens: u64,
    model: &'static str,
    user: String,
}

impl Ev {
    /// The event as the Python script builds an `openmeter.models.Event` from it.
    fn spec(&self) -> Value {
        json!({"id": self.id, "source": "conformance", "type": "prompt", "subject": self.subject,
               "time": self.at,
               "data": {"tokens": self.tokens, "model": self.model, "user": self.user}})
    }
}

/// A deterministic spread of events over two days.
fn workload() -> Vec<Ev> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..240)
        .map(|i| {
            let r = next();
            Ev {
                id: format!("om-{i}"),
                subject: ["acme", "globex", "initech"][(r % 3) as usize],
                at: T0 + (r >> 8) as i64 % (2 * DAY),
                tokens: (r >> 20) % 1000,
                model: ["small", "large"][((r >> 40) % 2) as usize],
                user: format!("u{}", (r >> 44) % 13),
            }
        })
        .collect()
}

/// The meters of the test: (slug, aggregation, value property); all group by `model`.
const METERS: [(&str, &str, Option<&str>); 3] = [
    ("tokens", "SUM", Some("$.tokens")),
    ("prompts", "COUNT", None),
    ("users", "UNIQUE_COUNT", Some("$.user")),
];

fn meter_spec(slug: &str) -> Value {
    let (slug, aggregation, value) = METERS.iter().find(|m| m.0 == slug).unwrap();
    let mut meter = json!({"slug": slug, "aggregation": aggregation, "eventType": "prompt",
                           "groupBy": {"model": "$.model"}});
    if let Some(value) = value {
        meter["valueProperty"] = json!(value);
    }
    json!({"op": "create_meter", "meter": meter})
}

/// A meter query as the client makes it.
#[derive(Default, Clone)]
struct Query {
    meter: &'static str,
    /// Address the meter by its id rather than its slug.
    by_id: bool,
    /// `from` and `to`.
    span: Option<(i64, i64)>,
    /// `windowSize` and its length in seconds.
    window: Option<(&'static str, i64)>,
    /// `windowTimeZone` and its offset east of UTC in seconds.
    zone: Option<(&'static str, i64)>,
    subjects: &'static [&'static str],
    group_by: &'static [&'static str],
    /// `filterGroupBy[model]`, passed through the client's `params`.
    model: Option<&'static str>,
    /// Whether `model` goes as the client's `advanced_meter_group_by_filters` (`$eq`).
    advanced: bool,
}

impl Query {
    fn spec(&self) -> Value {
        let mut step = json!({"op": "query", "meter": self.meter, "byId": self.by_id});
        if let Some((from, to)) = self.span {
            step["from"] = json!(from);
            step["to"] = json!(to);
        }
        if let Some((name, _)) = self.window {
            step["windowSize"] = json!(name);
        }
        if let Some((zone, _)) = self.zone {
            step["windowTimeZone"] = json!(zone);
        }
        if !self.subjects.is_empty() {
            step["subject"] = json!(self.subjects);
        }
        if !self.group_by.is_empty() {
            step["groupBy"] = json!(self.group_by);
        }
        match (self.model, self.advanced) {
            (Some(model), false) => step["params"] = json!({"filterGroupBy[model]": model}),
            (Some(model), true) => step["advanced"] = json!({"model": {"$eq": model}}),
            (None, _) => {}
        }
        step
    }

    fn describe(&self) -> String {
        self.spec().to_string()
    }
}

/// (window start, window end, subject, group-by values) of a row.
type Key = (i64, i64, Option<String>, BTreeMap<String, Option<String>>);

/// What the query must answer, computed from the events alone.
fn expected(events: &[Ev], query: &Query) -> BTreeMap<Key, f64> {
    let (from, to) = query.span.expect("expected() needs a span");
    let offset = query.zone.map_or(0, |z| z.1);
    let by_subject = query.group_by.contains(&"subject") || !query.subjects.is_empty();
    let mut cells: BTreeMap<Key, Vec<&Ev>> = BTreeMap::new();
    for e in events {
        if e.at < from
            || e.at >= to
            || (!query.subjects.is_empty() && !query.subjects.contains(&e.subject))
            || query.model.is_some_and(|m| m != e.model)
        {
            continue;
        }
        let (start, end) = match query.window {
            Some((_, size)) => {
                let start = (e.at + offset).div_euclid(size) * size - offset;
                (start, start + size)
            }
            None => (from, to),
        };
        let groups = query
            .group_by
            .iter()
            .filter(|g| **g != "subject")
            .map(|g| {
                assert_eq!(*g, "model");
                ((*g).to_owned(), Some(e.model.to_owned()))
            })
            .collect();
        let subject = by_subject.then(|| e.subject.to_owned());
        cells
            .entry((start, end, subject, groups))
            .or_default()
            .push(e);
    }
    cells
        .into_iter()
        .map(|(key, events)| {
            let value = match query.meter {
                "tokens" => events.iter().map(|e| e.tokens as f64).sum(),
                "prompts" => events.len() as f64,
                "users" => events
                    .iter()
                    .map(|e| &e.user)
                    .collect::<BTreeSet<_>>()
                    .len() as f64,
                other => panic!("{other}"),
            };
            (key, value)
        })
        .collect()
}

/// The rows of a query result the script printed, keyed like `expected`.
fn answered(result: &Value) -> BTreeMap<Key, f64> {
    let mut rows = BTreeMap::new();
    for row in result["data"].as_array().unwrap() {
        let groups = row["groupBy"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
            .collect();
        let key = (
            row["windowStart"].as_i64().unwrap(),
            row["windowEnd"].as_i64().unwrap(),
            row["subject"].as_str().map(str::to_owned),
            groups,
        );
        let value = row["value"].as_f64().unwrap();
        assert!(rows.insert(key, value).is_none(), "a row twice: {result}");
    }
    rows
}

/// Runs the steps through the official client and returns its parsed answers, one per step.
async fn through_client(app: &TestApp, steps: Vec<Value>) -> Vec<Value> {
    let spec = json!({"endpoint": app.base_url, "token": app.admin_key, "steps": steps});
    let count = spec["steps"].as_array().unwrap().len();
    // The server runs on this test's runtime: wait for the script off its worker threads.
    let results = tokio::task::spawn_blocking(move || {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), spec.to_string()).unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/py/openmeter_conformance.py"
        );
        let output = Command::new("python3")
            .env("PYTHONPATH", python_path("openmeter", CLIENT))
            .arg(script)
            .arg(file.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the OpenMeter client failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(results.len(), count);
    results
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn is_ulid(text: &str) -> bool {
    text.len() == 26
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
}

both_backends! {
    /// Goal: OpenMeter's official Python client works against Bursar unchanged — it ingests
    /// single events and batches (a resent event counted once), creates, fetches and lists
    /// meters, and its parsed query answers, windowed or not, in UTC or Asia/Kolkata, grouped by
    /// subject and model, filtered by subject, are what the events add up to.
    async fn the_official_openmeter_client_ingests_creates_and_queries(app: TestApp) {
        let events = workload();
        let started = unix_now();
        let mut steps = vec![meter_spec("tokens"), meter_spec("prompts")];
        // The first events one at a time, the rest in batches.
        for e in &events[..6] {
            steps.push(json!({"op": "ingest_event", "event": e.spec()}));
        }
        for chunk in events[6..].chunks(78) {
            steps.push(json!({"op": "ingest_events", "events": chunk.iter().map(Ev::spec).collect::<Vec<_>>()}));
        }
        // A meter created after its events counts them.
        steps.push(meter_spec("users"));
        // Resends (same source and id) count once, even with another payload: one sent alone
        // before, one from a batch, and a batch of every seventh event.
        for index in [0, 100] {
            let mut changed = events[index].clone();
            changed.tokens = 999_999;
            changed.user = "someone-else".into();
            changed.subject = "globex";
            steps.push(json!({"op": "ingest_event", "event": changed.spec()}));
        }
        steps.push(json!({"op": "ingest_events", "events": events.iter().step_by(7).map(Ev::spec).collect::<Vec<_>>()}));
        let ingest_steps = steps.len();
        steps.push(json!({"op": "get_meter", "slug": "tokens"}));
        steps.push(json!({"op": "list_meters"}));

        let two_days = Some((T0, T0 + 2 * DAY));
        let queries = vec![
            // Without a window size: one value per subject and model for the whole period.
            Query { meter: "tokens", span: two_days, group_by: &["subject", "model"], ..Query::default() },
            // Hourly per model.
            Query { meter: "tokens", span: two_days, window: Some(("HOUR", HOUR)), group_by: &["model"], ..Query::default() },
            // Daily in Asia/Kolkata (days start at 18:30 UTC), per subject.
            Query { meter: "prompts", span: Some((T0 - KOLKATA, T0 + 2 * DAY - KOLKATA)), window: Some(("DAY", DAY)),
                    zone: Some(("Asia/Kolkata", KOLKATA)), group_by: &["subject"], ..Query::default() },
            // Hourly in Asia/Kolkata (hours start at half past), per subject and model.
            Query { meter: "tokens", span: Some((T0 - KOLKATA % HOUR, T0 + 2 * DAY - KOLKATA % HOUR)), window: Some(("HOUR", HOUR)),
                    zone: Some(("Asia/Kolkata", KOLKATA)), group_by: &["subject", "model"], ..Query::default() },
            // Minutes over two hours, per subject, the meter by id.
            Query { meter: "prompts", by_id: true, span: Some((T0 + HOUR, T0 + 3 * HOUR)), window: Some(("MINUTE", 60)),
                    zone: Some(("UTC", 0)), group_by: &["subject"], ..Query::default() },
            // Distinct users per UTC day, no grouping.
            Query { meter: "users", span: two_days, window: Some(("DAY", DAY)), ..Query::default() },
            // Filtered by subjects: a row per subject, per model.
            Query { meter: "users", span: two_days, subjects: &["acme", "initech"], group_by: &["model"], ..Query::default() },
            // One subject, the meter by id.
            Query { meter: "tokens", by_id: true, span: two_days, subjects: &["globex"], ..Query::default() },
            // One subject and one model (filterGroupBy through the client's params).
            Query { meter: "tokens", span: two_days, subjects: &["acme"], model: Some("large"), ..Query::default() },
            // The same through the client's advanced_meter_group_by_filters (a FilterString).
            Query { meter: "tokens", span: two_days, subjects: &["acme"], model: Some("large"), advanced: true, ..Query::default() },
            // Part of the period: from and to cut the events.
            Query { meter: "users", span: Some((T0 + 6 * HOUR, T0 + DAY + 18 * HOUR)), group_by: &["subject", "model"], ..Query::default() },
        ];
        let first_query = steps.len();
        steps.extend(queries.iter().map(Query::spec));
        // No parameters at all: everything, in one row.
        steps.push(json!({"op": "query", "meter": "prompts"}));
        steps.push(json!({"op": "errors", "missingMeter": "no_such_meter"}));

        let results = through_client(&app, steps).await;

        // Ingestion answers 204, which the client returns as None.
        assert!(results[..ingest_steps].iter().all(|r| r.is_null() || r["slug"].is_string()), "{results:?}");
        // Meters as created, fetched by slug and by id, and listed.
        let finished = unix_now();
        let created: Vec<&Value> = results[..ingest_steps].iter().filter(|r| !r.is_null()).collect();
        assert_eq!(created.iter().map(|m| m["slug"].as_str().unwrap()).collect::<Vec<_>>(), ["tokens", "prompts", "users"]);
        for (meter, (slug, aggregation, value)) in created.iter().zip(METERS) {
            assert!(is_ulid(meter["id"].as_str().unwrap()), "{meter}");
            assert_eq!((meter["slug"].as_str(), meter["aggregation"].as_str(), meter["eventType"].as_str()),
                       (Some(slug), Some(aggregation), Some("prompt")), "{meter}");
            assert_eq!(meter["valueProperty"].as_str(), value, "{meter}");
            assert_eq!(meter["groupBy"], json!({"model": "$.model"}), "{meter}");
            assert_eq!(meter["deletedAt"], Value::Null, "{meter}");
            let at = meter["createdAt"].as_f64().unwrap();
            assert!(started - 5.0 <= at && at <= finished + 5.0, "{meter}");
            assert_eq!(meter["updatedAt"].as_f64(), Some(at), "{meter}");
        }
        let fetched = &results[ingest_steps];
        assert_eq!(&fetched["bySlug"], created[0]);
        assert_eq!(&fetched["byId"], created[0]);
        let listed = results[ingest_steps + 1].as_array().unwrap();
        let listed: BTreeMap<&str, &Value> = listed.iter().map(|m| (m["slug"].as_str().unwrap(), m)).collect();
        assert_eq!(listed.len(), 3, "{listed:?}");
        for meter in &created {
            assert_eq!(listed[meter["slug"].as_str().unwrap()], *meter);
        }

        // Every query's parsed answer is what the original events (resends ignored) add up to.
        for (query, result) in queries.iter().zip(&results[first_query..]) {
            let what = query.describe();
            let want = expected(&events, query);
            assert!(!want.is_empty(), "{what}: a query with nothing to check");
            assert_eq!(answered(result), want, "{what}: {result}");
            let (from, to) = query.span.unwrap();
            assert_eq!((result["from"].as_i64(), result["to"].as_i64()), (Some(from), Some(to)), "{what}: {result}");
            assert_eq!(result["windowSize"].as_str(), query.window.map(|w| w.0), "{what}: {result}");
        }
        // The subject filter and the model filter answered what they were asked.
        let acme_large: u64 = events.iter().filter(|e| e.subject == "acme" && e.model == "large").map(|e| e.tokens).sum();
        let filtered = &results[first_query + 8];
        assert_eq!(filtered["data"].as_array().unwrap().len(), 1, "{filtered}");
        assert_eq!(filtered["data"][0]["value"].as_f64(), Some(acme_large as f64), "{filtered}");
        assert_eq!(filtered["data"][0]["subject"], "acme", "{filtered}");
        // Unbounded: every distinct event once, in one window around them all (it starts within
        // the hour before the first event, on a whole minute).
        let everything = &results[first_query + queries.len()];
        let rows = everything["data"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{everything}");
        assert_eq!(rows[0]["value"].as_f64(), Some(events.len() as f64), "{everything}");
        let first = events.iter().map(|e| e.at).min().unwrap();
        let last = events.iter().map(|e| e.at).max().unwrap();
        let (start, end) = (rows[0]["windowStart"].as_i64().unwrap(), rows[0]["windowEnd"].as_i64().unwrap());
        assert!(first - HOUR < start && start <= first && start % 60 == 0, "{everything}");
        assert!(end > last && end % 60 == 0, "{everything}");
        assert_eq!((&everything["from"], &everything["to"], &everything["windowSize"]), (&Value::Null, &Value::Null, &Value::Null), "{everything}");
        assert_eq!((rows[0]["subject"].as_str(), &rows[0]["groupBy"]), (None, &json!({})), "{everything}");

        // The client maps Bursar's errors to its own exceptions.
        let errors = &results[first_query + queries.len() + 1];
        assert_eq!(errors["unauthorized"], json!({"type": "ClientAuthenticationError", "status": 401}), "{errors}");
        assert_eq!(errors["missingMeter"], json!({"type": "ResourceNotFoundError", "status": 404}), "{errors}");
    }
}
