//! Throwaway databases and servers for tests and benchmarks.
//!
//! * SQLite: a fresh directory per app.
//! * PostgreSQL: a fresh database per app, in the cluster named by `BURSAR_TEST_POSTGRES`
//!   (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`) or, when that is not
//!   set, in a private cluster started on a free loopback port with `initdb` and `pg_ctl`. The
//!   private cluster lives in a temporary directory and is stopped and deleted by a watchdog
//!   when the process that started it exits.

// Test support: a failure to set up is a broken test environment, reported by panicking.
#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use bursar_domain::auth::Scope;
use bursar_domain::id::WorkspaceId;
use bursar_http::HttpConfig;
use bursar_store::{Backend, Db, Location, PoolSettings};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::sync::OnceCell;

use crate::server::Server;

pub const TEST_POSTGRES_ENV: &str = "BURSAR_TEST_POSTGRES";

/// An admin URL of the PostgreSQL cluster tests and benches create their databases in.
pub async fn postgres_admin_url() -> anyhow::Result<String> {
    static URL: OnceCell<String> = OnceCell::const_new();
    URL.get_or_try_init(|| async {
        match std::env::var(TEST_POSTGRES_ENV) {
            Ok(url) if !url.is_empty() => Ok(url),
            _ => start_private_cluster(true).await,
        }
    })
    .await
    .cloned()
}

/// A new, empty database in the test cluster; returns its URL.
pub async fn fresh_postgres_database() -> anyhow::Result<String> {
    create_database(&postgres_admin_url().await?).await
}

/// Creates a new, empty database in the cluster of `admin` and returns its URL.
pub async fn create_database(admin: &str) -> anyhow::Result<String> {
    let admin = admin.to_owned();
    let name = format!(
        "bursar_test_{}",
        bursar_domain::id::WorkspaceId::new().as_str()[3..].to_owned()
    );
    let mut conn = PgConnection::connect(&admin)
        .await
        .context("connecting to the test cluster")?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    Ok(format!("{base}/{name}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (PostgreSQL refuses root).
fn pg_command(program: &str, root: bool) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts a private PostgreSQL cluster on loopback and returns its admin URL. `durable = false`
/// turns fsync off (for tests, where a crash of the machine loses nothing of value).
pub async fn start_private_cluster(durable: bool) -> anyhow::Result<String> {
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("bursar-pg-")
        .tempdir()?
        .keep();
    if root {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()?;
        anyhow::ensure!(status.success(), "chown of {} failed", dir.display());
    }
    let data = dir.join("data");
    let output = pg_command("initdb", root)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .output()
        .context("running initdb: is PostgreSQL installed (initdb, pg_ctl on PATH)?")?;
    if !output.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let port = free_port()?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 \
         -c shared_buffers=256MB -c fsync={} -c synchronous_commit={}",
        dir.display(),
        if durable { "on" } else { "off" },
        if durable { "on" } else { "off" },
    );
    let output = pg_command("pg_ctl", root)
        .args(["-D"])
        .arg(&data)
        .args(["-l"])
        .arg(dir.join("log"))
        .args(["-o", &options, "-w", "-t", "60", "start"])
        .stdin(Stdio::null())
        .output()
        .context("running pg_ctl")?;
    if !output.status.success() {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        bail!(
            "pg_ctl start failed: {}\n{log}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    spawn_watchdog(&dir, &data, root)?;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    wait_until_connectable(&url).await?;
    Ok(url)
}

/// Stops the cluster and removes its directory once this process is gone.
fn spawn_watchdog(dir: &Path, data: &Path, root: bool) -> anyhow::Result<()> {
    let pid = std::process::id();
    let stop = if root {
        format!(
            "runuser -u postgres -- pg_ctl -D '{}' stop -m immediate",
            data.display()
        )
    } else {
        format!("pg_ctl -D '{}' stop -m immediate", data.display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{}'",
        dir.display()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the cluster watchdog")?;
    Ok(())
}

async fn wait_until_connectable(url: &str) -> anyhow::Result<()> {
    let mut last_error = None;
    for _ in 0..100 {
        match PgConnection::connect(url).await {
            Ok(conn) => {
                conn.close().await?;
                return Ok(());
            }
            Err(error) => last_error = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("PostgreSQL did not accept connections: {last_error:?}")
}

/// A fresh, empty database location of the given backend. The returned guard keeps a SQLite
/// directory alive; drop it to delete the directory.
pub async fn fresh_location(
    backend: Backend,
) -> anyhow::Result<(Location, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::Builder::new().prefix("bursar-test-").tempdir()?;
            Ok((Location::SqliteDir(dir.path().to_path_buf()), Some(dir)))
        }
        Backend::Postgres => Ok((Location::Postgres(fresh_postgres_database().await?), None)),
    }
}

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
        Self::spawn_with(backend, HttpConfig::default()).await
    }

    pub async fn spawn_with(backend: Backend, config: HttpConfig) -> TestApp {
        Self::try_spawn(backend, config, true)
            .await
            .expect("BUG: test app failed to start")
    }

    /// A server whose clock the test moves (background jobs are driven by the test).
    pub async fn spawn_with_clock(
        backend: Backend,
        clock: std::sync::Arc<dyn bursar_domain::time::Clock>,
    ) -> TestApp {
        Self::try_spawn_at(backend, HttpConfig::default(), true, clock)
            .await
            .expect("BUG: test app failed to start")
    }

    /// A server that runs no relay: the test runs its own.
    pub async fn spawn_without_relay(backend: Backend) -> TestApp {
        Self::try_spawn(backend, HttpConfig::default(), false)
            .await
            .expect("BUG: test app failed to start")
    }

    async fn try_spawn(
        backend: Backend,
        config: HttpConfig,
        relay: bool,
    ) -> anyhow::Result<TestApp> {
        Self::try_spawn_at(
            backend,
            config,
            relay,
            std::sync::Arc::new(bursar_domain::time::SystemClock),
        )
        .await
    }

    async fn try_spawn_at(
        backend: Backend,
        config: HttpConfig,
        relay: bool,
        clock: std::sync::Arc<dyn bursar_domain::time::Clock>,
    ) -> anyhow::Result<TestApp> {
        if std::env::var_os("TEST_LOG").is_some() {
            crate::cli::init_logging(crate::cli::LogFormat::Text);
        }
        let (location, dir) = fresh_location(backend).await?;
        let db = Db::open_with_clock(&location, &PoolSettings::default(), clock).await?;
        // PostgreSQL databases take their sealing key from outside; a test's is throwaway.
        db.set_sealer(bursar_store::seal::Sealer::random());
        let first = crate::bootstrap::ensure_initialized(&db)
            .await?
            .context("BUG: a fresh database had keys")?;
        // The address is chosen first so that emails can carry links to this server.
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let artifacts = tempfile::Builder::new()
            .prefix("bursar-artifacts-")
            .tempdir()?;
        let config = HttpConfig {
            public_url: config.public_url.or_else(|| Some(format!("http://{addr}"))),
            artifacts_dir: artifacts.path().to_path_buf(),
            ..config
        };
        let mail = crate::email::MailConfig {
            public_url: format!("http://{addr}"),
            ..crate::email::MailConfig::default()
        };
        let relay = match relay {
            true => Some((
                crate::relay::builtin_subscribers(&db, &mail, &config.downloads)?,
                crate::relay::RelayConfig::default(),
            )),
            false => None,
        };
        let server = Server::start_with_relay(db, config, addr, relay).await?;
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

    /// A second workspace and its admin key.
    pub async fn new_workspace(&self, name: &str) -> (WorkspaceId, String) {
        let (workspace, _, secret) =
            crate::bootstrap::create_workspace(self.db(), name, Scope::Admin)
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
                        &crate::bootstrap::system_cause("test"),
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

    /// `GET path` with the admin key.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .expect("BUG: request failed to send")
    }

    pub async fn shutdown(self) {
        let _ = self.server.shutdown().await;
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
