//! The ledger through storage, on both backends.

use std::collections::BTreeMap;

use bursar_domain::ledger::model::Model;
use bursar_domain::ledger::*;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_store::{ledger, Tx};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::both_backends;
use crate::helpers::*;

const ACCOUNTS: [(&str, &str, bool, bool); 5] = [
    ("bank", "USD", false, false),
    ("wallet_a", "USD", true, false),
    ("wallet_b", "USD", true, false),
    ("capped", "USD", false, true),
    ("euro", "EUR", false, false),
];

fn random_transfer(rng: &mut StdRng, history: &[NewTransfer]) -> NewTransfer {
    if !history.is_empty() && rng.gen_bool(0.12) {
        return history[rng.gen_range(0..history.len())].clone();
    }
    let account = |rng: &mut StdRng| {
        let i = rng.gen_range(0..6);
        AccountId::parse(ACCOUNTS.get(i).map(|a| a.0).unwrap_or("missing"), "id").unwrap()
    };
    let pending_id = TransferId::parse(&format!("t{}", rng.gen_range(0..20)), "id").unwrap();
    let kind = match rng.gen_range(0..10) {
        0..=4 => TransferKind::Single,
        5 | 6 => TransferKind::Pending {
            timeout_seconds: rng.gen_bool(0.4).then(|| rng.gen_range(1..4)),
        },
        7 | 8 => TransferKind::PostPending { pending_id },
        _ => TransferKind::VoidPending { pending_id },
    };
    let resolving = matches!(
        kind,
        TransferKind::PostPending { .. } | TransferKind::VoidPending { .. }
    );
    NewTransfer {
        id: TransferId::parse(&format!("t{}", rng.gen_range(0..20)), "id").unwrap(),
        debit_account_id: (!resolving || rng.gen_bool(0.2)).then(|| account(rng)),
        credit_account_id: (!resolving || rng.gen_bool(0.2)).then(|| account(rng)),
        amount: match rng.gen_range(0..10) {
            0 => None,
            1 => Some(0),
            _ => Some(rng.gen_range(1..40)),
        },
        code: rng.gen_range(1..3),
        kind,
        linked: rng.gen_bool(0.25),
        balancing_debit: rng.gen_bool(0.1),
        balancing_credit: rng.gen_bool(0.1),
        // A retry differing only in metadata is a different transfer.
        metadata: match rng.gen_range(0..4) {
            0 => BTreeMap::from([("order".to_owned(), format!("o{}", rng.gen_range(0..2)))]),
            _ => BTreeMap::new(),
        },
    }
}

both_backends! {
    /// Goal: the stored ledger agrees with the reference model on every result code and
    /// balance, across random sequences of batches (single, pending, post, void, timeouts,
    /// linked chains, balancing, replays), and `verify` passes after every sequence.
    /// Method: each sequence runs in a fresh workspace; time advances with an explicit `now`.
    async fn the_stored_ledger_agrees_with_the_model(app: TestApp) {
        let db = app.db().clone();
        for seed in 0..40_u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let (workspace, _) = app.new_workspace(&format!("seq-{seed}")).await;
            let mut model = Model::default();
            let accounts: Vec<NewAccount> = ACCOUNTS.iter().map(|(name, currency, dmnec, cmned)| {
                let flags = AccountFlags { debits_must_not_exceed_credits: *dmnec, credits_must_not_exceed_debits: *cmned, history: true };
                model.accounts.insert((*name).to_owned(), ((*currency).to_owned(), flags));
                NewAccount { id: AccountId::parse(name, "id").unwrap(), currency: Currency::parse(currency, "c").unwrap(), code: 1, flags, metadata: BTreeMap::new() }
            }).collect();
            let ws = workspace.clone();
            let start = db.now();
            db.write(move |tx: &mut Tx| Box::pin(async move { ledger::create_accounts(tx, &ws, &accounts, start).await.map(|_| ()) })).await.unwrap();

            let mut history = Vec::new();
            let mut now = start.unix_micros() + 1_000_000;
            for _ in 0..rng.gen_range(3..10) {
                now += rng.gen_range(0..3) * 1_000_000;
                let batch: Vec<NewTransfer> = (0..rng.gen_range(1..8)).map(|_| random_transfer(&mut rng, &history)).collect();
                history.extend(batch.iter().cloned());
                model.expire(now);
                let expected = model.apply_batch(&batch, now);
                let ws = workspace.clone();
                let sent = batch.clone();
                let results: Vec<(TransferResult, Option<Transfer>)> = db.write(move |tx: &mut Tx| Box::pin(async move {
                    ledger::create_transfers(tx, &ws, &sent, Timestamp::from_unix_micros(now)).await
                })).await.unwrap();
                let codes: Vec<TransferResult> = results.iter().map(|(r, _)| *r).collect();
                assert_eq!(codes, expected, "seed {seed}, batch {batch:?}");
                for (name, _, _, _) in ACCOUNTS {
                    let ws = workspace.clone();
                    let id = AccountId::parse(name, "id").unwrap();
                    let stored: Option<Account> = db.read(move |tx: &mut Tx| Box::pin(async move { ledger::get_account(tx, &ws, &id).await })).await.unwrap();
                    assert_eq!(stored.unwrap().balances, model.balances(name), "seed {seed}: {name}");
                }
            }
            let report: ledger::VerifyReport = db.read(|tx: &mut Tx| Box::pin(ledger::verify(tx))).await.unwrap();
            assert!(report.problems.is_empty(), "seed {seed}: {:?}", report.problems);
        }
    }
}

both_backends! {
    /// Goal: many concurrent writers moving money between a few wallets that must not go
    /// negative never overdraw one and never lose an amount.
    /// Method: fund four wallets with 1,000 each; 16 tasks make 40 random moves each, as
    /// separate write jobs (concurrent transactions on PostgreSQL, group commits on SQLite);
    /// afterwards the total is still 4,000, no wallet is negative, and verify passes.
    async fn concurrent_transfers_never_overdraw_or_lose_money(app: TestApp) {
        let db = app.db().clone();
        let ws = app.workspace_id.clone();
        let now = db.now();
        let mut accounts = vec![NewAccount { id: AccountId::parse("bank", "id").unwrap(), currency: Currency::parse("USD", "c").unwrap(), code: 1, flags: AccountFlags::default(), metadata: BTreeMap::new() }];
        for i in 0..4 {
            accounts.push(NewAccount { id: AccountId::parse(&format!("w{i}"), "id").unwrap(), currency: Currency::parse("USD", "c").unwrap(), code: 2, flags: AccountFlags { debits_must_not_exceed_credits: true, credits_must_not_exceed_debits: false, history: true }, metadata: BTreeMap::new() });
        }
        let funding: Vec<NewTransfer> = (0..4).map(|i| transfer(&format!("fund-{i}"), "bank", &format!("w{i}"), 1000)).collect();
        let w = ws.clone();
        db.write(move |tx: &mut Tx| Box::pin(async move {
            ledger::create_accounts(tx, &w, &accounts, now).await?;
            ledger::create_transfers(tx, &w, &funding, now).await
        })).await.unwrap();

        let tasks = (0..16).map(|task| {
            let db = db.clone();
            let ws = ws.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(task);
                let mut ok = 0;
                for n in 0..40 {
                    let from = rng.gen_range(0..4);
                    let to = (from + rng.gen_range(1..4)) % 4;
                    let t = transfer(&format!("move-{task}-{n}"), &format!("w{from}"), &format!("w{to}"), rng.gen_range(1..400));
                    let w = ws.clone();
                    let now = db.now();
                    let results: Vec<(TransferResult, Option<Transfer>)> = db.write(move |tx: &mut Tx| Box::pin(async move {
                        ledger::create_transfers(tx, &w, &[t], now).await
                    })).await.unwrap();
                    assert!(matches!(results[0].0, TransferResult::Ok | TransferResult::ExceedsCredits), "{:?}", results[0].0);
                    ok += usize::from(results[0].0 == TransferResult::Ok);
                }
                ok
            })
        });
        let moved: usize = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).sum();
        assert!(moved > 100, "most moves succeed ({moved})");
        let mut total = 0;
        for i in 0..4 {
            let w = ws.clone();
            let id = AccountId::parse(&format!("w{i}"), "id").unwrap();
            let account: Option<Account> = db.read(move |tx: &mut Tx| Box::pin(async move { ledger::get_account(tx, &w, &id).await })).await.unwrap();
            let b = account.unwrap().balances;
            assert!(b.credits_posted >= b.debits_posted, "w{i} overdrawn: {b:?}");
            total += b.credits_posted - b.debits_posted;
        }
        assert_eq!(total, 4000);
        let report: ledger::VerifyReport = db.read(|tx: &mut Tx| Box::pin(ledger::verify(tx))).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

fn transfer(id: &str, debit: &str, credit: &str, amount: i64) -> NewTransfer {
    NewTransfer::single(
        TransferId::parse(id, "id").unwrap(),
        AccountId::parse(debit, "id").unwrap(),
        AccountId::parse(credit, "id").unwrap(),
        amount,
        1,
    )
}

both_backends! {
    /// Goal: the HTTP API of the ledger: result codes as errors for single transfers, per-transfer
    /// results for batches, linked chains, two-phase transfers with expiry, balances as of a past
    /// instant, account history, and bad input naming the field.
    async fn the_ledger_api_speaks_result_codes(app: TestApp) {
        let account = |id: &str, flags: Value| json!({"id": id, "currency": "USD", "flags": flags});
        assert_eq!(app.post("/v1/ledger/accounts", account("bank", json!({"history": true}))).await.status(), 200);
        assert_eq!(app.post("/v1/ledger/accounts", account("wallet", json!({"debits_must_not_exceed_credits": true, "history": true}))).await.status(), 200);
        assert_eq!(app.post("/v1/ledger/accounts", account("plain", json!({}))).await.status(), 200);
        // Same id, same fields: the account; other fields: 409.
        assert_eq!(app.post("/v1/ledger/accounts", account("plain", json!({}))).await.status(), 200);
        expect_error(app.post("/v1/ledger/accounts", json!({"id": "plain", "currency": "EUR"})).await, 409, "exists_with_different_fields", Some("id")).await;
        expect_error(app.post("/v1/ledger/accounts", account("both", json!({"debits_must_not_exceed_credits": true, "credits_must_not_exceed_debits": true}))).await, 400, "flags_are_mutually_exclusive", Some("flags")).await;
        expect_error(app.post("/v1/ledger/accounts", json!({"id": "bad id!", "currency": "USD"})).await, 400, "parameter_invalid", Some("id")).await;

        let t = |id: &str, debit: &str, credit: &str, amount: i64| json!({"id": id, "debit_account_id": debit, "credit_account_id": credit, "amount": amount});
        let funded = json_body(app.post("/v1/ledger/transfers", t("fund", "bank", "wallet", 1000)).await).await;
        assert_eq!(funded["result"], "ok");
        let before_spend = app.db().now();
        // Overdraft: refused, recorded; the same id keeps failing even once funds arrive.
        expect_error(app.post("/v1/ledger/transfers", t("spend", "wallet", "bank", 5000)).await, 422, "exceeds_credits", None).await;
        app.post("/v1/ledger/transfers", t("fund-2", "bank", "wallet", 10_000)).await;
        expect_error(app.post("/v1/ledger/transfers", t("spend", "wallet", "bank", 5000)).await, 409, "id_already_failed", Some("id")).await;
        // Retry of a success: the original; same id, other fields: refused.
        assert_eq!(json_body(app.post("/v1/ledger/transfers", t("fund", "bank", "wallet", 1000)).await).await["result"], "exists");
        expect_error(app.post("/v1/ledger/transfers", t("fund", "bank", "wallet", 999)).await, 409, "exists_with_different_fields", Some("id")).await;
        expect_error(app.post("/v1/ledger/transfers", t("x1", "bank", "nowhere", 5)).await, 422, "credit_account_not_found", Some("credit_account_id")).await;
        expect_error(app.post("/v1/ledger/transfers", t("x2", "bank", "bank", 5)).await, 400, "accounts_must_be_different", Some("credit_account_id")).await;
        expect_error(app.post("/v1/ledger/transfers", json!({"id": "x3", "debit_account_id": "bank", "credit_account_id": "wallet", "amount": "ten"})).await, 400, "parameter_invalid", Some("amount")).await;
        expect_error(app.post("/v1/ledger/transfers", json!({"id": "x4", "debit_account_id": "bank", "credit_account_id": "wallet", "amount": 5, "kind": "maybe"})).await, 400, "parameter_invalid", Some("kind")).await;

        // A batch: a chain whose second transfer fails leaves no trace; the rest applies.
        let batch = json!({"transfers": [
            {"id": "c1", "debit_account_id": "wallet", "credit_account_id": "bank", "amount": 100, "linked": true},
            {"id": "c2", "debit_account_id": "wallet", "credit_account_id": "bank", "amount": 1_000_000},
            {"id": "p1", "debit_account_id": "wallet", "credit_account_id": "bank", "amount": 300, "kind": "pending"},
            {"id": "p2", "debit_account_id": "wallet", "credit_account_id": "bank", "amount": 200, "kind": "pending", "timeout_seconds": 1},
            {"id": "post", "kind": "post_pending", "pending_id": "p1", "amount": 250},
            {"id": "void", "kind": "void_pending", "pending_id": "p1"},
        ]});
        let results = json_body(app.post("/v1/ledger/transfers", batch).await).await;
        let codes: Vec<&str> = results["data"].as_array().unwrap().iter().map(|r| r["result"].as_str().unwrap()).collect();
        assert_eq!(codes, ["linked_event_failed", "exceeds_credits", "ok", "ok", "ok", "pending_transfer_already_posted"]);
        let wallet = json_body(app.get("/v1/ledger/accounts/wallet").await).await;
        // 11,000 in; 250 posted out; 200 pending (p2).
        assert_eq!(wallet["balances"], json!({"debits_pending": 200, "debits_posted": 250, "credits_pending": 0, "credits_posted": 11_000}));
        assert_eq!(json_body(app.get("/v1/ledger/transfers/p1").await).await["pending_status"], "posted");
        expect_error(app.get("/v1/ledger/transfers/c1").await, 404, "resource_missing", Some("id")).await;

        // p2 times out: the expiry job releases it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if json_body(app.get("/v1/ledger/transfers/p2").await).await["pending_status"] == "expired" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "p2 never expired");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(json_body(app.get("/v1/ledger/accounts/wallet").await).await["balances"]["debits_pending"], 0);
        expect_error(app.post("/v1/ledger/transfers", json!({"id": "late", "kind": "post_pending", "pending_id": "p2"})).await, 409, "pending_transfer_expired", Some("pending_id")).await;

        // Balances as of before the overdraft attempt: only the first funding.
        let as_of = before_spend.to_rfc3339().replace('+', "%2B");
        let past = json_body(app.get(&format!("/v1/ledger/accounts/wallet?as_of={as_of}")).await).await;
        assert_eq!(past["balances"]["credits_posted"], 1000);
        // History lists the wallet's transfers newest first; an account without history refuses.
        let listed = json_body(app.get("/v1/ledger/accounts/wallet/transfers?limit=3").await).await;
        let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["p2", "post", "p2"], "expiry, post, pending (newest first)");
        assert_eq!(listed["has_more"], true);
        expect_error(app.get("/v1/ledger/accounts/plain/transfers").await, 400, "account_history_disabled", None).await;
        expect_error(app.get("/v1/ledger/accounts/nowhere").await, 404, "resource_missing", Some("id")).await;

        // Another workspace sees none of it.
        let (_, other) = app.new_workspace("Other").await;
        let foreign = app.client.get(app.url("/v1/ledger/accounts/wallet")).bearer_auth(&other).send().await.unwrap();
        expect_error(foreign, 404, "resource_missing", Some("id")).await;
    }
}

both_backends! {
    /// Goal: concurrent transfer requests (which PostgreSQL serves in shared batches) each get
    /// their own results: a request's chain never joins another request's transfers, an open
    /// chain fails alone, and every response names its own transfers.
    /// Method: 30 concurrent requests — batches with a closed chain, batches ending in an open
    /// chain, and singles — then check each response and the final balances.
    async fn concurrent_requests_keep_their_own_results(app: TestApp) {
        app.post("/v1/ledger/accounts", json!({"id": "src", "currency": "USD"})).await;
        app.post("/v1/ledger/accounts", json!({"id": "dst", "currency": "USD"})).await;
        let t = |id: String, linked: bool| json!({"id": id, "debit_account_id": "src", "credit_account_id": "dst", "amount": 1, "linked": linked});
        let requests = (0..30).map(|i| {
            let body = match i % 3 {
                0 => json!({"transfers": [t(format!("a{i}"), true), t(format!("b{i}"), false)]}),
                1 => json!({"transfers": [t(format!("a{i}"), false), t(format!("b{i}"), true)]}),
                _ => t(format!("a{i}"), false),
            };
            let app = &app;
            async move { (i, json_body(app.post("/v1/ledger/transfers", body).await).await) }
        });
        let mut moved = 0;
        for (i, body) in futures::future::join_all(requests).await {
            match i % 3 {
                0 => {
                    let ids: Vec<&str> = body["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
                    assert_eq!(ids, [format!("a{i}"), format!("b{i}")]);
                    assert!(body["data"].as_array().unwrap().iter().all(|r| r["result"] == "ok"), "{body}");
                    moved += 2;
                }
                1 => {
                    let results: Vec<&str> = body["data"].as_array().unwrap().iter().map(|r| r["result"].as_str().unwrap()).collect();
                    assert_eq!(results, ["ok", "linked_event_chain_open"], "{body}");
                    moved += 1;
                }
                _ => {
                    assert_eq!((body["id"].as_str(), body["result"].as_str()), (Some(format!("a{i}").as_str()), Some("ok")));
                    moved += 1;
                }
            }
        }
        let dst = json_body(app.get("/v1/ledger/accounts/dst").await).await;
        assert_eq!(dst["balances"]["credits_posted"], moved);
    }
}

/// Goal: the SQLite writer's account cache never serves balances another connection changed.
/// Method: two `Db`s on one SQLite file (as two processes would be) take turns moving money
/// between the same two accounts; every balance must count every transfer, and verify passes.
#[tokio::test]
async fn two_writers_on_one_sqlite_file_see_each_others_balances() {
    use bursar_store::{Backend, Db, PoolSettings};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let first = app.db().clone();
    let second = Db::open(&app.location, &PoolSettings::default())
        .await
        .unwrap();
    let (workspace, _) = app.new_workspace("two-writers").await;
    let accounts: Vec<NewAccount> = ["from", "to"]
        .iter()
        .map(|name| NewAccount {
            id: AccountId::parse(name, "id").unwrap(),
            currency: Currency::parse("USD", "c").unwrap(),
            code: 1,
            flags: AccountFlags::default(),
            metadata: BTreeMap::new(),
        })
        .collect();
    let ws = workspace.clone();
    let now = first.now();
    first
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                ledger::create_accounts(tx, &ws, &accounts, now)
                    .await
                    .map(|_| ())
            })
        })
        .await
        .unwrap();
    for i in 0..20 {
        for (side, db) in [("a", &first), ("b", &second)] {
            let ws = workspace.clone();
            let batch = vec![transfer(&format!("{side}{i}"), "from", "to", 1)];
            let now = db.now();
            let results = db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move { ledger::create_transfers(tx, &ws, &batch, now).await })
                })
                .await
                .unwrap();
            assert_eq!(results[0].0, TransferResult::Ok, "{side}{i}");
        }
    }
    for db in [&first, &second] {
        let ws = workspace.clone();
        let id = AccountId::parse("to", "id").unwrap();
        let account = db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { ledger::get_account(tx, &ws, &id).await })
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.balances.credits_posted, 40);
    }
    let report: ledger::VerifyReport = first
        .read(|tx: &mut Tx| Box::pin(ledger::verify(tx)))
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    second.close().await;
}
