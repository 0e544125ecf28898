//! Operations endpoints: health, readiness, metrics, OpenAPI, docs, request ids.

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    /// Goal: liveness and readiness answer without a key.
    async fn health_and_readiness_answer(app: TestApp) {
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(json_body(health).await, json!({"status": "ok"}));
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(json_body(ready).await, json!({"status": "ok"}));
    }
}

both_backends! {
    /// Goal: `/openapi.json` is an OpenAPI 3 document that lists every route, and every
    /// operation it lists is served. Method: structural checks of the document (version, info,
    /// responses, every `$ref` resolves) and a request to every operation it declares.
    async fn openapi_lists_every_route_and_every_listed_route_is_served(app: TestApp) {
        let spec = json_body(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
        assert!(spec["openapi"].as_str().unwrap().starts_with("3."), "{}", spec["openapi"]);
        assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string());
        let paths = spec["paths"].as_object().unwrap();
        let mut operations = Vec::new();
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
        let expected = [
            ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"),
            ("GET", "/v1/customers"), ("POST", "/v1/customers"),
            ("GET", "/v1/customers/{id}"), ("POST", "/v1/customers/{id}"),
        ];
        for (method, path) in expected {
            assert!(operations.contains(&(method.to_owned(), path.to_owned())), "{method} {path} missing from the document");
        }
        check_refs_resolve(&spec, &spec);

        for (method, path) in &operations {
            let concrete = path.replace("{id}", "cus_01jdx2k3m4n5p6q7r8s9t0v1w2").replace("{recipe}", "fund");
            let request = app.client.request(method.parse().unwrap(), app.url(&concrete)).bearer_auth(&app.admin_key);
            let request = if method == "POST" { request.json(&json!({})) } else { request };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert!(status != 405 && !body.contains("route_missing"), "{method} {path} is documented but not served ({status})");
        }

        let docs = app.client.get(app.url("/docs")).send().await.unwrap();
        assert!(docs.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = docs.text().await.unwrap();
        for (_, path) in expected {
            assert!(html.contains(path), "the reference page does not mention {path}");
        }
        assert!(html.contains("id=\"post-v1-customers\"") && html.contains("id=\"schema-CustomerObject\""), "operations and schemas have anchors");
        let compressed = app.client.get(app.url("/docs")).header("accept-encoding", "gzip, br").send().await.unwrap();
        assert_eq!(compressed.headers()["content-encoding"], "gzip");
        assert_eq!(compressed.headers()["vary"], "accept-encoding");
        let gzip = compressed.bytes().await.unwrap();
        assert!(gzip.starts_with(&[0x1f, 0x8b]) && gzip.len() * 4 < html.len(), "{} gzip bytes for {} bytes of HTML", gzip.len(), html.len());
    }
}

fn check_refs_resolve(spec: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let pointer = reference.strip_prefix('#').expect("local ref");
                assert!(spec.pointer(pointer).is_some(), "dangling $ref {reference}");
            }
            map.values().for_each(|v| check_refs_resolve(spec, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs_resolve(spec, v)),
        _ => {}
    }
}

both_backends! {
    /// Goal: `/metrics` is valid Prometheus text with request counts by route and status and
    /// latency histograms.
    async fn metrics_parse_as_prometheus_text(app: TestApp) {
        app.post("/v1/customers", json!({"name": "Counted"})).await;
        app.get("/v1/customers/cus_01jdx2k3m4n5p6q7r8s9t0v1w2").await;
        // Methods a client made up do not each become a series (the label set is closed).
        for invented in ["FLOOD1", "FLOOD2", "FLOOD3"] {
            let method = reqwest::Method::from_bytes(invented.as_bytes()).unwrap();
            app.client.request(method, app.url("/v1/customers")).send().await.unwrap();
        }
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = response.text().await.unwrap();
        let samples = parse_prometheus_text(&text);
        let has = |name: &str, labels: &[(&str, &str)]| {
            samples.iter().any(|(metric, sample_labels, _)| {
                metric.starts_with(name)
                    && labels.iter().all(|(k, v)| sample_labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
        };
        assert!(has("bursar_http_requests_total", &[("route", "/v1/customers"), ("method", "POST"), ("status", "200")]), "{text}");
        assert!(has("bursar_http_requests_total", &[("route", "/v1/customers/{id}"), ("status", "404")]), "{text}");
        assert!(has("bursar_http_request_duration_seconds", &[("route", "/v1/customers")]), "{text}");
        assert!(!text.contains("FLOOD"), "{text}");
        assert!(has("bursar_http_requests_total", &[("route", "/v1/customers"), ("method", "other")]), "{text}");
        assert!(text.contains("bursar_http_request_duration_seconds_bucket"), "latency is a histogram");
        assert!(has("bursar_db_pool_connections", &[("state", "open")]), "{text}");
        assert!(!text.contains(&app.admin_key), "no secret in metrics");
    }
}

both_backends! {
    /// Goal: every answer carries the security headers: a content security policy (JSON loads
    /// nothing; the pages their own inline style and script only), no framing, no sniffing, no
    /// referrer beyond a page's own origin — errors and pages included.
    async fn every_answer_carries_security_headers(app: TestApp) {
        for (path, page) in [("/v1/customers", false), ("/nope", false), ("/docs", true), ("/healthz", false)] {
            let response = app.client.get(app.url(path)).bearer_auth(&app.admin_key).send().await.unwrap();
            let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            let policy = header("content-security-policy").unwrap_or_default();
            assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
            assert_eq!(policy.contains("script-src 'unsafe-inline'"), page, "{path}: {policy}");
            assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
            assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
            // Pages keep their origin on their own forms' posts (see guard.rs).
            let referrer = if page { "same-origin" } else { "no-referrer" };
            assert_eq!(header("referrer-policy").as_deref(), Some(referrer), "{path}");
        }
    }
}

both_backends! {
    /// Goal: every response carries a request id; a caller's own id is echoed back.
    async fn request_ids_are_generated_or_echoed(app: TestApp) {
        let response = app.get("/v1/customers").await;
        let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(generated.starts_with("req_"), "{generated}");
        let other = app.get("/v1/customers").await;
        assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), generated);
        let mine = app.client.get(app.url("/nope")).header("x-request-id", "trace-123").send().await.unwrap();
        assert_eq!(mine.headers()["x-request-id"], "trace-123");
        expect_error(mine, 404, "route_missing", None).await;
    }
}

/// A strict reader of the Prometheus text exposition format (version 0.0.4): every line is
/// blank, a `# HELP`/`# TYPE` comment with a valid type, or a sample
/// `name{label="value",...} value [timestamp]` with a valid metric name, properly quoted and
/// escaped label values and a numeric value. Panics, naming the line, on anything else.
pub(crate) type Sample = (String, Vec<(String, String)>, f64);

pub(crate) fn parse_prometheus_text(text: &str) -> Vec<Sample> {
    let valid_name = |name: &str| {
        !name.is_empty()
            && name.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let parts: Vec<&str> = comment.split_whitespace().collect();
            if parts.first() == Some(&"TYPE") {
                assert!(
                    parts.len() == 3 && valid_name(parts[1]),
                    "bad TYPE line: {line}"
                );
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&parts[2]),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(valid_name(name), "bad metric name in: {line}");
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(after_brace) = rest.strip_prefix('{') {
            let mut chars = after_brace.char_indices().peekable();
            let consumed;
            loop {
                let (start, c) = chars
                    .next()
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                if c == '}' {
                    consumed = Some(start + 1);
                    break;
                }
                if c == ',' {
                    continue;
                }
                let eq = after_brace[start..]
                    .find('=')
                    .unwrap_or_else(|| panic!("label without '=': {line}"))
                    + start;
                let label = &after_brace[start..eq];
                assert!(valid_name(label), "bad label name {label:?}: {line}");
                while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                    chars.next();
                }
                assert_eq!(
                    chars.next().map(|(_, c)| c),
                    Some('"'),
                    "unquoted label value: {line}"
                );
                let mut value = String::new();
                loop {
                    match chars
                        .next()
                        .unwrap_or_else(|| panic!("unterminated label value: {line}"))
                    {
                        (_, '"') => break,
                        (_, '\\') => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            other => panic!("bad escape {other:?}: {line}"),
                        },
                        (_, c) => value.push(c),
                    }
                }
                labels.push((label.to_owned(), value));
            }
            rest = &after_brace[consumed.unwrap_or(after_brace.len())..];
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        assert!(matches!(fields.len(), 1 | 2), "bad sample: {line}");
        let value = match fields[0] {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            number => number
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        if let Some(timestamp) = fields.get(1) {
            timestamp
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp: {line}"));
        }
        samples.push((name.to_owned(), labels, value));
    }
    assert!(!samples.is_empty(), "no samples");
    samples
}

both_backends! {
    /// Goal: a request that outlives the request timeout is answered 503 in the error format,
    /// and a retry with its Idempotency-Key is safe: the write either committed (SQLite's writer
    /// finishes what it was handed; the retry replays it) or was rolled back with the cancelled
    /// request (PostgreSQL; the retry executes it) — never both.
    /// Method: a write job holds the request's idempotency key for two seconds (the request waits for
    /// it: in SQLite's writer queue, or on PostgreSQL's row lock) and then rolls back; a second
    /// server on the same database times requests out after 50 ms.
    async fn slow_requests_time_out_with_the_error_format(app: TestApp) {
        let (held, holding) = tokio::sync::oneshot::channel::<()>();
        let db = app.db().clone();
        let workspace = app.workspace_id.clone();
        let blocker = tokio::spawn(async move {
            let now = db.now();
            db.write(move |tx: &mut bursar_store::Tx| Box::pin(async move {
                bursar_store::idempotency::claim(tx, &workspace, "slow-1", "another request", now).await?;
                let _ = held.send(());
                tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
                Err::<(), _>(bursar_store::StoreError::Corrupt("the blocker always rolls back".into()))
            })).await
        });
        holding.await.unwrap();
        let config = bursar_http::HttpConfig { request_timeout: std::time::Duration::from_millis(50), ..Default::default() };
        let impatient = bursar::server::Server::start(app.core().clone(), config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let response = app.client.post(format!("{}/v1/customers", impatient.base_url()))
            .bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "slow-1")
            .json(&json!({"name": "Patient"}))
            .send().await.unwrap();
        expect_error(response, 503, "request_timeout", None).await;
        assert!(blocker.await.unwrap().is_err());
        let retry = app.client.post(app.url("/v1/customers")).bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "slow-1").json(&json!({"name": "Patient"})).send().await.unwrap();
        assert_eq!(retry.status(), 200);
        let replayed = retry.headers().get("idempotent-replayed").is_some();
        assert_eq!(replayed, app.db().backend() == Backend::Sqlite, "SQLite commits what it was handed; PostgreSQL rolls back the cancelled request");
        assert_eq!(all_customer_ids(&app, &app.admin_key).await.len(), 1, "exactly one customer either way");
    }
}
