//! Serving: bind, run, and shut down cleanly.
//!
//! On SIGTERM or Ctrl-C the server stops accepting connections, lets in-flight requests finish,
//! stops background work at a safe point (between batches), waits for the database writer to
//! commit what it holds, and exits.

use std::net::SocketAddr;
use std::sync::Arc;

use bursar_core::App;
use bursar_http::HttpConfig;
use bursar_store::Db;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use bursar_worker::relay::{Relay, RelayConfig, Subscriber};

/// What a server is configured with: the HTTP layer's limits and the core's settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub http: HttpConfig,
    pub core: bursar_core::Config,
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub db: Db,
    /// The application the server serves (for tests and tools that act as it does).
    pub app: App,
    stop: CancellationToken,
    task: JoinHandle<Result<(), std::io::Error>>,
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free one) and serves `app` in the background, with the
    /// built-in relay subscribers and the periodic jobs.
    pub async fn start(app: App, http: HttpConfig, addr: SocketAddr) -> std::io::Result<Server> {
        let subscribers = bursar_worker::relay::builtin_subscribers(
            &app,
            &bursar_worker::email::MailConfig::default(),
        )
        .map_err(std::io::Error::other)?;
        Self::start_with_relay(app, http, addr, Some((subscribers, RelayConfig::default()))).await
    }

    /// As [`Server::start`], with the relay's subscribers and settings given (`None`: no relay
    /// in this process, as when tests drive one themselves).
    pub async fn start_with_relay(
        app: App,
        http: HttpConfig,
        addr: SocketAddr,
        relay: Option<(Vec<Arc<dyn Subscriber>>, RelayConfig)>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let limits = crate::listener::Limits {
            max_connections: http.max_connections,
            header_timeout: http.header_timeout,
        };
        let router = bursar_http::router(app.clone(), http).merge(bursar_web::router(app.clone()));
        let graceful = stop.clone();
        let task = tokio::spawn(async move {
            let stopped = async move { graceful.cancelled().await };
            crate::listener::serve(listener, router, limits, stopped).await
        });
        let mut background = bursar_worker::scheduler::spawn_all(&app, &stop);
        if let Some((subscribers, config)) = relay {
            let relay = Relay::new(app.db.clone(), subscribers, config);
            background.push(tokio::spawn(Arc::new(relay).run(stop.clone())));
        }
        Ok(Server {
            addr,
            db: app.db.clone(),
            app,
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

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when it
/// is first polled: call it before the server answers, so that a SIGTERM sent as soon as the
/// server is healthy drains it instead of killing the process.
pub fn termination_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (terminate, interrupt) = handlers;
            let wait = |handler: Option<tokio::signal::unix::Signal>| async move {
                match handler {
                    Some(mut handler) => {
                        handler.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(terminate) => {},
                _ = wait(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
