//! `bursar backup` under write load and `bursar restore` into a fresh directory: the copy
//! holds every write acknowledged before the backup began, and both verifiers pass on it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::{start, terminate, wait_healthy};
use crate::crash::bursar;

async fn post(client: &reqwest::Client, base: &str, key: &str, path: &str, body: Value) -> u16 {
    client
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Writes transfers between two accounts and customers until `stop`, recording the ids of
/// the acknowledged ones.
async fn write_load(
    base: String,
    key: String,
    writer: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let client = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let id = format!("t{writer}-{n}");
        let transfer = json!({"id": id, "debit_account_id": "bank", "credit_account_id": "till", "amount": 1 + n % 50});
        if post(&client, &base, &key, "/v1/ledger/transfers", transfer).await == 200 {
            acked.lock().unwrap().push(id);
        }
        post(
            &client,
            &base,
            &key,
            "/v1/customers",
            json!({"name": format!("c{writer}-{n}")}),
        )
        .await;
    }
}

/// Goal: a backup taken while clients write is a consistent database with every write
/// acknowledged before it began; it restores into a fresh directory, where `ledger verify`
/// and `audit verify` pass; a restore into the directory of a running server is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_restores_with_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = bursar(&["workspaces", "create", "--name", "backup"], dir.path());
    assert!(ok, "{out}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("sk_"))
        .unwrap()
        .to_owned();
    let mut running = start(&[], dir.path());
    wait_healthy(&mut running).await;
    let client = reqwest::Client::new();
    for account in ["bank", "till"] {
        let body = json!({"id": account, "currency": "USD"});
        assert_eq!(
            post(&client, &running.base, &key, "/v1/ledger/accounts", body).await,
            200
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(write_load(
                running.base.clone(),
                key.clone(),
                w,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let before: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let file = dir.path().join("copy.db");
    let (ok, out) = bursar(&["backup", file.to_str().unwrap()], dir.path());
    assert!(ok, "{out}");
    assert!(
        out.contains("escrow"),
        "the key's escrow is mentioned: {out}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Restoring over a running server's data is refused, and changes nothing.
    let (refused, out) = bursar(&["restore", file.to_str().unwrap()], dir.path());
    assert!(
        !refused && out.contains("in use by a running Bursar server"),
        "{out}"
    );
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        before.len() > 10,
        "the load wrote while the backup ran: {}",
        before.len()
    );
    terminate(running);

    // Restored into a fresh directory: both verifiers pass and every early write is there.
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("bursar-data/secret.key"), {
        std::fs::create_dir_all(fresh.path().join("bursar-data")).unwrap();
        fresh.path().join("bursar-data/secret.key")
    })
    .unwrap();
    let (ok, out) = bursar(&["restore", file.to_str().unwrap()], fresh.path());
    assert!(ok, "{out}");
    for verify in [["ledger", "verify"], ["audit", "verify"]] {
        let (ok, out) = bursar(&verify, fresh.path());
        assert!(ok, "{verify:?}: {out}");
    }
    let restored = start(&[], fresh.path());
    let mut restored = restored;
    wait_healthy(&mut restored).await;
    for id in &before {
        let response = client
            .get(format!("{}/v1/ledger/transfers/{id}", restored.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged transfer {id} is in the backup"
        );
    }
    terminate(restored);
}
