//! [`App`]: everything a use case reaches — the database (with its clock), the ledger batcher,
//! the payment layer, the artifact store and the configuration. Every surface (the JSON API,
//! the worker, the CLI, benches) builds one and calls the use cases with it.

use std::sync::Arc;

use bursar_domain::auth::WorkspaceMode;
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;
use bursar_store::Db;

use crate::blobs::{self, BlobStore};
use bursar_payments::executor::{ExecutorConfig, HttpExecutor};
use bursar_store::payment_providers::ProviderRow;
use std::collections::HashMap;

/// What the use cases are configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The URL customers reach this server at (checkout pages, download links); default: the
    /// address a request came to.
    pub public_url: Option<String>,
    /// Where artifact files are kept (the data directory's `artifacts/`)...
    pub artifacts_dir: std::path::PathBuf,
    /// ...unless an object store is named: `s3://bucket/prefix`, with its options.
    pub artifacts_url: Option<String>,
    pub artifacts_options: StoreOptions,
    /// Download links and the limits of the public routes.
    pub downloads: DownloadSettings,
    /// Whether the server bills contracts itself as their periods start (every minute); off
    /// by default here (tests run billing by hand), on for `bursar serve`.
    pub auto_billing: bool,
    /// What requests to tenant-chosen URLs (webhook endpoints, a provider's `api_base`) may
    /// reach: public addresses only, loopback too when allowed for development and tests.
    pub outbound: bursar_outbound::Policy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_url: None,
            artifacts_dir: std::path::PathBuf::from("bursar-data/artifacts"),
            artifacts_url: None,
            artifacts_options: StoreOptions::default(),
            downloads: DownloadSettings::default(),
            auto_billing: false,
            outbound: bursar_outbound::Policy::default(),
        }
    }
}

/// Options of an object store (`aws_endpoint`, `aws_secret_access_key`, ...): never printed.
#[derive(Clone, Default)]
pub struct StoreOptions(pub Vec<(String, String)>);

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "StoreOptions({keys:?})")
    }
}

/// The artifact store `config` names.
pub fn blob_store(config: &Config) -> std::io::Result<Arc<dyn BlobStore>> {
    Ok(match &config.artifacts_url {
        Some(url) => Arc::new(blobs::ObjectBlobs::from_url(
            url,
            &config.artifacts_options.0,
        )?),
        None => Arc::new(blobs::LocalBlobs::new(config.artifacts_dir.clone())),
    })
}

/// The application: cheap to clone, shared by every surface of one process.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub config: Arc<Config>,
    /// Shares ledger batches between concurrent transfers.
    pub ledger: bursar_store::ledger::Batcher,
    /// The payment layer's shared HTTP executor and connection cache.
    pub payments: Arc<Payments>,
    /// Artifact files.
    pub blobs: Arc<dyn BlobStore>,
    /// Checks every URL a tenant chose, when registered and when requested.
    pub outbound: bursar_outbound::Guard,
    /// The sandbox test banks this process simulates.
    pub banks: Arc<crate::bank_connections::Banks>,
    /// Couriers' rate-limit windows and OAuth2 tokens, per workspace account.
    pub couriers: Arc<crate::shipments::poll::Gates>,
}

impl App {
    /// The address customers reach this server at: the configured public URL, else
    /// `http://{host}` from a request's `Host` (when it is a plain host name), else
    /// `http://localhost`.
    pub fn base_url(&self, host: Option<&str>) -> String {
        if let Some(url) = &self.config.public_url {
            return url.clone();
        }
        let host = host
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        format!("http://{host}")
    }

    /// Whether workspace `id` is live or a sandbox (modes never change, so each is read once
    /// per process).
    pub async fn workspace_mode(&self, id: &WorkspaceId) -> Result<WorkspaceMode, crate::Error> {
        if let Some(mode) = self.payments.mode(id) {
            return Ok(mode);
        }
        let lookup = id.clone();
        let mode = self
            .db
            .read(move |tx: &mut bursar_store::Tx| {
                Box::pin(async move { bursar_store::workspaces::mode_of(tx, &lookup).await })
            })
            .await?;
        self.payments.remember_mode(id, mode);
        Ok(mode)
    }

    /// Refuses what exists only in sandboxes (the test provider, later the test bank and
    /// couriers) in a live workspace, saying what to use instead.
    pub async fn require_sandbox(&self, id: &WorkspaceId, what: &str) -> Result<(), crate::Error> {
        if self.workspace_mode(id).await? == WorkspaceMode::Sandbox {
            return Ok(());
        }
        Err(crate::Error::new(
            crate::ErrorKind::Invalid,
            "sandbox_only",
            format!(
                "{what} exists only in sandbox workspaces; this workspace is live. Connect a \
                 payment provider (POST /v1/payment_providers) and name it as the provider."
            ),
        )
        .with_param("provider"))
    }

    /// The application over `db`, with the ledger batcher started and the artifact store
    /// `config` names (local files if it cannot be opened: `bursar serve` checks the URL
    /// before it starts, so only a library caller sees this, with the error in the log).
    pub fn new(db: Db, config: Config) -> App {
        crate::collections::install();
        let ledger = bursar_store::ledger::Batcher::start(db.clone());
        let outbound = bursar_outbound::Guard::new(config.outbound);
        let blobs = blob_store(&config).unwrap_or_else(|error| {
            tracing::error!(%error, "artifact store unusable; keeping artifacts on local disk");
            Arc::new(blobs::LocalBlobs::new(config.artifacts_dir.clone()))
        });
        App {
            db,
            config: Arc::new(config),
            ledger,
            payments: Arc::new(Payments::new(outbound.clone())),
            outbound,
            blobs,
            banks: Arc::default(),
            couriers: Arc::default(),
        }
    }

    /// Now, by the database's clock (a manual one in tests).
    pub fn now(&self) -> Timestamp {
        self.db.now()
    }
}

/// What the payment layer shares across requests.
pub struct Payments {
    executor: Result<HttpExecutor, String>,
    /// Workspaces' modes, read once each (a mode never changes).
    modes: std::sync::Mutex<HashMap<WorkspaceId, WorkspaceMode>>,
    /// Connections looked up recently, by selector: a checkout and a webhook need their
    /// connection on every request. Entries live [`CONNECTION_CACHE_TTL`]; this process drops
    /// them all when a connection changes, other processes see a change within the TTL.
    connections: std::sync::Mutex<HashMap<String, (std::time::Instant, ProviderRow)>>,
}

/// How long a looked-up connection is reused without reading it again.
pub const CONNECTION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Payments {
    /// Requests to providers go where `outbound` allows.
    pub fn new(outbound: bursar_outbound::Guard) -> Payments {
        let executor = HttpExecutor::new(ExecutorConfig::default(), outbound).map_err(|e| {
            // Only if the TLS backend cannot start: every provider call then fails, loudly.
            tracing::error!(error = %e, "the provider HTTP client failed to build");
            e.to_string()
        });
        Payments {
            executor,
            modes: Default::default(),
            connections: Default::default(),
        }
    }

    fn mode(&self, id: &WorkspaceId) -> Option<WorkspaceMode> {
        let modes = self.modes.lock().unwrap_or_else(|p| p.into_inner());
        modes.get(id).copied()
    }

    fn remember_mode(&self, id: &WorkspaceId, mode: WorkspaceMode) {
        let mut modes = self.modes.lock().unwrap_or_else(|p| p.into_inner());
        modes.insert(id.clone(), mode);
    }

    /// The shared executor of provider requests.
    pub fn executor(&self) -> Result<HttpExecutor, crate::Error> {
        self.executor.clone().map_err(|reason| {
            crate::Error::new(
                crate::ErrorKind::Unavailable,
                "provider_client_unavailable",
                format!("The payment provider client could not start: {reason}"),
            )
        })
    }

    pub fn cached(&self, key: &str) -> Option<ProviderRow> {
        let map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < CONNECTION_CACHE_TTL)
            .map(|(_, row)| row.clone())
    }

    pub fn remember(&self, key: String, row: &ProviderRow) {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key, (std::time::Instant::now(), row.clone()));
    }

    pub fn forget_all(&self) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Limits of download links and of the routes anyone can call.
#[derive(Debug, Clone)]
pub struct DownloadSettings {
    /// How long a new link works (seconds).
    pub link_ttl_secs: i64,
    /// Downloads a link allows (a resumed download does not count again).
    pub max_downloads: u32,
    /// Distinct client addresses a link may be used from; the next one locks it.
    pub max_ips: usize,
    /// Requests a minute one address may make to the public routes (downloads, license
    /// validation, update checks, link resends).
    pub per_ip_per_minute: u32,
    /// Requests a minute for one download link.
    pub per_link_per_minute: u32,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        DownloadSettings {
            link_ttl_secs: 24 * 3600,
            max_downloads: 5,
            max_ips: 3,
            per_ip_per_minute: 120,
            per_link_per_minute: 30,
        }
    }
}
