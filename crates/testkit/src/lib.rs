//! Test support for every crate of Bursar: throwaway databases on both backends and the
//! `both_backends!` macro that runs one test on each.
//!
//! * SQLite: a fresh directory per test.
//! * PostgreSQL: a fresh database per test, in the cluster named by `BURSAR_TEST_POSTGRES`
//!   (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`) or, when that is not
//!   set, in a private cluster started on a free loopback port with `initdb` and `pg_ctl`. The
//!   private cluster lives in a temporary directory and is stopped and deleted by a watchdog
//!   when the process that started it exits.

// Test support: a failure to set up is a broken test environment, reported by panicking.
#![allow(clippy::expect_used)]

mod macros;
pub mod pki;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bursar_domain::time::{Clock, Timestamp};
use bursar_store::{Backend, Db, Location, PoolSettings};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::sync::OnceCell;

pub use bursar_domain::time::ManualClock;
pub use bursar_store::Backend as TestBackend;

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

/// A free port on loopback, for a server a test starts.
pub fn free_port() -> anyhow::Result<u16> {
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

/// A fresh, migrated database of `backend` on `clock`, with a throwaway sealing key; keep the
/// guard alive as long as the database is used.
pub async fn fresh_db(backend: Backend, clock: Arc<dyn Clock>) -> (Db, Option<tempfile::TempDir>) {
    let (location, guard) = fresh_location(backend)
        .await
        .expect("BUG: no test database location");
    let db = Db::open_with_clock(&location, &PoolSettings::default(), clock)
        .await
        .expect("BUG: the test database did not open");
    db.set_sealer(bursar_store::seal::Sealer::random());
    (db, guard)
}

/// A manual clock at `rfc3339`, for tests that move time themselves.
pub fn clock_at(rfc3339: &str) -> Arc<ManualClock> {
    let at = Timestamp::parse_rfc3339(rfc3339).expect("BUG: a test clock's time is RFC 3339");
    Arc::new(ManualClock::new(at))
}
