-- Core: workspaces (tenants), API keys, customers, idempotency keys.
-- Instants are integer microseconds since the Unix epoch (UTC); ids are prefixed ULIDs as text.
-- Every business table is keyed by (workspace_id, <table>_id) so that one index serves both the
-- scoped lookup and the scoped, id-ordered listing, and no query can forget the workspace.

create table workspace (
    workspace_id text primary key,
    name text not null,
    created_at bigint not null
);

create table api_key (
    api_key_id text primary key,
    workspace_id text not null references workspace (workspace_id),
    name text not null,
    scope text not null,
    -- SHA-256 of the whole secret; the secret itself is never stored.
    secret_hash text not null,
    -- The last four characters, so people can tell keys apart in a listing.
    secret_hint text not null,
    created_at bigint not null,
    revoked_at bigint
);
create unique index api_key_secret_hash_key on api_key (secret_hash);

create table customer (
    workspace_id text not null references workspace (workspace_id),
    customer_id text not null,
    email text,
    name text,
    metadata text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (workspace_id, customer_id)
);

create table idempotency_key (
    workspace_id text not null,
    idempotency_key text not null,
    -- SHA-256 of method, path and body: a reused key with another request is refused.
    request_fingerprint text not null,
    response_status bigint not null,
    response_body text not null,
    created_at bigint not null,
    expires_at bigint not null,
    primary key (workspace_id, idempotency_key)
);
create index idempotency_key_expires_at_idx on idempotency_key (expires_at);
