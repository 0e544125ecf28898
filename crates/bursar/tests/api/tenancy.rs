//! Tenancy: a key of one workspace reaches nothing of another, on every route that takes an id.
//!
//! The routes come from the API document: a new route with an id in its path fails the walk
//! until its ids are known (`tenancy_fixtures::kind_of`) or it is skipped here with a reason.

use bursar_domain::id::WorkspaceId;
use bursar_store::Tx;

use crate::both_backends;
use crate::helpers::*;
use crate::tenancy_fixtures::{body_for, kind_of, seed, Fixtures};

/// Routes with an id in their path that the walk does not call, and why. A new one must be
/// added deliberately.
const SKIPPED: &[(&str, &str)] = &[
    (
        "GET /download/{token}",
        "public: the link's token is the credential (auth.rs)",
    ),
    (
        "POST /v1/webhooks/{provider}",
        "public: the provider's signature authenticates it (auth.rs)",
    ),
    (
        "POST /v1/bank_webhooks/{id}",
        "public: the bank's signature authenticates it (auth.rs)",
    ),
    (
        "POST /v1/courier_webhooks/{id}",
        "public: the carrier's signature authenticates it (auth.rs)",
    ),
];

/// Keyed routes whose objects this walk's workspace (a sandbox) cannot have: their own test
/// proves another workspace's key gets 404.
const PROVEN_ELSEWHERE: &[(&str, &str)] = &[
    (
        "GET /v1/sandboxes/{id}",
        "only a live workspace has sandboxes (sandboxes.rs: another workspace gets 404)",
    ),
    (
        "POST /v1/sandboxes/{id}/reset",
        "only a live workspace has sandboxes (sandboxes.rs: another workspace gets 404)",
    ),
];

/// One operation of the API document with an id in its path.
struct Operation {
    method: String,
    path: String,
    /// The path's parameters, in order.
    params: Vec<String>,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path with its parameters filled by `value` (of the parameter and its kind); None
    /// when a parameter names no kind the walk knows.
    fn fill(&self, value: impl Fn(&str) -> String) -> Option<(String, Vec<String>)> {
        let mut path = self.path.clone();
        let mut ids = Vec::new();
        for param in &self.params {
            let kind = kind_of(&self.path, param)?;
            let id = value(kind);
            path = path.replace(&format!("{{{param}}}"), &id);
            if kind != "recipe" {
                ids.push(id);
            }
        }
        Some((path, ids))
    }
}

/// Every operation of `/openapi.json` with a `{...}` parameter in its path.
async fn id_operations(app: &TestApp) -> Vec<Operation> {
    let spec = json_body(app.get("/openapi.json").await).await;
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let params: Vec<String> = path
            .split('{')
            .skip(1)
            .map(|rest| rest.split('}').next().unwrap().to_owned())
            .collect();
        if params.is_empty() {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            operations.push(Operation {
                method,
                path: path.clone(),
                params: params.clone(),
            });
        }
    }
    operations
}

/// The recipe of the wallet route is a word, not an id; the rest are the fixtures'.
fn real_id(fixtures: &Fixtures, kind: &str) -> String {
    match kind {
        "recipe" => "fund".into(),
        kind => fixtures.id(kind).to_owned(),
    }
}

/// An id of the same shape as `id` that names nothing: its last five characters made `z`s
/// (ids of one millisecond differ in their last ones).
fn fake_id(id: &str) -> String {
    let keep = id.len().saturating_sub(5);
    let tail: String = id[keep..]
        .chars()
        .map(|c| if c.is_ascii_uppercase() { 'Z' } else { 'z' })
        .collect();
    format!("{}{tail}", &id[..keep])
}

/// Calls `method path` with `key` and `body`: the status and the body's text.
async fn call(
    app: &TestApp,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let mut request = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        // A fresh Idempotency-Key: routes that record money need one to reach their lookup.
        let idempotency = format!("tenancy-{:032x}", rand::random::<u128>());
        request = request.json(body).header("Idempotency-Key", idempotency);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        String::from_utf8_lossy(&response.bytes().await.unwrap()).into_owned(),
    )
}

/// Every GET of `operations` with A's ids and A's key: each answers 2xx (so the ids are real
/// and the walk can fail), with the body it answered.
async fn snapshot(
    app: &TestApp,
    fixtures: &Fixtures,
    operations: &[Operation],
) -> Vec<(String, String)> {
    let mut answers = Vec::new();
    for operation in operations.iter().filter(|o| o.method == "GET") {
        if skipped(operation) {
            continue;
        }
        let Some((mut path, _)) = operation.fill(|kind| real_id(fixtures, kind)) else {
            continue;
        };
        if path.ends_with("/query") {
            // A meter's usage up to now would change with the clock.
            path.push_str("?to=2100-01-01T00:00:00Z");
        }
        let (status, body) = call(app, &app.admin_key, "GET", &path, None).await;
        assert!(
            (200..300).contains(&status),
            "{} with its own key: {status} {body}",
            operation.name()
        );
        answers.push((operation.name(), body));
    }
    answers
}

fn skipped(operation: &Operation) -> bool {
    SKIPPED
        .iter()
        .chain(PROVEN_ELSEWHERE)
        .any(|(name, _)| *name == operation.name())
}

/// How many events of `workspace` are recorded.
async fn event_count(app: &TestApp, workspace: &WorkspaceId) -> i64 {
    let workspace = workspace.to_string();
    app.db()
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let sql = "select count(*) as n from domain_event where workspace_id = $1";
                tx.fetch_one(sql, &[workspace.as_str().into()])
                    .await?
                    .i64("n")
            })
        })
        .await
        .unwrap()
}

/// `text` with each of `ids` replaced by a placeholder.
fn redact(text: &str, ids: &[String]) -> String {
    ids.iter().fold(text.to_owned(), |text, id| {
        text.replace(id.as_str(), "<id>")
    })
}

/// Why the answer to another workspace's call with `ids` is not a plain 404 that says nothing
/// (an error object, naming none of `all_ids` but the ids it was asked about), or differs from
/// the answer for `fake_ids`, which exist nowhere.
fn check_answer(
    (status, answer): (u16, &str),
    (fake_status, fake_answer): (u16, &str),
    (ids, fake_ids): (&[String], &[String]),
    all_ids: &[String],
) -> Result<(), String> {
    if status != 404 {
        return Err(format!("{status} {answer}"));
    }
    let error: Value = serde_json::from_str(answer).map_err(|_| format!("not JSON: {answer}"))?;
    if error.as_object().is_none_or(|o| o.keys().ne(["error"])) {
        return Err(format!("not only an error: {answer}"));
    }
    let echoed = redact(answer, ids);
    if let Some(id) = all_ids.iter().find(|id| echoed.contains(id.as_str())) {
        return Err(format!("names {id}: {answer}"));
    }
    if (fake_status, redact(fake_answer, fake_ids)) != (status, echoed) {
        return Err(format!(
            "told apart from an id that exists nowhere: {fake_status} {fake_answer}"
        ));
    }
    Ok(())
}

both_backends! {
    /// Goal: a key of another workspace, on every route of the API that takes an id, with the
    /// ids of real objects of this workspace (every kind: customers to webhook endpoints), gets
    /// 404, and an answer identical to the one for ids that exist nowhere: no object, no hint
    /// that the id exists; and none of those calls changes anything here.
    /// Method: seed the demo and what it lacks into the server's workspace; walk `/openapi.json`,
    /// calling every operation with an id in its path with the other workspace's admin key;
    /// compare every GET of this workspace, and its events, before and after.
    async fn another_workspace_gets_404_on_every_id_route(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let a = seed(&app).await;
        let (b_workspace, b_key) = app.new_workspace("Other").await;
        let past = bursar_domain::time::Timestamp::from_unix_micros(app.db().now().unix_micros() - 1).to_rfc3339();
        let operations = id_operations(&app).await;
        // Twice: some reads change what the next one shows (a license key is shown once).
        snapshot(&app, &a, &operations).await;
        let before = snapshot(&app, &a, &operations).await;
        let events = (event_count(&app, &app.workspace_id).await, event_count(&app, &b_workspace).await);
        let all_ids: Vec<String> = a.ids.values().cloned().collect();

        let mut covered = Vec::new();
        let mut leaks = Vec::new();
        for operation in &operations {
            let name = operation.name();
            if skipped(operation) {
                continue;
            }
            let (path, ids) = operation.fill(|kind| real_id(&a, kind)).unwrap_or_else(|| {
                panic!("{name}: a path id the walk does not know: name its kind in tenancy_fixtures::kind_of (and create one), or skip it with a reason")
            });
            let body = body_for(&operation.method, &operation.path, &a, &past);
            let (status, answer) = call(&app, &b_key, &operation.method, &path, body.as_ref()).await;
            let (fake_path, fake_ids) = operation.fill(|kind| match kind {
                "recipe" => "fund".into(),
                kind => fake_id(a.id(kind)),
            }).unwrap();
            let (fake_status, fake_answer) = call(&app, &b_key, &operation.method, &fake_path, body.as_ref()).await;
            if let Err(leak) = check_answer((status, &answer), (fake_status, &fake_answer), (&ids, &fake_ids), &all_ids) {
                leaks.push(format!("{name} ({path}): {leak}"));
            }
            covered.push(name);
        }

        assert!(leaks.is_empty(), "calls with another workspace's key:\n{}", leaks.join("\n"));
        let changed: Vec<String> = before.iter().zip(snapshot(&app, &a, &operations).await)
            .filter(|((_, old), (_, new))| old != new)
            .map(|((name, old), (_, new))| format!("{name}:\n  {old}\n  {new}"))
            .collect();
        assert!(changed.is_empty(), "another workspace's calls changed this one:\n{}", changed.join("\n"));
        let after = (event_count(&app, &app.workspace_id).await, event_count(&app, &b_workspace).await);
        assert_eq!(after, events, "another workspace's calls recorded events");

        let known: Vec<String> = operations.iter().map(Operation::name).collect();
        for (name, _) in SKIPPED {
            assert!(known.contains(&name.to_string()), "{name} is skipped but is no longer in the API");
            assert!(crate::auth::PUBLIC_OPERATIONS.contains(name), "{name} is skipped but needs a key");
        }
        for (name, _) in PROVEN_ELSEWHERE {
            assert!(known.contains(&name.to_string()), "{name} is listed but is no longer in the API");
        }
        assert_eq!(covered.len() + SKIPPED.len() + PROVEN_ELSEWHERE.len(), operations.len());
        assert!(covered.len() > 80, "{} operations walked", covered.len());
    }
}
