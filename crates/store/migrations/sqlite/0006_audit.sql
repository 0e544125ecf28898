-- The audit log: commerce-critical actions, append-only, hash-chained per audited object
-- (chain = target_type:target_id, within a workspace). Each entry's hash covers its fields and
-- the previous entry's hash, so editing or deleting an entry breaks its chain; audit_head
-- remembers each chain's last entry, so removing entries from the end shows too. One chain per
-- object rather than per workspace: appending locks only that object's head, as changing the
-- object locks the object, so unrelated actions never wait for each other.
create table audit_entry (
    position integer primary key autoincrement,
    entry_id text not null unique,
    workspace_id text not null,
    chain text not null,
    chain_index bigint not null,
    action text not null,
    actor text,
    request_id text,
    target_type text not null,
    target_id text not null,
    before_state text,
    after_state text,
    occurred_at bigint not null,
    previous_hash text not null,
    hash text not null,
    unique (workspace_id, chain, chain_index)
);
create index audit_entry_workspace_idx on audit_entry (workspace_id, position);

create table audit_head (
    workspace_id text not null,
    chain text not null,
    chain_index bigint not null,
    hash text not null,
    primary key (workspace_id, chain)
);
