-- Outbound webhook endpoints. The signing secret is stored sealed (see store::seal); during a
-- rotation the previous one keeps signing until previous_secret_expires_at.
create table webhook_endpoint (
    workspace_id text not null,
    endpoint_id text not null,
    url text not null,
    description text not null,
    -- JSON array of event types ('customer.created', 'customer.*', '*'); empty: all
    event_types text not null,
    -- enabled, disabled
    status text not null,
    disabled_reason text,
    secret_sealed text not null,
    previous_secret_sealed text,
    previous_secret_expires_at bigint,
    -- Failed attempts since the last success; at the limit the endpoint is disabled.
    consecutive_failures bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (workspace_id, endpoint_id)
);

-- Whether an endpoint has had an event (a retry of the event skips the endpoints that did).
create table webhook_message (
    endpoint_id text not null,
    event_id text not null,
    workspace_id text not null,
    -- delivered, failing
    status text not null,
    attempts bigint not null,
    updated_at bigint not null,
    primary key (endpoint_id, event_id)
);

-- Every attempt, for the endpoint's delivery log.
create table webhook_attempt (
    workspace_id text not null,
    endpoint_id text not null,
    attempt_id text not null,
    event_id text not null,
    event_type text not null,
    attempted_at bigint not null,
    succeeded bigint not null,
    status_code bigint,
    response text,
    error text,
    duration_ms bigint not null,
    primary key (workspace_id, endpoint_id, attempt_id)
);
