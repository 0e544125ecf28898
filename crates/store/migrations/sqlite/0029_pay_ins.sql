-- Originated ACH pay-ins: buyers' debit authorizations (mandates) on their bank accounts, and
-- the debits (each a pending ledger transfer into the buyer's AVAILABLE until the bank settles).
create table ach_mandate (
    workspace_id text not null,
    bank_account_id text not null,
    party_id text not null,
    status text not null,
    stopped_reason text,
    accepted_at integer not null,
    updated_at integer not null,
    primary key (workspace_id, bank_account_id)
);

create table pay_in (
    workspace_id text not null,
    id text not null,
    party_id text not null,
    bank_account_id text not null,
    status text not null,
    amount integer not null,
    currency text not null,
    transfer_id text not null,
    payment_order_id text,
    failure_code text,
    failure_message text,
    return_code text,
    returned text,
    created_at integer not null,
    updated_at integer not null,
    primary key (workspace_id, id)
);
create index pay_in_by_party on pay_in (workspace_id, party_id, id);
create index pay_in_by_payment_order on pay_in (workspace_id, payment_order_id);
