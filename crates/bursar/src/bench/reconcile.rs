//! `bursar bench reconcile`: bank transactions matched to expected payments.
//!
//! Made first through the core (not measured, but its time reported): N expected payments
//! (credits in USD, batches of 10,000 per write), each with a unique reference
//! (`INV-00000042`), a counterparty among N/10 payers, an exact amount unique to it, and a
//! window of a week around today. Then a statement of N lines (CSV, shuffled with a fixed
//! seed), one per expected payment:
//! * 90% quote its reference (as written, in lower case, or with spaces: normalisation
//!   ignores both), and carry its counterparty, amount and a date in the window: rule 1;
//! * 8% carry no reference, but its counterparty, its amount (unique among the payer's) and a
//!   date in the window: rule 2, one candidate;
//! * 2% come from an unknown counterparty without a reference: no rule fits, to review.
//!
//! Measured: parsing the CSV (`statement::parse`) and importing it (`treasury::import`), as the
//! API does (statements of at most [`IMPORT_LINES_MAX`] lines, one write each) or as one
//! import of every line in one write; transactions/s. The summary is checked against what was
//! built (a sanity check of the bench, not a test), and printed on stderr with the phases'
//! times.

use std::time::Instant;

use bursar_core::treasury::{self, ExpectedPaymentInput, IMPORT_LINES_MAX};
use bursar_core::App;
use bursar_domain::event::Cause;
use bursar_domain::id::WorkspaceId;
use bursar_domain::money::Currency;
use bursar_domain::time::Timestamp;
use bursar_domain::treasury::matching::Direction;
use bursar_domain::treasury::objects::{ImportSummary, RuleCounts};
use bursar_domain::treasury::statement;
use bursar_store::{Backend, Db, PoolSettings};
use clap::{Args, ValueEnum};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::measure::{bench_location, CommonArgs, Figure};

#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Bank transactions imported (and expected payments made).
    #[arg(long, default_value_t = 1_000_000)]
    pub transactions: usize,
    /// How the statement is imported: as the API takes it (at most 100,000 lines per import),
    /// as one import of every line, or both (each on a fresh database).
    #[arg(long, value_enum, default_value = "api")]
    pub imports: ImportShape,
}

/// How a statement is cut into imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportShape {
    /// Imports of at most [`IMPORT_LINES_MAX`] lines, one write each.
    Api,
    /// One import of every line, in one write.
    One,
    /// Both, one after the other.
    Both,
}

/// Expected payments made per write while setting up.
const SETUP_BATCH: usize = 10_000;
const DAY: i64 = 86_400;
const HEADER: &str = "id,date,amount,direction,currency,reference,counterparty\n";

/// What line `i` of the statement is built to exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reference,
    AmountDateCounterparty,
    Unmatched,
}

fn kind(i: usize) -> Kind {
    match i % 100 {
        0..=89 => Kind::Reference,
        90..=97 => Kind::AmountDateCounterparty,
        _ => Kind::Unmatched,
    }
}

/// The figures and checked summary of one configuration.
pub async fn run(backend: Backend, args: &ReconcileArgs) -> anyhow::Result<Vec<Figure>> {
    let shapes = match args.imports {
        ImportShape::Api => vec![ImportShape::Api],
        ImportShape::One => vec![ImportShape::One],
        ImportShape::Both => vec![ImportShape::Api, ImportShape::One],
    };
    let mut figures = Vec::new();
    for shape in shapes {
        figures.push(measure(backend, args, shape).await?);
    }
    Ok(figures)
}

async fn measure(
    backend: Backend,
    args: &ReconcileArgs,
    shape: ImportShape,
) -> anyhow::Result<Figure> {
    let n = args.transactions;
    let (location, _guard) = bench_location(backend, args.common.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (workspace, _, _) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    let app = App::new(db.clone(), bursar_core::Config::default());
    let cause = crate::bootstrap::system_cause("bench");
    let ws = workspace.id.clone();
    let now = db.now();

    let started = Instant::now();
    create_expected(&app, &ws, &cause, n, now).await?;
    let texts = statements(n, now, shape);
    let setup_seconds = started.elapsed().as_secs_f64();

    let mut summary = ImportSummary::default();
    let (mut parse_seconds, mut import_seconds) = (0.0, 0.0);
    for text in texts {
        let started = Instant::now();
        let lines = statement::parse(&text, n.max(IMPORT_LINES_MAX))
            .map_err(|e| anyhow::anyhow!("parse: {}", e.message))?;
        drop(text);
        parse_seconds += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let part = app
            .write(ws.clone(), cause.clone(), move |mut cx| {
                Box::pin(async move { treasury::import(&mut cx, "import", lines).await })
            })
            .await
            .map_err(|e| anyhow::anyhow!("import: {}", e.message))?;
        import_seconds += started.elapsed().as_secs_f64();
        add(&mut summary, &part);
    }
    db.close().await;
    check(&summary, n)?;
    let seconds = parse_seconds + import_seconds;
    eprintln!(
        "{}",
        serde_json::json!({
            "bench": "reconcile",
            "backend": backend.as_str(),
            "imports": format!("{shape:?}").to_lowercase(),
            "setup_seconds": round(setup_seconds),
            "parse_seconds": round(parse_seconds),
            "import_seconds": round(import_seconds),
            "summary": summary,
        })
    );
    Ok(figure(shape, n, backend, seconds))
}

/// The expected payment of line `i`: a credit of `amount(i)` from `payer(i, n)`, due within
/// three days of `now`.
fn expected_input(i: usize, n: usize, now: Timestamp) -> anyhow::Result<ExpectedPaymentInput> {
    let usd = Currency::from_code("USD").ok_or_else(|| anyhow::anyhow!("no USD"))?;
    Ok(ExpectedPaymentInput {
        currency: usd,
        direction: Direction::Credit,
        amount_lower: amount(i),
        amount_upper: amount(i),
        date_lower: treasury::today(now.plus_seconds(-3 * DAY)),
        date_upper: treasury::today(now.plus_seconds(3 * DAY)),
        counterparty: Some(payer(i, n)),
        reference: Some(reference(i)),
        party_id: None,
        description: None,
    })
}

/// Minor units, unique to each expected payment (so unique among each payer's).
fn amount(i: usize) -> i64 {
    10_000 + i as i64
}

fn payer(i: usize, n: usize) -> String {
    format!("Payer {}", i % (n / 10).max(1))
}

fn reference(i: usize) -> String {
    format!("INV-{i:08}")
}

async fn create_expected(
    app: &App,
    ws: &WorkspaceId,
    cause: &Cause,
    n: usize,
    now: Timestamp,
) -> anyhow::Result<()> {
    for first in (0..n).step_by(SETUP_BATCH) {
        let inputs = (first..n.min(first + SETUP_BATCH))
            .map(|i| expected_input(i, n, now))
            .collect::<anyhow::Result<Vec<_>>>()?;
        app.write(ws.clone(), cause.clone(), move |mut cx| {
            Box::pin(async move { treasury::create_expected(&mut cx, inputs).await })
        })
        .await
        .map_err(|e| anyhow::anyhow!("expected payments: {}", e.message))?;
    }
    Ok(())
}

/// Line `i` of the statement, as its kind makes it, dated `dates[i % 5]` (within the window).
fn line(i: usize, n: usize, dates: &[String]) -> String {
    let date = &dates[i % dates.len()];
    let cents = amount(i);
    let money = format!("{}.{:02}", cents / 100, cents % 100);
    let (reference, counterparty) = match kind(i) {
        Kind::Reference => (written_reference(i), payer(i, n)),
        Kind::AmountDateCounterparty => (String::new(), payer(i, n)),
        Kind::Unmatched => (String::new(), format!("Stranger {i}")),
    };
    format!("bt_{i:08},{date},{money},credit,USD,{reference},{counterparty}\n")
}

/// The reference as a payer writes it: as given, in lower case, or with spaces.
fn written_reference(i: usize) -> String {
    let exact = reference(i);
    match i % 3 {
        0 => exact,
        1 => exact.to_lowercase(),
        _ => format!("{} {}", &exact[..8], &exact[8..]),
    }
}

/// The statement's lines shuffled with a fixed seed, as CSV texts of one import each.
fn statements(n: usize, now: Timestamp, shape: ImportShape) -> Vec<String> {
    let dates: Vec<String> = (-2..=2)
        .map(|d| treasury::today(now.plus_seconds(d * DAY)).to_string())
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(19));
    let per_import = match shape {
        ImportShape::Api | ImportShape::Both => IMPORT_LINES_MAX,
        ImportShape::One => n.max(1),
    };
    order
        .chunks(per_import)
        .map(|chunk| {
            let mut text = String::with_capacity(HEADER.len() + chunk.len() * 64);
            text.push_str(HEADER);
            for &i in chunk {
                text.push_str(&line(i, n, &dates));
            }
            text
        })
        .collect()
}

fn add(total: &mut ImportSummary, part: &ImportSummary) {
    total.object.clone_from(&part.object);
    total.lines += part.lines;
    total.duplicates += part.duplicates;
    total.matched += part.matched;
    total.in_review += part.in_review;
    total.matched_by_rule.reference += part.matched_by_rule.reference;
    total.matched_by_rule.amount_date_counterparty += part.matched_by_rule.amount_date_counterparty;
    total.matched_by_rule.part_of_sum += part.matched_by_rule.part_of_sum;
    total.expected_payments_reconciled += part.expected_payments_reconciled;
}

/// The summary must be what the statement was built to be.
fn check(summary: &ImportSummary, n: usize) -> anyhow::Result<()> {
    let count = |k: Kind| (0..n).filter(|&i| kind(i) == k).count();
    let want_rules = RuleCounts {
        reference: count(Kind::Reference),
        amount_date_counterparty: count(Kind::AmountDateCounterparty),
        part_of_sum: 0,
    };
    let matched = want_rules.reference + want_rules.amount_date_counterparty;
    let as_built = summary.lines == n
        && summary.duplicates == 0
        && summary.matched_by_rule == want_rules
        && summary.matched == matched
        && summary.expected_payments_reconciled == matched
        && summary.in_review == count(Kind::Unmatched);
    anyhow::ensure!(
        as_built,
        "the import is not as built: {summary:?}, expected {want_rules:?}"
    );
    Ok(())
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn figure(shape: ImportShape, n: usize, backend: Backend, seconds: f64) -> Figure {
    let config = match shape {
        ImportShape::One => format!("parse-import-{n}-lines-one-import"),
        _ => format!(
            "parse-import-{n}-lines-{}-imports",
            n.div_ceil(IMPORT_LINES_MAX)
        ),
    };
    Figure {
        bench: "reconcile",
        config,
        backend: backend.as_str(),
        ops: n as u64,
        errors: 0,
        seconds: round(seconds),
        ops_per_sec: round(n as f64 / seconds),
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: round(seconds * 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_reconciliation_matches_as_built() {
        let args = ReconcileArgs {
            common: CommonArgs {
                backend: super::super::BackendChoice::Sqlite,
                database_url: None,
                clients: None,
                duration_secs: 0,
                warmup_secs: 0,
            },
            transactions: 2_000,
            imports: ImportShape::Both,
        };
        let figures = run(Backend::Sqlite, &args).await.unwrap();
        assert_eq!(figures.len(), 2);
        assert!(figures.iter().all(|f| f.ops == 2_000));
    }
}
