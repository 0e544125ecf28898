//! Statements counted per task: [`counting`] runs a future and reports how many SQL statements
//! it sent on its own task (reads on both databases, and writes on PostgreSQL; SQLite's writes
//! run on the writer's thread and are not counted). Tests use it to hold a page to a statement
//! budget whatever the size of the data.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static STATEMENTS: Cell<u64>;
}

/// Runs `work` and returns its output with the statements it sent on this task.
pub async fn counting<F: Future>(work: F) -> (F::Output, u64) {
    STATEMENTS
        .scope(Cell::new(0), async move {
            let output = work.await;
            (output, STATEMENTS.with(Cell::get))
        })
        .await
}

/// Counts one statement, when the task is counting.
pub(crate) fn count_one() {
    let _ = STATEMENTS.try_with(|count| count.set(count.get() + 1));
}
