-- The fingerprint of the key this database's secrets are sealed with: a node started with a
-- different key refuses to start instead of failing on every sealed secret and license lookup.
create table sealing_key (
    id integer primary key check (id = 1),
    fingerprint text not null,
    recorded_at bigint not null
);
