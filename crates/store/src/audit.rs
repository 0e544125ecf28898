//! The audit log: who did what to which object, when, through which request, with the state
//! before and after — append-only and hash-chained per workspace.
//!
//! Entries are appended in the transaction of the action itself (through
//! [`crate::events::record`], for the event types [`audited`] names), so an action and its
//! audit entry commit together. There is one chain per audited object (`target_type:target_id`
//! in a workspace): its head row is locked while appending (PostgreSQL), which orders that
//! object's actions without making unrelated ones wait. [`verify`] recomputes every hash.

use bursar_domain::event::Cause;
use bursar_domain::event_type;
use bursar_domain::id::{AuditEntryId, WorkspaceId};
use bursar_domain::time::Timestamp;
use serde::Serialize;

use crate::{params, sha256_hex, Backend, Row, StoreError, Tx};

/// The hash a chain starts from.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Event types whose actions are audited: money movements (wallets, order payments, refunds and
/// disputes, payments received and their allocation to invoices, credit notes, voids and
/// write-offs, ledger transfers — one entry per request or group commit, naming its
/// transfers), access (API keys, payment-provider credentials), who gets told what (webhooks),
/// to whom money belongs (customers), negotiated prices (agreements), and sandboxes created
/// and reset.
pub fn audited(event_type: &str) -> bool {
    [
        "wallet.",
        "webhook_endpoint.",
        "customer.",
        "api_key.",
        "dead_letter.",
        "payment_provider.",
        "price_agreement.",
        "sandbox.",
        event_type::ORDER_PAID,
        event_type::ORDER_REFUNDED,
        event_type::ORDER_PARTIALLY_REFUNDED,
        event_type::ORDER_DISPUTED,
        "order.dispute_",
        "order.refund_",
        "payment.",
        event_type::INVOICE_PAYMENT_APPLIED,
        event_type::INVOICE_VOIDED,
        event_type::INVOICE_MARKED_UNCOLLECTIBLE,
        "credit_note.",
        event_type::LEDGER_TRANSFERS_APPLIED,
        "bank_connection.",
        // People's decisions in the review queue (not the items imports create).
        event_type::RECONCILIATION_ITEM_ACKNOWLEDGED,
        event_type::RECONCILIATION_ITEM_RESOLVED,
        event_type::RECONCILIATION_ITEM_ACCEPTED,
        event_type::RECONCILIATION_ITEM_SNOOZED,
    ]
    .iter()
    .any(|prefix| event_type.starts_with(prefix))
}

/// An action to audit.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Insertion order across all chains (pages of the log follow it).
    pub position: i64,
    pub entry_id: String,
    /// `target_type:target_id`.
    pub chain: String,
    pub chain_index: i64,
    pub action: String,
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub occurred_at: i64,
    pub previous_hash: String,
    pub hash: String,
}

/// What a hash covers, in a fixed order (serialised as JSON, so no field can bleed into
/// another).
#[derive(Serialize)]
struct Hashed<'a> {
    workspace_id: &'a str,
    entry_id: &'a str,
    chain: &'a str,
    chain_index: i64,
    action: &'a str,
    actor: Option<&'a str>,
    request_id: Option<&'a str>,
    target_type: &'a str,
    target_id: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
    occurred_at: i64,
    previous_hash: &'a str,
}

fn hash_of(workspace_id: &str, e: &Entry) -> String {
    let hashed = Hashed {
        workspace_id,
        entry_id: &e.entry_id,
        chain: &e.chain,
        chain_index: e.chain_index,
        action: &e.action,
        actor: e.actor.as_deref(),
        request_id: e.request_id.as_deref(),
        target_type: &e.target_type,
        target_id: &e.target_id,
        before: e.before.as_deref(),
        after: e.after.as_deref(),
        occurred_at: e.occurred_at,
        previous_hash: &e.previous_hash,
    };
    sha256_hex(
        serde_json::to_string(&hashed)
            .unwrap_or_default()
            .as_bytes(),
    )
}

/// Appends an entry to the workspace's chain.
pub async fn append(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    entry: &NewEntry<'_>,
    cause: &Cause,
    now: Timestamp,
) -> Result<Entry, StoreError> {
    let lock = if tx.backend() == Backend::Postgres {
        " for update"
    } else {
        ""
    };
    let ws = workspace_id.as_str();
    let chain = format!("{}:{}", entry.target_type, entry.target_id);
    let select = format!(
        "select chain_index, hash from audit_head where workspace_id = $1 and chain = $2{lock}"
    );
    let head = match tx
        .fetch_optional(&select, params![ws, chain.as_str()])
        .await?
    {
        Some(head) => head,
        None => {
            // The object's first entry (a concurrent first one waits here for ours).
            tx.execute(
                "insert into audit_head (workspace_id, chain, chain_index, hash) \
                 values ($1, $2, 0, $3) on conflict (workspace_id, chain) do nothing",
                params![ws, chain.as_str(), GENESIS],
            )
            .await?;
            tx.fetch_one(&select, params![ws, chain.as_str()]).await?
        }
    };
    let mut recorded = Entry {
        position: 0,
        entry_id: AuditEntryId::new().to_string(),
        chain,
        chain_index: head.i64("chain_index")? + 1,
        action: entry.action.to_owned(),
        actor: cause.actor.clone(),
        request_id: cause.request_id.clone(),
        target_type: entry.target_type.to_owned(),
        target_id: entry.target_id.to_owned(),
        before: entry.before.as_ref().map(serde_json::Value::to_string),
        after: entry.after.as_ref().map(serde_json::Value::to_string),
        occurred_at: now.unix_micros(),
        previous_hash: head.text("hash")?,
        hash: String::new(),
    };
    recorded.hash = hash_of(ws, &recorded);
    recorded.position = tx
        .fetch_one(
            "insert into audit_entry (entry_id, workspace_id, chain, chain_index, action, actor, \
             request_id, target_type, target_id, before_state, after_state, occurred_at, \
             previous_hash, hash) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14) returning position",
            params![
                recorded.entry_id.as_str(),
                ws,
                recorded.chain.as_str(),
                recorded.chain_index,
                recorded.action.as_str(),
                recorded.actor.clone(),
                recorded.request_id.clone(),
                recorded.target_type.as_str(),
                recorded.target_id.as_str(),
                recorded.before.clone(),
                recorded.after.clone(),
                recorded.occurred_at,
                recorded.previous_hash.as_str(),
                recorded.hash.as_str(),
            ],
        )
        .await?
        .i64("position")?;
    tx.execute(
        "update audit_head set chain_index = $3, hash = $4 where workspace_id = $1 and chain = $2",
        params![
            ws,
            recorded.chain.as_str(),
            recorded.chain_index,
            recorded.hash.as_str()
        ],
    )
    .await?;
    Ok(recorded)
}

const ENTRY_COLUMNS: &str = "position, entry_id, chain, chain_index, action, actor, request_id, \
     target_type, target_id, before_state, after_state, occurred_at, previous_hash, hash";

fn entry_from(row: &Row) -> Result<Entry, StoreError> {
    Ok(Entry {
        position: row.i64("position")?,
        entry_id: row.text("entry_id")?,
        chain: row.text("chain")?,
        chain_index: row.i64("chain_index")?,
        action: row.text("action")?,
        actor: row.opt_text("actor")?,
        request_id: row.opt_text("request_id")?,
        target_type: row.text("target_type")?,
        target_id: row.text("target_id")?,
        before: row.opt_text("before_state")?,
        after: row.opt_text("after_state")?,
        occurred_at: row.i64("occurred_at")?,
        previous_hash: row.text("previous_hash")?,
        hash: row.text("hash")?,
    })
}

/// A workspace's entries, newest first, before position `before` (if given).
pub async fn list(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    let rows = tx
        .fetch_all(
            &format!(
                "select {ENTRY_COLUMNS} from audit_entry where workspace_id = $1 \
                 and position < $2 order by position desc limit $3"
            ),
            params![workspace_id.as_str(), before.unwrap_or(i64::MAX), limit],
        )
        .await?;
    rows.iter().map(entry_from).collect()
}

/// What `bursar audit verify` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub chains: usize,
    pub entries: usize,
    /// Each problem names the workspace and the entry.
    pub problems: Vec<String>,
}

/// Recomputes every chain: each entry's hash, its link to the previous entry, the order of
/// its indexes, and that the chain ends where its head says.
pub async fn verify(tx: &mut Tx) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    let heads = tx
        .fetch_all(
            "select workspace_id, chain, chain_index, hash from audit_head \
             order by workspace_id, chain",
            &[],
        )
        .await?;
    let mut chains: Vec<(String, String)> = Vec::with_capacity(heads.len());
    for head in &heads {
        chains.push((head.text("workspace_id")?, head.text("chain")?));
    }
    let orphans = tx
        .fetch_all(
            "select distinct workspace_id, chain from audit_entry e where not exists \
             (select 1 from audit_head h where h.workspace_id = e.workspace_id \
             and h.chain = e.chain)",
            &[],
        )
        .await?;
    for row in &orphans {
        let (ws, chain) = (row.text("workspace_id")?, row.text("chain")?);
        report.problems.push(format!(
            "workspace {ws}, chain {chain}: entries without a chain head"
        ));
        chains.push((ws, chain));
    }
    for (ws, chain) in &chains {
        report.chains += 1;
        let rows = tx
            .fetch_all(
                &format!(
                    "select {ENTRY_COLUMNS} from audit_entry where workspace_id = $1 \
                     and chain = $2 order by chain_index"
                ),
                params![ws.as_str(), chain.as_str()],
            )
            .await?;
        let mut previous = GENESIS.to_owned();
        let mut index = 0_i64;
        for row in &rows {
            let entry = entry_from(row)?;
            report.entries += 1;
            index += 1;
            if entry.chain_index != index {
                report.problems.push(format!(
                    "workspace {ws}, chain {chain}: entry {} has index {} where {index} was expected (an entry is missing)",
                    entry.entry_id, entry.chain_index
                ));
                index = entry.chain_index;
            }
            if entry.previous_hash != previous {
                report.problems.push(format!(
                    "workspace {ws}, chain {chain}: entry {} does not link to the entry before it",
                    entry.entry_id
                ));
            }
            if hash_of(ws, &entry) != entry.hash {
                report.problems.push(format!(
                    "workspace {ws}, chain {chain}: entry {} was altered (its hash does not match its contents)",
                    entry.entry_id
                ));
            }
            previous = entry.hash.clone();
        }
        let head = heads.iter().find(|h| {
            h.str("workspace_id").is_ok_and(|w| w == ws) && h.str("chain").is_ok_and(|c| c == chain)
        });
        if let Some(head) = head {
            if head.i64("chain_index")? != index || head.str("hash")? != previous {
                report.problems.push(format!(
                    "workspace {ws}, chain {chain}: the chain ends at index {index}, but its head says {} (entries were removed from the end)",
                    head.i64("chain_index")?
                ));
            }
        }
    }
    Ok(report)
}
