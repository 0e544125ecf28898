//! Crash safety: the server is killed with SIGKILL while transfers stream in.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::cli::{start, wait_healthy, Running};
use crate::helpers::*;

const WALLETS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Acknowledged(i64),
    Refused,
    Unknown,
}

/// `bursar <args>` in `dir`, Bursar's variables cleared (a PostgreSQL URL among the args gets
/// its test database's sealing key): (success, everything printed).
pub(crate) fn bursar(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bursar"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("BURSAR_DATA_DIR")
        .env_remove("BURSAR_DATABASE_URL")
        .env_remove("BURSAR_SECRET_KEY");
    if let Some(url) = crate::cli::database_url(args) {
        command.env("BURSAR_SECRET_KEY", crate::helpers::test_secret_key(url));
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: Value,
) -> Result<(u16, Value), ()> {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .map_err(|_| ())?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.map_err(|_| ())?;
    Ok((status, body))
}

/// Streams transfers until `stop`, recording what each id's request was told.
async fn stream(
    base: String,
    key: String,
    round: usize,
    client_index: usize,
    stop: Arc<AtomicBool>,
) -> BTreeMap<String, Seen> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut seen = BTreeMap::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let id = format!("r{round}-c{client_index}-{n}");
        let (from, to, amount) = {
            let mut rng = rand::thread_rng();
            let from = rng.gen_range(0..WALLETS);
            (
                from,
                (from + rng.gen_range(1..WALLETS)) % WALLETS,
                rng.gen_range(1..60_000),
            )
        };
        let body = json!({"id": id, "debit_account_id": format!("w{from}"), "credit_account_id": format!("w{to}"), "amount": amount});
        let outcome = match post(&client, &base, &key, "/v1/ledger/transfers", body).await {
            Ok((200, body)) if body["result"] == "ok" => Seen::Acknowledged(amount),
            Ok((422, body)) if body["error"]["code"] == "exceeds_credits" => Seen::Refused,
            _ => Seen::Unknown,
        };
        let unknown = outcome == Seen::Unknown;
        seen.insert(id, outcome);
        if unknown {
            // The server is gone; stop this client.
            break;
        }
    }
    seen
}

fn kill(running: &mut Running) {
    let pid = running.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    let _ = running.child.wait();
}

/// Goal: after SIGKILLs at random moments, every acknowledged transfer exists exactly once with
/// its amount, no refused transfer exists, and `bursar ledger verify` passes.
/// Method: 8 clients stream transfers between wallets that must not go negative; the server is
/// killed 4 times at a random moment and restarted; then every id is looked up.
async fn crash_and_recover(db_args: Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&str> = db_args.iter().map(String::as_str).collect();
    let with = |extra: &[&str]| {
        let mut all: Vec<&str> = extra.to_vec();
        all.extend(args.iter().copied());
        bursar(&all, dir.path())
    };
    let (ok, out) = with(&["workspaces", "create", "--name", "crash"]);
    assert!(ok, "{out}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("sk_"))
        .unwrap()
        .to_owned();

    let mut running = start(&args, dir.path());
    wait_healthy(&mut running).await;
    let client = reqwest::Client::new();
    let base = running.base.clone();
    assert_eq!(
        post(
            &client,
            &base,
            &key,
            "/v1/ledger/accounts",
            json!({"id": "bank", "currency": "USD"})
        )
        .await
        .unwrap()
        .0,
        200
    );
    for w in 0..WALLETS {
        let account = json!({"id": format!("w{w}"), "currency": "USD", "flags": {"debits_must_not_exceed_credits": true}});
        assert_eq!(
            post(&client, &base, &key, "/v1/ledger/accounts", account)
                .await
                .unwrap()
                .0,
            200
        );
        let fund = json!({"id": format!("fund-{w}"), "debit_account_id": "bank", "credit_account_id": format!("w{w}"), "amount": 100_000});
        assert_eq!(
            post(&client, &base, &key, "/v1/ledger/transfers", fund)
                .await
                .unwrap()
                .0,
            200
        );
    }

    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for round in 0..4 {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..8)
            .map(|c| {
                tokio::spawn(stream(
                    running.base.clone(),
                    key.clone(),
                    round,
                    c,
                    stop.clone(),
                ))
            })
            .collect();
        let wait_ms = rand::thread_rng().gen_range(300..900);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        kill(&mut running);
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            seen.extend(client.await.unwrap());
        }
        running = start(&args, dir.path());
        wait_healthy(&mut running).await;
    }

    let acknowledged = seen
        .values()
        .filter(|s| matches!(s, Seen::Acknowledged(_)))
        .count();
    let refused = seen.values().filter(|s| **s == Seen::Refused).count();
    assert!(
        acknowledged > 50,
        "the stream made progress ({acknowledged} acknowledged)"
    );
    for (id, outcome) in &seen {
        let response = client
            .get(format!("{}/v1/ledger/transfers/{id}", running.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        match outcome {
            Seen::Acknowledged(amount) => {
                assert_eq!(
                    response.status(),
                    200,
                    "acknowledged transfer {id} is missing"
                );
                let transfer: Value = response.json().await.unwrap();
                assert_eq!(transfer["amount"], *amount, "{id}");
            }
            Seen::Refused => assert_eq!(response.status(), 404, "refused transfer {id} exists"),
            Seen::Unknown => {}
        }
    }
    // A retry of a transfer whose outcome was unknown never moves money twice.
    for (id, _) in seen.iter().filter(|(_, s)| **s == Seen::Unknown).take(8) {
        let retry =
            json!({"id": id, "debit_account_id": "w0", "credit_account_id": "w1", "amount": 1});
        let (status, body) = post(&client, &running.base, &key, "/v1/ledger/transfers", retry)
            .await
            .unwrap();
        assert!(
            status == 200
                || body["error"]["code"] == "exists_with_different_fields"
                || body["error"]["code"] == "exceeds_credits"
                || body["error"]["code"] == "id_already_failed",
            "{id}: {status} {body}"
        );
    }
    let (status, _) = crate::cli::terminate(running);
    assert!(status.success());
    let (ok, report) = with(&["ledger", "verify"]);
    assert!(ok, "verify failed after crashes: {report}");
    assert!(report.contains("ledger verified"), "{report}");
    eprintln!(
        "crash test: {acknowledged} acknowledged, {refused} refused, {} unknown",
        seen.len() - acknowledged - refused
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_sigkill_on_sqlite() {
    crash_and_recover(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_sigkill_on_postgres() {
    let url = bursar_testkit::fresh_postgres_database().await.unwrap();
    crash_and_recover(vec!["--database-url".into(), url]).await;
}

/// Goal: `bursar ledger verify` fails, naming the account, when a stored balance is altered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_detects_a_tampered_balance() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.post("/v1/ledger/accounts", json!({"id": "a", "currency": "USD"}))
        .await;
    app.post("/v1/ledger/accounts", json!({"id": "b", "currency": "USD"}))
        .await;
    assert_eq!(
        app.post(
            "/v1/ledger/transfers",
            json!({"id": "t", "debit_account_id": "a", "credit_account_id": "b", "amount": 70})
        )
        .await
        .status(),
        200
    );
    let dir = app.sqlite_dir().unwrap();
    let _kept = app.stop_keeping_data().await;
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_bursar"))
            .args(["ledger", "verify", "--data-dir"])
            .arg(&dir)
            .output()
            .unwrap()
    };
    assert!(verify().status.success());
    let conn = rusqlite_free_edit(&dir);
    assert!(conn);
    let output = verify();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "verify passed a tampered ledger: {text}"
    );
    assert!(text.contains("MISMATCH") && text.contains("/b:"), "{text}");
}

/// Alters account b's balance directly in the database file, as an attacker or a bug would.
fn rusqlite_free_edit(dir: &std::path::Path) -> bool {
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"update ledger_account set credits_posted = credits_posted + 1 where account_id = 'b'\"); c.commit()",
        ])
        .arg(dir.join("bursar.db"))
        .status()
        .unwrap();
    status.success()
}

/// Goal: the event relay loses no event when the server is killed with SIGKILL at any moment,
/// mid-delivery included: every committed `customer.created` reaches the webhook receiver
/// (perhaps more than once after a crash — with the same `webhook-id`, so receivers drop the
/// repeat).
/// Method: a receiver in this process answers slowly (so kills land mid-delivery); clients
/// create customers while the server is killed 3 times at random moments and restarted with a
/// short relay lease; then every customer's creation event must arrive.
async fn relay_survives_sigkill(db_args: Vec<String>) {
    use std::collections::BTreeSet;

    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = db_args;
    args.extend(["--relay-lease-secs".to_owned(), "2".to_owned()]);
    // The receiver listens on loopback.
    args.push("--allow-loopback-outbound".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let db_only: Vec<&str> = args[..args.len() - 3].to_vec();
    let mut create_args = vec!["workspaces", "create", "--name", "relay-crash"];
    create_args.extend(db_only.iter().copied());
    let (ok, out) = bursar(&create_args, dir.path());
    assert!(ok, "{out}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("sk_"))
        .unwrap()
        .to_owned();

    // The receiver: every delivery's webhook-id, answered after a pause.
    let (hook, received) = webhook_receiver(Duration::from_millis(15)).await;

    let mut running = start(&args, dir.path());
    wait_healthy(&mut running).await;
    let client = reqwest::Client::new();
    let (status, _) = post(
        &client,
        &running.base,
        &key,
        "/v1/webhook_endpoints",
        json!({"url": hook, "event_types": ["customer.created"]}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);

    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let creators: Vec<_> = (0..4)
            .map(|c| {
                let (base, key, stop) = (running.base.clone(), key.clone(), stop.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .build()
                        .unwrap();
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let _ = post(
                            &client,
                            &base,
                            &key,
                            "/v1/customers",
                            json!({"name": format!("r{round}-c{c}-{n}")}),
                        )
                        .await;
                    }
                })
            })
            .collect();
        let wait_ms = rand::thread_rng().gen_range(300..900);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        kill(&mut running);
        stop.store(true, Ordering::SeqCst);
        for creator in creators {
            creator.await.unwrap();
        }
        running = start(&args, dir.path());
        wait_healthy(&mut running).await;
    }

    // Every customer in the database (acknowledged or not) has its creation event.
    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/customers?limit=100", running.base);
        if let Some(last) = &after {
            url.push_str(&format!("&starting_after={last}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for customer in page["data"].as_array().unwrap() {
            let id = customer["id"].as_str().unwrap().to_owned();
            let timeline: Value = client
                .get(format!("{}/v1/customers/{id}/timeline", running.base))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                timeline["data"][0]["type"], "customer.created",
                "{timeline}"
            );
            expected.insert(timeline["data"][0]["id"].as_str().unwrap().to_owned());
            after = Some(id);
        }
        if page["has_more"] != true {
            break;
        }
    }
    assert!(
        expected.len() > 20,
        "the clients made progress ({} customers)",
        expected.len()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<String> = received.lock().unwrap().keys().cloned().collect();
        let missing: Vec<&String> = expected.difference(&got).collect();
        if missing.is_empty() {
            assert!(
                got.is_subset(&expected),
                "only committed events are delivered"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} events never arrived, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let repeats: usize = received.lock().unwrap().values().map(|n| n - 1).sum();
    eprintln!(
        "relay crash test: {} events delivered, {repeats} redelivered after kills",
        expected.len()
    );
    let _ = terminate_quietly(running);
}

fn terminate_quietly(mut running: Running) -> std::process::ExitStatus {
    let pid = running.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    running.child.wait().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_survives_sigkill_on_sqlite() {
    relay_survives_sigkill(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_survives_sigkill_on_postgres() {
    let url = bursar_testkit::fresh_postgres_database().await.unwrap();
    relay_survives_sigkill(vec!["--database-url".into(), url]).await;
}

/// Goal: two server processes on one PostgreSQL database, each running its relay, deliver
/// every event exactly once between them (no crash here, so no redelivery is excusable).
/// Method: a webhook receiver counts each `webhook-id`; customers are created through both
/// servers concurrently; every creation event must arrive once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_deliver_each_event_once() {
    let url = bursar_testkit::fresh_postgres_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = bursar(
        &[
            "workspaces",
            "create",
            "--name",
            "two",
            "--database-url",
            &url,
        ],
        dir.path(),
    );
    assert!(ok, "{out}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("sk_"))
        .unwrap()
        .to_owned();

    let (hook, received) = webhook_receiver(Duration::ZERO).await;

    // Both processes share the data directory's sealing key (as nodes share BURSAR_SECRET_KEY).
    // The receiver listens on loopback.
    let args = ["--database-url", url.as_str(), "--allow-loopback-outbound"];
    let mut first = start(&args, dir.path());
    wait_healthy(&mut first).await;
    let mut second = start(&args, dir.path());
    wait_healthy(&mut second).await;
    let client = reqwest::Client::new();
    let (status, _) = post(
        &client,
        &first.base,
        &key,
        "/v1/webhook_endpoints",
        json!({"url": hook, "event_types": ["customer.created"]}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let creates = (0..120).map(|i| {
        let base = if i % 2 == 0 {
            first.base.clone()
        } else {
            second.base.clone()
        };
        let (client, key) = (client.clone(), key.clone());
        async move {
            post(
                &client,
                &base,
                &key,
                "/v1/customers",
                json!({"name": format!("c{i}")}),
            )
            .await
            .unwrap()
            .0
        }
    });
    for status in futures::future::join_all(creates).await {
        assert_eq!(status, 200);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < 120 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 120 events arrived",
            received.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 120);
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let _ = terminate_quietly(first);
    let _ = terminate_quietly(second);
}

/// Deliveries by `webhook-id`, counted by a receiver on loopback.
type Received = Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

/// A webhook receiver answering after `delay` (so kills can land mid-delivery): its URL and
/// what it received.
async fn webhook_receiver(delay: Duration) -> (String, Received) {
    let received: Received = Arc::default();
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let received = received.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    let id = headers["webhook-id"].to_str().unwrap().to_owned();
                    *received.lock().unwrap().entry(id).or_default() += 1;
                    "ok"
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (hook, received)
}
