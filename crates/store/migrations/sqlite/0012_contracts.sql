-- Contracts: the edit log (every operation with its effective and recorded times) and the
-- stored projection of the whole log (the contract as it will be, as known now).
create table contract (
    workspace_id text not null,
    object_id text not null,
    buyer_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index contract_by_buyer on contract (workspace_id, buyer_id);

create table contract_log (
    workspace_id text not null,
    contract_id text not null,
    seq bigint not null,
    effective_at bigint not null,
    recorded_at bigint not null,
    operation text not null,
    primary key (workspace_id, contract_id, seq)
);

-- Subscriptions: projected from contracts' events by a relay subscriber.
create table subscription (
    workspace_id text not null,
    object_id text not null,
    contract_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index subscription_by_contract on subscription (workspace_id, contract_id);
