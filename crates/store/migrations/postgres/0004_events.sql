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
    published_at bigint,
    unique (workspace_id, aggregate_type, aggregate_id, sequence)
);
create index domain_event_unpublished_idx on domain_event (position) where published_at is null;
