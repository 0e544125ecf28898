//! What the executor logs and counts: one line and one counter increment per attempt, with the
//! ids that tie the attempts together, and never a secret.
//!
//! This binary installs the global metrics recorder, so it holds only this test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::{Debug, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use bursar_payments::executor::{
    ExecutorConfig, HttpExecutor, Method, ProviderRequest, REQUESTS_TOTAL, REQUEST_SECONDS,
};
use bursar_payments::ProviderError;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tracing::field::{Field, Visit};
use tracing::span;

/// (metric name, sorted labels, value) for every counter increment and histogram sample.
type Samples = Arc<Mutex<Vec<(String, Vec<(String, String)>, f64)>>>;

struct Handle {
    key: Key,
    samples: Samples,
}

impl Handle {
    fn push(&self, value: f64) {
        let mut labels: Vec<(String, String)> = self
            .key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        self.samples
            .lock()
            .unwrap()
            .push((self.key.name().to_owned(), labels, value));
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.push(value as f64);
    }
    fn absolute(&self, _: u64) {}
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.push(value);
    }
}

struct Capture(Samples);

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Handle {
            key: key.clone(),
            samples: self.0.clone(),
        }))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Handle {
            key: key.clone(),
            samples: self.0.clone(),
        }))
    }
}

/// Every event of this crate, as `name=value` pairs.
struct Lines(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        write!(self.0, "{}={:?} ", field.name(), value).unwrap();
    }
}

impl tracing::Subscriber for Lines {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target().starts_with("bursar_payments") {
            let mut fields = Fields(format!("{} ", event.metadata().level()));
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[tokio::test]
async fn each_attempt_is_logged_and_counted_without_secrets() {
    let store: Samples = Arc::default();
    metrics::set_global_recorder(Capture(store.clone())).unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Lines(lines.clone()));

    // Fails twice with a 503, then answers.
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/v1/refunds",
        post(move || {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let status = if call <= 2 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                };
                (
                    status,
                    [("request-id", format!("req_stripe_{call}"))],
                    "{\"object\":\"refund\"}",
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let executor = HttpExecutor::new(
        ExecutorConfig {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            base_backoff: Duration::from_millis(1),
        },
        bursar_outbound::Guard::new(bursar_outbound::Policy {
            allow_loopback: true,
        }),
    )
    .unwrap();
    let request = ProviderRequest {
        operation: "refund.create",
        method: Method::POST,
        // A key where it should never be, to show masking of what is logged.
        url: format!("{base}/v1/refunds?leak=sk_live_neverlogged"),
        headers: vec![("Authorization".into(), "Bearer sk_live_neverlogged".into())],
        form: Some(vec![("secret".into(), "whsec_neverlogged".into())]),
        json: None,
        idempotency_key: Some("bursar-refund-rf_1".into()),
    };
    let response = executor.execute("stripe", &request).await.unwrap();
    assert_eq!(response.status, 200);

    // Logs: one line per attempt, all with our request id, each with Stripe's.
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let our_id = lines[0]
        .split("request_id=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(our_id.contains("brq_"), "{our_id}");
    for (i, line) in lines.iter().enumerate() {
        let attempt = i + 1;
        assert!(!line.contains("neverlogged"), "{line}");
        assert!(!line.to_ascii_lowercase().contains("bearer"), "{line}");
        assert!(line.contains("provider=\"stripe\""), "{line}");
        assert!(line.contains("operation=\"refund.create\""), "{line}");
        assert!(line.contains(&format!("attempt={attempt} ")), "{line}");
        assert!(line.contains("elapsed_ms="), "{line}");
        assert!(line.contains(&format!("request_id={our_id} ")), "{line}");
        assert!(
            line.contains(&format!("provider_request_id=\"req_stripe_{attempt}\"")),
            "{line}"
        );
        assert!(line.contains("sk_live_***"), "{line}");
    }
    assert!(lines[0].starts_with("WARN") && lines[0].contains("status=503"));
    assert!(lines[0].contains("outcome=\"retry\""));
    assert!(lines[2].starts_with("INFO") && lines[2].contains("status=200"));
    assert!(lines[2].contains("outcome=\"ok\""));

    // Metrics: retry, retry, ok; one duration sample per attempt.
    let labels = |outcome: Option<&str>| {
        let mut labels = vec![
            ("operation".to_owned(), "refund.create".to_owned()),
            ("provider".to_owned(), "stripe".to_owned()),
        ];
        if let Some(outcome) = outcome {
            labels.push(("outcome".to_owned(), outcome.to_owned()));
        }
        labels.sort();
        labels
    };
    let samples = store.lock().unwrap().clone();
    let counters: Vec<_> = samples
        .iter()
        .filter(|(name, _, _)| name == REQUESTS_TOTAL)
        .map(|(_, labels, value)| (labels.clone(), *value))
        .collect();
    assert_eq!(
        counters,
        vec![
            (labels(Some("retry")), 1.0),
            (labels(Some("retry")), 1.0),
            (labels(Some("ok")), 1.0),
        ]
    );
    let durations: Vec<_> = samples
        .iter()
        .filter(|(name, _, _)| name == REQUEST_SECONDS)
        .collect();
    assert_eq!(durations.len(), 3);
    assert!(durations
        .iter()
        .all(|(_, l, seconds)| *l == labels(None) && *seconds >= 0.0));

    // A refusal is counted as such, and an exhausted call as unavailable.
    let refused = ProviderRequest {
        operation: "refund.refused",
        url: format!("{base}/nowhere"),
        ..request.clone()
    };
    let response = executor.execute("stripe", &refused).await.unwrap();
    assert_eq!(response.status, 404);
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        address
    };
    let unreachable = ProviderRequest {
        operation: "refund.unreachable",
        url: format!("http://{closed}/v1/refunds"),
        ..request
    };
    let error = executor.execute("stripe", &unreachable).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)));
    let outcomes = |operation: &str| -> Vec<String> {
        store
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, labels, _)| {
                name == REQUESTS_TOTAL
                    && labels.contains(&("operation".to_owned(), operation.to_owned()))
            })
            .flat_map(|(_, labels, _)| {
                labels
                    .iter()
                    .filter(|(k, _)| k == "outcome")
                    .map(|(_, v)| v.clone())
            })
            .collect()
    };
    assert_eq!(outcomes("refund.refused"), ["refused"]);
    assert_eq!(
        outcomes("refund.unreachable"),
        ["retry", "retry", "unavailable"]
    );
}
