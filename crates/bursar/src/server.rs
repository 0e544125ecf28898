//! Serving: bind, run, and shut down cleanly.
//!
//! On SIGTERM or Ctrl-C the server stops accepting connections, lets in-flight requests finish,
//! stops background work at a safe point (between batches), waits for the database writer to
//! commit what it holds, and exits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bursar_http::HttpConfig;
use bursar_store::Db;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::relay::{Relay, RelayConfig, Subscriber};

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub db: Db,
    stop: CancellationToken,
    task: JoinHandle<Result<(), std::io::Error>>,
    background: Vec<JoinHandle<()>>,
}

/// How often expired idempotency keys are swept, and how many per sweep.
const IDEMPOTENCY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
const IDEMPOTENCY_SWEEP_KEYS_MAX: i64 = 10_000;

impl Server {
    /// Binds `addr` (port 0 picks a free one) and starts serving in the background.
    pub async fn start(db: Db, config: HttpConfig, addr: SocketAddr) -> std::io::Result<Server> {
        let subscribers = crate::relay::builtin_subscribers(
            &db,
            &crate::email::MailConfig::default(),
            &config.downloads,
        )
        .map_err(std::io::Error::other)?;
        Self::start_with_relay(
            db,
            config,
            addr,
            Some((subscribers, RelayConfig::default())),
        )
        .await
    }

    /// As [`Server::start`], with the relay's subscribers and settings given (`None`: no relay
    /// in this process, as when tests drive one themselves).
    pub async fn start_with_relay(
        db: Db,
        config: HttpConfig,
        addr: SocketAddr,
        relay: Option<(Vec<Arc<dyn Subscriber>>, RelayConfig)>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let (app, state) = bursar_http::app_with_state(db.clone(), config);
        let graceful = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { graceful.cancelled().await })
            .await
        });
        let mut background = vec![
            tokio::spawn(sweep_idempotency_keys(db.clone(), stop.clone())),
            tokio::spawn(expire_pending_transfers(db.clone(), stop.clone())),
            tokio::spawn(season_due_holdings(db.clone(), stop.clone())),
            tokio::spawn(expire_test_checkouts(state.clone(), stop.clone())),
            tokio::spawn(schedule_contracts(state, stop.clone())),
        ];
        if let Some((subscribers, config)) = relay {
            let relay = Relay::new(db.clone(), subscribers, config);
            background.push(tokio::spawn(Arc::new(relay).run(stop.clone())));
        }
        Ok(Server {
            addr,
            db,
            stop,
            task,
            background,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A token that stops the server when cancelled.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until the server stops (see [`Server::stop_token`]), then drains and closes.
    pub async fn wait(self) -> std::io::Result<()> {
        let Server {
            db,
            stop,
            task,
            background,
            ..
        } = self;
        let served = match task.await {
            Ok(result) => result,
            Err(join_error) => Err(std::io::Error::other(join_error)),
        };
        stop.cancel();
        for job in background {
            let _ = job.await;
        }
        db.close().await;
        served
    }

    /// Stops accepting, drains in-flight requests and background work, closes the database.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.stop.cancel();
        self.wait().await
    }
}

async fn sweep_idempotency_keys(db: Db, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(IDEMPOTENCY_SWEEP_INTERVAL) => {}
        }
        let now = db.now();
        let swept = db
            .write(move |conn: &mut bursar_store::Tx| {
                Box::pin(bursar_store::idempotency::sweep_expired(
                    conn,
                    now,
                    IDEMPOTENCY_SWEEP_KEYS_MAX,
                ))
            })
            .await;
        match swept {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "swept expired idempotency keys"),
            Err(error) => tracing::warn!(error = %error, "idempotency key sweep failed"),
        }
    }
}

/// How often pending transfers past their timeout are released.
const PENDING_EXPIRY_INTERVAL: Duration = Duration::from_secs(1);

/// Releases pending transfers whose timeout has passed, so their reserved amounts become
/// available again even when no new transfer touches them.
async fn expire_pending_transfers(db: Db, stop: CancellationToken) {
    use bursar_store::{ledger, Tx};
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PENDING_EXPIRY_INTERVAL) => {}
        }
        let now = db.now();
        let due = db
            .read(move |tx: &mut Tx| Box::pin(ledger::workspaces_with_due_pending(tx, now)))
            .await;
        let workspaces = match due {
            Ok(workspaces) => workspaces,
            Err(error) => {
                tracing::warn!(error = %error, "pending expiry scan failed");
                continue;
            }
        };
        for workspace in workspaces {
            let expired = db
                .write(move |tx: &mut Tx| {
                    Box::pin(async move { ledger::expire_pending(tx, &workspace, now).await })
                })
                .await;
            match expired {
                Ok(count) => tracing::info!(count, "pending transfers expired"),
                Err(error) => tracing::warn!(error = %error, "pending expiry failed"),
            }
        }
    }
}

/// How often due wallet holdings are seasoned.
const SEASONING_INTERVAL: Duration = Duration::from_secs(1);

/// Moves wallet holdings whose `not_before` has passed from PAY_IN_HOLDING to AVAILABLE.
async fn season_due_holdings(db: Db, stop: CancellationToken) {
    use bursar_store::{wallet, Tx};
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(SEASONING_INTERVAL) => {}
        }
        let now = db.now();
        match db
            .write(move |tx: &mut Tx| Box::pin(wallet::season_due(tx, now)))
            .await
        {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "wallet holdings seasoned"),
            Err(error) => tracing::warn!(error = %error, "seasoning failed"),
        }
    }
}

/// How often the test provider looks for checkout sessions whose time is up.
const CHECKOUT_EXPIRY_INTERVAL: Duration = Duration::from_secs(5);

/// The embedded test provider expires its unpaid checkout sessions when their time is up.
async fn expire_test_checkouts(state: bursar_http::AppState, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(CHECKOUT_EXPIRY_INTERVAL) => {}
        }
        match bursar_http::payments::expire_due_sessions(&state).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "test checkout sessions expired"),
            Err(error) => tracing::warn!(error = %error.message, "expiring test checkouts failed"),
        }
    }
}

/// How often contracts' renewals, expiries and scheduled terminations are looked for.
const CONTRACT_SCHEDULER_INTERVAL: Duration = Duration::from_secs(60);

/// Renews, expires and terminates contracts when they are due, bills contracts whose period
/// started (unless billing is manual), and moves the billing status of customers whose
/// invoices fell due.
async fn schedule_contracts(state: bursar_http::AppState, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(CONTRACT_SCHEDULER_INTERVAL) => {}
        }
        match bursar_http::contracts::run_scheduler(&state).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "contract operations scheduled"),
            Err(error) => tracing::warn!(error = %error.message, "contract scheduler failed"),
        }
        // Contracts whose period started are billed (draft invoices).
        if state.config.auto_billing {
            match bursar_http::billing::run_due_billing(&state).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "invoices drafted by billing"),
                Err(error) => tracing::warn!(error = %error.message, "billing failed"),
            }
            match bursar_http::billing::issue_due_drafts(&state).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "billed drafts issued"),
                Err(error) => {
                    tracing::warn!(error = %error.message, "issuing billed drafts failed")
                }
            }
        }
        // Invoices falling due move customers' billing status.
        match bursar_http::invoices::sweep_billing_status(&state).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "billing statuses changed"),
            Err(error) => tracing::warn!(error = %error.message, "billing status sweep failed"),
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
