//! The relay: delivers every committed domain event to every subscriber.
//!
//! Each round ([`Relay::tick`]) takes new events and the retries that are due (one write),
//! delivers them — subscribers concurrently, one aggregate's events in order — and records the
//! outcomes (one write); an event every subscriber took at once is just marked published. A failed delivery is
//! retried alone, after an exponential backoff with jitter; after `max_attempts` it becomes a
//! dead letter an admin can replay. Delivery is at least once: a relay that dies mid-round
//! leaves its claims to expire and be delivered again, so subscribers apply each event once by
//! its id.
//!
//! [`Relay::run`] wakes when this process commits events ([`Db::notify_events`]), when a retry
//! falls due, and at least every `poll` (events committed by other processes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bursar_core::App;
use bursar_domain::jobs::{Attempt, JobKind};
use bursar_domain::time::Timestamp;
use bursar_store::relay::{self, Delivery, Outcome};
use bursar_store::{Db, StoreError, Tx};
use futures::StreamExt;
use rand::Rng;
use tokio_util::sync::CancellationToken;

pub use crate::subscriber::{subscriber_fn, Subscriber};

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: i64,
    /// Backoff after the first failure; it doubles with each attempt, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a relay holds the deliveries it claimed.
    pub lease: Duration,
    /// Events fanned out, and deliveries claimed per subscriber, per round.
    pub batch: i64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Longest sleep between rounds.
    pub poll: Duration,
    /// Pause after a small busy round (see [`Relay::run`]).
    pub linger: Duration,
}

/// Rounds with fewer new events than this are followed by `linger`.
const LINGER_BELOW_EVENTS: usize = 64;

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            lease: Duration::from_secs(30),
            batch: 1000,
            concurrency: 64,
            poll: Duration::from_secs(1),
            linger: Duration::from_millis(3),
        }
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub fanned_out: usize,
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
    pub released: usize,
}

impl TickReport {
    /// Whether the round found work (another round may find more).
    pub fn busy(&self) -> bool {
        self.fanned_out + self.delivered + self.retried + self.dead > 0
    }
}

pub struct Relay {
    db: Db,
    subscribers: Vec<Arc<dyn Subscriber>>,
    config: RelayConfig,
}

impl Relay {
    pub fn new(db: Db, subscribers: Vec<Arc<dyn Subscriber>>, config: RelayConfig) -> Self {
        Relay {
            db,
            subscribers,
            config,
        }
    }

    /// One round: take new events and due retries, deliver, record the outcomes.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now = self.db.now();
        let names: Vec<String> = self
            .subscribers
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        let lease_until = now.plus_micros(micros(self.config.lease));
        let batch = self.config.batch;
        let claim_limit = batch.saturating_mul(i64::try_from(names.len().max(1)).unwrap_or(1));
        let claimed_names = names.clone();
        let (fresh, retries) = self
            .db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let names: Vec<&str> = claimed_names.iter().map(String::as_str).collect();
                    let fresh = relay::claim_new(tx, &names, now, lease_until, batch).await?;
                    let retries = relay::claim(tx, now, lease_until, claim_limit).await?;
                    Ok::<_, StoreError>((fresh, retries))
                })
            })
            .await?;
        let mut report = TickReport {
            fanned_out: fresh.len(),
            ..TickReport::default()
        };
        if fresh.is_empty() && retries.is_empty() {
            return Ok(report);
        }
        for subscriber in &self.subscribers {
            subscriber.new_round();
        }
        // First rounds and retries are delivered alike: one delivery per (event, subscriber).
        let mut deliveries: Vec<Delivery> = Vec::with_capacity(fresh.len() * names.len());
        for new in &fresh {
            for name in &names {
                deliveries.push(Delivery {
                    workspace_id: new.workspace_id.clone(),
                    subscriber: name.clone(),
                    event: new.event.clone(),
                    attempts: 0,
                });
            }
        }
        let first_round = deliveries.len();
        deliveries.extend(retries);
        let mut outcomes: Vec<Option<Outcome>> = vec![None; deliveries.len()];
        let mut durations: Vec<i64> = vec![0; deliveries.len()];
        for (index, outcome, duration_ms) in self.deliver_all(&deliveries).await {
            durations[index] = duration_ms;
            match &outcome {
                Outcome::Delivered => report.delivered += 1,
                Outcome::Retry { .. } => report.retried += 1,
                Outcome::Dead { .. } => report.dead += 1,
                Outcome::Released => report.released += 1,
            }
            outcomes[index] = Some(outcome);
        }
        metrics::counter!("bursar_relay_deliveries_total", "outcome" => "delivered")
            .increment(report.delivered as u64);
        metrics::counter!("bursar_relay_deliveries_total", "outcome" => "retried")
            .increment(report.retried as u64);
        metrics::counter!("bursar_relay_deliveries_total", "outcome" => "dead")
            .increment(report.dead as u64);
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Released))
            .collect();
        let now = self.db.now();
        let subscriber_count = names.len();
        self.db
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    let settled: Vec<(&relay::NewEvent, Vec<Outcome>)> = fresh
                        .iter()
                        .enumerate()
                        .map(|(i, new)| {
                            let start = i * subscriber_count;
                            (new, outcomes[start..start + subscriber_count].to_vec())
                        })
                        .collect();
                    relay::settle_new(tx, &names, &settled, now).await?;
                    let retried: Vec<(&Delivery, Outcome)> = deliveries[first_round..]
                        .iter()
                        .zip(&outcomes[first_round..])
                        .map(|(d, o)| (d, o.clone()))
                        .collect();
                    relay::complete(tx, &retried, now).await?;
                    record_jobs(tx, &deliveries, (&outcomes, &durations), first_round, now).await
                })
            })
            .await?;
        Ok(report)
    }

    /// Delivers claimed deliveries: each (subscriber, aggregate) in sequence order, stopping
    /// at a failure that will be retried; the groups concurrently.
    async fn deliver_all(&self, claimed: &[Delivery]) -> Vec<(usize, Outcome, i64)> {
        let mut groups: BTreeMap<(&str, &str, &str, &str), Vec<usize>> = BTreeMap::new();
        for (index, delivery) in claimed.iter().enumerate() {
            groups
                .entry((
                    delivery.subscriber.as_str(),
                    delivery.workspace_id.as_str(),
                    delivery.event.aggregate_type.as_str(),
                    delivery.event.aggregate_id.as_str(),
                ))
                .or_default()
                .push(index);
        }
        let runs = groups.into_values().map(|mut indexes| async move {
            indexes.sort_by_key(|&i| claimed[i].event.sequence);
            let mut outcomes = Vec::with_capacity(indexes.len());
            let mut blocked = false;
            for index in indexes {
                let delivery = &claimed[index];
                if blocked {
                    outcomes.push((index, Outcome::Released, 0));
                    continue;
                }
                let started = Instant::now();
                let outcome = self.deliver_one(delivery).await;
                let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                blocked = matches!(outcome, Outcome::Retry { .. });
                outcomes.push((index, outcome, duration_ms));
            }
            outcomes
        });
        futures::stream::iter(runs)
            .buffer_unordered(self.config.concurrency.max(1))
            .flat_map(futures::stream::iter)
            .collect()
            .await
    }

    async fn deliver_one(&self, delivery: &Delivery) -> Outcome {
        let Some(subscriber) = self
            .subscribers
            .iter()
            .find(|s| s.name() == delivery.subscriber)
        else {
            // A delivery for a subscriber this process does not run (another version of
            // Bursar fanned it out): leave it for a relay that has it.
            return Outcome::Retry {
                error: format!("no subscriber named '{}' here", delivery.subscriber),
                next_attempt_at: self.db.now().plus_micros(micros(self.config.lease)),
            };
        };
        let result = subscriber
            .deliver(&delivery.workspace_id, &delivery.event)
            .await;
        let attempts = delivery.attempts + 1;
        match result {
            Ok(()) => Outcome::Delivered,
            Err(error) if attempts >= self.config.max_attempts => {
                tracing::warn!(event = %delivery.event.id, subscriber = %delivery.subscriber, %error, attempts, "delivery dead-lettered");
                Outcome::Dead { error }
            }
            Err(error) => {
                let delay = self.backoff(attempts);
                tracing::info!(event = %delivery.event.id, subscriber = %delivery.subscriber, %error, attempts, ?delay, "delivery failed; will retry");
                Outcome::Retry {
                    error,
                    next_attempt_at: self.db.now().plus_micros(micros(delay)),
                }
            }
        }
    }

    /// Exponential backoff with "equal jitter": half the doubled delay, plus a random part
    /// of the other half, so retries of many failures spread out instead of arriving at once.
    fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let full = self
            .config
            .backoff_base
            .saturating_mul(2_u32.saturating_pow(exponent))
            .min(self.config.backoff_max);
        let half = full / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    /// Rounds until `stop`: at once while there is work, else on new events, a retry falling
    /// due, or `poll`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let round = self.tick().await;
            let busy = match &round {
                Ok(report) => report.busy(),
                Err(error) => {
                    tracing::warn!(%error, "relay round failed");
                    false
                }
            };
            if let Ok(report) = &round {
                if busy {
                    if stop.is_cancelled() {
                        return;
                    }
                    // A small round under steady load: let a few more events gather, so that
                    // rounds (two writes each) do not crowd out the writes that make events.
                    if report.fanned_out < LINGER_BELOW_EVENTS {
                        tokio::time::sleep(self.config.linger).await;
                    }
                    continue;
                }
            }
            let wait = self.until_next_due().await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.db.events_notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn until_next_due(&self) -> Duration {
        let next = self
            .db
            .read(|tx: &mut Tx| Box::pin(relay::next_due(tx)))
            .await;
        let now = self.db.now();
        match next {
            Ok(Some(due)) => {
                let micros = (due.unix_micros() - now.unix_micros()).max(0);
                Duration::from_micros(u64::try_from(micros).unwrap_or(0)).min(self.config.poll)
            }
            _ => self.config.poll,
        }
    }
}

/// Records the round's failed deliveries in the job monitor (and the successes of retried
/// ones; a first-round success of an event that never failed is not stored).
async fn record_jobs(
    tx: &mut Tx,
    deliveries: &[Delivery],
    (outcomes, durations): (&[Outcome], &[i64]),
    first_round: usize,
    now: Timestamp,
) -> Result<(), StoreError> {
    for (index, (delivery, outcome)) in deliveries.iter().zip(outcomes).enumerate() {
        let (error, next_attempt_at) = match outcome {
            Outcome::Released => continue,
            Outcome::Delivered => (None, None),
            Outcome::Retry {
                error,
                next_attempt_at,
            } => (Some(error.clone()), Some(*next_attempt_at)),
            Outcome::Dead { error } => (Some(error.clone()), None),
        };
        let attempt = Attempt {
            at: now,
            duration_ms: durations[index],
            error,
            next_attempt_at,
        };
        bursar_core::job_attempts::observe(JobKind::RelayDelivery, &attempt);
        if attempt.error.is_none() && index < first_round {
            continue;
        }
        let subject = bursar_core::job_attempts::delivery_subject(
            delivery.event.id.as_str(),
            &delivery.subscriber,
        );
        let workspace = &delivery.workspace_id;
        bursar_store::jobs::record(tx, workspace, JobKind::RelayDelivery, &subject, attempt)
            .await?;
    }
    Ok(())
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The subscribers every Bursar server runs.
pub fn builtin_subscribers(
    app: &App,
    mail: &crate::email::MailConfig,
) -> anyhow::Result<Vec<Arc<dyn Subscriber>>> {
    let db = &app.db;
    Ok(vec![
        crate::webhook_delivery::WebhookSubscriber::new(
            db.clone(),
            app.outbound.clone(),
            crate::webhook_delivery::WebhookConfig::default(),
        )?,
        crate::email::EmailSubscriber::new(db.clone(), mail)?,
        crate::subscriptions::SubscriptionProjector::subscriber(db.clone()),
        crate::fulfillment::Fulfillment::subscriber(app.clone()),
        crate::settlement::Settlement::subscriber(app.clone()),
    ])
}
