//! The binary as a new user runs it: no configuration, then PostgreSQL by URL.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bursar_store::Location;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) base: String,
}

/// `bursar serve <args>` in `dir`; on PostgreSQL with the test database's sealing key.
pub(crate) fn start(args: &[&str], dir: &std::path::Path) -> Running {
    let key = database_url(args).map(crate::helpers::test_secret_key);
    start_with_key(args, dir, key.as_deref())
}

/// The value of `--database-url` among `args`.
pub(crate) fn database_url<'a>(args: &[&'a str]) -> Option<&'a str> {
    let at = args.iter().position(|a| *a == "--database-url")?;
    args.get(at + 1).copied()
}

/// `bursar serve <args>` in `dir` with `BURSAR_SECRET_KEY` set to `key`, or unset.
pub(crate) fn start_with_key(args: &[&str], dir: &std::path::Path, key: Option<&str>) -> Running {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bursar"));
    command
        .arg("serve")
        .args(args)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env_remove("BURSAR_DATA_DIR")
        .env_remove("BURSAR_DATABASE_URL")
        .env_remove("BURSAR_SECRET_KEY");
    if let Some(key) = key {
        command.env("BURSAR_SECRET_KEY", key);
    }
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

pub(crate) async fn wait_healthy(running: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = reqwest::get(format!("{}/healthz", running.base)).await {
            assert_eq!(response.status(), 200);
            return;
        }
        if let Some(status) = running.child.try_wait().unwrap() {
            let output = running.child.wait_with_output_ref();
            panic!("bursar exited early with {status}: {output}");
        }
        assert!(Instant::now() < deadline, "bursar did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

trait OutputRef {
    fn wait_with_output_ref(&mut self) -> String;
}

impl OutputRef for Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(out) = self.stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        if let Some(err) = self.stderr.as_mut() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

/// SIGTERM, then the exit status and everything printed.
pub(crate) fn terminate(mut running: Running) -> (std::process::ExitStatus, String) {
    let pid = running.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = running.child.wait().unwrap();
    let output = running.child.wait_with_output_ref();
    (status, output)
}

/// Goal: `bursar serve` with no configuration serves on embedded SQLite under ./bursar-data,
/// prints the first admin key once (never in a log line), seeds demo data, and stops cleanly
/// on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_with_no_configuration_on_embedded_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(&["--demo", "--log-format", "json"], dir.path());
    wait_healthy(&mut running).await;
    assert!(dir.path().join("bursar-data").join("bursar.db").exists());
    let ready = reqwest::get(format!("{}/readyz", running.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (status, output) = terminate(running);
    assert!(status.success(), "exit status {status}: {output}");
    let secret = output
        .split_whitespace()
        .find(|w| w.starts_with("sk_test_") && w.len() == 48)
        .expect("the admin key of the demo's sandbox is printed")
        .to_owned();
    for line in output.lines().filter(|l| l.starts_with('{')) {
        assert!(
            !line.contains(&secret),
            "a log line contains the secret: {line}"
        );
        serde_json::from_str::<serde_json::Value>(line)
            .expect("--log-format json writes JSON lines");
    }

    // Second start: the key printed the first time works, demo data is there, no new key.
    let mut running = start(&["--demo"], dir.path());
    wait_healthy(&mut running).await;
    let list = reqwest::Client::new()
        .get(format!("{}/v1/customers", running.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list: serde_json::Value = list.json().await.unwrap();
    let customers = list["data"].as_array().unwrap();
    assert_eq!(customers.len(), 10, "demo customers, seeded once");
    // The collections demo: customers at several dunning steps, one recovered.
    let mut standing = Vec::new();
    for customer in customers.iter().take(4) {
        let path = format!(
            "/v1/customers/{}/billing_status",
            customer["id"].as_str().unwrap()
        );
        let status = get_json(&running.base, &secret, &path).await;
        standing.push((
            status["status"].as_str().unwrap().to_owned(),
            status["access"].as_str().unwrap().to_owned(),
        ));
    }
    let pair = |s: &str, a: &str| (s.to_owned(), a.to_owned());
    assert_eq!(
        standing,
        [
            pair("active", "full"),
            pair("past_due", "none"),
            pair("past_due", "limited"),
            pair("past_due", "full")
        ],
        "Radia recovered, Edsger suspended, Barbara limited, Linus reminded"
    );
    // The commerce demo: orders in different states, one priced by Ada's company agreement;
    // the shipping demo's sensors, shipped.
    let orders = get_json(&running.base, &secret, "/v1/orders?limit=20").await;
    let mut states: Vec<&str> = orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    states.sort_unstable();
    assert_eq!(
        states,
        [
            "checkout_open",
            "draft",
            "fulfilled",
            "fulfilled",
            "fulfilled",
            "paid",
            "paid",
            "paid",
            "partially_refunded",
            "payment_failed"
        ]
    );
    assert!(orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["lines"][0]["rule"] == "agreement"));
    // The fulfillment demo: two releases of the licensed product, the paid order's license
    // and its links (to the newest release of each platform).
    let artifacts = get_json(&running.base, &secret, "/v1/artifacts").await;
    assert_eq!(
        artifacts["data"].as_array().unwrap().len(),
        3,
        "{artifacts}"
    );
    let licenses = get_json(&running.base, &secret, "/v1/licenses").await;
    assert_eq!(licenses["data"].as_array().unwrap().len(), 1, "{licenses}");
    assert_eq!(licenses["data"][0]["major_version"], 2);
    let fulfilled = orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "fulfilled" && o["lines"][0]["product_kind"] == "digital")
        .unwrap();
    let links = get_json(
        &running.base,
        &secret,
        &format!(
            "/v1/orders/{}/download_links",
            fulfilled["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(links["data"].as_array().unwrap().len(), 2, "{links}");
    // The marketplace demo: Marian's invoice from Sol Studio is paid from her wallet by the
    // relay, and Sol's part, less the platform's 5%, seasons in Sol's holding.
    let sol = customers
        .iter()
        .find(|c| c["name"] == "Sol Studio")
        .unwrap();
    let sol_wallet = format!("/v1/parties/{}/wallet", sol["id"].as_str().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let wallet = get_json(&running.base, &secret, &sol_wallet).await;
        let held = &wallet["balances"]["USD"]["PAY_IN_HOLDING"]["credits_posted"];
        if held == 114_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{wallet}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The wire still expected: the demo's test bank tells the buyer where to send it.
    let expected = get_json(&running.base, &secret, "/v1/expected_payments").await;
    let pending = expected["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reference"] == "WIRE-1002")
        .unwrap();
    let path = format!(
        "/v1/expected_payments/{}/payment_instructions",
        pending["id"].as_str().unwrap()
    );
    let told = get_json(&running.base, &secret, &path).await;
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .ends_with("quoting the reference WIRE-1002."),
        "{told}"
    );
    // The invoicing demo: paid, partly paid, due (overdue once the sweep runs), credited; the
    // collections demo's, three overdue and one paid late; the marketplace's, paid.
    let invoices = get_json(&running.base, &secret, "/v1/invoices").await;
    let mut owed: Vec<(String, i64, i64)> = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["status"].as_str().unwrap().to_owned(),
                i["amount_paid"].as_i64().unwrap(),
                i["amount_credited"].as_i64().unwrap(),
            )
        })
        .collect();
    owed.sort();
    assert_eq!(
        owed,
        [
            ("issued".to_owned(), 0, 0),
            ("issued".to_owned(), 0, 0),
            ("issued".to_owned(), 0, 0),
            ("issued".to_owned(), 0, 0),
            ("issued".to_owned(), 0, 12_000),
            ("issued".to_owned(), 50_000, 0),
            ("paid".to_owned(), 24_000, 0),
            ("paid".to_owned(), 35_640, 0),
            ("paid".to_owned(), 120_000, 0),
        ],
        "{invoices}"
    );
    // A demo invoice's PDF renders to a page (pdftoppm) whose text (pdftotext) shows its
    // number, line and total.
    let paid = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "paid" && i["lines"][0]["description"] == "Platform seats")
        .unwrap();
    let pdf = reqwest::Client::new()
        .get(format!(
            "{}/v1/invoices/{}/pdf",
            running.base,
            paid["id"].as_str().unwrap()
        ))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let pages = tempfile::tempdir().unwrap();
    let file = pages.path().join("demo.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let rendered = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "60"])
        .arg(&file)
        .arg(pages.path().join("page"))
        .output()
        .expect("pdftoppm (poppler-utils)");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert!(std::fs::read(pages.path().join("page-1.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
    let text = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8_lossy(&text.stdout);
    // 3 × 99.00 = 297.00 + 20 % VAT (59.40) = 356.40.
    for expected in [
        paid["number"].as_str().unwrap(),
        "Bursar Demo Ltd",
        "Platform seats",
        "297.00 USD",
        "356.40 USD",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The metering demo: two meters with a week of usage per demo customer.
    let meters = get_json(&running.base, &secret, "/api/v1/meters").await;
    let slugs: Vec<&str> = meters
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["api_calls", "gpu_hours"]);
    let usage = get_json(
        &running.base,
        &secret,
        "/api/v1/meters/api_calls/query?windowSize=DAY&groupBy=subject",
    )
    .await;
    let rows = usage["data"].as_array().unwrap();
    let subjects: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 4, "{usage}");
    assert!(rows.len() >= 4 * 7, "a week of days per customer: {usage}");
    assert!(
        rows.iter().all(|r| r["customerId"] == r["subject"]),
        "subjects are the customers"
    );
    // The contracts demo: four contracts in four states, one with a scheduled price change; and
    // the marketplace's, active.
    let contracts = get_json(&running.base, &secret, "/v1/contracts").await;
    let mut statuses: Vec<&str> = contracts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        ["active", "active", "draft", "suspended", "terminated"]
    );
    assert!(
        contracts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["lines"][0]["unit_amount"] == 2_750),
        "the scheduled price is in the stored projection"
    );
    // The demo funds flow: Ada funded 50,000, committed 20,000 and released it to Grace.
    let named = |name: &str| {
        let customers = list["data"].as_array().unwrap();
        customers.iter().find(|c| c["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let wallet = |party: String| {
        let url = format!("{}/v1/parties/{party}/wallet", running.base);
        let secret = secret.clone();
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let ada = wallet(named("Ada Lovelace")).await;
    assert_eq!(
        ada["balances"]["USD"]["AVAILABLE"]["credits_posted"],
        50_000
    );
    assert_eq!(ada["balances"]["USD"]["COMMITTED"]["debits_posted"], 20_000);
    let grace = wallet(named("Grace Hopper")).await;
    assert_eq!(
        grace["balances"]["USD"]["AVAILABLE"]["credits_posted"],
        12_000
    );
    assert_eq!(
        grace["balances"]["USD"]["AVAILABLE"]["debits_posted"],
        5_000
    );
    assert_eq!(grace["holdings"].as_array().unwrap().len(), 2);
    // The shipping demo: a parcel with each carrier, a return, the delivered sensors assigned.
    let shipments = get_json(&running.base, &secret, "/v1/shipments").await;
    let mut parcels: Vec<(&str, &str)> = shipments["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["carrier"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    parcels.sort_unstable();
    assert_eq!(
        parcels,
        [
            ("canada_post", "exception"),
            ("chit_chats", "delivered"),
            ("dhl", "delivered"),
            ("test_courier", "in_transit"),
            ("test_courier", "pre_transit"),
            ("usps", "delivered")
        ]
    );
    let assigned = get_json(&running.base, &secret, "/v1/devices?status=assigned").await;
    assert_eq!(assigned["data"].as_array().unwrap().len(), 2, "{assigned}");
    let in_transit = shipments["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "in_transit")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, output) = terminate(running);
    assert!(status.success());
    assert!(
        !output.contains("sk_"),
        "a second start prints no key: {output}"
    );

    // `bursar couriers simulate` delivers the test courier's parcel in transit.
    let simulated = Command::new(env!("CARGO_BIN_EXE_bursar"))
        .args([
            "couriers",
            "simulate",
            "--shipment",
            &in_transit,
            "--scenario",
            "delivered",
        ])
        .current_dir(dir.path())
        .env_remove("BURSAR_DATA_DIR")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&simulated.stdout);
    assert!(
        simulated.status.success(),
        "{printed} {}",
        String::from_utf8_lossy(&simulated.stderr)
    );
    let printed: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(printed["shipment"]["status"], "delivered", "{printed}");
    assert!(
        printed["recorded"].as_array().unwrap().len() >= 3,
        "{printed}"
    );
    let unknown = Command::new(env!("CARGO_BIN_EXE_bursar"))
        .args([
            "couriers",
            "simulate",
            "--shipment",
            &in_transit,
            "--scenario",
            "teleported",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("delivered, exception, lost, return"));
}

/// Goal: the same binary serves on PostgreSQL given `--database-url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_postgres_with_database_url() {
    let url = bursar_testkit::fresh_postgres_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(&["--database-url", &url], dir.path());
    wait_healthy(&mut running).await;
    let ready = reqwest::get(format!("{}/readyz", running.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (status, output) = terminate(running);
    assert!(status.success(), "{output}");
    assert!(
        !dir.path().join("bursar-data").join("bursar.db").exists(),
        "nothing written to SQLite"
    );
    assert!(
        !dir.path().join("bursar-data").join("secret.key").exists(),
        "no node-local key on PostgreSQL"
    );
    let secret = output
        .split_whitespace()
        .find(|w| w.starts_with("sk_live_") && w.len() == 48)
        .expect("a live key printed");
    // The key lives in PostgreSQL.
    let db = bursar_store::Db::open(&Location::Postgres(url), &Default::default())
        .await
        .unwrap();
    let secret = secret.to_owned();
    let key: Option<bursar_store::api_keys::ApiKey> = db
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move { bursar_store::api_keys::find_by_secret(tx, &secret).await })
        })
        .await
        .unwrap();
    assert!(key.is_some());
}

/// Goal: nodes of one PostgreSQL database cannot disagree about the sealing key: a node
/// without `BURSAR_SECRET_KEY` refuses to start and says what to set, and once the database
/// has seen a key, a node with another one refuses to start, naming both fingerprints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_must_share_one_sealing_key() {
    let url = bursar_testkit::fresh_postgres_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--database-url", url.as_str()];
    let (status, output) = wait_exit(start_with_key(&args, dir.path(), None));
    assert!(!status.success());
    assert!(
        output.contains("PostgreSQL needs BURSAR_SECRET_KEY"),
        "{output}"
    );
    let mut first = start(&args, dir.path());
    wait_healthy(&mut first).await;
    let other = crate::helpers::test_secret_key("another key");
    let (status, output) = wait_exit(start_with_key(&args, dir.path(), Some(&other)));
    assert!(!status.success());
    assert!(output.contains("sealed with another key"), "{output}");
    let (status, output) = terminate(first);
    assert!(status.success(), "{output}");
}

/// Waits for a server that should not start to exit; its status and output.
pub(crate) fn wait_exit(mut running: Running) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            return (status, running.child.wait_with_output_ref());
        }
        assert!(
            Instant::now() < deadline,
            "the server started when it should not"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Goal: the key management commands work against the data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_commands_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let bursar = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_bursar"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("BURSAR_DATA_DIR")
            .env_remove("BURSAR_DATABASE_URL")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, out) = bursar(&["migrate"]);
    assert!(ok, "{out}");
    let (ok, out) = bursar(&["keys", "create", "--scope", "read_only"]);
    assert!(!ok && out.contains("no workspace"), "{out}");
    let (ok, out) = bursar(&["workspaces", "create", "--name", "Acme"]);
    assert!(ok, "{out}");
    let (ok, out) = bursar(&[
        "keys",
        "create",
        "--scope",
        "read_only",
        "--name",
        "dashboard",
    ]);
    assert!(ok, "{out}");
    let key_id = out
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();
    let secret = out
        .split_whitespace()
        .find(|w| w.starts_with("sk_"))
        .unwrap()
        .to_owned();
    let (ok, out) = bursar(&["keys", "create", "--scope", "root"]);
    assert!(!ok && out.contains("Unknown scope"), "{out}");
    let (ok, listing) = bursar(&["keys", "list"]);
    assert!(
        ok && listing.contains(&key_id)
            && listing.contains("read_only")
            && listing.contains("dashboard"),
        "{listing}"
    );
    assert!(!listing.contains(&secret), "list never shows secrets");
    let (ok, out) = bursar(&["keys", "revoke", &key_id]);
    assert!(ok, "{out}");
    let (_, listing) = bursar(&["keys", "list"]);
    assert!(
        listing
            .lines()
            .any(|l| l.contains(&key_id) && l.contains("revoked")),
        "{listing}"
    );
    let (ok, out) = bursar(&["keys", "revoke", "key_01jdx2k3m4n5p6q7r8s9t0v1w2"]);
    assert!(!ok && out.contains("no such key"), "{out}");
}

/// `GET base+path` with the key, as JSON.
async fn get_json(base: &str, secret: &str, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Goal: a verify command pointed at a directory without a database says so and fails; it
/// neither creates an empty database nor reports success about nothing.
#[test]
fn verify_commands_refuse_a_directory_without_a_database() {
    for command in [["ledger", "verify"], ["audit", "verify"]] {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("no-data-here");
        let output = Command::new(env!("CARGO_BIN_EXE_bursar"))
            .args(command)
            .arg("--data-dir")
            .arg(&empty)
            .env_remove("BURSAR_DATA_DIR")
            .env_remove("BURSAR_DATABASE_URL")
            .env_remove("BURSAR_SECRET_KEY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command:?}: {stderr}");
        assert!(stderr.contains("no database at"), "{command:?}: {stderr}");
        assert!(
            !empty.join("bursar.db").exists(),
            "{command:?} created a database"
        );
    }
}
