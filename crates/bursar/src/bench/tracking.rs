//! `bursar bench tracking`: courier events ingested into shipments.
//!
//! Made first through the core (not measured, its time reported): paid orders of ten units of
//! a physical product, each shipped in ten parcels, spread evenly over DHL, USPS, Canada Post
//! and Chit Chats. Then each parcel's life — label, four scans in transit, out for delivery,
//! delivered: seven events with the carrier's own codes, already normalised as the adapters
//! leave them — is cut into reports of one to three events (a push, or a poll's news), and
//! the reports of all parcels are interleaved (shuffled with a fixed seed):
//! * 5% of the events are sent again in a later report (a push and a poll of one event);
//! * 5% arrive late, in a report after one with a later event of their parcel.
//!
//! Measured: the reports recorded as the push endpoint and the tracking worker record them
//! (`record_reports`, one report or many per write) from concurrent clients (default 32);
//! events/s, counting every event sent (duplicates included). The final statuses are checked (every parcel
//! delivered, each event recorded once: a sanity check of the bench, not a test).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _};
use bursar_core::shipments::tracking::record_reports;
use bursar_core::shipments::{self, NewShipment};
use bursar_core::App;
use bursar_couriers::{CarrierEvent, Tracking};
use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::shipping::{Carrier, ShipmentDirection, TrackingSource, TrackingStatus};
use bursar_domain::time::Timestamp;
use bursar_store::{Backend, Db, PoolSettings, Tx};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::measure::{bench_location, figure, CommonArgs, Figure};

/// Parcels tracked.
const PARCELS: usize = 10_000;
/// Parcels per order.
const PER_ORDER: usize = 10;
const CARRIERS: [Carrier; 4] = [
    Carrier::Dhl,
    Carrier::Usps,
    Carrier::CanadaPost,
    Carrier::ChitChats,
];

/// A parcel's life at `carrier`: (the carrier's code, the status it normalises to).
fn life(carrier: Carrier) -> [(&'static str, TrackingStatus); 7] {
    use TrackingStatus::*;
    match carrier {
        Carrier::Dhl => [
            ("pre-transit", PreTransit),
            ("transit", InTransit),
            ("transit", InTransit),
            ("transit", InTransit),
            ("transit", InTransit),
            ("transit", OutForDelivery),
            ("delivered", Delivered),
        ],
        Carrier::Usps => [
            ("GX", PreTransit),
            ("03", InTransit),
            ("10", InTransit),
            ("T1", InTransit),
            ("07", InTransit),
            ("OF", OutForDelivery),
            ("01", Delivered),
        ],
        Carrier::CanadaPost => [
            ("3000", PreTransit),
            ("0100", InTransit),
            ("0170", InTransit),
            ("0400", InTransit),
            ("0500", InTransit),
            ("0174", OutForDelivery),
            ("1496", Delivered),
        ],
        _ => [
            ("ready", PreTransit),
            ("inducted", InTransit),
            ("in_transit", InTransit),
            ("received", InTransit),
            ("released", InTransit),
            ("out_for_delivery", OutForDelivery),
            ("delivered", Delivered),
        ],
    }
}

/// One parcel's shipment: its carrier and tracking number.
struct Parcel {
    carrier: Carrier,
    number: String,
}

/// One report: a parcel's events, as a carrier sends them.
struct Report {
    carrier: Carrier,
    tracking: Tracking,
}

/// Reports recorded per write in each configuration.
const PER_WRITE: [usize; 2] = [1, 100];

pub async fn run(backend: Backend, args: &CommonArgs) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for per_write in PER_WRITE {
        figures.push(measure(backend, args, per_write).await?);
    }
    Ok(figures)
}

async fn measure(backend: Backend, args: &CommonArgs, per_write: usize) -> anyhow::Result<Figure> {
    let (location, _guard) = bench_location(backend, args.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    db.set_sealer(bursar_store::seal::Sealer::random());
    let (workspace, _, _) = crate::bootstrap::create_workspace_in(
        &db,
        "bench",
        bursar_domain::auth::Scope::Admin,
        bursar_domain::auth::WorkspaceMode::Sandbox,
    )
    .await?;
    let app = App::new(db.clone(), bursar_core::Config::default());
    let ws = workspace.id.clone();

    let started = Instant::now();
    let parcels = ship_parcels(&app, &ws).await?;
    let setup_seconds = started.elapsed().as_secs_f64();

    let (reports, sent) = reports(&parcels, db.now());
    let report_count = reports.len();
    let clients = args.clients.unwrap_or(32).max(1);
    let started = Instant::now();
    let latencies = ingest(&app, &ws, reports, clients, per_write).await?;
    let seconds = started.elapsed().as_secs_f64();
    let recorded = check(&db, &ws).await?;
    db.close().await;
    eprintln!(
        "{}",
        serde_json::json!({
            "bench": "tracking", "backend": backend.as_str(), "parcels": PARCELS,
            "reports": report_count, "reports_per_write": per_write, "events_sent": sent,
            "events_recorded": recorded, "setup_seconds": (setup_seconds * 10.0).round() / 10.0,
        })
    );
    let mut figure = figure(
        "tracking",
        format!("parcels={PARCELS} clients={clients} reports_per_write={per_write} dup=5% late=5%"),
        backend,
        latencies,
        0,
        seconds,
    );
    // Events, not writes, are what is counted (latencies stay per write).
    figure.ops = u64::try_from(sent).unwrap_or(u64::MAX);
    figure.ops_per_sec = sent as f64 / seconds;
    Ok(figure)
}

/// Makes the paid orders and their parcels.
async fn ship_parcels(app: &App, ws: &WorkspaceId) -> anyhow::Result<Vec<Parcel>> {
    let (product, orders) = crate::bootstrap::shipping::paid_physical_orders(
        app,
        ws,
        PARCELS / PER_ORDER,
        i64::try_from(PER_ORDER)?,
    )
    .await?;
    let mut parcels = Vec::with_capacity(PARCELS);
    for (o, order) in orders.iter().enumerate() {
        let mut batch = Vec::with_capacity(PER_ORDER);
        for p in 0..PER_ORDER {
            let i = o * PER_ORDER + p;
            batch.push(Parcel {
                carrier: CARRIERS[i % CARRIERS.len()],
                number: format!("BENCH{i:08}"),
            });
        }
        let (order, product) = (order.clone(), product.clone());
        let news: Vec<NewShipment> = batch
            .iter()
            .map(|parcel| NewShipment {
                order_id: order.clone(),
                direction: ShipmentDirection::Outbound,
                return_of: None,
                replaces: Vec::new(),
                carrier: parcel.carrier,
                service: None,
                tracking_number: parcel.number.clone(),
                lines: vec![bursar_domain::shipping::ShipmentLine {
                    product_id: product.clone(),
                    quantity: 1,
                    serial_numbers: Vec::new(),
                }],
                packages: Vec::new(),
                ship_from: None,
                ship_to: None,
                label_reference: None,
                automation_scenario: None,
                metadata: Default::default(),
            })
            .collect();
        app.write(ws.clone(), cause(), move |mut cx| {
            Box::pin(async move {
                for new in news {
                    shipments::create(&mut cx, new).await?;
                }
                Ok::<_, bursar_core::Error>(())
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("shipments: {}", e.message))?;
        parcels.extend(batch);
    }
    Ok(parcels)
}

fn cause() -> Cause {
    crate::bootstrap::system_cause("bench")
}

/// Every parcel's events cut into reports, interleaved, with duplicates and late arrivals;
/// and how many events they carry.
fn reports(parcels: &[Parcel], now: Timestamp) -> (Vec<Report>, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let mut per_parcel: Vec<Vec<Vec<CarrierEvent>>> = Vec::with_capacity(parcels.len());
    for parcel in parcels {
        let start = now.plus_seconds(-7 * 86_400);
        let mut events: Vec<CarrierEvent> = life(parcel.carrier)
            .iter()
            .enumerate()
            .map(|(step, (code, status))| CarrierEvent {
                code: (*code).to_owned(),
                description: format!("{} step {step}", parcel.carrier.as_str()),
                occurred_at: start.plus_seconds(i64::try_from(step).unwrap_or(0) * 14_400),
                utc_offset: Some("-05:00".to_owned()),
                location: Some("Ottawa, ON, CA".to_owned()),
                status: *status,
            })
            .collect();
        let mut cut: Vec<Vec<CarrierEvent>> = Vec::new();
        while !events.is_empty() {
            let take = rng.gen_range(1..=3).min(events.len());
            cut.push(events.drain(..take).collect());
        }
        // 5% of events late: moved into the next report, after a later event.
        for r in 0..cut.len().saturating_sub(1) {
            if rng.gen_bool(0.05 * cut[r].len() as f64 / 2.0) {
                if let Some(event) = cut[r].pop() {
                    cut[r + 1].push(event);
                }
            }
        }
        // 5% of events again in a report of their own, after the first.
        let copies: Vec<CarrierEvent> = cut
            .iter()
            .flatten()
            .filter(|_| rng.gen_bool(0.05))
            .cloned()
            .collect();
        cut.extend(copies.into_iter().map(|event| vec![event]));
        cut.retain(|report| !report.is_empty());
        per_parcel.push(cut);
    }
    interleave(parcels, per_parcel, &mut rng)
}

/// Each parcel's reports in order, the parcels' streams shuffled together.
fn interleave(
    parcels: &[Parcel],
    per_parcel: Vec<Vec<Vec<CarrierEvent>>>,
    rng: &mut rand::rngs::StdRng,
) -> (Vec<Report>, usize) {
    let mut slots: Vec<usize> = per_parcel
        .iter()
        .enumerate()
        .flat_map(|(p, reports)| std::iter::repeat_n(p, reports.len()))
        .collect();
    slots.shuffle(rng);
    let mut streams: Vec<std::vec::IntoIter<Vec<CarrierEvent>>> =
        per_parcel.into_iter().map(Vec::into_iter).collect();
    let mut sent = 0;
    let mut reports = Vec::with_capacity(slots.len());
    for p in slots {
        if let Some(events) = streams[p].next() {
            sent += events.len();
            reports.push(Report {
                carrier: parcels[p].carrier,
                tracking: Tracking {
                    tracking_number: parcels[p].number.clone(),
                    events,
                    estimated_delivery: None,
                },
            });
        }
    }
    (reports, sent)
}

/// Records the reports from `clients` concurrent clients, `per_write` reports in each write
/// (one: pushes one by one; more: a push naming many parcels, or the worker's batch); each
/// write's latency (µs).
async fn ingest(
    app: &App,
    ws: &WorkspaceId,
    reports: Vec<Report>,
    clients: usize,
    per_write: usize,
) -> anyhow::Result<Vec<u32>> {
    let queue = Arc::new(std::sync::Mutex::new(reports.into_iter()));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (app, ws, queue, failures) = (app.clone(), ws.clone(), queue.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let batch: Vec<Report> = {
                    let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                    queue.by_ref().take(per_write).collect()
                };
                if batch.is_empty() {
                    break;
                }
                let started = Instant::now();
                let recorded = app
                    .write(ws.clone(), cause(), move |mut cx| {
                        Box::pin(async move {
                            let reports = batch.into_iter().map(|r| (r.carrier, r.tracking));
                            let source = TrackingSource::Push;
                            let updates =
                                record_reports(&mut cx, reports.collect(), source).await?;
                            let missing = updates.iter().filter(|(_, u)| u.is_none()).count();
                            Ok::<_, bursar_core::Error>(missing)
                        })
                    })
                    .await;
                if !matches!(recorded, Ok(0)) && failures.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("first failed write: {recorded:?}");
                }
                latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("bench client")?);
    }
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} writes did not record their reports");
    }
    Ok(latencies)
}

/// Every parcel delivered, each event recorded once: the count of recorded events.
async fn check(db: &Db, ws: &WorkspaceId) -> anyhow::Result<i64> {
    let ws = ws.clone();
    let (recorded, undelivered) = db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let recorded = tx
                    .fetch_one(
                        "select count(*) as n from tracking_event where workspace_id = $1",
                        bursar_store::params![ws.as_str()],
                    )
                    .await?
                    .i64("n")?;
                let undelivered = tx
                    .fetch_one(
                        "select count(*) as n from shipment where workspace_id = $1 \
                         and status <> 'delivered'",
                        bursar_store::params![ws.as_str()],
                    )
                    .await?
                    .i64("n")?;
                Ok::<_, bursar_store::StoreError>((recorded, undelivered))
            })
        })
        .await?;
    let expected = i64::try_from(PARCELS * 7)?;
    if recorded != expected || undelivered != 0 {
        bail!("bench check: {recorded} events recorded (expected {expected}), {undelivered} parcels not delivered");
    }
    Ok(recorded)
}
