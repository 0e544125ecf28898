//! `bursar bench relay`: domain events from commit to delivery.
//!
//! Concurrent producers commit events as fast as the database takes them (each write job
//! records one event, as a mutation does) while the relay delivers every event to three
//! in-process subscribers. Figures: events per second fully delivered (to all three), and the
//! lag from an event's commit to its last delivery (p50/p99).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::time::{Clock, SystemClock};
use bursar_store::{events, Backend, Db, PoolSettings, StoreError, Tx};
use tokio_util::sync::CancellationToken;

use super::measure::{bench_location, figure, CommonArgs, Figure};
use crate::relay::{subscriber_fn, Relay, RelayConfig};

const SUBSCRIBERS: usize = 3;

pub async fn run(backend: Backend, args: &CommonArgs) -> anyhow::Result<Figure> {
    let (location, _guard) = bench_location(backend, args.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (workspace, _, _) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    let clients = args.clients.unwrap_or(32);

    // Deliveries per event, and the commit-to-delivery lag of events committed while measuring.
    let measuring = Arc::new(AtomicBool::new(false));
    let counts: Arc<Mutex<HashMap<String, u8>>> = Arc::default();
    let lags_us: Arc<Mutex<Vec<u32>>> = Arc::default();
    let delivered = Arc::new(AtomicU64::new(0));
    let subscribers = (0..SUBSCRIBERS)
        .map(|i| {
            let (counts, lags, delivered) = (counts.clone(), lags_us.clone(), delivered.clone());
            subscriber_fn(&format!("bench-{i}"), move |_, event| {
                let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
                let seen = counts.entry(event.id.to_string()).or_default();
                *seen += 1;
                if usize::from(*seen) == SUBSCRIBERS {
                    counts.remove(event.id.as_str());
                    if event.payload["measured"] == true {
                        let lag = SystemClock.now().unix_micros() - event.occurred_at.unix_micros();
                        lags.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(u32::try_from(lag.max(0)).unwrap_or(u32::MAX));
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .collect();
    let stop = CancellationToken::new();
    let relay = Arc::new(Relay::new(db.clone(), subscribers, RelayConfig::default()));
    let relay_task = tokio::spawn(relay.run(stop.clone()));

    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(args.duration_secs);
    let committed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..clients)
        .map(|client| {
            let (db, ws, measuring) = (db.clone(), workspace.id.clone(), measuring.clone());
            let (committed, errors) = (committed.clone(), errors.clone());
            tokio::spawn(async move {
                let mut n = 0_u64;
                while Instant::now() < measure_until {
                    n += 1;
                    let (ws, aggregate) = (ws.clone(), format!("p{client}-{n}"));
                    let measured = measuring.load(Ordering::Relaxed);
                    let now = db.now();
                    let written = db
                        .write(move |tx: &mut Tx| {
                            Box::pin(async move {
                                let event = NewEvent::new(
                                    "bench.ticked",
                                    "bench",
                                    aggregate,
                                    serde_json::json!({ "measured": measured }),
                                );
                                events::record(tx, &ws, &event, &Cause::default(), now).await?;
                                Ok::<_, StoreError>(())
                            })
                        })
                        .await;
                    match written {
                        Ok(()) if measured => {
                            committed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(()) => {}
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep_until(measure_until.into()).await;
    for producer in producers {
        let _ = producer.await;
    }
    // Let the relay finish what was committed while measuring (bounded).
    let drain_until = Instant::now() + Duration::from_secs(30);
    while delivered.load(Ordering::Relaxed) < committed.load(Ordering::Relaxed)
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = measure_from.elapsed().as_secs_f64();
    stop.cancel();
    let _ = relay_task.await;
    db.close().await;
    let lags = std::mem::take(&mut *lags_us.lock().unwrap_or_else(|p| p.into_inner()));
    let undelivered = committed
        .load(Ordering::Relaxed)
        .saturating_sub(delivered.load(Ordering::Relaxed));
    // Throughput: events committed while measuring and delivered to all three subscribers,
    // over the measured window plus however long their delivery took after it.
    Ok(figure(
        "relay",
        format!("events-s{SUBSCRIBERS}-c{clients}"),
        backend,
        lags,
        errors.load(Ordering::Relaxed) + undelivered,
        seconds,
    ))
}
