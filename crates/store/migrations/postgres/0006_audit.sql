-- The audit log: commerce-critical actions, append-only, one hash chain per workspace. Each
-- entry's hash covers its fields and the previous entry's hash, so editing or deleting an
-- entry breaks the chain; audit_head remembers each chain's last entry, so removing entries
-- from the end shows too.
create table audit_entry (
    position bigint generated always as identity primary key,
    entry_id text not null unique,
    workspace_id text not null,
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
    unique (workspace_id, chain_index)
);

create table audit_head (
    workspace_id text primary key,
    chain_index bigint not null,
    hash text not null
);
