-- Tracking events keyed by what makes one event: (carrier, tracking number, code, instant).
-- One index holds the key and refuses duplicates, and a shipment's events are read by its
-- carrier and tracking number. Before, each event was written to the table and three indexes
-- (the id key, the duplicate key and a per-shipment index).
create table tracking_event_keyed (
    workspace_id text not null,
    id text not null,
    shipment_id text not null,
    carrier text not null,
    tracking_number text not null,
    code text not null,
    description text not null,
    status text not null,
    occurred_at bigint not null,
    utc_offset text,
    location text,
    source text not null,
    recorded_at bigint not null,
    primary key (workspace_id, carrier, tracking_number, code, occurred_at)
);
insert into tracking_event_keyed
    select workspace_id, id, shipment_id, carrier, tracking_number, code, description, status,
           occurred_at, utc_offset, location, source, recorded_at
    from tracking_event;
drop table tracking_event;
alter table tracking_event_keyed rename to tracking_event;
