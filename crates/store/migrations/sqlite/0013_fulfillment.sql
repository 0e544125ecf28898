-- Digital fulfillment: release artifacts (their bytes live in the blob store, addressed by
-- SHA-256), licenses (only a keyed hash of the key; a sealed copy until it was delivered) and
-- download links (their tokens are derived from the id with the server's secret, never stored).
create table artifact (
    workspace_id text not null,
    object_id text not null,
    product_id text not null,
    status text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index artifact_by_product on artifact (workspace_id, product_id);

create table license (
    workspace_id text not null,
    object_id text not null,
    -- HMAC-SHA256 of the canonical key under the server's secret, hex.
    key_hash text not null,
    order_id text,
    customer_id text not null,
    -- The key sealed (ChaCha20-Poly1305) until it was both emailed and shown to the order's
    -- owner once; then erased.
    key_sealed text,
    emailed_at bigint,
    revealed_at bigint,
    body text not null,
    primary key (workspace_id, object_id)
);
create unique index license_by_key on license (key_hash);
create index license_by_order on license (workspace_id, order_id);
create index license_by_customer on license (workspace_id, customer_id);

create table download_link (
    workspace_id text not null,
    object_id text not null,
    order_id text,
    customer_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index download_link_by_id on download_link (object_id);
create index download_link_by_order on download_link (workspace_id, order_id);
