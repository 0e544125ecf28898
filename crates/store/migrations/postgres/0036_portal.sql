-- The customer portal. A sign-in is a magic link's record: its token is derived from the id
-- (a MAC under the server's secret), never stored; it is used once, before it expires.
create table portal_sign_in (
    workspace_id text not null,
    object_id text not null,
    email text not null,
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint,
    primary key (workspace_id, object_id)
);

-- A signed-in browser: the keyed hash of its cookie's token, and whom it may see (every
-- customer with a verified email, or one customer).
create table portal_session (
    workspace_id text not null,
    token_hash text not null primary key,
    email text,
    customer_id text,
    created_at bigint not null,
    expires_at bigint not null,
    revoked_at bigint
);

-- Signing in finds a workspace's customers by email, in any case.
create index customer_by_email on customer (workspace_id, lower(email));
