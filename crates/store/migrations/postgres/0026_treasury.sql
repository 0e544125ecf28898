-- Treasury: money a payer will push (expected payments), what the bank reported (bank
-- transactions, from statements or webhooks), and the reconciliation review queue.
-- event_seq is the sequence of the row's latest domain event: events of many rows are
-- written in one statement, each with the next sequence of its own row.
create table expected_payment (
    workspace_id text not null,
    id text not null,
    status text not null,
    currency text not null,
    direction text not null,
    amount_lower bigint not null,
    amount_upper bigint not null,
    date_lower text not null,
    date_upper text not null,
    counterparty text,
    reference text,
    reference_key text,
    party_id text,
    description text,
    reconciled_amount bigint not null,
    event_seq bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (workspace_id, id)
);
create index expected_payment_by_status on expected_payment (workspace_id, status, date_upper);
create index expected_payment_by_reference on expected_payment (workspace_id, reference_key);

create table bank_transaction (
    workspace_id text not null,
    id text not null,
    external_id text not null,
    source text not null,
    status text not null,
    currency text not null,
    direction text not null,
    amount bigint not null,
    value_date text not null,
    counterparty text,
    reference text,
    expected_payment_id text,
    rule text,
    created_at bigint not null,
    primary key (workspace_id, id)
);
create unique index bank_transaction_by_external_id on bank_transaction (workspace_id, external_id);
create index bank_transaction_by_expected_payment on bank_transaction (workspace_id, expected_payment_id);

create table reconciliation_item (
    workspace_id text not null,
    id text not null,
    status text not null,
    reason text not null,
    bank_transaction_id text,
    expected_payment_id text,
    candidates text not null,
    note text,
    snoozed_until text,
    event_seq bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (workspace_id, id)
);
create index reconciliation_item_by_status on reconciliation_item (workspace_id, status, id);
create unique index reconciliation_item_by_overdue on reconciliation_item (workspace_id, expected_payment_id)
    where reason = 'overdue';
