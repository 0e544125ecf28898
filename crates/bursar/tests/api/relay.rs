//! The relay: every event to every subscriber, retries alone, dead letters, order, several relays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bursar::relay::{subscriber_fn, Relay, RelayConfig};
use bursar_store::{Db, PoolSettings};

use crate::both_backends;
use crate::helpers::*;

/// Every delivery call a subscriber saw: (event id, aggregate id, sequence). The subscribers
/// of these tests act on customer events only (the server's first start records others).
type Seen = Arc<Mutex<Vec<(String, String, i64)>>>;

pub(crate) fn fast() -> RelayConfig {
    RelayConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(10),
        poll: Duration::from_millis(50),
        ..RelayConfig::default()
    }
}

/// Runs rounds until one finds nothing to do and nothing is waiting for a retry.
pub(crate) async fn drain(relay: &Relay, db: &Db) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let report = relay.tick().await.unwrap();
        let pending = db
            .read(|tx: &mut bursar_store::Tx| Box::pin(bursar_store::relay::next_due(tx)))
            .await
            .unwrap();
        if !report.busy() && pending.is_none() {
            return;
        }
        assert!(Instant::now() < deadline, "relay did not drain");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

async fn make_customer_events(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    for name in ["Ada", "Grace", "Edsger"] {
        let created = json_body(app.post("/v1/customers", json!({"name": name})).await).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    // A second event of the first customer: its order matters.
    let updated = app
        .post(
            &format!("/v1/customers/{}", ids[0]),
            json!({"name": "Ada L."}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    ids
}

both_backends! {
    /// Goal: subscribers are independent. One that fails twice then succeeds gets each event
    /// once in effect, in each aggregate's order; one that always fails dead-letters without
    /// holding the others back; a replayed dead letter is delivered again; an event is
    /// published once every subscriber is done with it.
    async fn failing_subscribers_retry_alone_and_dead_letter(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let db = app.db().clone();
        let seen: Seen = Arc::default();
        let flaky_ok: Seen = Arc::default();
        let flaky_attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let broken_fixed = Arc::new(Mutex::new(false));
        let recorder = {
            let seen = seen.clone();
            subscriber_fn("recorder", move |_, e| {
                if e.aggregate_type != "customer" { return Ok(()); }
                seen.lock().unwrap().push((e.id.to_string(), e.aggregate_id.clone(), e.sequence));
                Ok(())
            })
        };
        let flaky = {
            let (ok, attempts) = (flaky_ok.clone(), flaky_attempts.clone());
            subscriber_fn("flaky", move |_, e| {
                if e.aggregate_type != "customer" { return Ok(()); }
                let mut attempts = attempts.lock().unwrap();
                let n = attempts.entry(e.id.to_string()).or_default();
                *n += 1;
                if *n <= 2 {
                    return Err(format!("attempt {n} refused"));
                }
                ok.lock().unwrap().push((e.id.to_string(), e.aggregate_id.clone(), e.sequence));
                Ok(())
            })
        };
        let broken = {
            let fixed = broken_fixed.clone();
            subscriber_fn("broken", move |_, e| if e.aggregate_type != "customer" || *fixed.lock().unwrap() { Ok(()) } else { Err("endpoint down".into()) })
        };
        let relay = Relay::new(db.clone(), vec![recorder, flaky, broken], fast());
        let customers = make_customer_events(&app).await;
        drain(&relay, &db).await;

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 4, "recorder got every event once: {seen:?}");
        let flaky_ok = flaky_ok.lock().unwrap().clone();
        assert_eq!(flaky_ok.len(), 4, "flaky got every event once in effect: {flaky_ok:?}");
        for log in [&seen, &flaky_ok] {
            let ada: Vec<i64> = log.iter().filter(|(_, a, _)| *a == customers[0]).map(|(_, _, s)| *s).collect();
            assert_eq!(ada, vec![1, 2], "per-aggregate order");
        }
        assert!(flaky_attempts.lock().unwrap().values().all(|n| *n == 3));

        let dead = json_body(app.get("/v1/dead_letters").await).await;
        let dead = dead["data"].as_array().unwrap().clone();
        assert_eq!(dead.len(), 4, "{dead:?}");
        assert!(dead.iter().all(|d| d["subscriber"] == "broken" && d["attempts"] == 3 && d["last_error"] == "endpoint down"));

        // Every subscriber is done with each event: published. The API shows each delivery.
        let event_id = seen[0].0.clone();
        let event = json_body(app.get(&format!("/v1/events/{event_id}")).await).await;
        let statuses: Vec<(String, String)> = event["deliveries"].as_array().unwrap().iter()
            .map(|d| (d["subscriber"].as_str().unwrap().to_owned(), d["status"].as_str().unwrap().to_owned())).collect();
        assert_eq!(statuses, vec![("broken".into(), "dead".into()), ("flaky".into(), "delivered".into()), ("recorder".into(), "delivered".into())]);
        let unpublished: i64 = db.read(|tx: &mut bursar_store::Tx| Box::pin(async move {
            tx.fetch_one("select count(*) as n from domain_event where published_at is null", &[]).await?.i64("n")
        })).await.unwrap();
        assert_eq!(unpublished, 0);

        // Replay one dead letter once the endpoint is back: delivered, and only it.
        *broken_fixed.lock().unwrap() = true;
        let replay = app.post("/v1/dead_letters/replay", json!({"event_id": event_id, "subscriber": "broken"})).await;
        assert_eq!(replay.status(), 200);
        assert_eq!(json_body(replay).await["status"], "pending");
        drain(&relay, &db).await;
        let event = json_body(app.get(&format!("/v1/events/{event_id}")).await).await;
        assert_eq!(event["deliveries"][0]["status"], "delivered");
        assert_eq!(json_body(app.get("/v1/dead_letters").await).await["data"].as_array().unwrap().len(), 3);
        assert_eq!(seen.len(), 4, "a replay for one subscriber leaves the others alone");
        let missing = app.post("/v1/dead_letters/replay", json!({"event_id": event_id, "subscriber": "broken"})).await;
        expect_error(missing, 404, "resource_missing", Some("event_id")).await;

        // The job monitor shows every delivery that failed: flaky's succeeded on the third
        // attempt, broken's dead (but the one replayed), each with its error.
        let runs = json_body(app.get("/v1/job_runs?kind=relay_delivery").await).await;
        let runs = runs["data"].as_array().unwrap().clone();
        let of = |subscriber: &str, status: &str| runs.iter().filter(|r| r["subject"].as_str().unwrap().ends_with(&format!(":{subscriber}")) && r["status"] == status).count();
        assert_eq!((of("flaky", "succeeded"), of("broken", "dead"), of("broken", "succeeded"), runs.len()), (4, 3, 1, 8), "{runs:?}");
        let dead = runs.iter().find(|r| r["status"] == "dead").unwrap();
        assert_eq!((dead["last_error"].as_str(), dead["attempts"].as_u64()), (Some("endpoint down"), Some(3)), "{dead}");
        // A dead delivery retried from the monitor is sent again, and delivered.
        let retried = json_body(app.post(&format!("/v1/job_runs/{}/retry", dead["id"].as_str().unwrap()), json!({})).await).await;
        assert_eq!(retried["status"], "queued", "{retried}");
        drain(&relay, &db).await;
        let done = json_body(app.get(&format!("/v1/job_runs/{}", dead["id"].as_str().unwrap())).await).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(json_body(app.get("/v1/dead_letters").await).await["data"].as_array().unwrap().len(), 2);
    }
}

both_backends! {
    /// Goal: relays sharing one database (as processes would) deliver each (event,
    /// subscriber) once, and the relay wakes on new events rather than on its poll interval.
    /// Method: two `Db` handles on the same database, a relay on each running concurrently with
    /// a long poll, one shared recording subscriber; 60 customers are created while they run.
    async fn two_relays_deliver_each_event_once(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let seen: Seen = Arc::default();
        let second = Db::open(&app.location, &PoolSettings::default()).await.unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let mut tasks = Vec::new();
        // The first relay is woken by the commits of this process (its poll is 30 s); the
        // second polls every 2 ms, so the two contend for every delivery.
        for (db, poll) in [(app.db().clone(), Duration::from_secs(30)), (second.clone(), Duration::from_millis(2))] {
            let config = RelayConfig { poll, ..fast() };
            let seen = seen.clone();
            let recorder = subscriber_fn("recorder", move |_, e| {
                if e.aggregate_type != "customer" { return Ok(()); }
                seen.lock().unwrap().push((e.id.to_string(), e.aggregate_id.clone(), e.sequence));
                Ok(())
            });
            let relay = Arc::new(Relay::new(db, vec![recorder], config));
            tasks.push(tokio::spawn(relay.run(stop.clone())));
        }
        let started = Instant::now();
        let creates = (0..60).map(|i| app.post("/v1/customers", json!({"name": format!("c{i}")})));
        for response in futures::future::join_all(creates).await {
            assert_eq!(response.status(), 200);
        }
        while seen.lock().unwrap().len() < 60 {
            assert!(started.elapsed() < Duration::from_secs(10), "relays woke late: {} of 60", seen.lock().unwrap().len());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        let seen = seen.lock().unwrap().clone();
        let mut ids: Vec<&str> = seen.iter().map(|(id, _, _)| id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 60);
        assert_eq!(seen.len(), 60, "some event was delivered twice");
        second.close().await;
    }
}
