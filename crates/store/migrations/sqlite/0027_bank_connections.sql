-- Bank connections (secrets sealed) and the bank webhooks received: each webhook id of a
-- connection is processed once, its claim committing with its effects.
create table bank_connection (
    workspace_id text not null,
    connection_id text not null primary key,
    kind text not null,
    body text not null,
    api_key_sealed text,
    webhook_secrets_sealed text not null,
    created_at integer not null
);
create index bank_connection_by_workspace on bank_connection (workspace_id, connection_id);

create table bank_webhook (
    connection_id text not null,
    webhook_id text not null,
    workspace_id text not null,
    topic text not null,
    event text not null,
    outcome text not null,
    detail text,
    received_at integer not null,
    primary key (connection_id, webhook_id)
);
create index bank_webhook_by_workspace on bank_webhook (workspace_id, received_at);
