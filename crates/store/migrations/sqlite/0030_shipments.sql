-- Shipments: documents (the API's shape in body), found by order, by tracking number (pushed
-- events) and by the next instant the tracking worker polls them.
create table shipment (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    order_id text not null,
    carrier text not null,
    tracking_number text not null,
    status text not null,
    next_poll_at integer,
    primary key (workspace_id, object_id)
);
create index shipment_by_order on shipment (workspace_id, order_id);
create index shipment_by_tracking on shipment (workspace_id, tracking_number);
create index shipment_by_next_poll on shipment (next_poll_at);

-- Every event a courier reported, append-only. One event is one (carrier, tracking number,
-- code, instant): pushed and polled copies of it are recorded once.
create table tracking_event (
    workspace_id text not null,
    id text not null,
    shipment_id text not null,
    carrier text not null,
    tracking_number text not null,
    code text not null,
    description text not null,
    status text not null,
    occurred_at integer not null,
    utc_offset text,
    location text,
    source text not null,
    recorded_at integer not null,
    primary key (workspace_id, id),
    unique (workspace_id, carrier, tracking_number, code, occurred_at)
);
create index tracking_event_by_shipment on tracking_event (workspace_id, shipment_id, occurred_at);

-- A workspace's accounts at carriers (one per carrier): the API's shape in body, the
-- credentials sealed beside it.
create table courier_connection (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    carrier text not null,
    secrets_sealed text not null,
    primary key (workspace_id, object_id)
);
create unique index courier_connection_by_carrier on courier_connection (workspace_id, carrier);

-- Post-delivery automation: the workspace's scenarios (object_id the scenario's key) and one
-- run per delivered shipment, found by the instant its next attempt is due.
create table automation_scenario (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create table automation_run (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    shipment_id text not null,
    order_id text not null,
    status text not null,
    next_attempt_at integer,
    primary key (workspace_id, object_id)
);
create unique index automation_run_by_shipment on automation_run (workspace_id, shipment_id);
create index automation_run_by_order on automation_run (workspace_id, order_id);
create index automation_run_by_status on automation_run (workspace_id, status);
create index automation_run_by_next_attempt on automation_run (next_attempt_at);
