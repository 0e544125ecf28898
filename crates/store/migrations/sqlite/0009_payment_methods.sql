-- Saved payment methods: a customer's card (or other method) kept at a provider for later
-- off-session charges. Bursar keeps the provider's reference, never card data.
create table payment_method (
    workspace_id text not null,
    object_id text not null,
    customer_id text not null,
    provider_id text not null,
    -- The provider's method (`pm_…`): saving the same one twice is one record.
    provider_method_id text not null,
    body text not null,
    primary key (workspace_id, object_id),
    unique (workspace_id, provider_id, provider_method_id)
);
create index payment_method_by_customer on payment_method (workspace_id, customer_id);
-- A Bursar customer's customer object at a provider (Stripe `cus_…`).
create table provider_customer (
    provider_id text not null,
    customer_id text not null,
    workspace_id text not null,
    provider_customer_id text not null,
    primary key (provider_id, customer_id)
);
-- The embedded test provider's setup sessions (saving a card).
create table test_setup_session (
    session_id text not null primary key,
    workspace_id text not null,
    provider_id text not null,
    customer_id text not null,
    provider_customer_id text not null,
    success_url text not null,
    -- open, complete
    status text not null,
    created_at bigint not null
);
