//! [`TestApp`]: a running server on a fresh database (SQLite or PostgreSQL, from
//! `bursar-testkit`), with an admin key of its first workspace and request helpers.

use std::path::PathBuf;

use anyhow::Context;
use bursar::server::{Server, Settings};
use bursar_domain::auth::Scope;
use bursar_domain::id::WorkspaceId;
use bursar_store::{Backend, Db, Location, PoolSettings};

/// A running server on a fresh database, with an admin key of its first workspace.
pub struct TestApp {
    pub server: Server,
    pub base_url: String,
    pub workspace_id: WorkspaceId,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub location: Location,
    _dir: Option<tempfile::TempDir>,
    _artifacts: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, Self::settings()).await
    }

    /// The settings of a test server: defaults, except that outbound requests may reach
    /// loopback, where the tests' own listeners (webhook receivers, a fake Stripe) are.
    pub fn settings() -> Settings {
        let mut settings = Settings::default();
        settings.core.outbound.allow_loopback = true;
        // Tests call hundreds of routes without a key from one address (the limit has its own
        // test).
        settings.http.failed_auth_per_minute = 0;
        settings
    }

    pub async fn spawn_with(backend: Backend, settings: Settings) -> TestApp {
        Self::try_spawn(backend, settings, true)
            .await
            .expect("BUG: test app failed to start")
    }

    /// A server whose clock the test moves (background jobs are driven by the test).
    pub async fn spawn_with_clock(
        backend: Backend,
        clock: std::sync::Arc<dyn bursar_domain::time::Clock>,
    ) -> TestApp {
        Self::try_spawn_at(backend, Self::settings(), true, clock)
            .await
            .expect("BUG: test app failed to start")
    }

    /// A server that runs no relay: the test runs its own.
    pub async fn spawn_without_relay(backend: Backend) -> TestApp {
        Self::try_spawn(backend, Self::settings(), false)
            .await
            .expect("BUG: test app failed to start")
    }

    async fn try_spawn(
        backend: Backend,
        settings: Settings,
        relay: bool,
    ) -> anyhow::Result<TestApp> {
        Self::try_spawn_at(
            backend,
            settings,
            relay,
            std::sync::Arc::new(bursar_domain::time::SystemClock),
        )
        .await
    }

    async fn try_spawn_at(
        backend: Backend,
        settings: Settings,
        relay: bool,
        clock: std::sync::Arc<dyn bursar_domain::time::Clock>,
    ) -> anyhow::Result<TestApp> {
        if std::env::var_os("TEST_LOG").is_some() {
            bursar::cli::init_logging(bursar::cli::LogFormat::Text);
        }
        let (location, dir) = bursar_testkit::fresh_location(backend).await?;
        let db = Db::open_with_clock(&location, &PoolSettings::default(), clock).await?;
        // PostgreSQL databases take their sealing key from outside: the test's is derived from
        // its database, so `bursar` commands run against it can be given the same.
        if let bursar_store::Location::Postgres(url) = &location {
            db.set_sealer(bursar_store::seal::Sealer::from_env_value(
                &crate::helpers::test_secret_key(url),
            )?);
        }
        let first =
            bursar::bootstrap::ensure_initialized(&db, bursar_domain::auth::WorkspaceMode::Sandbox)
                .await?
                .context("BUG: a fresh database had keys")?;
        // The address is chosen first so that emails can carry links to this server.
        let addr: std::net::SocketAddr =
            format!("127.0.0.1:{}", bursar_testkit::free_port()?).parse()?;
        let artifacts = tempfile::Builder::new()
            .prefix("bursar-artifacts-")
            .tempdir()?;
        let core = bursar_core::Config {
            public_url: settings
                .core
                .public_url
                .or_else(|| Some(format!("http://{addr}"))),
            artifacts_dir: artifacts.path().to_path_buf(),
            ..settings.core
        };
        let mail = bursar::email::MailConfig {
            public_url: format!("http://{addr}"),
            ..bursar::email::MailConfig::default()
        };
        let app = bursar_core::App::new(db, core);
        let relay = match relay {
            true => Some((
                bursar::relay::builtin_subscribers(&app, &mail)?,
                bursar::relay::RelayConfig::default(),
            )),
            false => None,
        };
        let server = Server::start_with_relay(app, settings.http, addr, relay).await?;
        Ok(TestApp {
            base_url: server.base_url(),
            server,
            workspace_id: first.workspace.id,
            admin_key: first.secret.expose().to_owned(),
            client: reqwest::Client::new(),
            location,
            _dir: dir,
            _artifacts: artifacts,
        })
    }

    pub fn db(&self) -> &Db {
        &self.server.db
    }

    /// The application the server serves, to call use cases directly.
    pub fn core(&self) -> &bursar_core::App {
        &self.server.app
    }

    /// A second workspace and its admin key.
    /// Another sandbox workspace (like the first) and its admin key.
    pub async fn new_workspace(&self, name: &str) -> (WorkspaceId, String) {
        let sandbox = bursar_domain::auth::WorkspaceMode::Sandbox;
        let (workspace, _, secret) =
            bursar::bootstrap::create_workspace_in(self.db(), name, Scope::Admin, sandbox)
                .await
                .expect("BUG: creating a workspace failed");
        (workspace.id, secret.expose().to_owned())
    }

    /// A key of the first workspace with the given scope.
    pub async fn key_with_scope(&self, scope: Scope) -> String {
        let workspace_id = self.workspace_id.clone();
        let now = self.db().now();
        let (_, secret) = self
            .db()
            .write(move |conn: &mut bursar_store::Tx| {
                Box::pin(async move {
                    bursar_store::api_keys::create(
                        conn,
                        &workspace_id,
                        "test",
                        scope,
                        now,
                        &bursar::bootstrap::system_cause("test"),
                    )
                    .await
                })
            })
            .await
            .expect("BUG: creating a key failed");
        secret.expose().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `POST path` with a JSON body and the admin key.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.admin_key)
            .json(&body)
            .send()
            .await
            .expect("BUG: request failed to send")
    }

    /// `POST path` with a JSON body, the admin key and a fresh `Idempotency-Key`, as requests
    /// that record money without a natural id need (refunds, credit notes).
    pub async fn post_once(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        let key = format!("test-{:032x}", rand::random::<u128>());
        self.client
            .post(self.url(path))
            .bearer_auth(&self.admin_key)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("BUG: request failed to send")
    }

    /// `GET path` with the admin key.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .expect("BUG: request failed to send")
    }

    /// Stops the server but keeps its SQLite directory (returned; deleted when dropped).
    pub async fn stop_keeping_data(self) -> Option<tempfile::TempDir> {
        let _ = self.server.shutdown().await;
        self._dir
    }

    /// Where the SQLite data lives, if this app runs on SQLite.
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        match &self.location {
            Location::SqliteDir(dir) => Some(dir.clone()),
            Location::Postgres(_) => None,
        }
    }
}
