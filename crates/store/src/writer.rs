//! The SQLite writer: one connection, one thread, group commit.
//!
//! SQLite allows one writer at a time, and each durable commit costs an fsync of the WAL. So
//! rather than have request handlers queue for the write lock, they hand their write job to this
//! task. It takes every job waiting when it becomes free (up to a bound), runs them one after
//! another in a single transaction, each inside a savepoint, and commits once. A job that fails
//! rolls back its own savepoint only. Results are released to the callers after the commit, so
//! an acknowledged write is a durable write.
//!
//! The writer has a thread of its own with a single-threaded runtime: its statements run
//! synchronously on the connection it owns (SQLite does the work in the calling thread), so a
//! slow fsync never stalls the request-serving runtime, and the serial part of the system does
//! not queue behind request tasks.

use std::panic::AssertUnwindSafe;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::account_cache::AccountCache;
use crate::sql::TxInner;
use crate::{Job, StoreError, Tx};

/// Jobs that may wait for the writer before submitters feel back-pressure.
const QUEUE_JOBS_MAX: usize = 8192;

/// A job with its result type erased, so jobs of every type share one queue.
trait QueuedJob: Send {
    /// Runs the job, keeping its result; true when it succeeded (its savepoint is kept).
    fn run<'c>(&'c mut self, tx: &'c mut Tx) -> BoxFuture<'c, bool>;
    /// Hands the result to the caller once the transaction's fate is known.
    fn deliver(self: Box<Self>, transaction: Result<(), String>);
    /// Whether the job runs in a transaction of its own, after which the writer forgets what
    /// it caches (see [`Handle::submit`]).
    fn alone(&self) -> bool;
}

struct TypedJob<T, E> {
    job: Option<Job<T, E>>,
    alone: bool,
    result: Option<Result<T, E>>,
    sender: oneshot::Sender<Result<T, E>>,
}

impl<T, E> QueuedJob for TypedJob<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run<'c>(&'c mut self, tx: &'c mut Tx) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let Some(job) = self.job.take() else {
                return false;
            };
            let result = match AssertUnwindSafe(job(tx)).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(E::from(StoreError::JobPanicked(panic_message(&*panic)))),
            };
            let succeeded = result.is_ok();
            self.result = Some(result);
            succeeded
        })
    }

    fn deliver(self: Box<Self>, transaction: Result<(), String>) {
        let result = match (self.result, transaction) {
            // The job's own failure is its answer, whatever happened to the others.
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)) | None, Err(reason)) => Err(E::from(StoreError::CommitFailed(reason))),
            (None, Ok(())) => Err(E::from(StoreError::CommitFailed("job was not run".into()))),
        };
        // The caller may have gone away (client disconnected); the outcome stands regardless.
        let _ = self.sender.send(result);
    }

    fn alone(&self) -> bool {
        self.alone
    }
}

pub(crate) struct Handle {
    sender: std::sync::Mutex<Option<mpsc::Sender<Box<dyn QueuedJob>>>>,
    stopped: tokio::sync::Mutex<Option<oneshot::Receiver<()>>>,
}

pub(crate) fn spawn(
    conn: rusqlite::Connection,
    jobs_per_commit_max: usize,
    // Runs once the writer has stopped (the SQLite checkpointer's last checkpoint).
    after_stop: Box<dyn FnOnce() + Send>,
) -> Result<Handle, StoreError> {
    assert!(
        jobs_per_commit_max > 0,
        "BUG: group commit needs room for one job"
    );
    let (sender, receiver) = mpsc::channel(QUEUE_JOBS_MAX);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Config(format!("cannot start the writer runtime: {e}")))?;
    let (stopped_sender, stopped) = oneshot::channel();
    std::thread::Builder::new()
        .name("bursar-sqlite-writer".into())
        .spawn(move || {
            runtime.block_on(run(
                Tx {
                    inner: TxInner::Sqlite(conn),
                    accounts: Some(AccountCache::default()),
                    events_recorded: 0,
                    deferred: Some(crate::deferred::DeferredEvents::default()),
                    claims: Some(crate::claims::ClaimSet::default()),
                    rollups: Some(crate::deferred::DeferredRollups::default()),
                },
                receiver,
                jobs_per_commit_max,
            ));
            after_stop();
            let _ = stopped_sender.send(());
        })
        .map_err(|e| StoreError::Config(format!("cannot start the writer thread: {e}")))?;
    Ok(Handle {
        sender: std::sync::Mutex::new(Some(sender)),
        stopped: tokio::sync::Mutex::new(Some(stopped)),
    })
}

impl Handle {
    /// Queues `job` and returns its result once its transaction has committed. A job `alone`
    /// runs in a transaction with no other job, and afterwards the writer forgets its caches
    /// (ledger accounts, usage claims): for jobs that change the tables behind them wholesale.
    pub(crate) async fn submit<T, E>(&self, job: Job<T, E>, alone: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (result_sender, result_receiver) = oneshot::channel::<Result<T, E>>();
        let queued: Box<dyn QueuedJob> = Box::new(TypedJob {
            job: Some(job),
            alone,
            result: None,
            sender: result_sender,
        });
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or(StoreError::WriterStopped)?;
        sender
            .send(queued)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        result_receiver
            .await
            .map_err(|_| E::from(StoreError::WriterStopped))?
    }

    /// Lets the queued jobs finish, then stops the task and closes the connection.
    pub(crate) async fn shutdown(&self) {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take(),
        );
        if let Some(stopped) = self.stopped.lock().await.take() {
            let _ = stopped.await;
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

async fn run(
    mut conn: Tx,
    mut receiver: mpsc::Receiver<Box<dyn QueuedJob>>,
    jobs_per_commit_max: usize,
) {
    let mut batch = Vec::with_capacity(jobs_per_commit_max);
    while receiver.recv_many(&mut batch, jobs_per_commit_max).await > 0 {
        if batch.iter().any(|job| job.alone()) {
            commit_apart(&mut conn, &mut batch).await;
        } else {
            commit_group(&mut conn, &mut batch).await;
        }
        debug_assert!(batch.is_empty(), "BUG: every job of a group is delivered");
    }
    drop(conn);
}

/// Runs `batch`, in which some jobs must run alone: the jobs queued before such a job commit
/// as one group, then it commits by itself and the caches are forgotten, and so on.
async fn commit_apart(conn: &mut Tx, batch: &mut Vec<Box<dyn QueuedJob>>) {
    let mut group = Vec::with_capacity(batch.len());
    for job in std::mem::take(batch) {
        if !job.alone() {
            group.push(job);
            continue;
        }
        if !group.is_empty() {
            commit_group(conn, &mut group).await;
        }
        group.push(job);
        commit_group(conn, &mut group).await;
        if let Some(cache) = conn.accounts.as_mut() {
            cache.forget();
        }
        if let Some(claims) = conn.claims.as_mut() {
            claims.forget();
        }
    }
    if !group.is_empty() {
        commit_group(conn, &mut group).await;
    }
}

/// Runs the jobs of `batch` in one transaction and delivers every result after the commit.
/// A lone job needs no savepoint: its failure rolls back the whole (one-job) transaction.
async fn commit_group(conn: &mut Tx, batch: &mut Vec<Box<dyn QueuedJob>>) {
    let single = batch.len() == 1;
    let mut kept = 0_usize;
    let opening = if single {
        "begin immediate"
    } else {
        "begin immediate; savepoint job"
    };
    let mut broken: Option<String> = execute(conn, opening).await.err();
    if broken.is_none() {
        // Inside the transaction: no other connection can commit until it ends.
        match data_version(conn).await {
            Ok(version) => {
                if let Some(cache) = conn.accounts.as_mut() {
                    cache.check_version(version);
                }
                if let Some(claims) = conn.claims.as_mut() {
                    claims.check_version(version);
                }
            }
            Err(error) => broken = Some(error),
        }
    }
    let last = batch.len().saturating_sub(1);
    for (index, job) in batch.iter_mut().enumerate() {
        if broken.is_some() {
            break;
        }
        let succeeded = job.run(conn).await;
        kept += usize::from(succeeded);
        if let Some(deferred) = conn.deferred.as_mut() {
            deferred.job_ended(succeeded);
        }
        if let Some(cache) = conn.accounts.as_mut() {
            cache.job_ended(succeeded);
        }
        if let Some(claims) = conn.claims.as_mut() {
            claims.job_ended(succeeded);
        }
        if let Some(rollups) = conn.rollups.as_mut() {
            rollups.job_ended(succeeded);
        }
        if single {
            continue;
        }
        // Closing one job's savepoint and opening the next one's is one call into SQLite.
        let close = match (succeeded, index == last) {
            (true, false) => execute(conn, "release job; savepoint job").await,
            (true, true) => execute(conn, "release job").await,
            (false, false) => execute(conn, "rollback to job; release job; savepoint job").await,
            (false, true) => execute(conn, "rollback to job; release job").await,
        };
        if let Err(error) = close {
            broken = Some(error);
        }
    }
    if broken.is_none() && kept > 0 {
        // The rollups of the group's usage events, merged across its jobs.
        if let Err(error) = crate::metering::flush_deferred(conn).await {
            broken = Some(error.to_string());
        }
    }
    if let Some(rollups) = conn.rollups.as_mut() {
        rollups.group_ended();
    }
    if broken.is_none() && kept > 0 {
        // The group's ledger request events, one per workspace and API key, in the same
        // transaction as the transfers they describe.
        if let Err(error) = crate::ledger::record_deferred(conn).await {
            broken = Some(error.to_string());
        }
    }
    if let Some(deferred) = conn.deferred.as_mut() {
        deferred.clear();
    }
    let outcome = match broken {
        Some(reason) => Err(reason),
        None if kept == 0 => execute(conn, "rollback").await,
        None => execute(conn, "commit").await,
    };
    if let Some(cache) = conn.accounts.as_mut() {
        cache.group_ended(outcome.is_ok() && kept > 0);
    }
    if let Some(claims) = conn.claims.as_mut() {
        claims.group_ended(outcome.is_ok() && kept > 0);
    }
    metrics::histogram!("bursar_db_group_commit_jobs").record(batch.len() as f64);
    if let Err(reason) = &outcome {
        tracing::error!(error = %reason, jobs = batch.len(), "sqlite group commit failed");
        // Leave the connection outside any transaction for the next group.
        let _ = execute(conn, "rollback").await;
    }
    for job in batch.drain(..) {
        job.deliver(outcome.clone());
    }
}

/// `pragma data_version`: changes when another connection commits to the database.
async fn data_version(conn: &mut Tx) -> Result<i64, String> {
    let row = conn
        .fetch_one("pragma data_version", &[])
        .await
        .map_err(|e| e.to_string())?;
    row.i64("data_version").map_err(|e| e.to_string())
}

/// Runs statements without parameters; several may be given, separated by `;`.
async fn execute(conn: &mut Tx, sql: &str) -> Result<(), String> {
    conn.execute_batch(sql).await.map_err(|e| e.to_string())
}
