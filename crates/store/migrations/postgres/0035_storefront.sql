-- A workspace's storefront: its settings (the API's shape in body), found by its public handle.
create table storefront (
    workspace_id text not null primary key,
    handle text not null unique,
    body text not null
);
