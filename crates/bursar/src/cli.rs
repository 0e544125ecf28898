//! The command line: `bursar serve | migrate | keys | secret-key | workspaces | bench`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use bursar_domain::auth::{Scope, WorkspaceMode};
use bursar_domain::id::{ApiKeyId, WorkspaceId};
use bursar_http::HttpConfig;
use bursar_store::{api_keys, workspaces, Db, Location, PoolSettings, Tx};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bootstrap;
use crate::server::{termination_signal, Server};

#[derive(Debug, Parser)]
#[command(
    name = "bursar",
    version,
    about = "Bursar: contract-to-cash in one binary.",
    long_about = "Bursar: contract-to-cash in one binary. Embedded SQLite by default \
                  (no other process needed); PostgreSQL with --database-url."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API server (migrates the database first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Copy the SQLite database to a file while the server runs (a consistent snapshot).
    Backup {
        /// The file to write the copy to (must not exist).
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Put a backup back as the data directory's database (no server may be running on it).
    Restore {
        /// A file written by `bursar backup`.
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the key that seals stored secrets (`secret.key` or BURSAR_SECRET_KEY).
    SecretKey {
        #[command(subcommand)]
        command: SecretKeyCommand,
    },
    /// Manage workspaces (tenants).
    Workspaces {
        #[command(subcommand)]
        command: WorkspacesCommand,
    },
    /// Measure throughput and latency; prints one JSON line per configuration.
    Bench(crate::bench::BenchArgs),
    /// Print the OpenAPI document (the same as GET /openapi.json) and exit.
    Openapi,
    /// Ledger operations.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Audit log operations.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Contract operations.
    Contracts {
        #[command(subcommand)]
        command: ContractsCommand,
    },
    /// Usage meter operations.
    Meters {
        #[command(subcommand)]
        command: MetersCommand,
    },
    /// Billing operations.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
    /// Collections: account health and dunning.
    Collections {
        #[command(subcommand)]
        command: CollectionsCommand,
    },
    /// Couriers: the sandbox test courier's simulator.
    Couriers {
        #[command(subcommand)]
        command: CouriersCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CouriersCommand {
    /// Replay a realistic run of courier events on a test courier shipment (sandbox
    /// workspaces), its last event now: `delivered`, `exception` (held in customs), `lost`, or
    /// `return` (two failed attempts, back to the sender). Prints the shipment and the events.
    Simulate {
        #[command(flatten)]
        db: DbArgs,
        /// The shipment (`shp_…`).
        #[arg(long)]
        shipment: String,
        #[arg(long)]
        scenario: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CollectionsCommand {
    /// Recompute every account's health from its facts and list the accounts whose stored
    /// status disagrees, with both answers (JSON lines); exits non-zero when any does.
    /// `--repair` evaluates each of them again, which stores what the facts say.
    Check {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretKeyCommand {
    /// Re-seal every stored secret with a new key, in one transaction. Stop every server first
    /// (refused while one runs). The new key comes from --new-key-file or
    /// BURSAR_NEW_SECRET_KEY; on SQLite with the data directory's secret.key, a fresh one is
    /// generated into secret.key when neither is given. License keys keep validating; download
    /// links sent before stop working (buyers get fresh ones by POST /v1/downloads/resend).
    Rotate {
        #[command(flatten)]
        db: DbArgs,
        /// A file holding the new key: base64 of 32 random bytes (`openssl rand -base64 32`).
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Run billing: a draft invoice per active contract for its current period, each contract
    /// and period once (safe to run again, or from several processes at once). Prints the
    /// run's report per workspace as JSON lines.
    Run {
        #[command(flatten)]
        db: DbArgs,
        /// The moment to bill for (RFC 3339; default now).
        #[arg(long)]
        as_of: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContractsCommand {
    /// Recompute every contract's subscription from the contract's log.
    Rebuild {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum MetersCommand {
    /// Recompute meters' rollups from the stored usage events (all live meters, or the ones
    /// with this slug or id). Each meter is rebuilt in one transaction.
    Rebuild {
        #[command(flatten)]
        db: DbArgs,
        /// Only meters with this slug or id.
        #[arg(long)]
        meter: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash of the audit log's chains; exits non-zero, naming the entry, when
    /// an entry was altered, removed or inserted.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute every balance from the transfers and check it: stored balances, history,
    /// account flags, and debits = credits per currency. Exits non-zero on any mismatch.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Directory of the embedded SQLite database, and of the key that seals stored secrets
    /// (`secret.key`, unless BURSAR_SECRET_KEY gives it).
    #[arg(long, env = "BURSAR_DATA_DIR", default_value = "./bursar-data")]
    pub data_dir: PathBuf,
    /// Use PostgreSQL instead: postgres://user:password@host:port/database
    #[arg(long, env = "BURSAR_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    pub fn location(&self) -> anyhow::Result<Location> {
        Ok(Location::from_options(
            self.database_url.as_deref(),
            &self.data_dir,
        )?)
    }

    /// As [`DbArgs::open`], for commands that inspect data (verify, backup): a SQLite data
    /// directory without a database is an error, not a new empty database to report on.
    pub async fn open_existing(&self) -> anyhow::Result<Db> {
        if let Location::SqliteDir(dir) = self.location()? {
            let file = dir.join(bursar_store::SQLITE_FILE);
            anyhow::ensure!(
                file.is_file(),
                "no database at {}: give --data-dir (or BURSAR_DATA_DIR) of an existing Bursar \
                 data directory, or --database-url",
                file.display()
            );
        }
        self.open().await
    }

    pub async fn open(&self) -> anyhow::Result<Db> {
        let location = self.location()?;
        let db = Db::open(&location, &PoolSettings::default())
            .await
            .with_context(|| format!("opening {}", location.redacted()))?;
        // PostgreSQL is shared by every node, so its key cannot live in one node's directory.
        anyhow::ensure!(
            db.sealer().is_ok(),
            "PostgreSQL needs BURSAR_SECRET_KEY (base64 of 32 random bytes, e.g. `openssl rand \
             -base64 32`), the same on every node: it seals stored secrets. Keep a copy in escrow."
        );
        bursar_store::sealing_key::check(&db).await?;
        Ok(db)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "BURSAR_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Seed demonstration data into an empty database.
    #[arg(long, env = "BURSAR_DEMO")]
    pub demo: bool,
    /// The URL customers reach this server at (hosted checkout pages); default
    /// `http://<addr>`.
    #[arg(long, env = "BURSAR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, env = "BURSAR_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BURSAR_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Requests running longer than this are answered 503.
    #[arg(long, env = "BURSAR_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// How long the event relay holds what it took before another relay (or this one after a
    /// crash) may take it again. Longer than a round's slowest delivery.
    #[arg(long, env = "BURSAR_RELAY_LEASE_SECS", default_value_t = 30)]
    pub relay_lease_secs: u64,
    /// Send notification emails through this SMTP server: smtp://[user:password@]host[:port].
    /// Without it, emails are kept in the mailbox (GET /v1/emails).
    #[arg(long, env = "BURSAR_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Keep artifact files in an S3-compatible object store instead of the data directory:
    /// s3://bucket/prefix. Credentials and endpoint come from the usual AWS_* variables
    /// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP).
    #[arg(long, env = "BURSAR_ARTIFACTS_URL")]
    pub artifacts_url: Option<String>,
    /// How long a download link works, in hours.
    #[arg(long, env = "BURSAR_DOWNLOAD_LINK_HOURS", default_value_t = 24)]
    pub download_link_hours: u32,
    /// Downloads a link allows (resuming an interrupted download does not count again).
    #[arg(long, env = "BURSAR_DOWNLOAD_MAX", default_value_t = 5)]
    pub download_max: u32,
    /// Distinct client addresses a download link may be used from; one more locks it.
    #[arg(long, env = "BURSAR_DOWNLOAD_MAX_IPS", default_value_t = 3)]
    pub download_max_ips: u32,
    /// Do not bill contracts automatically at their periods' starts (run `bursar billing run`
    /// or `POST /v1/billing_runs` instead).
    #[arg(long, env = "BURSAR_MANUAL_BILLING")]
    pub manual_billing: bool,
    /// Requests one API key may make per minute (0: no limit); more are answered 429 with
    /// Retry-After.
    #[arg(long, env = "BURSAR_RATE_LIMIT_PER_KEY", default_value_t = 60_000)]
    pub rate_limit_per_key: u32,
    /// Requests with a missing or wrong API key one address may make per minute (0: no
    /// limit); more are answered 429 before any key is looked up.
    #[arg(long, env = "BURSAR_FAILED_AUTH_PER_MINUTE", default_value_t = 60)]
    pub failed_auth_per_minute: u32,
    /// Connections open at once (each is a file descriptor: keep it under `ulimit -n`); past
    /// it, new connections wait in the kernel's queue.
    #[arg(long, env = "BURSAR_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, and an idle keep-alive connection
    /// stays open.
    #[arg(long, env = "BURSAR_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,
    /// Let webhook deliveries and provider requests reach loopback addresses (a receiver on
    /// this machine): for development and tests only. Private, link-local and metadata
    /// addresses stay refused.
    #[arg(long, env = "BURSAR_ALLOW_LOOPBACK_OUTBOUND")]
    pub allow_loopback_outbound: bool,
    /// The sender of notification emails.
    #[arg(
        long,
        env = "BURSAR_MAIL_FROM",
        default_value = "Bursar <no-reply@localhost>"
    )]
    pub mail_from: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (shown only this once).
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// What the key may do: admin, read_only.
        #[arg(long, default_value = "admin")]
        scope: String,
        /// A name to recognise the key by.
        #[arg(long, default_value = "created from the command line")]
        name: String,
        /// The workspace (ws_…); defaults to the first workspace.
        #[arg(long)]
        workspace: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key by id (key_…). Running servers refuse it within seconds.
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkspacesCommand {
    /// Create a workspace with an admin key, and print the key's secret once.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        name: String,
        /// A sandbox (test keys `sk_test_…`, the test provider, never real money) instead of
        /// a live workspace.
        #[arg(long)]
        sandbox: bool,
    },
    /// List workspaces.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Reset a sandbox: delete every row of its data (customers, orders, the ledger, events,
    /// webhooks, invoices, ...) in one transaction; the workspace and its API keys stay.
    /// Refused for a live workspace.
    Reset {
        #[command(flatten)]
        db: DbArgs,
        /// The sandbox's workspace id (ws_…).
        id: String,
    },
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BURSAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Backup { file, db } => crate::backup::backup(db.location()?, &file),
        Command::Restore { file, db } => crate::backup::restore(db.location()?, &file),
        Command::Migrate(db) => {
            init_logging(LogFormat::Text);
            let location = db.location()?;
            db.open().await?.close().await;
            println!("migrations applied to {}", location.redacted());
            Ok(())
        }
        Command::Keys { command } => keys(command).await,
        Command::SecretKey {
            command: SecretKeyCommand::Rotate { db, new_key_file },
        } => crate::secret_key::rotate(db.location()?, new_key_file.as_deref()).await,
        Command::Workspaces { command } => workspaces_command(command).await,
        Command::Bench(args) => {
            // Quiet unless asked: a bench prints its figures, and logs only what BURSAR_LOG asks.
            if std::env::var_os("BURSAR_LOG").is_some() {
                init_logging(LogFormat::Text);
            }
            crate::bench::run(args).await
        }
        Command::Ledger {
            command: LedgerCommand::Verify { db },
        } => {
            let db = db.open_existing().await?;
            let report: bursar_store::ledger::VerifyReport = db
                .read(|tx: &mut Tx| Box::pin(bursar_store::ledger::verify(tx)))
                .await?;
            db.close().await;
            println!(
                "checked {} accounts and {} transfers",
                report.accounts, report.transfers
            );
            for problem in &report.problems {
                println!("MISMATCH {problem}");
            }
            anyhow::ensure!(
                report.problems.is_empty(),
                "{} problems found",
                report.problems.len()
            );
            println!("ledger verified: every balance matches its transfers");
            Ok(())
        }
        Command::Collections {
            command: CollectionsCommand::Check { db, repair },
        } => collections_check(db, repair).await,
        Command::Couriers {
            command:
                CouriersCommand::Simulate {
                    db,
                    shipment,
                    scenario,
                },
        } => crate::couriers::simulate(db.open_existing().await?, shipment, &scenario).await,
        Command::Billing {
            command: BillingCommand::Run { db, as_of },
        } => {
            let db = db.open().await?;
            let as_of = match as_of {
                Some(text) => bursar_domain::time::Timestamp::parse_rfc3339(&text)
                    .with_context(|| format!("--as-of '{text}' is not an RFC 3339 timestamp"))?,
                None => db.now(),
            };
            let workspaces = db
                .read(|tx: &mut Tx| Box::pin(async move { workspaces::list(tx).await }))
                .await?;
            let app = bursar_core::App::new(db.clone(), bursar_core::Config::default());
            let cause = crate::bootstrap::system_cause("billing");
            for workspace in workspaces {
                let run = bursar_core::billing::run_billing(&app, &workspace.id, as_of, &cause)
                    .await
                    .map_err(|e| anyhow::anyhow!("billing {}: {}", workspace.id, e.message))?;
                println!(
                    "{}",
                    serde_json::json!({"workspace": workspace.id, "run": run})
                );
            }
            db.close().await;
            Ok(())
        }
        Command::Contracts {
            command: ContractsCommand::Rebuild { db },
        } => {
            let db = db.open().await?;
            let count = crate::subscriptions::rebuild(&db).await?;
            db.close().await;
            println!("rebuilt the subscriptions of {count} contracts");
            Ok(())
        }
        Command::Meters {
            command: MetersCommand::Rebuild { db, meter },
        } => {
            let db = db.open().await?;
            let meters = db
                .read(|tx: &mut Tx| Box::pin(bursar_store::metering::all_live_meters(tx)))
                .await?;
            let mut rebuilt = 0;
            for (workspace, found) in meters {
                if meter
                    .as_ref()
                    .is_some_and(|m| *m != found.slug && *m != found.id)
                {
                    continue;
                }
                let slug = found.slug.clone();
                let compiled = bursar_domain::metering::CompiledMeter::new(found)
                    .map_err(|e| anyhow::anyhow!("meter {slug}: {e}"))?;
                let ws = workspace.clone();
                let outcome = db
                    .write(move |tx: &mut Tx| {
                        Box::pin(async move {
                            bursar_store::metering::rebuild(tx, &ws, &compiled).await
                        })
                    })
                    .await?;
                println!(
                    "{workspace} {slug}: {} events counted, {} skipped (data the meter cannot take)",
                    outcome.events, outcome.skipped
                );
                rebuilt += 1;
            }
            db.close().await;
            anyhow::ensure!(
                rebuilt > 0 || meter.is_none(),
                "no live meter matches {meter:?}"
            );
            println!("rebuilt {rebuilt} meters");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => {
            let db = db.open_existing().await?;
            let report = db
                .read(|tx: &mut Tx| Box::pin(bursar_store::audit::verify(tx)))
                .await?;
            db.close().await;
            println!(
                "checked {} entries in {} chains",
                report.entries, report.chains
            );
            for problem in &report.problems {
                println!("TAMPERED {problem}");
            }
            anyhow::ensure!(
                report.problems.is_empty(),
                "{} problems found",
                report.problems.len()
            );
            println!("audit log verified: every entry is as it was written");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", bursar_http::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before anything can answer: a SIGTERM from now on drains the server.
    let shutdown = termination_signal();
    init_logging(args.log_format);
    let location = args.db.location()?;
    // One server per SQLite data directory; `bursar restore` waits for it to stop.
    let _lock = match &location {
        Location::SqliteDir(dir) => Some(bursar_store::backup::ServerLock::acquire(dir)?),
        Location::Postgres(_) => None,
    };
    // Every node of a PostgreSQL database holds a share, so `bursar secret-key rotate` can
    // tell that one runs.
    let _node_lock = match &location {
        Location::Postgres(url) => Some(bursar_store::node_lock::NodeLock::share(url).await?),
        Location::SqliteDir(_) => None,
    };
    let db = args.db.open().await?;
    tracing::info!(database = %location.redacted(), "database ready");
    // Demo data lives in a sandbox, where its test payments belong; otherwise the first
    // workspace is live.
    let mode = if args.demo {
        WorkspaceMode::Sandbox
    } else {
        WorkspaceMode::Live
    };
    if let Some(first) = bootstrap::ensure_initialized(&db, mode).await? {
        // Printed, never logged: the secret exists nowhere else.
        println!(
            "\nFirst start: created {} workspace {} and an admin API key.\n\
             Secret key (shown only this once, store it now):\n\n    {}\n\n\
             Try: curl -H 'Authorization: Bearer {}' http://{}/v1/customers\n",
            mode.as_str(),
            first.workspace.id,
            first.secret.expose(),
            first.secret.expose(),
            args.addr
        );
    }
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.addr));
    let http = HttpConfig {
        body_limit_bytes: args.body_limit_bytes,
        request_timeout: std::time::Duration::from_millis(args.request_timeout_ms),
        key_requests_per_minute: args.rate_limit_per_key,
        failed_auth_per_minute: args.failed_auth_per_minute,
        max_connections: args.max_connections,
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        ..HttpConfig::default()
    };
    let config = bursar_core::Config {
        public_url: Some(public_url.clone()),
        artifacts_dir: args.db.data_dir.join("artifacts"),
        artifacts_url: args.artifacts_url.clone(),
        artifacts_options: bursar_core::StoreOptions(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ),
        downloads: bursar_core::fulfillment::DownloadSettings {
            link_ttl_secs: i64::from(args.download_link_hours.max(1)) * 3600,
            max_downloads: args.download_max.max(1),
            max_ips: usize::try_from(args.download_max_ips.max(1)).unwrap_or(3),
            ..Default::default()
        },
        auto_billing: !args.manual_billing,
        outbound: bursar_outbound::Policy {
            allow_loopback: args.allow_loopback_outbound,
        },
    };
    // A bad artifact store URL stops the start, rather than surfacing at the first upload.
    bursar_core::app::blob_store(&config).context("the artifact store (--artifacts-url)")?;
    let app = bursar_core::App::new(db.clone(), config);
    if args.demo && !first_workspace_is_sandbox(&db).await? {
        tracing::warn!(
            "--demo seeds a sandbox, and this database's first workspace is live: no demo data"
        );
    } else if args.demo {
        let seeded = bootstrap::seed_demo(&db).await?;
        if seeded > 0 {
            let orders = bootstrap::seed_commerce(&app).await?;
            tracing::info!(customers = seeded, orders, "demo data ready");
        }
    }
    let relay = crate::relay::RelayConfig {
        lease: std::time::Duration::from_secs(args.relay_lease_secs.max(1)),
        ..crate::relay::RelayConfig::default()
    };
    let mail = crate::email::MailConfig {
        smtp_url: args.smtp_url.clone(),
        from: args.mail_from.clone(),
        public_url,
    };
    let subscribers = crate::relay::builtin_subscribers(&app, &mail)?;
    let server = Server::start_with_relay(app, http, args.addr, Some((subscribers, relay)))
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    tracing::info!(addr = %server.addr, docs = %format!("{}/docs", server.base_url()), "serving");
    let stop = server.stop_token();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: draining requests");
        stop.cancel();
    });
    server.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn first_workspace(conn: &mut Tx, given: Option<&str>) -> anyhow::Result<WorkspaceId> {
    if let Some(id) = given {
        let id = WorkspaceId::parse(id, "workspace")?;
        workspaces::get(conn, &id)
            .await?
            .context("no such workspace")?;
        return Ok(id);
    }
    let first = workspaces::list(conn).await?.into_iter().next();
    Ok(first
        .context("no workspace yet: run `bursar serve` once, or `bursar workspaces create`")?
        .id)
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            db,
            scope,
            name,
            workspace,
        } => {
            let scope = Scope::parse(&scope)?;
            let db = db.open().await?;
            let workspace_id = db
                .read(move |tx: &mut Tx| {
                    Box::pin(async move { first_workspace(tx, workspace.as_deref()).await })
                })
                .await?;
            let now = db.now();
            let (key, secret) = db
                .write(move |conn: &mut Tx| {
                    Box::pin(async move {
                        api_keys::create(conn, &workspace_id, &name, scope, now, &cli_cause()).await
                    })
                })
                .await?;
            println!(
                "created {} (scope {}, workspace {})",
                key.id,
                key.scope.as_str(),
                key.workspace_id
            );
            println!("secret (shown only this once): {}", secret.expose());
            db.close().await;
        }
        KeysCommand::List { db } => {
            let db = db.open().await?;
            let keys = db.read(|tx: &mut Tx| Box::pin(api_keys::list(tx))).await?;
            println!(
                "{:<32} {:<32} {:<10} {:<10} {:<28} name",
                "id", "workspace", "scope", "secret", "status"
            );
            for key in keys {
                let status = match key.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<32} {:<32} {:<10} …{:<9} {:<28} {}",
                    key.id,
                    key.workspace_id,
                    key.scope.as_str(),
                    key.secret_hint,
                    status,
                    key.name
                );
            }
            db.close().await;
        }
        KeysCommand::Revoke { db, id } => {
            let id = ApiKeyId::parse(&id, "id")?;
            let db = db.open().await?;
            let now = db.now();
            let target = id.clone();
            let found = db
                .write(move |conn: &mut Tx| {
                    Box::pin(
                        async move { api_keys::revoke(conn, &target, now, &cli_cause()).await },
                    )
                })
                .await?;
            db.close().await;
            anyhow::ensure!(found, "no such key: {id}");
            println!("revoked {id}");
        }
    }
    Ok(())
}

async fn workspaces_command(command: WorkspacesCommand) -> anyhow::Result<()> {
    match command {
        WorkspacesCommand::Create { db, name, sandbox } => {
            let db = db.open().await?;
            let mode = if sandbox {
                WorkspaceMode::Sandbox
            } else {
                WorkspaceMode::Live
            };
            let (workspace, key, secret) =
                bootstrap::create_workspace_in(&db, &name, Scope::Admin, mode).await?;
            println!(
                "created {} workspace {} ({})",
                mode.as_str(),
                workspace.id,
                workspace.name
            );
            println!(
                "admin key {} secret (shown only this once): {}",
                key.id,
                secret.expose()
            );
            db.close().await;
        }
        WorkspacesCommand::List { db } => {
            let db = db.open().await?;
            let list = db
                .read(|tx: &mut Tx| Box::pin(workspaces::list(tx)))
                .await?;
            for workspace in list {
                let beside = workspace
                    .live_workspace_id
                    .map(|live| format!(" (beside {live})"))
                    .unwrap_or_default();
                println!(
                    "{} {} {} {}{beside}",
                    workspace.id,
                    workspace.mode.as_str(),
                    workspace.created_at.to_rfc3339(),
                    workspace.name
                );
            }
            db.close().await;
        }
        WorkspacesCommand::Reset { db, id } => {
            let id = WorkspaceId::parse(&id, "id")?;
            let db = db.open_existing().await?;
            let app = bursar_core::App::new(db.clone(), bursar_core::Config::default());
            let reset = bursar_core::sandboxes::reset(&app, &id, cli_cause()).await;
            db.close().await;
            let sandbox = reset.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            println!("reset sandbox {} ({})", sandbox.id, sandbox.name);
        }
    }
    Ok(())
}

/// Whether the workspace demo data would go to is a sandbox (its test payments belong there).
async fn first_workspace_is_sandbox(db: &Db) -> anyhow::Result<bool> {
    let list = db
        .read(|tx: &mut Tx| Box::pin(workspaces::list(tx)))
        .await?;
    Ok(list
        .first()
        .is_some_and(|w| w.mode == WorkspaceMode::Sandbox))
}

/// Who actions taken with the command line are from.
fn cli_cause() -> bursar_domain::event::Cause {
    bursar_domain::event::Cause {
        request_id: None,
        actor: Some("cli".into()),
    }
}

/// `bursar collections check [--repair]`.
async fn collections_check(db: DbArgs, repair: bool) -> anyhow::Result<()> {
    let db = db.open_existing().await?;
    let app = bursar_core::App::new(db.clone(), bursar_core::Config::default());
    let report = bursar_core::collections::check(&app, None)
        .await
        .map_err(|e| anyhow::anyhow!("check: {}", e.message))?;
    for d in &report.disagreements {
        println!("{}", serde_json::to_string(d)?);
    }
    println!(
        "checked {} accounts: {} disagree with their facts",
        report.accounts,
        report.disagreements.len()
    );
    let left = if repair && !report.disagreements.is_empty() {
        let left = bursar_core::collections::repair(&app, &report.disagreements)
            .await
            .map_err(|e| anyhow::anyhow!("repair: {}", e.message))?;
        println!(
            "repaired {} accounts; {left} still disagree",
            report.disagreements.len() - left
        );
        left
    } else {
        report.disagreements.len()
    };
    db.close().await;
    anyhow::ensure!(left == 0, "{left} accounts disagree with their facts");
    Ok(())
}
