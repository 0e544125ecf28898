-- The outbox: every state change of a business object writes its domain event in the same
-- transaction. `position` is the insertion order the relay reads in; `sequence` numbers the
-- events of one aggregate (1, 2, ...), which is the order its timeline shows.
create table domain_event (
    position bigint generated always as identity primary key,
    event_id text not null unique,
    workspace_id text not null,
    event_type text not null,
    version bigint not null,
    aggregate_type text not null,
    aggregate_id text not null,
    sequence bigint not null,
    payload text not null,
    occurred_at bigint not null,
    request_id text,
    actor text,
    -- 1 once the relay is done with the event's first round: delivered to every subscriber,
    -- or given a delivery row per subscriber to track what is left.
    fanned_out bigint not null default 0,
    -- A relay working on its first round holds it until then.
    claimed_until bigint not null default 0,
    -- When every subscriber had it (delivered or dead-lettered).
    published_at bigint,
    unique (workspace_id, aggregate_type, aggregate_id, sequence)
);
create index domain_event_fanout_idx on domain_event (position) where fanned_out = 0;

-- One row per (event, subscriber): where that subscriber stands with that event.
create table event_delivery (
    event_id text not null,
    subscriber text not null,
    workspace_id text not null,
    position bigint not null,
    -- aggregate_type:aggregate_id; a subscriber gets an aggregate's events in sequence order.
    aggregate_key text not null,
    sequence bigint not null,
    -- pending, delivered, dead
    status text not null,
    attempts bigint not null,
    next_attempt_at bigint not null,
    -- A relay working on it holds it until then (several relays may share one database).
    claimed_until bigint not null,
    last_error text,
    updated_at bigint not null,
    primary key (event_id, subscriber)
);
create index event_delivery_due_idx on event_delivery (next_attempt_at) where status = 'pending';
create index event_delivery_order_idx on event_delivery (subscriber, aggregate_key, sequence)
    where status = 'pending';
create index event_delivery_pending_aggregate_idx on event_delivery (aggregate_key)
    where status = 'pending';
create index event_delivery_dead_idx on event_delivery (workspace_id, status, updated_at);
