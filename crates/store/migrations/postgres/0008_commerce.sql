-- Commerce: the catalog, companies and their agreements, discounts, orders, refunds, payment
-- providers and the provider events Bursar received. Each object is stored whole as JSON
-- (`body`, the API's shape) next to the columns Bursar looks it up or counts by.
create table product (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create table price (
    workspace_id text not null,
    object_id text not null,
    product_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index price_by_product on price (workspace_id, product_id);
create table price_book (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create table company (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create table price_agreement (
    workspace_id text not null,
    object_id text not null,
    company_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index price_agreement_by_company on price_agreement (workspace_id, company_id);
create table coupon (
    workspace_id text not null,
    object_id text not null,
    -- Authoritative redemption count, changed only by a conditional update.
    times_redeemed bigint not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create table promotion_code (
    workspace_id text not null,
    object_id text not null,
    code text not null,
    times_redeemed bigint not null,
    body text not null,
    primary key (workspace_id, object_id),
    unique (workspace_id, code)
);
create table commerce_order (
    workspace_id text not null,
    object_id text not null,
    customer_id text not null,
    status text not null,
    -- The provider's payment (`pi_…`) once paid: disputes and provider-made refunds name only it.
    payment_id text,
    body text not null,
    primary key (workspace_id, object_id)
);
create index commerce_order_by_customer on commerce_order (workspace_id, customer_id);
create index commerce_order_by_payment on commerce_order (workspace_id, payment_id);
create table order_refund (
    workspace_id text not null,
    object_id text not null,
    order_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index order_refund_by_order on order_refund (workspace_id, order_id);
-- A workspace's connection to a payment provider; secrets sealed (ChaCha20-Poly1305).
create table payment_provider (
    workspace_id text not null,
    object_id text not null,
    kind text not null,
    body text not null,
    secret_key_sealed text,
    webhook_secrets_sealed text not null,
    primary key (workspace_id, object_id)
);
create index payment_provider_by_kind on payment_provider (kind);
-- Every verified inbound provider event, raw, once: the primary key is what makes processing
-- exactly-once (claimed in the transaction that applies the event's effects).
create table provider_event (
    provider_id text not null,
    event_id text not null,
    workspace_id text not null,
    event_type text not null,
    order_id text,
    -- applied, ignored (with the reason), unmatched
    outcome text not null,
    detail text,
    payload text not null,
    received_at bigint not null,
    primary key (provider_id, event_id)
);
create index provider_event_by_order on provider_event (workspace_id, order_id);
-- The embedded test provider's checkout sessions.
create table test_checkout_session (
    session_id text not null primary key,
    workspace_id text not null,
    provider_id text not null,
    order_id text not null,
    payment_id text not null,
    amount bigint not null,
    currency text not null,
    customer_email text,
    success_url text not null,
    cancel_url text not null,
    -- open, complete, expired
    status text not null,
    expires_at bigint not null,
    created_at bigint not null
);
alter table customer add column company_id text;
alter table customer add column price_book_id text;
create index test_checkout_session_by_payment on test_checkout_session (payment_id);
create index payment_provider_by_id on payment_provider (object_id);
