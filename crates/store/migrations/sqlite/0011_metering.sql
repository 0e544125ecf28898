-- Usage metering: meters, the raw usage events (kept for audit and re-aggregation), and the
-- rollups queries read instead of the events.

create table meter (
    -- The meter's compact key in rollups.
    meter_key integer primary key,
    workspace_id text not null,
    object_id text not null,
    slug text not null,
    event_type text not null,
    deleted_at bigint,
    body text not null
);
create unique index meter_by_id on meter (workspace_id, object_id);
-- A slug names one live meter; a deleted meter's slug may be used again.
create unique index meter_slug on meter (workspace_id, slug) where deleted_at is null;

-- Raw events in arrival order. The unique key is the deduplication claim: it commits with the
-- event and its rollups, or not at all. `counted_at` is the instant the event is counted at:
-- its own time, or the start of the subject's open period when it arrived after that period was
-- closed.
create table usage_event (
    seq integer primary key,
    workspace_id text not null,
    source text not null,
    event_id text not null,
    -- The claim: the first 128 bits of SHA-256 over (workspace, source, id), in two halves.
    claim_hi bigint not null,
    claim_lo bigint not null,
    event_type text not null,
    subject text not null,
    event_time bigint not null,
    counted_at bigint not null,
    ingested_at bigint not null,
    data text
);
-- One writer: it keeps the claims in memory (loaded from this table), so no index of random
-- keys makes every commit rewrite pages all over it.
-- (No index by type: a rebuild scans the events once; ingest stays cheap.)

-- One row per meter, level (bucket length in seconds), subject, bucket and group.
-- Subject '' (no event has an empty subject) holds the totals over all subjects.
create table meter_rollup (
    meter_key bigint not null,
    level integer not null,
    subject text not null,
    bucket bigint not null,
    group_key text not null,
    events bigint not null,
    total real not null,
    lowest real,
    highest real,
    latest_time bigint,
    latest_value real,
    primary key (meter_key, level, subject, bucket, group_key)
) without rowid;
create index meter_rollup_by_bucket on meter_rollup (meter_key, level, bucket);

-- UNIQUE_COUNT meters: the distinct values seen per bucket (counts of distinct values do not add
-- up across buckets, the sets do).
create table meter_unique (
    meter_key bigint not null,
    level integer not null,
    subject text not null,
    bucket bigint not null,
    group_key text not null,
    value text not null,
    primary key (meter_key, level, subject, bucket, group_key, value)
) without rowid;

-- Which customer a usage subject belongs to (a customer's own id needs no row).
create table usage_subject (
    workspace_id text not null,
    subject text not null,
    customer_id text not null,
    created_at bigint not null,
    primary key (workspace_id, subject)
) without rowid;
create index usage_subject_by_customer on usage_subject (workspace_id, customer_id);

-- A customer's usage is closed (invoiced) up to `closed_until`: events for earlier instants that
-- arrive later are counted at `closed_until`, so a closed period's figures never change.
create table usage_close (
    workspace_id text not null,
    customer_id text not null,
    closed_until bigint not null,
    primary key (workspace_id, customer_id)
) without rowid;
