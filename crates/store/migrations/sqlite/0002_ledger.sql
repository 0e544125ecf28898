-- The double-entry ledger. Accounts carry their current balances; transfers are immutable;
-- ledger_entry is the history of accounts that keep one (flag `history`): their balances after
-- every change, which answers balances as of a past instant and lists transfers newest first.

create table ledger_account (
    workspace_id text not null references workspace (workspace_id),
    account_id text not null,
    currency text not null,
    code bigint not null,
    debits_must_not_exceed_credits bigint not null,
    credits_must_not_exceed_debits bigint not null,
    history bigint not null,
    metadata text not null,
    debits_pending bigint not null,
    debits_posted bigint not null,
    credits_pending bigint not null,
    credits_posted bigint not null,
    created_at bigint not null,
    primary key (workspace_id, account_id)
) without rowid;

create table ledger_transfer (
    workspace_id text not null,
    transfer_id text not null,
    debit_account_id text not null,
    credit_account_id text not null,
    currency text not null,
    amount bigint not null,
    code bigint not null,
    kind text not null,
    pending_id text,
    timeout_seconds bigint,
    expires_at bigint,
    -- bit 0: linked, bit 1: balancing_debit, bit 2: balancing_credit
    flags bigint not null,
    metadata text not null,
    fingerprint text not null,
    created_at bigint not null,
    primary key (workspace_id, transfer_id)
) without rowid;

-- Where each pending transfer stands; its transfer row never changes.
create table ledger_pending (
    workspace_id text not null,
    transfer_id text not null,
    status text not null,
    expires_at bigint,
    primary key (workspace_id, transfer_id)
) without rowid;
create index ledger_pending_due_idx on ledger_pending (workspace_id, status, expires_at);

-- Ids whose transfer failed on the ledger's state: retries keep failing (id_already_failed).
create table ledger_failed_id (
    workspace_id text not null,
    transfer_id text not null,
    result text not null,
    created_at bigint not null,
    primary key (workspace_id, transfer_id)
) without rowid;

create table ledger_entry (
    workspace_id text not null,
    account_id text not null,
    created_at bigint not null,
    transfer_id text not null,
    debits_pending bigint not null,
    debits_posted bigint not null,
    credits_pending bigint not null,
    credits_posted bigint not null,
    primary key (workspace_id, account_id, created_at)
) without rowid;

-- The last timestamp the ledger of a workspace assigned (timestamps strictly increase).
create table ledger_clock (
    workspace_id text primary key,
    last_timestamp bigint not null
) without rowid;
